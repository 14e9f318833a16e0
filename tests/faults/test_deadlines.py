"""Approval deadlines over the real stack: decided by the system with the workflow's
action, exactly once, with two escalation instances and a restart in between."""

import json
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import Service, Stack
from orchestrate_gateway.stores import KeyStore, shipped_workflows
from tests.support import read_all, wait_for

pytestmark = pytest.mark.faults

DEADLINE_S = 3
TICKET = "I have been waiting for my refund for 2 weeks. Order #12345. This is unacceptable!"


async def install_workflows(mongo: AsyncMongoClient[dict[str, Any]], db: str) -> None:
    """Operators add workflows as data: here, triage with a 3-second deadline."""
    triage = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")
    for action in ("reject", "approve", "fail"):
        raw = triage.model_dump(mode="json", by_alias=True)
        raw["id"] = f"wf_deadline_{action}"
        raw["steps"][1]["approval"] |= {"deadline_s": DEADLINE_S, "on_timeout": action}
        await mongo[db]["workflows"].insert_one({"_id": raw["id"], "definition": raw})


async def test_deadlines_fire_once_across_instances_and_restarts(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]], tmp_path: Any
) -> None:
    gateway_db = f"{stack.wiring.db_prefix}gateway"
    await install_workflows(mongo, gateway_db)
    key, _ = await KeyStore(mongo[gateway_db]["api_keys"]).create("ops@acme.test", "acme")
    second = Service("escalation", stack.wiring, tmp_path, instance=2)
    second.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"{stack.wiring.base_url}/v1/orchestrate",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ) as api:
            ids = {}
            for action in ("reject", "approve", "fail"):
                reply = await api.post(
                    "/executions",
                    json={"workflow_id": f"wf_deadline_{action}", "inputs": {"ticket": TICKET}},
                )
                assert reply.status_code == 202, reply.text
                ids[action] = reply.json()["id"]

            async def statuses() -> dict[str, str]:
                found = {}
                for action, execution_id in ids.items():
                    reply = await api.get(f"/executions/{execution_id}")
                    found[action] = reply.json()["status"] if reply.status_code == 200 else ""
                return found

            await wait_for(
                statuses, lambda s: set(s.values()) == {"awaiting_approval"}, what="all parked"
            )
            # A restart while the deadlines run: they live in MongoDB, not in memory.
            stack.services["escalation"].kill()
            stack.services["escalation"].start()
            done = await wait_for(
                statuses,
                lambda s: s == {"reject": "completed", "approve": "completed", "fail": "failed"},
                timeout=DEADLINE_S + 30,
                what="the deadlines",
            )
            assert done
            docs = {a: (await api.get(f"/executions/{i}")).json() for a, i in ids.items()}
    finally:
        second.stop()

    for action in ("reject", "approve"):
        decision = docs[action]["steps"][1]["output"]
        assert decision["approved"] is (action == "approve")
        assert decision["approved_by"] is None
        assert decision["decided_by"] == "deadline"
        assert f"on_timeout is {action}" in decision["notes"]
        reply = docs[action]["steps"][2]["output"]["response"]
        assert "Good news" not in reply and "not able to approve" not in reply
        assert docs[action]["steps"][1]["duration_ms"] >= DEADLINE_S * 1000
    failed = docs["fail"]
    assert failed["steps"][1]["status"] == "failed"
    assert failed["steps"][2]["status"] == "skipped"
    assert "no decision within 3 s" in failed["error"]
    assert "no decision within 3 s" in failed["steps"][1]["error"]

    # One decision per step: every copy of its event on the log (a redelivery may repeat
    # it) is the same event, with one event id and one decision time.
    topic = stack.wiring.topics.execution_events
    records = await read_all(stack.wiring.kafka_bootstrap_servers, topic)
    decided: dict[str, set[str]] = {}
    for body in (json.loads(r.value) for r in records):
        if body.get("step_id") == "step_2" and body["type"] in ("step_completed", "step_failed"):
            decided.setdefault(body["execution_id"], set()).add(
                json.dumps({k: v for k, v in body.items()}, sort_keys=True)
            )
    assert set(decided) == set(ids.values())
    assert all(len(copies) == 1 for copies in decided.values()), decided
