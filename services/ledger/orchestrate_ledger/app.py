"""Composition root of the ledger: projects execution events into MongoDB documents."""

import json
import logging

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from orchestrate_contracts.deadletter import dead_letter_headers
from orchestrate_contracts.messages import ExecutionEvent, Undecodable, decode_execution_event
from orchestrate_contracts.topics import Topics

from .logic import project_batch
from .settings import Settings
from .store import ExecutionStore

COLLECTION = "executions"
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> AsgiFastStream:
    topics = Topics(settings.topic_prefix)
    source = topics.execution_events
    group = settings.ledger_group
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        graceful_timeout=settings.shutdown_timeout_s,
        linger_ms=settings.kafka_linger_ms,
        client_id="orchestrate-ledger",
        log_level=logging.DEBUG,
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
    )
    store = ExecutionStore(mongo[settings.ledger_db][COLLECTION])

    async def dead_letter(record: "ConsumerRecord[bytes, bytes]", reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d", record.topic, record.partition, record.offset)
        await broker.publish(
            record.value,
            topics.dead_letter(source),
            key=record.key,
            headers=dead_letter_headers(record, reason=reason, consumer_group=group),
        )

    # One commit per batch, after the batch's documents are written (at-least-once);
    # a failure rewinds every partition of the batch to its first unprocessed record.
    @broker.subscriber(
        source,
        batch=True,
        max_records=settings.kafka_batch_max_records,
        batch_timeout_ms=settings.kafka_batch_timeout_ms,
        group_id=group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    async def on_events(message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message
        events: list[ExecutionEvent] = []
        sources: list[ConsumerRecord[bytes, bytes]] = []
        for record in records:
            try:
                events.append(decode_execution_event(record.value or b""))
                sources.append(record)
            except Undecodable as exc:
                await dead_letter(record, str(exc))
        for rejected in await project_batch(store, events):
            await dead_letter(sources[rejected.index], rejected.reason)

    async def on_startup() -> None:
        await store.ensure_indexes()

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
        after_shutdown=[after_shutdown],
    )
