"""MongoDB persistence of execution documents, with optimistic concurrency."""

import uuid
from collections.abc import Iterable

from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from orchestrate_contracts.documents import ExecutionDocument

DUPLICATE_KEY = 11000

Raw = dict[str, object]


class ExecutionStore:
    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        # Tenant-scoped listings by recency.
        await self._collection.create_index([("tenant_id", 1), ("created_at", -1)])

    async def load(self, ids: Iterable[str]) -> dict[str, ExecutionDocument]:
        cursor = self._collection.find({"_id": {"$in": list(ids)}})
        return {
            doc.id: doc
            async for doc in (ExecutionDocument.model_validate(raw) async for raw in cursor)
        }

    async def save(self, docs: list[ExecutionDocument]) -> set[str]:
        """Write each document if nobody else wrote it since it was read.

        One round trip for the whole batch. Returns the ids that lost a race; their
        writes did not happen.
        """
        if not docs:
            return set()
        write_id = uuid.uuid4().hex
        ops: list[InsertOne[Raw] | ReplaceOne[Raw]] = []
        for doc in docs:
            stored = doc.model_copy(update={"version": doc.version + 1, "write_id": write_id})
            raw = stored.model_dump(by_alias=True, mode="python")
            if doc.version == 0:
                ops.append(InsertOne(raw))
            else:
                ops.append(ReplaceOne({"_id": doc.id, "version": doc.version}, raw))
        expected = len(ops)
        lost: set[str] = set()
        try:
            result = await self._collection.bulk_write(ops, ordered=False)
            written = result.inserted_count + result.matched_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            lost = {docs[e["index"]].id for e in errors}
            written = exc.details.get("nInserted", 0) + exc.details.get("nMatched", 0)
        if written + len(lost) < expected:
            # Some replace matched no version: find which by our write stamp.
            replaced = [d.id for d in docs if d.version and d.id not in lost]
            cursor = self._collection.find(
                {"_id": {"$in": replaced}, "write_id": write_id}, {"_id": 1}
            )
            ours = {raw["_id"] async for raw in cursor}
            lost |= {i for i in replaced if i not in ours}
        return lost
