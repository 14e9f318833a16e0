"""Composition root of the gateway: the HTTP API and the execution engine.

Nothing connects at import time; create_app wires everything and the lifespan
connects MongoDB and Kafka when the server starts.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiokafka import ConsumerRecord
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from pydantic import BaseModel
from pymongo import AsyncMongoClient

from orchestrate_contracts.deadletter import dead_letter_headers
from orchestrate_contracts.lanes import handle_in_lanes
from orchestrate_contracts.messages import (
    StepCompleted,
    StepFailed,
    Undecodable,
    decode_execution_event,
    decode_start_execution,
    encode,
)
from orchestrate_contracts.topics import Topics, message_key

from .api import build_router, error_response, install_error_handlers
from .errors import InvalidInputs, WorkflowNotFound
from .limits import BodySizeLimit, RateLimiter
from .orchestrator import Engine, StartRequest, UnknownExecution, execution_id_for_record
from .settings import Settings
from .stores import Stores, shipped_workflows

log = logging.getLogger(__name__)


class KafkaPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: str, execution_id: str, message: BaseModel) -> None:
        await self._broker.publish(encode(message), topic, key=message_key(execution_id))


def create_app(settings: Settings) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        graceful_timeout=settings.shutdown_timeout_s,
        linger_ms=settings.kafka_linger_ms,
        client_id="orchestrate-gateway",
        log_level=logging.DEBUG,
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
    )
    stale_after = timedelta(seconds=settings.stale_after_s)
    stores = Stores(
        mongo[settings.gateway_db],
        mongo[settings.ledger_db],
        mongo[settings.escalation_db],
        stale_after,
    )
    publisher = KafkaPublisher(broker)
    engine = Engine(stores.workflows, stores.runs, publisher, topics, settings.usd_inr_rate)

    def subscriber(topic: str, group: str) -> "BatchSubscriber":
        return broker.subscriber(
            topic,
            group_id=group,
            # A poll's records are handled together (lanes.py) and committed once,
            # after all their effects are done; a failure rewinds (at-least-once).
            batch=True,
            max_records=settings.kafka_batch_max_records,
            batch_timeout_ms=settings.kafka_batch_timeout_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )

    async def dead_letter(record: "ConsumerRecord[bytes, bytes]", group: str, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d", record.topic, record.partition, record.offset)
        await broker.publish(
            record.value,
            topics.dead_letter(record.topic),
            key=record.key,
            headers=dead_letter_headers(record, reason=reason, consumer_group=group),
        )

    @subscriber(topics.execution_requests, settings.ingress_group)
    async def on_requests(message: KafkaMessage) -> None:
        await handle_in_lanes(message.raw_message, on_request)

    @subscriber(topics.execution_events, settings.engine_group)
    async def on_events(message: KafkaMessage) -> None:
        await handle_in_lanes(message.raw_message, on_event)

    async def on_request(record: "ConsumerRecord[bytes, bytes]") -> None:
        try:
            request = decode_start_execution(record.value or b"")
        except Undecodable as exc:
            await dead_letter(record, settings.ingress_group, str(exc))
            return
        execution_id = request.execution_id or execution_id_for_record(
            record.topic, record.partition, record.offset
        )
        try:
            await engine.start(
                StartRequest(
                    tenant_id=request.tenant_id,
                    workflow_id=request.workflow_id,
                    inputs=request.inputs,
                    requested_by=request.requested_by,
                    execution_id=execution_id,
                )
            )
        except (WorkflowNotFound, InvalidInputs) as exc:
            reason = f"{exc.code}: {exc.message}" + (f" {exc.details}" if exc.details else "")
            await dead_letter(record, settings.ingress_group, reason)

    async def on_event(record: "ConsumerRecord[bytes, bytes]") -> None:
        try:
            event = decode_execution_event(record.value or b"")
        except Undecodable as exc:
            await dead_letter(record, settings.engine_group, str(exc))
            return
        try:
            if isinstance(event, StepCompleted):
                await engine.on_step_completed(event)
            elif isinstance(event, StepFailed):
                await engine.on_step_failed(event)
        except UnknownExecution as exc:
            await dead_letter(record, settings.engine_group, str(exc))

    async def reconcile_once() -> int:
        """Repeat what crashes may have left unpublished; returns how much was found."""
        runs = await stores.runs.unlaunched(limit=100)
        for run in runs:
            await engine.relaunch(run)
        decisions = await stores.decisions.unpublished(older_than=stale_after / 4, limit=100)
        for command in decisions:
            await publisher.publish(topics.approval_decisions, command.execution_id, command)
            await stores.decisions.mark_published(command)
        return len(runs) + len(decisions)

    async def reconcile_forever() -> None:
        while True:
            try:
                if await reconcile_once():
                    continue  # more may be due: look again at once
            except Exception:  # the loop must outlive outages of MongoDB or Kafka
                log.exception("reconciliation failed; retrying")
            await asyncio.sleep(settings.reconcile_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await stores.ensure_indexes()
        await stores.workflows.seed(shipped_workflows())
        await broker.start()
        reconciler = asyncio.create_task(reconcile_forever(), name="reconciler")
        try:
            yield
        finally:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await broker.stop()
            await mongo.close()

    app = FastAPI(
        title="Orchestrate",
        version="0.1.0",
        description="Agent-workflow orchestration with humans in the loop.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.include_router(build_router(stores, engine, publisher, topics.approval_decisions, limiter))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz() -> JSONResponse | dict[str, str]:
        """Readiness: MongoDB answers and the broker connection works."""
        try:
            await mongo.admin.command("ping")
            broker_ok = await broker.ping(timeout=2.0)
        except Exception as exc:  # readiness reports any failure as not ready
            return error_response(503, "not_ready", f"dependency check failed: {exc}")
        if not broker_ok:
            return error_response(503, "not_ready", "the Kafka broker does not answer")
        return {"status": "ready"}

    return app
