"""The triage workflow end to end: HTTP API -> Kafka -> five services -> MongoDB -> HTTP."""

import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ..conftest import MEASUREMENTS
from ..support import wait_for
from .conftest import Keys

pytestmark = pytest.mark.e2e

TRIAGE = "wf_customer_support_triage"
SEED_TICKET = "I have been waiting for my refund for 2 weeks. Order #12345. This is unacceptable!"
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CONTRACT_FIELDS = {
    "id",
    "workflow_id",
    "workflow_name",
    "status",
    "inputs",
    "outputs",
    "steps",
    "cost",
    "duration_ms",
    "created_at",
    "completed_at",
}
# Documented extras (README, "Execution document").
EXTRA_FIELDS = {"error"}
STEP_FIELDS = {"id", "agent", "status", "output", "duration_ms"}
STEP_EXTRA_FIELDS = {"started_at", "completed_at", "cost", "usage", "error"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def start(api: httpx.AsyncClient, key: str, ticket: str) -> str:
    reply = await api.post(
        "/executions", headers=auth(key), json={"workflow_id": TRIAGE, "inputs": {"ticket": ticket}}
    )
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert re.fullmatch(r"exec_[0-9a-f]{32}", body["id"])
    assert reply.headers["location"] == f"/v1/orchestrate/executions/{body['id']}"
    return str(body["id"])


async def wait_status(
    api: httpx.AsyncClient, key: str, execution_id: str, status: str
) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        reply = await api.get(f"/executions/{execution_id}", headers=auth(key))
        return reply.json() if reply.status_code == 200 else {"http": reply.status_code}

    return await wait_for(
        fetch, lambda doc: doc.get("status") == status, what=f"{execution_id} {status}"
    )


def check_shape(doc: dict[str, Any]) -> None:
    assert set(doc) == CONTRACT_FIELDS | EXTRA_FIELDS
    assert doc["id"].startswith("exec_") and doc["workflow_id"].startswith("wf_")
    assert isinstance(doc["inputs"], dict) and isinstance(doc["outputs"], dict)
    assert set(doc["cost"]) == {"usd", "inr"}
    assert all(isinstance(doc["cost"][c], int | float) for c in ("usd", "inr"))
    assert ISO_UTC.match(doc["created_at"])
    for step in doc["steps"]:
        assert set(step) == STEP_FIELDS | STEP_EXTRA_FIELDS
        assert re.fullmatch(r"step_\d+", step["id"])


def check_cost(doc: dict[str, Any]) -> None:
    step_usd = sum(Decimal(str(s["cost"]["usd"])) for s in doc["steps"])
    assert Decimal(str(doc["cost"]["usd"])) == step_usd
    assert doc["cost"]["usd"] > 0
    expected_inr = (Decimal(str(doc["cost"]["usd"])) * Decimal("88.00")).quantize(Decimal("0.0001"))
    assert Decimal(str(doc["cost"]["inr"])) == expected_inr


async def test_the_triage_scenario_with_approval(api: httpx.AsyncClient, keys: Keys) -> None:
    posted = time.perf_counter()
    execution_id = await start(api, keys.acme, SEED_TICKET)

    parked = await wait_status(api, keys.acme, execution_id, "awaiting_approval")
    to_parked = time.perf_counter() - posted
    check_shape(parked)
    step_1, step_2, step_3 = parked["steps"]
    assert (step_1["id"], step_1["agent"], step_1["status"]) == (
        "step_1",
        "classifier",
        "completed",
    )
    assert {k: step_1["output"][k] for k in ("category", "priority", "sentiment")} == {
        "category": "refund",
        "priority": "high",
        "sentiment": "frustrated",
    }
    assert step_1["output"]["entities"]["order_number"] == "12345"
    assert (step_2["id"], step_2["agent"], step_2["status"]) == (
        "step_2",
        "escalation",
        "awaiting_approval",
    )
    assert step_2["output"] is None and step_2["duration_ms"] is None
    assert (step_3["id"], step_3["agent"], step_3["status"]) == ("step_3", "responder", "pending")
    assert parked["workflow_name"] == "Customer Support Triage"
    assert parked["inputs"] == {"ticket": SEED_TICKET}
    assert parked["completed_at"] is None and parked["duration_ms"] is None

    approved_at = time.perf_counter()
    reply = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": True, "notes": "Approve - customer has valid complaint"},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["approved_by"] == keys.acme_email

    done = await wait_status(api, keys.acme, execution_id, "completed")
    to_completed = time.perf_counter() - approved_at
    check_shape(done)
    step_1, step_2, step_3 = done["steps"]
    assert step_2["status"] == "completed"
    assert step_2["output"]["approved"] is True
    assert step_2["output"]["approved_by"] == keys.acme_email
    assert step_2["output"]["notes"] == "Approve - customer has valid complaint"
    assert (step_3["agent"], step_3["status"]) == ("responder", "completed")
    response = step_3["output"]["response"]
    assert "refund" in response.lower() and "Order #12345" in response
    assert "approved your refund" in response
    assert done["outputs"] == {"category": "refund", "priority": "high", "response": response}
    for step in done["steps"]:
        assert isinstance(step["duration_ms"], int) and step["duration_ms"] >= 0
        assert ISO_UTC.match(step["started_at"]) and ISO_UTC.match(step["completed_at"])
    assert ISO_UTC.match(done["completed_at"])
    assert done["duration_ms"] >= step_2["duration_ms"]
    assert done["created_at"] <= done["completed_at"]
    check_cost(done)
    assert step_2["cost"] == {"usd": 0.0, "inr": 0.0}  # a person's decision costs nothing
    assert step_2["usage"] is None
    assert step_1["usage"]["model"] == "builtin-classifier-v1"
    assert step_1["usage"]["input_tokens"] == 21  # the seed ticket in o200k_base tokens
    assert step_3["usage"]["output_tokens"] > 50
    MEASUREMENTS.append(
        f"triage e2e: POST -> awaiting_approval {to_parked * 1000:.0f} ms; "
        f"approve -> completed {to_completed * 1000:.0f} ms"
    )


async def test_a_low_priority_ticket_completes_on_its_own(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    ticket = "Hi, could you send me a copy of the invoice for my last purchase? Thanks!"
    execution_id = await start(api, keys.acme, ticket)
    done = await wait_status(api, keys.acme, execution_id, "completed")
    step_1, step_2, step_3 = done["steps"]
    assert step_1["output"]["category"] == "invoice"
    assert step_1["output"]["priority"] == "low"
    assert step_2["status"] == "completed"
    assert step_2["output"]["approval_required"] is False
    assert step_2["output"]["reason"].startswith("no approval needed: step_1.priority is low")
    assert "invoice" in step_3["output"]["response"]
    assert set(done["outputs"]) == {"category", "priority", "response"}
    check_cost(done)


async def test_a_rejection_is_recorded_and_the_reply_promises_nothing(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    execution_id = await start(api, keys.acme, SEED_TICKET)
    await wait_status(api, keys.acme, execution_id, "awaiting_approval")
    reply = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": False, "notes": "Refund window has passed"},
    )
    assert reply.status_code == 202, reply.text
    # Triage's policy continues after a rejection: the reply is still drafted.
    done = await wait_status(api, keys.acme, execution_id, "completed")
    decision = done["steps"][1]["output"]
    assert decision["approved"] is False
    assert decision["approved_by"] == keys.acme_email
    assert decision["notes"] == "Refund window has passed"
    response = done["steps"][2]["output"]["response"]
    assert "not able to approve" in response
    assert "approved your refund" not in response and "Good news" not in response


async def test_a_parked_approval_survives_a_restart_of_every_service(
    api: httpx.AsyncClient,
    keys: Keys,
    stack,
) -> None:
    execution_id = await start(api, keys.acme, SEED_TICKET)
    await wait_status(api, keys.acme, execution_id, "awaiting_approval")
    stack.stop()
    stack.start()
    reply = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": True, "notes": "after restart"},
    )
    assert reply.status_code == 202, reply.text
    done = await wait_status(api, keys.acme, execution_id, "completed")
    assert done["steps"][1]["output"]["notes"] == "after restart"
    assert [s["status"] for s in done["steps"]] == ["completed"] * 3
