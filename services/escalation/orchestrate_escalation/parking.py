"""Durable parking of steps that wait for a person, in MongoDB.

A parked step survives restarts of this service. The first decision wins, whether a
person's or the deadline's: the transition pending -> decided is one atomic
conditional update, so with several escalation instances each deadline fires once.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from orchestrate_contracts.messages import DecideApproval, RunStep, StepCompleted, StepFailed

Raw = dict[str, object]


def _ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: stored and rebuilt events must match exactly."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Decision(BaseModel):
    # None: the deadline passed and the workflow says the step then fails.
    approved: bool | None
    source: Literal["person", "deadline"]
    decided_by: str | None
    notes: str
    decided_at: datetime
    api_key_id: str | None = None
    event_id: str


class ParkedStep(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    execution_id: str
    tenant_id: str
    step_id: str
    task: RunStep
    reason: str
    parked_at: datetime
    deadline_at: datetime
    on_timeout: Literal["reject", "approve", "fail"]
    status: Literal["pending", "decided"] = "pending"
    decision: Decision | None = None
    # Whether the decided step's event has been acknowledged by the broker.
    emitted: bool = False


def parking_id(execution_id: str, step_id: str) -> str:
    return f"{execution_id}:{step_id}"


def timeout_decision(parked: ParkedStep, now: datetime) -> Decision:
    """The system's decision when nobody decided in time."""
    seconds = round((parked.deadline_at - parked.parked_at).total_seconds())
    approved = {"approve": True, "reject": False, "fail": None}[parked.on_timeout]
    return Decision(
        approved=approved,
        source="deadline",
        decided_by=None,
        notes=f"no decision within {seconds} s; the workflow's on_timeout is {parked.on_timeout}",
        decided_at=_ms(now),
        event_id=f"{parked.id}:deadline",
    )


def outcome(parked: ParkedStep) -> StepCompleted | StepFailed:
    """The decided step's event, derived from stored facts only, so that re-publishing
    it after a crash produces the same event."""
    decision = parked.decision
    assert decision is not None
    common = {
        "event_id": f"{parked.task.event_id}:decided",
        "execution_id": parked.execution_id,
        "tenant_id": parked.tenant_id,
        "occurred_at": decision.decided_at,
        "step_id": parked.step_id,
        "agent": parked.task.step.agent,
        "started_at": parked.parked_at,
    }
    if decision.approved is None:
        return StepFailed(error=decision.notes, failed_at=decision.decided_at, **common)
    return StepCompleted(
        output={
            "approved": decision.approved,
            "approved_by": decision.decided_by,
            "notes": decision.notes,
            "decided_at": _iso(decision.decided_at),
            "decided_by": decision.source,
        },
        completed_at=decision.decided_at,
        **common,
    )


class ParkingLot:
    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("status", 1), ("deadline_at", 1)])
        await self._collection.create_index([("emitted", 1), ("status", 1)])

    async def park(self, task: RunStep, reason: str, now: datetime) -> ParkedStep:
        """Park the step once; a redelivered task gets the step as first parked."""
        assert task.step.approval is not None
        key = parking_id(task.execution_id, task.step.id)
        parked_at = _ms(now)
        fresh = ParkedStep(
            id=key,
            execution_id=task.execution_id,
            tenant_id=task.tenant_id,
            step_id=task.step.id,
            task=task,
            reason=reason,
            parked_at=parked_at,
            deadline_at=parked_at + timedelta(seconds=task.step.approval.deadline_s),
            on_timeout=task.step.approval.on_timeout,
        )
        raw = await self._collection.find_one_and_update(
            {"_id": key},
            {
                "$setOnInsert": fresh.model_dump(by_alias=True, mode="json", exclude={"id"})
                | {"parked_at": fresh.parked_at, "deadline_at": fresh.deadline_at}
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return ParkedStep.model_validate(raw)

    async def _decide(self, key: str, tenant_id: str, decision: Decision) -> ParkedStep | None:
        raw = await self._collection.find_one_and_update(
            {"_id": key, "tenant_id": tenant_id, "status": "pending"},
            {"$set": {"status": "decided", "decision": decision.model_dump()}},
            return_document=ReturnDocument.AFTER,
        )
        return ParkedStep.model_validate(raw) if raw else None

    async def decide(self, command: DecideApproval) -> ParkedStep | None:
        """Record a person's decision if the step still waits for one.

        Returns the parked step as decided (by this command or by whatever came
        first), or None if no such step is parked for that tenant.
        """
        key = parking_id(command.execution_id, command.step_id)
        decision = Decision(
            approved=command.approved,
            source="person",
            decided_by=command.decided_by,
            notes=command.notes,
            decided_at=_ms(command.occurred_at),
            api_key_id=command.api_key_id,
            event_id=command.event_id,
        )
        decided = await self._decide(key, command.tenant_id, decision)
        if decided is not None:
            return decided
        raw = await self._collection.find_one({"_id": key, "tenant_id": command.tenant_id})
        return ParkedStep.model_validate(raw) if raw else None

    async def expire_due(self, now: datetime, limit: int) -> list[ParkedStep]:
        """Decide every step whose deadline has passed; each by one caller only."""
        cursor = self._collection.find({"status": "pending", "deadline_at": {"$lte": now}}).limit(
            limit
        )
        expired: list[ParkedStep] = []
        async for raw in cursor:
            parked = ParkedStep.model_validate(raw)
            decided = await self._decide(parked.id, parked.tenant_id, timeout_decision(parked, now))
            if decided is not None:
                expired.append(decided)
        return expired

    async def mark_emitted(self, parked: ParkedStep) -> None:
        await self._collection.update_one({"_id": parked.id}, {"$set": {"emitted": True}})

    async def unemitted(self, older_than: timedelta, limit: int) -> list[ParkedStep]:
        """Decided steps whose event a crash may have lost."""
        cursor = self._collection.find(
            {
                "status": "decided",
                "emitted": False,
                "decision.decided_at": {"$lte": datetime.now(UTC) - older_than},
            }
        ).limit(limit)
        return [ParkedStep.model_validate(raw) async for raw in cursor]
