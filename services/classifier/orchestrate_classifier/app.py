"""Composition root of the classifier: consumes its step topic, emits step events."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import httpx
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from orchestrate_contracts.deadletter import dead_letter_headers
from orchestrate_contracts.lanes import Coalesced, handle_in_lanes
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

from .model import Classification, classify_many
from .openai_backend import Endpoint, classify_with_openai
from .settings import Settings

AGENT = "classifier"
log = logging.getLogger(__name__)


Classified = tuple[Classification, Usage] | Exception


async def classify_batch(tickets: list[str]) -> list[Classified]:
    """One model pass for the batch; if it fails, each ticket alone, so that a ticket
    the model cannot take fails its own step only, not the steps batched with it."""
    try:
        return list(classify_many(tickets))
    except Exception:  # isolate the failing ticket; its step records the error
        log.warning("classifying a batch of %d failed; classifying one by one", len(tickets))
    alone: list[Classified] = []
    for ticket in tickets:
        try:
            alone.extend(classify_many([ticket]))
        except Exception as exc:  # handed to this ticket's step (retried, then failed)
            alone.append(exc)
    return alone


@dataclass(frozen=True, slots=True)
class Models:
    """The backends a step may call, and the defaults a workflow step may override."""

    backend: str
    model: str
    endpoint: Endpoint
    client: httpx.AsyncClient
    answer_attempts: int
    # The built-in model, classifying the tickets of concurrent steps in one pass.
    builtin: Coalesced[str, Classified] = field(default_factory=lambda: Coalesced(classify_batch))


def cost_of(usage: Usage) -> int:
    try:
        return price_catalogue().cost_usd_micros(usage)
    except KeyError:
        log.warning("model %s has no price in prices.json: cost recorded as 0", usage.model)
        return 0


async def run(task: RunStep, started_at: datetime, models: Models) -> StepCompleted | StepFailed:
    """Classify the ticket of one step task with the step's backend: no broker."""
    ticket = task.inputs.get("ticket")
    envelope = {
        "execution_id": task.execution_id,
        "tenant_id": task.tenant_id,
        "step_id": task.step.id,
        "agent": AGENT,
        "started_at": started_at,
    }
    if not isinstance(ticket, str) or not ticket.strip():
        now = datetime.now(UTC)
        return StepFailed(
            event_id=f"{task.event_id}:failed",
            occurred_at=now,
            failed_at=now,
            error="input 'ticket' must be a non-empty string",
            **envelope,
        )
    choice = task.step.model or ModelChoice()
    if (choice.backend or models.backend) == "openai":
        result, usage = await classify_with_openai(
            models.client,
            models.endpoint,
            ticket,
            choice.model or models.model,
            choice.system_prompt,
            models.answer_attempts,
        )
    else:
        classified = await models.builtin.add(ticket)
        if isinstance(classified, Exception):
            raise classified
        result, usage = classified
    now = datetime.now(UTC)
    return StepCompleted(
        event_id=f"{task.event_id}:completed",
        occurred_at=now,
        completed_at=now,
        output={
            "category": result.category,
            "priority": result.priority,
            "sentiment": result.sentiment,
            "entities": dict(result.entities),
            "confidence": result.confidence,
        },
        usage=usage,
        cost_usd_micros=cost_of(usage),
        **envelope,
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
    group = settings.classifier_group
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
        answer_attempts=settings.openai_answer_attempts,
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
