"""Crash safety: SIGKILL each service in turn while executions are in flight; every
execution still completes exactly once in the ledger."""

import asyncio
import random
import time
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import SERVICES, Stack
from orchestrate_gateway.stores import KeyStore
from tests.conftest import MEASUREMENTS

pytestmark = pytest.mark.faults

EXECUTIONS = 200
TRIAGE = "wf_customer_support_triage"
NEEDS_APPROVAL = [
    "I have been waiting for my refund for {n} weeks. Order #{order}. This is unacceptable!",
    "Still no refund for order {order} after {n} weeks, this is ridiculous. I want my money back",
]
ON_ITS_OWN = [
    "Hi, could you send me a copy of the invoice for my last purchase? Thanks!",
    "Please send me the invoice for my order {order}, thanks!",
]


async def _retrying(call: Any, *, what: str, deadline: float) -> httpx.Response:
    """Call until the gateway answers (it may be down for a restart)."""
    while True:
        try:
            return await call()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway unreachable for {what}") from None
            await asyncio.sleep(0.05)


@pytest.mark.timeout(300)
async def test_every_execution_completes_once_while_services_are_killed(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    db_prefix = stack.wiring.db_prefix
    key, _ = await KeyStore(mongo[f"{db_prefix}gateway"]["api_keys"]).create(
        "ops@acme.test", "acme"
    )
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 240
    rng = random.Random(7)
    tickets = [
        rng.choice(NEEDS_APPROVAL if i % 5 < 2 else ON_ITS_OWN).format(
            n=rng.randint(2, 5), order=10_000 + i
        )
        for i in range(EXECUTIONS)
    ]
    ids: list[str] = []
    parked_seen: set[str] = set()
    kills: list[str] = []

    async with httpx.AsyncClient(
        base_url=f"{stack.wiring.base_url}/v1/orchestrate", timeout=10, headers=headers
    ) as api:

        async def submit(i: int) -> None:
            body = {"workflow_id": TRIAGE, "inputs": {"ticket": tickets[i]}}
            request_headers = {"Idempotency-Key": f"ticket-{i}"}
            while True:
                reply = await _retrying(
                    lambda: api.post("/executions", json=body, headers=request_headers),
                    what="start",
                    deadline=deadline,
                )
                if reply.status_code == 202:
                    ids.append(reply.json()["id"])
                    return
                assert reply.status_code >= 500, reply.text  # only an outage may refuse it
                await asyncio.sleep(0.05)

        async def submit_all() -> None:
            # 20 per second: executions keep arriving while services die.
            for start in range(0, EXECUTIONS, 10):
                await asyncio.gather(*(submit(i) for i in range(start, start + 10)))
                await asyncio.sleep(0.5)

        async def kill_each_service() -> None:
            for name in SERVICES:
                await asyncio.sleep(1.5)
                service = stack.services[name]
                service.kill()
                kills.append(name)
                service.start()
            await asyncio.to_thread(stack.wait_ready, 60)

        submitting = asyncio.create_task(submit_all())
        killing = asyncio.create_task(kill_each_service())
        pending: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            for task in (submitting, killing):
                if task.done() and task.exception():
                    raise task.exception()  # type: ignore[misc]
            for execution_id in [i for i in ids if pending.get(i, {}).get("status") != "completed"]:
                reply = await _retrying(
                    partial(api.get, f"/executions/{execution_id}"), what="get", deadline=deadline
                )
                if reply.status_code != 200:
                    continue  # not projected yet
                pending[execution_id] = doc = reply.json()
                if doc["status"] == "awaiting_approval":
                    parked_seen.add(execution_id)
                    answer = await _retrying(
                        partial(
                            api.post,
                            f"/executions/{execution_id}/approve",
                            json={"approved": True, "notes": "ok"},
                        ),
                        what="approve",
                        deadline=deadline,
                    )
                    assert answer.status_code in (202, 409), answer.text
            if (
                submitting.done()
                and killing.done()
                and len(ids) == EXECUTIONS
                and all(d.get("status") == "completed" for d in pending.values())
                and len(pending) == EXECUTIONS
            ):
                break
            await asyncio.sleep(0.1)
        await submitting
        await killing

    assert kills == list(SERVICES)
    assert len(set(ids)) == EXECUTIONS, "a retried start made a second execution"
    incomplete = [i for i in ids if pending.get(i, {}).get("status") != "completed"]
    assert not incomplete, f"{len(incomplete)} executions did not complete: {incomplete[:5]}"

    executions = mongo[f"{db_prefix}ledger"]["executions"]
    assert await executions.count_documents({"tenant_id": "acme"}) == EXECUTIONS
    for execution_id in ids:
        doc = pending[execution_id]
        assert [(s["id"], s["status"]) for s in doc["steps"]] == [
            ("step_1", "completed"),
            ("step_2", "completed"),
            ("step_3", "completed"),
        ]
        step_usd = sum(Decimal(str(s["cost"]["usd"])) for s in doc["steps"])
        assert Decimal(str(doc["cost"]["usd"])) == step_usd > 0
        decision = doc["steps"][1]["output"]
        if decision.get("approval_required") is False:
            assert execution_id not in parked_seen
        else:
            assert decision["approved"] is True and decision["approved_by"] == "ops@acme.test"
        assert doc["duration_ms"] >= max(s["duration_ms"] for s in doc["steps"])
    runs = mongo[f"{db_prefix}gateway"]["runs"]
    assert await runs.count_documents({"ended": False}) == 0
    MEASUREMENTS.append(
        f"crash faults: {EXECUTIONS} executions in flight "
        f"({len(parked_seen)} parked for approval), "
        f"SIGKILL+restart of {', '.join(kills)}; completed {len(pending)}, lost 0, duplicated 0"
    )
