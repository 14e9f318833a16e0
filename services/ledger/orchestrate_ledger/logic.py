"""Apply a batch of events to the store: read once, project in memory, write once."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrate_contracts.documents import ExecutionDocument
from orchestrate_contracts.messages import ExecutionEvent

from .projection import ProjectionRejected, project

MAX_ATTEMPTS = 8


class Store(Protocol):
    async def load(self, ids: Sequence[str]) -> dict[str, ExecutionDocument]: ...
    async def save(self, docs: list[ExecutionDocument]) -> set[str]: ...


class ConcurrentUpdates(Exception):
    """Another ledger instance kept winning the race for the same executions."""


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    reason: str


async def project_batch(store: Store, events: Sequence[ExecutionEvent]) -> list[Rejected]:
    """Project the events; return those that cannot apply (for the dead-letter topic).

    Re-applying an event is a no-op, so after a lost race the whole batch is simply
    re-projected against fresh documents.
    """
    pending = list(range(len(events)))
    rejected: dict[int, Rejected] = {}
    for _ in range(MAX_ATTEMPTS):
        ids = sorted({events[i].execution_id for i in pending})
        loaded = await store.load(ids)
        docs: dict[str, ExecutionDocument | None] = {i: loaded.get(i) for i in ids}
        for index in pending:
            event = events[index]
            try:
                docs[event.execution_id] = project(docs[event.execution_id], event)
            except ProjectionRejected as exc:
                rejected[index] = Rejected(index, str(exc))
        changed = [
            doc for doc_id, doc in docs.items() if doc is not None and doc != loaded.get(doc_id)
        ]
        lost = await store.save(changed)
        if not lost:
            return sorted(rejected.values(), key=lambda r: r.index)
        pending = [i for i in pending if events[i].execution_id in lost]
        for index in pending:
            rejected.pop(index, None)
    raise ConcurrentUpdates(f"{len(pending)} events kept conflicting")
