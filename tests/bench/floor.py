"""The floor: what the infrastructure alone costs per step, measured on the run's own
broker and mongod before any load, so that step overheads can be read against it.

- Kafka one way: one aiokafka producer (acks=all, no linger) sends to a fresh topic and
  an aiokafka consumer in the same process (the services' fetch wait) receives it;
  send-to-receive of each of ``count`` sequential messages.
- MongoDB upsert: ``update_one({"_id": i}, {"$set": ...}, upsert=True)`` with
  AsyncMongoClient and the default write concern, ``count`` in sequence.

Both also report the server's own CPU per operation (broker per message sent and
fetched, mongod per upsert), from /proc: what one request costs the infrastructure,
which bounds throughput where everything shares a few cores.

A step hop is agent → broker → engine → MongoDB → broker → next agent, so the floor
per step is 2 Kafka one-way latencies plus 1 upsert (p50 from p50s, p99 from p99s).
Each measurement runs ``WARMUP`` unmeasured operations first (connections, metadata,
first allocations).
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from orchestrate_devstack.infra import create_topics_async

from .procs import Processes
from .stats import Percentiles, percentiles

WARMUP = 100


@dataclass(frozen=True, slots=True)
class Floor:
    kafka_one_way_ms: Percentiles
    mongo_upsert_ms: Percentiles
    broker_cpu_ms_per_message: float
    mongod_cpu_ms_per_upsert: float

    @property
    def per_step_p50_ms(self) -> float:
        return 2 * self.kafka_one_way_ms.p50 + self.mongo_upsert_ms.p50

    @property
    def per_step_p99_ms(self) -> float:
        return 2 * self.kafka_one_way_ms.p99 + self.mongo_upsert_ms.p99


def _summary(samples_ms: list[float]) -> Percentiles:
    summary = percentiles(samples_ms)
    assert summary is not None, "no samples"
    return summary


def _cpu_s(servers: Processes, name: str) -> float:
    return servers.snapshot().cpu_s[name]


async def kafka_one_way(
    bootstrap: str, count: int, fetch_max_wait_ms: int, servers: Processes
) -> tuple[Percentiles, float]:
    topic = f"bench.floor.{uuid.uuid4().hex[:12]}"
    await create_topics_async(bootstrap, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        samples: list[float] = []
        cpu_before = 0.0
        for i in range(WARMUP + count):
            if i == WARMUP:
                cpu_before = _cpu_s(servers, "broker")
            sent = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            record = await consumer.getone()
            received = time.perf_counter()
            if record.value != str(i).encode():
                raise RuntimeError(f"floor topic {topic}: expected {i}, got {record.value!r}")
            if i >= WARMUP:
                samples.append((received - sent) * 1000)
        return _summary(samples), 1000 * (_cpu_s(servers, "broker") - cpu_before) / count
    finally:
        await consumer.stop()
        await producer.stop()


async def mongo_upsert(mongo_url: str, count: int, servers: Processes) -> tuple[Percentiles, float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        collection = client["bench_floor"][f"upserts_{uuid.uuid4().hex[:12]}"]
        samples: list[float] = []
        cpu_before = 0.0
        for i in range(WARMUP + count):
            if i == WARMUP:
                cpu_before = _cpu_s(servers, "mongod")
            started = time.perf_counter()
            await collection.update_one(
                {"_id": i}, {"$set": {"n": i, "at": datetime.now(UTC)}}, upsert=True
            )
            if i >= WARMUP:
                samples.append((time.perf_counter() - started) * 1000)
        cpu_ms = 1000 * (_cpu_s(servers, "mongod") - cpu_before) / count
        await collection.drop()
        return _summary(samples), cpu_ms
    finally:
        await client.close()


async def measure(
    bootstrap: str,
    mongo_url: str,
    *,
    count: int = 2000,
    fetch_max_wait_ms: int,
    broker_pid: int,
    mongod_pid: int,
) -> Floor:
    """Both floors, one after the other (never concurrently: each would slow the other)."""
    servers = Processes({"broker": broker_pid, "mongod": mongod_pid})
    kafka, broker_cpu = await kafka_one_way(bootstrap, count, fetch_max_wait_ms, servers)
    mongo, mongod_cpu = await mongo_upsert(mongo_url, count, servers)
    return Floor(
        kafka_one_way_ms=kafka,
        mongo_upsert_ms=mongo,
        broker_cpu_ms_per_message=broker_cpu,
        mongod_cpu_ms_per_upsert=mongod_cpu,
    )


def run(
    bootstrap: str,
    mongo_url: str,
    *,
    count: int,
    fetch_max_wait_ms: int,
    broker_pid: int,
    mongod_pid: int,
) -> Floor:
    return asyncio.run(
        measure(
            bootstrap,
            mongo_url,
            count=count,
            fetch_max_wait_ms=fetch_max_wait_ms,
            broker_pid=broker_pid,
            mongod_pid=mongod_pid,
        )
    )
