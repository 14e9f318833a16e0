"""The gateway's MongoDB collections: workflows, API keys, engine runs, decisions,
and (read-only) the ledger's execution documents."""

import contextlib
import hashlib
import re
import secrets
import string
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from orchestrate_contracts.documents import ExecutionDocument
from orchestrate_contracts.lanes import Coalesced
from orchestrate_contracts.messages import DecideApproval, Output
from orchestrate_contracts.workflow import WorkflowDefinition

from .errors import AlreadyDecided, WorkflowNotFound

Raw = dict[str, object]
KEY_PREFIXES = ("rv_live_", "rv_test_")
_KEY_ALPHABET = string.ascii_letters + string.digits


def _now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- Workflows --------------------------------------------------------------------


def shipped_workflows() -> list[WorkflowDefinition]:
    folder = files(__package__).joinpath("workflows")
    return [
        WorkflowDefinition.model_validate_json(entry.read_text())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    ]


class WorkflowRegistry:
    def __init__(self, collection: AsyncCollection[Raw], cache_s: float = 5.0) -> None:
        self._collection = collection
        # Starts read their workflow from memory: an operator's edit applies to the
        # executions started `cache_s` later (each snapshots its definition).
        self._cache_s = cache_s
        self._cached: dict[str, tuple[float, WorkflowDefinition]] = {}

    async def seed(self, workflows: list[WorkflowDefinition]) -> None:
        """Install shipped workflows; a stored definition of the same or a newer
        version (e.g. edited by an operator) is kept."""
        for workflow in workflows:
            with contextlib.suppress(DuplicateKeyError):
                await self._collection.update_one(
                    {"_id": workflow.id, "definition.version": {"$lt": workflow.version}},
                    {"$set": {"definition": workflow.model_dump(mode="json", by_alias=True)}},
                    upsert=True,
                )

    async def get(self, workflow_id: str) -> WorkflowDefinition:
        now = time.monotonic()
        cached = self._cached.get(workflow_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self._collection.find_one({"_id": workflow_id})
        if raw is None:
            raise WorkflowNotFound(f"no workflow {workflow_id}")
        workflow = WorkflowDefinition.model_validate(raw["definition"])
        self._cached[workflow_id] = (now + self._cache_s, workflow)
        return workflow

    async def list(self) -> list[WorkflowDefinition]:
        cursor = self._collection.find({}).sort("_id", 1)
        return [WorkflowDefinition.model_validate(raw["definition"]) async for raw in cursor]


# --- API keys ---------------------------------------------------------------------


class ApiKey(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    owner_email: str
    tenant_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    # This key's own request rate and burst; None: the gateway's defaults.
    rate_limit_per_s: float | None = None
    rate_limit_burst: int | None = None


def hash_key(token: str) -> str:
    # Keys are 238-bit random secrets: a fast hash cannot be brute-forced, and it
    # lets the hash itself be the indexed lookup.
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection
        # Every request looks its key up; concurrent requests share one query.
        self._lookups = Coalesced(self._find_many)

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("hash", unique=True)

    async def create(
        self,
        owner_email: str,
        tenant_id: str,
        live: bool = True,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: int | None = None,
    ) -> tuple[str, ApiKey]:
        """Returns the token (shown once, never stored) and its record."""
        prefix = KEY_PREFIXES[0] if live else KEY_PREFIXES[1]
        token = prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
        key = ApiKey(
            id="key_" + secrets.token_hex(8),
            owner_email=owner_email,
            tenant_id=tenant_id,
            prefix=token[:12],
            created_at=_now_ms(),
            rate_limit_per_s=rate_limit_per_s,
            rate_limit_burst=rate_limit_burst,
        )
        await self._collection.insert_one(key.model_dump(by_alias=True) | {"hash": hash_key(token)})
        return token, key

    async def find(self, token: str) -> ApiKey | None:
        if not token.startswith(KEY_PREFIXES):
            return None
        return await self._lookups.add(hash_key(token))

    async def _find_many(self, hashes: list[str]) -> list[ApiKey | None]:
        cursor = self._collection.find({"hash": {"$in": hashes}, "revoked_at": None})
        found = {str(raw["hash"]): ApiKey.model_validate(raw) async for raw in cursor}
        return [found.get(h) for h in hashes]

    async def revoke(self, key_id: str) -> bool:
        result = await self._collection.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": _now_ms()}}
        )
        return result.modified_count == 1


# --- Engine runs ------------------------------------------------------------------


class Run(BaseModel):
    """The engine's own state of one execution: enough to decide what comes next."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    tenant_id: str
    workflow: WorkflowDefinition
    inputs: dict[str, JsonValue]
    requested_by: str
    usd_inr_rate: str
    created_at: datetime
    outputs: dict[str, Output] = {}
    ended: bool = False
    # Whether the start (ExecutionStarted and the first RunStep) reached the broker.
    # Everything after that is driven by Kafka records, which are redelivered after a
    # crash; the start is driven by an HTTP request, which is not.
    launched: bool = False


class RunStore:
    def __init__(self, collection: AsyncCollection[Raw], stale_after: timedelta) -> None:
        self._collection = collection
        self._stale_after = stale_after
        self._creates = Coalesced(self._create_many)
        self._outputs = Coalesced(self._record_outputs)
        self._launched = Coalesced(partial(self._set_flag, "launched"))
        self._ended = Coalesced(partial(self._set_flag, "ended"))

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("launched", 1), ("created_at", 1)])

    async def create(
        self,
        execution_id: str,
        tenant_id: str,
        workflow: WorkflowDefinition,
        inputs: dict[str, JsonValue],
        requested_by: str,
        usd_inr_rate: Decimal,
    ) -> Run:
        """Create the run once; a repeated start returns the run as first created."""
        fresh = Run(
            id=execution_id,
            tenant_id=tenant_id,
            workflow=workflow,
            inputs=inputs,
            requested_by=requested_by,
            usd_inr_rate=str(usd_inr_rate),
            created_at=_now_ms(),
        )
        return await self._creates.add(fresh)

    async def _create_many(self, runs: list[Run]) -> list[Run]:
        def insert(run: Run) -> Raw:
            return {
                "$setOnInsert": run.model_dump(by_alias=True, mode="json", exclude={"id"})
                | {"created_at": run.created_at}
            }

        if len(runs) == 1:  # one round trip instead of a write and a read
            raw = await self._collection.find_one_and_update(
                {"_id": runs[0].id},
                insert(runs[0]),
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            return [Run.model_validate(raw)]
        inserts = [UpdateOne({"_id": run.id}, insert(run), upsert=True) for run in runs]
        try:
            await self._collection.bulk_write(inserts, ordered=False)
        except BulkWriteError as exc:
            # Two instances upserting one id race; the loser's run exists all the same.
            if any(error["code"] != 11000 for error in exc.details["writeErrors"]):
                raise
        stored = await self._find_many([run.id for run in runs])
        return [stored[run.id] for run in runs]

    async def record_output(self, execution_id: str, step_id: str, output: Output) -> Run | None:
        """Keep the first output a step reported; later copies change nothing."""
        return await self._outputs.add((execution_id, step_id, output))

    async def _record_outputs(self, items: list[tuple[str, str, Output]]) -> list[Run | None]:
        def keep_first(step_id: str, output: Output) -> list[Raw]:
            path = f"outputs.{step_id}"
            # $literal: outputs are data and must never be read as operators.
            return [{"$set": {path: {"$ifNull": [f"${path}", {"$literal": output}]}}}]

        if len(items) == 1:  # one round trip instead of a write and a read
            execution_id, step_id, output = items[0]
            raw = await self._collection.find_one_and_update(
                {"_id": execution_id},
                keep_first(step_id, output),
                return_document=ReturnDocument.AFTER,
            )
            return [Run.model_validate(raw) if raw else None]
        updates = [
            UpdateOne({"_id": execution_id}, keep_first(step_id, output))
            for execution_id, step_id, output in items
        ]
        # In order: of two copies of one step's output in a batch, the first wins.
        await self._collection.bulk_write(updates, ordered=True)
        stored = await self._find_many([execution_id for execution_id, _, _ in items])
        return [stored.get(execution_id) for execution_id, _, _ in items]

    async def _find_many(self, execution_ids: list[str]) -> dict[str, Run]:
        cursor = self._collection.find({"_id": {"$in": execution_ids}})
        return {str(raw["_id"]): Run.model_validate(raw) async for raw in cursor}

    async def _set_flag(self, flag: str, execution_ids: list[str]) -> list[None]:
        await self._collection.update_many({"_id": {"$in": execution_ids}}, {"$set": {flag: True}})
        return [None] * len(execution_ids)

    async def get(self, execution_id: str) -> Run | None:
        raw = await self._collection.find_one({"_id": execution_id})
        return Run.model_validate(raw) if raw else None

    async def mark_ended(self, execution_id: str) -> None:
        await self._ended.add(execution_id)

    async def mark_launched(self, execution_id: str) -> None:
        await self._launched.add(execution_id)

    async def unlaunched(self, limit: int) -> list[Run]:
        """Runs created a while ago whose start a crash may have kept from the broker."""
        cursor = self._collection.find(
            {"launched": False, "created_at": {"$lte": _now_ms() - self._stale_after}}
        ).limit(limit)
        return [Run.model_validate(raw) async for raw in cursor]


# --- Approval decisions -----------------------------------------------------------


class DecisionStore:
    """One decision per parked step: the unique _id makes the first one win.

    It is also the outbox of decisions: a decision stays unpublished until the broker
    has acknowledged it, and the reconciler publishes what a crash left behind.
    """

    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("published", 1), ("decided_at", 1)])

    async def claim(self, command: DecideApproval) -> None:
        record = {
            "_id": f"{command.execution_id}:{command.step_id}",
            "tenant_id": command.tenant_id,
            "decided_at": command.occurred_at,
            "published": False,
            "command": command.model_dump(mode="json"),
        }
        try:
            await self._collection.insert_one(record)
        except DuplicateKeyError:
            raise AlreadyDecided(
                f"step {command.step_id} of {command.execution_id} is already decided"
            ) from None

    async def mark_published(self, command: DecideApproval) -> None:
        await self._collection.update_one(
            {"_id": f"{command.execution_id}:{command.step_id}"}, {"$set": {"published": True}}
        )

    async def unpublished(self, older_than: timedelta, limit: int) -> list[DecideApproval]:
        cursor = self._collection.find(
            {"published": False, "decided_at": {"$lte": _now_ms() - older_than}}
        ).limit(limit)
        return [DecideApproval.model_validate(raw["command"]) async for raw in cursor]


# --- Executions (the ledger's read model) -----------------------------------------


class ExecutionReader:
    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection
        # Concurrent reads share one query.
        self._reads = Coalesced(self._find_many)

    async def get(self, tenant_id: str, execution_id: str) -> ExecutionDocument | None:
        return await self._reads.add((tenant_id, execution_id))

    async def _find_many(self, keys: list[tuple[str, str]]) -> list[ExecutionDocument | None]:
        cursor = self._collection.find({"_id": {"$in": [execution_id for _, execution_id in keys]}})
        found = {str(raw["_id"]): raw async for raw in cursor}
        docs: list[ExecutionDocument | None] = []
        for tenant_id, execution_id in keys:
            raw = found.get(execution_id)
            # Another tenant's execution reads as missing.
            match = raw is not None and raw.get("tenant_id") == tenant_id
            docs.append(ExecutionDocument.model_validate(raw) if match else None)
        return docs


# --- Parked steps (the escalation service's parking lot, read-only) ---------------


class ParkedReader:
    """Which step of an execution the escalation service has parked. The service parks
    a step before it announces StepAwaitingApproval, so this is current at once, while
    the ledger's document follows a moment later."""

    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection

    async def pending_step(self, tenant_id: str, execution_id: str) -> str | None:
        # Parking ids are "<execution id>:<step id>": an anchored prefix uses the _id index.
        raw = await self._collection.find_one(
            {
                "_id": {"$regex": f"^{re.escape(execution_id)}:"},
                "tenant_id": tenant_id,
                "status": "pending",
            },
            projection={"step_id": True},
        )
        return str(raw["step_id"]) if raw else None


class Stores:
    def __init__(
        self,
        gateway_db: AsyncDatabase[Raw],
        ledger_db: AsyncDatabase[Raw],
        escalation_db: AsyncDatabase[Raw],
        stale_after: timedelta,
    ) -> None:
        self.workflows = WorkflowRegistry(gateway_db["workflows"])
        self.keys = KeyStore(gateway_db["api_keys"])
        self.runs = RunStore(gateway_db["runs"], stale_after)
        self.decisions = DecisionStore(gateway_db["approval_decisions"])
        self.executions = ExecutionReader(ledger_db["executions"])
        self.parked = ParkedReader(escalation_db["parked_steps"])

    async def ensure_indexes(self) -> None:
        await self.keys.ensure_indexes()
        await self.runs.ensure_indexes()
        await self.decisions.ensure_indexes()
