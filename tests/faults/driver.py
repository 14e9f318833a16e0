"""A load of triage executions driven through the HTTP API while faults are injected:
starts with Idempotency-Keys (retried through outages), approves what parks, and checks
at the end that every execution completed exactly once."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import Stack
from orchestrate_gateway.stores import KeyStore

TRIAGE = "wf_customer_support_triage"
NEEDS_APPROVAL = [
    "I have been waiting for my refund for {n} weeks. Order #{order}. This is unacceptable!",
    "Still no refund for order {order} after {n} weeks, this is ridiculous. I want my money back",
]
ON_ITS_OWN = [
    "Hi, could you send me a copy of the invoice for my last purchase? Thanks!",
    "Please send me the invoice for my order {order}, thanks!",
]
# What an outage of the gateway or of its dependencies may answer meanwhile.
TRANSIENT = {500, 502, 503, 504}


class Load:
    def __init__(self, stack: Stack, mongo: AsyncMongoClient[dict[str, Any]], count: int) -> None:
        self.stack = stack
        self.mongo = mongo
        self.count = count
        rng = random.Random(7)
        self.tickets = [
            rng.choice(NEEDS_APPROVAL if i % 5 < 2 else ON_ITS_OWN).format(
                n=rng.randint(2, 5), order=10_000 + i
            )
            for i in range(count)
        ]
        self.ids: list[str] = []
        self.docs: dict[str, dict[str, Any]] = {}
        self.parked: set[str] = set()
        self.deadline = time.monotonic() + 240

    async def _call(self, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """Call until the gateway answers other than with an outage."""
        while True:
            try:
                reply = await call()
                if reply.status_code not in TRANSIENT:
                    return reply
            except httpx.TransportError:
                pass
            if time.monotonic() > self.deadline:
                raise AssertionError("the gateway kept failing")
            await asyncio.sleep(0.05)

    async def run(self, faults: Callable[[httpx.AsyncClient], Coroutine[Any, Any, None]]) -> None:
        """Submit the load at 20 executions/s while `faults` runs; wait for all."""
        db = self.mongo[f"{self.stack.wiring.db_prefix}gateway"]
        key, _ = await KeyStore(db["api_keys"]).create("ops@acme.test", "acme")
        async with httpx.AsyncClient(
            base_url=f"{self.stack.wiring.base_url}/v1/orchestrate",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ) as api:
            submitting = asyncio.create_task(self._submit_all(api))
            injecting = asyncio.create_task(faults(api))
            while time.monotonic() < self.deadline:
                for task in (submitting, injecting):
                    if task.done() and task.exception():
                        raise task.exception()  # type: ignore[misc]
                await self._advance(api)
                if submitting.done() and injecting.done() and self._all_completed():
                    break
                await asyncio.sleep(0.1)
            await submitting
            await injecting

    async def _submit_all(self, api: httpx.AsyncClient) -> None:
        for start in range(0, self.count, 10):
            await asyncio.gather(*(self._submit(api, i) for i in range(start, start + 10)))
            await asyncio.sleep(0.5)

    async def _submit(self, api: httpx.AsyncClient, i: int) -> None:
        body = {"workflow_id": TRIAGE, "inputs": {"ticket": self.tickets[i]}}
        reply = await self._call(
            partial(api.post, "/executions", json=body, headers={"Idempotency-Key": f"t-{i}"})
        )
        assert reply.status_code == 202, reply.text
        self.ids.append(reply.json()["id"])

    async def _advance(self, api: httpx.AsyncClient) -> None:
        for execution_id in self.ids:
            if self.docs.get(execution_id, {}).get("status") == "completed":
                continue
            reply = await self._call(partial(api.get, f"/executions/{execution_id}"))
            if reply.status_code != 200:
                continue  # not projected yet
            self.docs[execution_id] = doc = reply.json()
            if doc["status"] == "awaiting_approval":
                self.parked.add(execution_id)
                answer = await self._call(
                    partial(
                        api.post,
                        f"/executions/{execution_id}/approve",
                        json={"approved": True, "notes": "ok"},
                    )
                )
                assert answer.status_code in (202, 409), answer.text

    def _all_completed(self) -> bool:
        return len(self.ids) == self.count and all(
            self.docs.get(i, {}).get("status") == "completed" for i in self.ids
        )

    async def verify_exactly_once(self) -> None:
        assert len(set(self.ids)) == self.count, "a retried start made a second execution"
        incomplete = [i for i in self.ids if self.docs.get(i, {}).get("status") != "completed"]
        assert not incomplete, f"{len(incomplete)} executions did not complete: {incomplete[:5]}"
        prefix = self.stack.wiring.db_prefix
        executions = self.mongo[f"{prefix}ledger"]["executions"]
        assert await executions.count_documents({"tenant_id": "acme"}) == self.count
        for execution_id in self.ids:
            doc = self.docs[execution_id]
            assert [(s["id"], s["status"]) for s in doc["steps"]] == [
                ("step_1", "completed"),
                ("step_2", "completed"),
                ("step_3", "completed"),
            ]
            step_usd = sum(Decimal(str(s["cost"]["usd"])) for s in doc["steps"])
            assert Decimal(str(doc["cost"]["usd"])) == step_usd > 0
            decision = doc["steps"][1]["output"]
            if decision.get("approval_required") is False:
                assert execution_id not in self.parked
            else:
                assert decision["approved"] is True and decision["approved_by"] == "ops@acme.test"
            assert doc["duration_ms"] >= max(s["duration_ms"] for s in doc["steps"])
        runs = self.mongo[f"{prefix}gateway"]["runs"]
        assert await runs.count_documents({"ended": False}) == 0
