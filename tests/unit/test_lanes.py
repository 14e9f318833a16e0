"""Batched consumption: per-execution order within a poll, and shared round trips."""

import asyncio
from dataclasses import dataclass

import pytest

from orchestrate_contracts.lanes import Coalesced, handle_in_lanes, lanes


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: str


def test_lanes_keep_each_keys_order_and_split_unkeyed_records() -> None:
    records = [
        Record(b"a", "a1"),
        Record(b"b", "b1"),
        Record(None, "x"),
        Record(b"a", "a2"),
        Record(None, "y"),
        Record(b"b", "b2"),
    ]
    assert [[r.value for r in lane] for lane in lanes(records)] == [
        ["a1", "a2"],
        ["b1", "b2"],
        ["x"],
        ["y"],
    ]


async def test_lanes_run_concurrently_and_in_order_within_a_lane() -> None:
    seen: list[str] = []
    both_waiting = asyncio.Event()
    waiting: set[str] = set()

    async def handle(record: Record) -> None:
        if record.value in ("a1", "b1"):
            # Each first record waits for the other lane's: only concurrency passes.
            waiting.add(record.value)
            if len(waiting) == 2:
                both_waiting.set()
            await asyncio.wait_for(both_waiting.wait(), 2)
        seen.append(record.value)

    await handle_in_lanes(
        [Record(b"a", "a1"), Record(b"b", "b1"), Record(b"a", "a2"), Record(b"b", "b2")], handle
    )
    assert seen.index("a1") < seen.index("a2") and seen.index("b1") < seen.index("b2")
    assert len(seen) == 4


async def test_a_failing_lane_fails_the_batch() -> None:
    async def handle(record: Record) -> None:
        if record.value == "bad":
            raise ValueError("bad record")

    with pytest.raises(ExceptionGroup) as raised:
        await handle_in_lanes([Record(b"a", "ok"), Record(b"b", "bad")], handle)
    assert raised.group_contains(ValueError)


async def test_concurrent_calls_share_one_batch_call_with_their_own_results() -> None:
    calls: list[list[int]] = []

    async def square_all(items: list[int]) -> list[int]:
        calls.append(items)
        return [i * i for i in items]

    batch = Coalesced(square_all)
    assert await asyncio.gather(*(batch.add(i) for i in range(5))) == [0, 1, 4, 9, 16]
    assert calls == [[0, 1, 2, 3, 4]]
    # Later calls make a new batch call.
    assert await batch.add(7) == 49
    assert calls[-1] == [7]


async def test_a_failed_batch_call_fails_every_caller_in_it() -> None:
    async def fail(items: list[int]) -> list[int]:
        raise ConnectionError("down")

    batch = Coalesced(fail)
    results = await asyncio.gather(batch.add(1), batch.add(2), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
