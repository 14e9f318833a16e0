"""The ledger over the real broker and mongod: redelivered events leave the document
identical, and undecodable events go to the dead-letter topic."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from orchestrate_contracts import deadletter
from orchestrate_contracts.messages import (
    ExecutionEnded,
    ExecutionEvent,
    ExecutionStarted,
    StepAwaitingApproval,
    StepCompleted,
    StepStarted,
    Usage,
    encode,
)
from orchestrate_contracts.topics import message_key
from orchestrate_devstack.stack import Service, Wiring
from orchestrate_gateway.stores import shipped_workflows

from ..conftest import Infra
from ..support import produce, read_topic, wait_consumed, wait_for

pytestmark = pytest.mark.integration

TRIAGE = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")


@pytest.fixture
def wiring(infra: Infra, namespace: str) -> Wiring:
    wiring = Wiring(
        infra.kafka_bootstrap_servers,
        infra.mongo_url,
        topic_prefix=f"{namespace}.",
        db_prefix=namespace,
    )
    wiring.create_topics()
    return wiring


@pytest.fixture
def ledger(wiring: Wiring, tmp_path: Path) -> Iterator[Service]:
    service = Service("ledger", wiring, tmp_path)
    service.start()
    yield service
    service.stop()


@pytest.fixture
async def executions(wiring: Wiring) -> AsyncIterator[object]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(wiring.mongo_url, tz_aware=True)
    yield client[f"{wiring.db_prefix}ledger"]["executions"]
    await client.close()


def events(execution_id: str) -> list[ExecutionEvent]:
    t0 = datetime.now(UTC)

    def env(name: str, ms: int) -> dict[str, object]:
        return {
            "event_id": f"{execution_id}:{name}",
            "execution_id": execution_id,
            "tenant_id": "acme",
            "occurred_at": t0 + timedelta(milliseconds=ms),
        }

    def done(
        step: str, agent: str, start: int, end: int, micros: int, **output: object
    ) -> StepCompleted:
        return StepCompleted(
            **env(f"{step}:done", end),
            step_id=step,
            agent=agent,
            output=output,
            started_at=t0 + timedelta(milliseconds=start),
            completed_at=t0 + timedelta(milliseconds=end),
            usage=Usage(model="builtin-responder-v1", input_tokens=9, output_tokens=3),
            cost_usd_micros=micros,
        )

    return [
        ExecutionStarted(
            **env("started", 0),
            workflow=TRIAGE,
            inputs={"ticket": "refund!"},
            usd_inr_rate=Decimal("88.00"),
        ),
        StepStarted(**env("s1", 2), step_id="step_1", agent="classifier"),
        done("step_1", "classifier", 2, 9, 6, category="refund", priority="high"),
        StepAwaitingApproval(
            **env("s2", 11),
            step_id="step_2",
            agent="escalation",
            started_at=t0 + timedelta(milliseconds=11),
            reason="priority is high",
        ),
        done(
            "step_2", "escalation", 11, 900, 0, approved=True, approved_by="a@acme.test", notes="ok"
        ),
        StepStarted(**env("s3", 905), step_id="step_3", agent="responder"),
        done("step_3", "responder", 905, 930, 52, response="Hello"),
        ExecutionEnded(
            **env("ended", 931),
            status="completed",
            outputs={"category": "refund", "priority": "high", "response": "Hello"},
        ),
    ]


async def test_redelivered_events_leave_the_document_identical(
    wiring: Wiring,
    ledger: Service,
    executions,
) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    key = message_key(execution_id)
    records = [(key, encode(event)) for event in events(execution_id)]
    topic = wiring.topics.execution_events
    await produce(wiring.kafka_bootstrap_servers, topic, records)

    async def load() -> dict[str, object] | None:
        found: dict[str, object] | None = await executions.find_one({"_id": execution_id})
        return found

    first = await wait_for(
        load,
        lambda doc: doc is not None and doc["status"] == "completed",
        what="the projected execution",
    )
    assert first is not None
    assert first["cost_usd_micros"] == 58
    steps = first["steps"]
    assert isinstance(steps, list)
    assert [s["status"] for s in steps] == ["completed"] * 3

    # The same records again, in order and reversed: a redelivery after a crash.
    await produce(wiring.kafka_bootstrap_servers, topic, records + records[::-1])
    await wait_consumed(
        wiring.kafka_bootstrap_servers, f"{wiring.topic_prefix}orchestrate-ledger", topic
    )
    assert await load() == first  # same content, same version: not even rewritten
    assert await executions.count_documents({"_id": execution_id}) == 1


async def test_undecodable_events_are_dead_lettered_and_the_ledger_goes_on(
    wiring: Wiring,
    ledger: Service,
    executions,
) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    key = message_key(execution_id)
    topic = wiring.topics.execution_events
    good = [(key, encode(event)) for event in events(execution_id)]
    bad = [(key, b"\x00\x01garbage"), (key, b'{"type": "step_started", "execution_id": 5}')]
    await produce(wiring.kafka_bootstrap_servers, topic, good[:3] + bad + good[3:])

    async def status() -> object:
        doc = await executions.find_one({"_id": execution_id})
        return doc and doc["status"]

    await wait_for(status, lambda s: s == "completed", what="the projected execution")
    dead = await read_topic(wiring.kafka_bootstrap_servers, wiring.topics.dead_letter(topic), 2)
    assert sorted(r.value for r in dead) == sorted(value for _, value in bad)
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers[deadletter.REASON].startswith("invalid execution event")
        assert headers[deadletter.ORIGINAL_TOPIC] == topic
