"""Durable parking of steps that wait for a person, in MongoDB.

A parked step survives restarts of this service. The first decision wins: the
transition pending -> decided is one atomic conditional update.
"""

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from orchestrate_contracts.messages import DecideApproval, RunStep, StepCompleted

Raw = dict[str, object]


class Decision(BaseModel):
    approved: bool
    decided_by: str
    notes: str
    decided_at: datetime
    api_key_id: str
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
    status: Literal["pending", "decided"] = "pending"
    decision: Decision | None = None


def parking_id(execution_id: str, step_id: str) -> str:
    return f"{execution_id}:{step_id}"


def completion(parked: ParkedStep) -> StepCompleted:
    """The decided step's event, derived from stored facts only, so that re-publishing
    it after a crash produces the same event."""
    decision = parked.decision
    assert decision is not None
    return StepCompleted(
        event_id=f"{parked.task.event_id}:decided",
        execution_id=parked.execution_id,
        tenant_id=parked.tenant_id,
        occurred_at=decision.decided_at,
        step_id=parked.step_id,
        agent=parked.task.step.agent,
        output={
            "approved": decision.approved,
            "approved_by": decision.decided_by,
            "notes": decision.notes,
            "decided_at": decision.decided_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        started_at=parked.parked_at,
        completed_at=decision.decided_at,
    )


class ParkingLot:
    def __init__(self, collection: AsyncCollection[Raw]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("status", 1), ("parked_at", 1)])

    async def park(self, task: RunStep, reason: str, now: datetime) -> ParkedStep:
        """Park the step once; a redelivered task gets the step as first parked."""
        key = parking_id(task.execution_id, task.step.id)
        fresh = ParkedStep(
            id=key,
            execution_id=task.execution_id,
            tenant_id=task.tenant_id,
            step_id=task.step.id,
            task=task,
            reason=reason,
            parked_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
        )
        raw = await self._collection.find_one_and_update(
            {"_id": key},
            {
                "$setOnInsert": fresh.model_dump(by_alias=True, mode="json", exclude={"id"})
                | {"parked_at": fresh.parked_at}
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return ParkedStep.model_validate(raw)

    async def decide(self, command: DecideApproval) -> tuple[ParkedStep | None, bool]:
        """Record the decision if the step still waits for one.

        Returns the parked step (None if none is parked under that id and tenant) and
        whether this command's decision is the one that was recorded.
        """
        key = parking_id(command.execution_id, command.step_id)
        decision = Decision(
            approved=command.approved,
            decided_by=command.decided_by,
            notes=command.notes,
            decided_at=command.occurred_at.replace(
                microsecond=command.occurred_at.microsecond // 1000 * 1000
            ),
            api_key_id=command.api_key_id,
            event_id=command.event_id,
        )
        scope = {"_id": key, "tenant_id": command.tenant_id}
        raw = await self._collection.find_one_and_update(
            scope | {"status": "pending"},
            {"$set": {"status": "decided", "decision": decision.model_dump()}},
            return_document=ReturnDocument.AFTER,
        )
        if raw is not None:
            return ParkedStep.model_validate(raw), True
        raw = await self._collection.find_one(scope)
        if raw is None:
            return None, False
        parked = ParkedStep.model_validate(raw)
        ours = parked.decision is not None and parked.decision.event_id == command.event_id
        return parked, ours
