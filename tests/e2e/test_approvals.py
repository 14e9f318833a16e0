"""Concurrent decisions: the first wins atomically, the rest get 409 and change nothing."""

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import Stack
from tests.e2e.conftest import Keys
from tests.e2e.test_triage import SEED_TICKET, auth, start, wait_status

pytestmark = pytest.mark.e2e


async def test_fifty_concurrent_decisions_accept_exactly_one(
    api: httpx.AsyncClient, keys: Keys, stack: Stack
) -> None:
    execution_id = await start(api, keys.acme, SEED_TICKET)
    await wait_status(api, keys.acme, execution_id, "awaiting_approval")

    async def decide(i: int) -> httpx.Response:
        return await api.post(
            f"/executions/{execution_id}/approve",
            headers=auth(keys.acme),
            json={"approved": i % 2 == 0, "notes": f"decision {i}"},
        )

    replies = await asyncio.gather(*(decide(i) for i in range(50)))
    accepted = [r for r in replies if r.status_code == 202]
    assert len(accepted) == 1
    refused = [r for r in replies if r.status_code == 409]
    assert len(refused) == 49
    assert {r.json()["error"]["code"] for r in refused} <= {
        "already_decided",
        "not_awaiting_approval",
    }

    winner = accepted[0].json()
    done = await wait_status(api, keys.acme, execution_id, "completed")
    decision = done["steps"][1]["output"]
    assert (decision["approved"], decision["notes"]) == (winner["approved"], winner["notes"])
    assert decision["approved_by"] == keys.acme_email

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.wiring.mongo_url)
    try:
        decisions = client[f"{stack.wiring.db_prefix}gateway"]["approval_decisions"]
        assert await decisions.count_documents({"_id": {"$regex": f"^{execution_id}:"}}) == 1
        parked = client[f"{stack.wiring.db_prefix}escalation"]["parked_steps"]
        record = await parked.find_one({"_id": f"{execution_id}:step_2"})
        assert record is not None and record["decision"]["notes"] == winner["notes"]
    finally:
        await client.close()
