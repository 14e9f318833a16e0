"""1,000 malformed messages across every consumed topic, interleaved with good work:
services stay up, each lands in a dead-letter topic with its reason, and every good
execution completes."""

import json
import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from orchestrate_contracts import deadletter
from orchestrate_contracts.messages import MAX_RECORD_BYTES
from orchestrate_devstack.stack import Stack
from orchestrate_gateway.stores import KeyStore
from tests.conftest import MEASUREMENTS
from tests.support import read_topic, wait_for

pytestmark = pytest.mark.faults

GOOD = 30
TICKETS = [
    "I have been waiting for my refund for 3 weeks. Order #55555. This is unacceptable!",
    "Hi, could you send me a copy of the invoice for my last purchase? Thanks!",
]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def malformed(topic_kind: str, i: int) -> bytes:
    """One of several kinds of poison, valid for no consumer of the topic."""
    unknown = f"exec_{uuid.uuid4().hex}"
    envelope = {
        "event_id": f"poison-{i}",
        "execution_id": unknown,
        "tenant_id": "acme",
        "occurred_at": _now(),
    }
    kinds: list[bytes] = [
        b"\xff\xfe\x00 definitely not json",
        b"[1, 2, 3]",
        json.dumps({"type": "no_such_type", "x": 1}).encode(),
        json.dumps({"type": "run_step", "execution_id": 42}).encode(),
        b'{"unterminated": ',
    ]
    if topic_kind == "events":
        kinds.append(
            json.dumps(
                envelope
                | {
                    "type": "step_completed",
                    "step_id": "step_1",
                    "agent": "classifier",
                    "output": {},
                    "started_at": _now(),
                    "completed_at": _now(),
                }
            ).encode()
        )
    if topic_kind == "decisions":
        kinds.append(
            json.dumps(
                envelope
                | {
                    "type": "decide_approval",
                    "step_id": "step_2",
                    "approved": True,
                    "decided_by": "ops@acme.test",
                    "api_key_id": "key_x",
                }
            ).encode()
        )
    if i % 100 == 0:
        return b'{"padding": "' + b"x" * (MAX_RECORD_BYTES + 10) + b'"}'
    return kinds[i % len(kinds)]


@pytest.mark.timeout(300)
async def test_poison_is_dead_lettered_and_good_work_goes_on(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    topics = stack.wiring.topics
    consumed = {
        topics.execution_requests: "requests",
        topics.execution_events: "events",
        topics.approval_decisions: "decisions",
        topics.step_tasks("classifier"): "steps",
        topics.step_tasks("escalation"): "steps",
        topics.step_tasks("responder"): "steps",
    }
    # Each consumer group of a topic dead-letters on its own (the events topic has two).
    groups_per_topic = {topic: 2 if kind == "events" else 1 for topic, kind in consumed.items()}
    gateway_db = f"{stack.wiring.db_prefix}gateway"
    key, _ = await KeyStore(mongo[gateway_db]["api_keys"]).create("ops@acme.test", "acme")
    rng = random.Random(11)
    plan = [rng.choice(list(consumed)) for _ in range(1000)]
    sent = Counter(plan)

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.wiring.kafka_bootstrap_servers,
        acks="all",
        max_request_size=2 * MAX_RECORD_BYTES,
    )
    await producer.start()
    async with httpx.AsyncClient(
        base_url=f"{stack.wiring.base_url}/v1/orchestrate",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ) as api:
        try:
            ids: list[str] = []
            for i, topic in enumerate(plan):
                await producer.send(topic, malformed(consumed[topic], i), key=f"k{i}".encode())
                if i % (len(plan) // GOOD) == 0:  # good work between the poison
                    reply = await api.post(
                        "/executions",
                        json={
                            "workflow_id": "wf_customer_support_triage",
                            "inputs": {"ticket": TICKETS[len(ids) % 2]},
                        },
                    )
                    assert reply.status_code == 202, reply.text
                    ids.append(reply.json()["id"])
            await producer.flush()
        finally:
            await producer.stop()

        async def statuses() -> Counter[str]:
            found: Counter[str] = Counter()
            for execution_id in ids:
                reply = await api.get(f"/executions/{execution_id}")
                status = reply.json()["status"] if reply.status_code == 200 else "missing"
                if status == "awaiting_approval":
                    await api.post(
                        f"/executions/{execution_id}/approve",
                        json={"approved": True, "notes": "ok"},
                    )
                found[status] += 1
            return found

        await wait_for(
            statuses,
            lambda s: s == Counter({"completed": len(ids)}),
            timeout=120,
            what="the good executions",
        )

    dead_total = 0
    for topic, count in sent.items():
        expected = count * groups_per_topic[topic]
        records = await read_topic(
            stack.wiring.kafka_bootstrap_servers, topics.dead_letter(topic), expected, timeout=60
        )
        assert len(records) == expected
        for record in records:
            headers = {k: v.decode() for k, v in record.headers}
            assert headers[deadletter.ORIGINAL_TOPIC] == topic
            assert headers[deadletter.REASON]
            assert int(headers[deadletter.ORIGINAL_OFFSET]) >= 0
        dead_total += len(records)
    assert all(service.running for service in stack.services.values())
    MEASUREMENTS.append(
        f"poison: 1000 malformed records over {len(sent)} topics -> {dead_total} dead letters "
        f"(one per consuming group), {len(ids)} good executions interleaved all completed"
    )
