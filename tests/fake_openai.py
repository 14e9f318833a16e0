"""A local server that speaks the OpenAI chat-completions wire format, scripted per test:
each request takes the next scripted reply (an answer with usage, an HTTP error, a delay
longer than the client's timeout, a body that is no JSON)."""

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None  # sent as is, instead of a chat completion
    usage: tuple[int, int] | None = (50, 10)


@dataclass
class FakeOpenAI:
    base_url: str
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_state = FakeOpenAI(base_url=f"http://127.0.0.1:{port}/v1")

    async def completions(request: Request) -> Response:
        body = await request.json()
        server_state.requests.append(body | {"authorization": request.headers.get("authorization")})
        reply = server_state.script.pop(0)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, media_type="application/json")
        if reply.status >= 400:
            return JSONResponse(
                {"error": {"message": "scripted failure"}}, status_code=reply.status
            )
        answer: dict[str, Any] = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": reply.content},
                }
            ],
        }
        if reply.usage:
            answer["usage"] = {
                "prompt_tokens": reply.usage[0],
                "completion_tokens": reply.usage[1],
                "total_tokens": sum(reply.usage),
            }
        return JSONResponse(answer)

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    try:
        yield server_state
    finally:
        server.should_exit = True
        thread.join(10)


def classification(**fields: Any) -> str:
    return json.dumps(
        {"category": "refund", "priority": "high", "sentiment": "frustrated", "confidence": 0.9}
        | fields
    )
