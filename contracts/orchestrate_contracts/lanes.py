"""The ordering the topics promise, applied to a polled batch of records.

Records are keyed by execution id, so one execution's records arrive in order; those
of different executions are independent. A consumer that polls a batch may therefore
handle each execution's records in order while handling executions concurrently:
that keeps the guarantee and overlaps the MongoDB and broker round trips of a batch,
which Coalesced then turns into one round trip each.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar


class _Keyed(Protocol):
    @property
    def key(self) -> bytes | None: ...


R = TypeVar("R", bound=_Keyed)
T = TypeVar("T")
U = TypeVar("U")


def lanes(records: Iterable[R]) -> list[list[R]]:
    """Records grouped by key, each group in arrival order. A record without a key
    belongs to no execution and makes a lane of its own."""
    keyed: dict[bytes, list[R]] = {}
    result: list[list[R]] = []
    for record in records:
        if record.key is None:
            result.append([record])
        elif (lane := keyed.get(record.key)) is not None:
            lane.append(record)
        else:
            keyed[record.key] = lane = [record]
            result.append(lane)
    return result


async def handle_in_lanes(records: Iterable[R], handle: Callable[[R], Awaitable[None]]) -> None:
    """Handle every record of a poll (a batch subscriber's raw message is the poll's
    tuple of records): in order within a lane, lanes concurrently. Returns when all
    are handled; if one fails, the others are cancelled and the failure is raised, so
    that the consumer does not commit the batch and it is delivered again."""

    async def in_order(lane: list[R]) -> None:
        for record in lane:
            await handle(record)

    async with asyncio.TaskGroup() as group:
        for lane in lanes(records):
            group.create_task(in_order(lane))


class Coalesced(Generic[T, U]):
    """Concurrent calls share one call of a batch operation ("group commit"): each
    caller adds its item and gets its own result once the call that includes it is
    done, or that call's error. Used for writes, nothing is acknowledged before it is
    stored, and the N records of a polled batch (handled concurrently, above) cost one
    MongoDB round trip or one model call instead of N."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[U]]]) -> None:
        self._write = write
        self._items: list[T] = []
        self._flush: asyncio.Task[list[U]] | None = None

    async def add(self, item: T) -> U:
        if self._flush is None:
            self._flush = asyncio.create_task(self._run())
        flush = self._flush
        index = len(self._items)
        self._items.append(item)
        # Shielded: a cancelled caller must not cancel the others' write.
        results = await asyncio.shield(flush)
        return results[index]

    async def _run(self) -> list[U]:
        await asyncio.sleep(0)  # let the callers that run in this loop turn join
        items, self._items, self._flush = self._items, [], None
        return await self._write(items)
