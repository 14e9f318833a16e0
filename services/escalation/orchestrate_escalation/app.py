"""Composition root of the escalation service: parks steps that need a person and
resumes them when the decision arrives."""

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from orchestrate_contracts.deadletter import dead_letter_headers
from orchestrate_contracts.lanes import handle_in_lanes
from orchestrate_contracts.messages import (
    StepAwaitingApproval,
    StepCompleted,
    Undecodable,
    decode_decide_approval,
    decode_run_step,
    encode,
)
from orchestrate_contracts.topics import Topics, message_key

from .parking import ParkedStep, ParkingLot, outcome
from .policy import evaluate
from .settings import Settings

AGENT = "escalation"
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> AsgiFastStream:
    topics = Topics(settings.topic_prefix)
    tasks_topic = topics.step_tasks(AGENT)
    group = settings.escalation_group
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        graceful_timeout=settings.shutdown_timeout_s,
        linger_ms=settings.kafka_linger_ms,
        client_id="orchestrate-escalation",
        log_level=logging.DEBUG,
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
    )
    lot = ParkingLot(mongo[settings.escalation_db]["parked_steps"])

    def subscriber(topic: str, group: str) -> "BatchSubscriber":
        return broker.subscriber(
            topic,
            group_id=group,
            # A poll's records are handled together, each execution's in order
            # (lanes.py), and committed once after the parking writes and the events
            # are done; a failure rewinds the batch (at-least-once).
            batch=True,
            max_records=settings.kafka_batch_max_records,
            batch_timeout_ms=settings.kafka_batch_timeout_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )

    async def emit(event: BaseModel, execution_id: str) -> None:
        await broker.publish(encode(event), topics.execution_events, key=message_key(execution_id))

    async def dead_letter(record: "ConsumerRecord[bytes, bytes]", group: str, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d", record.topic, record.partition, record.offset)
        await broker.publish(
            record.value,
            topics.dead_letter(record.topic),
            key=record.key,
            headers=dead_letter_headers(record, reason=reason, consumer_group=group),
        )

    @subscriber(tasks_topic, group)
    async def on_tasks(message: KafkaMessage) -> None:
        await handle_in_lanes(message.raw_message, on_task)

    @subscriber(topics.approval_decisions, settings.escalation_decisions_group)
    async def on_decisions(message: KafkaMessage) -> None:
        await handle_in_lanes(message.raw_message, on_decision)

    async def on_task(record: "ConsumerRecord[bytes, bytes]") -> None:
        try:
            task = decode_run_step(record.value or b"")
        except Undecodable as exc:
            await dead_letter(record, group, str(exc))
            return
        if task.step.approval is None:
            await dead_letter(record, group, f"RunStep {task.event_id} has no approval policy")
            return
        verdict = evaluate(task.step.approval, task.previous)
        now = datetime.now(UTC)
        if not verdict.required:
            await emit(
                StepCompleted(
                    event_id=f"{task.event_id}:completed",
                    execution_id=task.execution_id,
                    tenant_id=task.tenant_id,
                    occurred_at=now,
                    step_id=task.step.id,
                    agent=AGENT,
                    output={"approval_required": False, "reason": verdict.reason},
                    started_at=now,
                    completed_at=now,
                ),
                task.execution_id,
            )
            return
        parked = await lot.park(task, verdict.reason, now)
        if parked.status == "decided":
            # Redelivered after the decision: repeat the decided step's event.
            await emit_outcome(parked)
            return
        await emit(
            StepAwaitingApproval(
                event_id=f"{task.event_id}:awaiting",
                execution_id=task.execution_id,
                tenant_id=task.tenant_id,
                occurred_at=parked.parked_at,
                step_id=task.step.id,
                agent=AGENT,
                started_at=parked.parked_at,
                reason=parked.reason,
            ),
            task.execution_id,
        )

    async def on_decision(record: "ConsumerRecord[bytes, bytes]") -> None:
        try:
            command = decode_decide_approval(record.value or b"")
        except Undecodable as exc:
            await dead_letter(record, settings.escalation_decisions_group, str(exc))
            return
        parked = await lot.decide(command)
        if parked is None:
            await dead_letter(
                record,
                settings.escalation_decisions_group,
                f"no step {command.step_id} of {command.execution_id} awaits approval",
            )
            return
        # Whether this decision or an earlier one (a person's or the deadline's) won,
        # the step's outcome is the recorded one; repeating it is idempotent downstream.
        await emit_outcome(parked)

    async def emit_outcome(parked: ParkedStep) -> None:
        await emit(outcome(parked), parked.execution_id)
        await lot.mark_emitted(parked)

    async def expire_deadlines_forever() -> None:
        """Decide steps whose deadline passed, and repeat decided steps' events that a
        crash left unpublished. Deadlines live in MongoDB, so they survive restarts."""
        while True:
            try:
                expired = await lot.expire_due(datetime.now(UTC), limit=100)
                lost = await lot.unemitted(older_than=timedelta(seconds=30), limit=100)
                for parked in expired + lost:
                    await emit_outcome(parked)
                if expired:
                    continue  # more may be due
            except Exception:  # the loop must outlive outages of MongoDB or Kafka
                log.exception("deadline sweep failed; retrying")
            await asyncio.sleep(settings.deadline_poll_interval_s)

    sweeper: list[asyncio.Task[None]] = []

    async def on_startup() -> None:
        await lot.ensure_indexes()

    async def after_startup() -> None:
        sweeper.append(asyncio.create_task(expire_deadlines_forever(), name="deadlines"))

    async def on_shutdown() -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def after_shutdown() -> None:
        await mongo.close()

    @get
    async def liveness(_: object) -> AsgiResponse:
        return AsgiResponse(b'{"status": "ok"}', 200)

    @get
    async def readiness(_: object) -> AsgiResponse:
        broker_ok = await broker.ping(timeout=2.0)
        try:
            await mongo.admin.command("ping")
            mongo_ok = True
        except PyMongoError:
            mongo_ok = False
        if broker_ok and mongo_ok:
            return AsgiResponse(b'{"status": "ready"}', 200)
        body = json.dumps({"status": "not_ready", "broker": broker_ok, "mongo": mongo_ok})
        return AsgiResponse(body.encode(), 503)

    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", liveness), ("/readyz", readiness)],
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
