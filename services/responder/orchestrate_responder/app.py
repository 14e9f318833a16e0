"""Composition root of the responder: consumes its step topic, emits step events."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import JsonValue

from orchestrate_contracts.deadletter import dead_letter_headers
from orchestrate_contracts.lanes import handle_in_lanes
from orchestrate_contracts.messages import (
    RunStep,
    StepCompleted,
    StepFailed,
    StepStarted,
    Undecodable,
    Usage,
    decode_run_step,
    encode,
)
from orchestrate_contracts.pricing import price_catalogue
from orchestrate_contracts.topics import Topics, message_key
from orchestrate_contracts.workflow import ModelChoice

from .model import Draft, Outcome, write_reply
from .openai_backend import Endpoint, write_with_openai
from .settings import Settings

AGENT = "responder"
log = logging.getLogger(__name__)


def _text(value: JsonValue) -> str | None:
    return value if isinstance(value, str) and value else None


def draft_from(task: RunStep) -> Draft:
    """Gather what the reply needs from the ticket and the earlier steps' outputs."""
    classification: dict[str, JsonValue] = {}
    escalation: dict[str, JsonValue] = {}
    for prior in task.previous:
        if prior.agent == "classifier":
            classification = prior.output
        elif prior.agent == "escalation":
            escalation = prior.output
    entities = classification.get("entities")
    entities = entities if isinstance(entities, dict) else {}
    # Only a person's decision may be promised or refused in the reply; a decision the
    # system took when the deadline passed leaves the request with the team.
    outcome: Outcome = "not_required"
    if escalation.get("decided_by") == "person":
        if escalation.get("approved") is True:
            outcome = "approved"
        elif escalation.get("approved") is False:
            outcome = "rejected"
    return Draft(
        ticket=_text(task.inputs.get("ticket")) or "",
        category=_text(classification.get("category")) or "other",
        sentiment=_text(classification.get("sentiment")) or "neutral",
        order_number=_text(entities.get("order_number")),
        amount=_text(entities.get("amount")),
        outcome=outcome,
        approver_notes=_text(escalation.get("notes")) or "",
    )


@dataclass(frozen=True, slots=True)
class Models:
    """The backends a step may call, and the defaults a workflow step may override."""

    backend: str
    model: str
    endpoint: Endpoint
    client: httpx.AsyncClient


def cost_of(usage: Usage) -> int:
    try:
        return price_catalogue().cost_usd_micros(usage)
    except KeyError:
        log.warning("model %s has no price in prices.json: cost recorded as 0", usage.model)
        return 0


async def run(task: RunStep, started_at: datetime, models: Models) -> StepCompleted | StepFailed:
    """Draft the reply for one step task with the step's backend: no broker."""
    draft = draft_from(task)
    choice = task.step.model or ModelChoice()
    if (choice.backend or models.backend) == "openai":
        reply, usage = await write_with_openai(
            models.client,
            models.endpoint,
            draft,
            choice.model or models.model,
            choice.system_prompt,
        )
    else:
        reply, usage = write_reply(draft)
    now = datetime.now(UTC)
    return StepCompleted(
        event_id=f"{task.event_id}:completed",
        execution_id=task.execution_id,
        tenant_id=task.tenant_id,
        occurred_at=now,
        step_id=task.step.id,
        agent=AGENT,
        output={"response": reply},
        started_at=started_at,
        completed_at=now,
        usage=usage,
        cost_usd_micros=cost_of(usage),
    )


async def run_with_retries(
    step: Callable[[RunStep, datetime], Awaitable[StepCompleted | StepFailed]],
    task: RunStep,
    started_at: datetime,
    attempts: int,
    first_delay_s: float = 0.5,
) -> StepCompleted | StepFailed:
    """Run the step; retry a failure with exponential backoff, then record it as the
    step's failure (the execution then ends failed) instead of retrying forever."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return await step(task, started_at)
        except Exception as exc:  # any failure of the model is the step's failure
            if attempt == attempts:
                now = datetime.now(UTC)
                return StepFailed(
                    event_id=f"{task.event_id}:failed",
                    execution_id=task.execution_id,
                    tenant_id=task.tenant_id,
                    occurred_at=now,
                    step_id=task.step.id,
                    agent=AGENT,
                    error=f"{type(exc).__name__}: {exc} (after {attempts} attempts)",
                    started_at=started_at,
                    failed_at=now,
                )
            log.warning("%s attempt %d failed: %r; retrying", task.event_id, attempt, exc)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable: the last attempt returns")


def create_app(settings: Settings) -> AsgiFastStream:
    topics = Topics(settings.topic_prefix)
    source = topics.step_tasks(AGENT)
    group = settings.responder_group
    # Per-message logs at DEBUG: the hot path stays quiet, errors still log.
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        graceful_timeout=settings.shutdown_timeout_s,
        linger_ms=settings.kafka_linger_ms,
        client_id=f"orchestrate-{AGENT}",
        log_level=logging.DEBUG,
    )

    client = httpx.AsyncClient()
    models = Models(
        backend=settings.model_backend,
        model=settings.openai_model,
        endpoint=Endpoint(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            settings.openai_timeout_s,
        ),
        client=client,
    )

    # A poll's tasks run together, each execution's in order (lanes.py); the batch is
    # committed once all their events are acknowledged by the broker, and an
    # unexpected failure rewinds it (at-least-once).
    @broker.subscriber(
        source,
        group_id=group,
        batch=True,
        max_records=settings.kafka_batch_max_records,
        batch_timeout_ms=settings.kafka_batch_timeout_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    async def on_tasks(message: KafkaMessage) -> None:
        await handle_in_lanes(message.raw_message, on_task)

    async def on_task(record: "ConsumerRecord[bytes, bytes]") -> None:
        try:
            task = decode_run_step(record.value or b"")
        except Undecodable as exc:
            log.warning("dead-lettering %s[%d]@%d", record.topic, record.partition, record.offset)
            await broker.publish(
                record.value,
                topics.dead_letter(source),
                key=record.key,
                headers=dead_letter_headers(record, reason=str(exc), consumer_group=group),
            )
            return
        key = message_key(task.execution_id)
        started_at = datetime.now(UTC)
        started = StepStarted(
            event_id=f"{task.event_id}:started",
            execution_id=task.execution_id,
            tenant_id=task.tenant_id,
            occurred_at=started_at,
            step_id=task.step.id,
            agent=AGENT,
        )
        # Not awaited yet: the step runs while the broker acknowledges its start. Both
        # records go to one partition through one producer, so they stay in order.
        started_ack = await broker.publish(
            encode(started), topics.execution_events, key=key, no_confirm=True
        )
        outcome = await run_with_retries(
            partial(run, models=models), task, started_at, settings.step_max_attempts
        )
        await broker.publish(encode(outcome), topics.execution_events, key=key)
        await started_ack

    @get
    async def liveness(_: object) -> AsgiResponse:
        return AsgiResponse(b'{"status": "ok"}', 200)

    @get
    async def readiness(_: object) -> AsgiResponse:
        if await broker.ping(timeout=2.0):
            return AsgiResponse(b'{"status": "ready"}', 200)
        return AsgiResponse(b'{"status": "not_ready", "broker": false}', 503)

    async def after_shutdown() -> None:
        await client.aclose()

    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", liveness), ("/readyz", readiness)],
        after_shutdown=[after_shutdown],
    )
