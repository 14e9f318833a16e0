"""Helpers for tests that talk to real services: waiting on conditions, Kafka I/O."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

T = TypeVar("T")


async def wait_for(
    fetch: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    what: str = "condition",
) -> T:
    """Poll `fetch` until `predicate` holds; fail with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.02)


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, count: int, *, timeout: float = 30.0
) -> list["ConsumerRecord[bytes, bytes]"]:
    """Read the first `count` records of a topic (all partitions), without a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:

        async def partitions_of_topic() -> set[int] | None:
            await consumer.topics()  # refreshes cluster metadata
            found: set[int] | None = consumer.partitions_for_topic(topic)
            return found

        partitions = await wait_for(
            partitions_of_topic,
            lambda found: bool(found),
            what=f"partitions of {topic}",
        )
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions or ())])
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(records) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"{topic}: {len(records)} of {count} records after {timeout} s"
                )
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def wait_consumed(bootstrap: str, group: str, topic: str, *, timeout: float = 30.0) -> None:
    """Wait until `group` has committed every record now in `topic`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"no partitions for {topic}"
        ends = await consumer.end_offsets(partitions)

        async def lagging() -> list[TopicPartition]:
            return [tp for tp in partitions if ((await consumer.committed(tp)) or 0) < ends[tp]]

        await wait_for(
            lagging, lambda lag: not lag, timeout=timeout, what=f"{group} to commit all of {topic}"
        )
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str) -> list["ConsumerRecord[bytes, bytes]"]:
    """Every record now in the topic (all partitions), without a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                return records
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(
                    r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
    finally:
        await consumer.stop()
