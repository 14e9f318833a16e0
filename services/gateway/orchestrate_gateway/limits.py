"""Request limits at the HTTP edge: body size, and a per-key rate limit."""

import json
import math
import time
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import OrchestrateError


class RateLimited(OrchestrateError):
    code = "rate_limited"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many requests for this API key; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413 before they are read into memory.

    A declared Content-Length is checked up front; a streamed body is counted as it
    arrives, so a missing or false header does not get around the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing unchanged.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body exceeds {self.max_bytes} bytes"

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": {"code": "payload_too_large", "message": self._message(), "details": None}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per API key: `rate` requests a second, bursts up to `burst`.

    It lives in each gateway process: with N gateway instances behind a balancer a key
    gets up to N times the rate.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key_id: str, rate: float | None = None, burst: int | None = None) -> None:
        """Take one request from the key's bucket; a key may carry its own rate and burst."""
        rate = self.rate if rate is None else rate
        burst = self.burst if burst is None else burst
        if rate <= 0:
            return
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # bounded memory; a reset only forgives
            bucket = self._buckets[key_id] = _Bucket(float(burst), now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimited(math.ceil((1 - bucket.tokens) / rate * 10) / 10)
        bucket.tokens -= 1
