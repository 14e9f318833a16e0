"""The execution engine: starts executions and moves them from step to step.

It reacts to step events, keeps its own state (RunStore) and publishes the next
command. Every publish is idempotent downstream (deterministic event ids, first
writer wins), so after a crash the engine simply repeats what it may have missed.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, JsonValue

from orchestrate_contracts.messages import (
    ExecutionEnded,
    ExecutionStarted,
    RunStep,
    StepCompleted,
    StepFailed,
)
from orchestrate_contracts.topics import Topics

from .engine import Dispatch, End, after_failure, after_step, resume, validate_inputs
from .stores import Run, RunStore, WorkflowRegistry


class Publisher(Protocol):
    async def publish(self, topic: str, execution_id: str, message: BaseModel) -> None:
        """Publish and wait until the broker has acknowledged the record."""


class UnknownExecution(Exception):
    """An event names an execution the engine never started."""


@dataclass(frozen=True, slots=True)
class StartRequest:
    tenant_id: str
    workflow_id: str
    inputs: dict[str, JsonValue]
    requested_by: str
    execution_id: str


def new_execution_id(tenant_id: str, idempotency_key: str | None) -> str:
    """A fresh id, or with an Idempotency-Key the same id for every retry of a request."""
    if idempotency_key is None:
        return f"exec_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{tenant_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"exec_{digest[:32]}"


def execution_id_for_record(topic: str, partition: int, offset: int) -> str:
    """A Kafka request without an id gets one derived from its position, so a
    redelivered record starts the same execution, not a second one."""
    digest = hashlib.sha256(f"{topic}/{partition}/{offset}".encode()).hexdigest()
    return f"exec_{digest[:32]}"


class Engine:
    def __init__(
        self,
        workflows: WorkflowRegistry,
        runs: RunStore,
        publisher: Publisher,
        topics: Topics,
        usd_inr_rate: Decimal,
    ) -> None:
        self._workflows = workflows
        self._runs = runs
        self._publisher = publisher
        self._topics = topics
        self._usd_inr_rate = usd_inr_rate

    async def start(self, request: StartRequest) -> Run:
        """Validate and start an execution (raises WorkflowNotFound, InvalidInputs)."""
        workflow = await self._workflows.get(request.workflow_id)
        validate_inputs(workflow, request.inputs)
        run = await self._runs.create(
            request.execution_id,
            request.tenant_id,
            workflow,
            request.inputs,
            request.requested_by,
            self._usd_inr_rate,
        )
        # The start is acknowledged before the first step is sent, so the ledger
        # always sees it before anything the step causes.
        await self._launch(run)
        return run

    async def relaunch(self, run: Run) -> None:
        """Repeat the start of a run whose launch a crash may have cut short. Every
        later step is driven by Kafka records, which are redelivered after a crash."""
        await self._launch(run)

    async def _launch(self, run: Run) -> None:
        await self._emit(self._started(run))
        await self._act(run, resume(run.workflow, run.outputs))
        await self._runs.mark_launched(run.id)

    @staticmethod
    def _started(run: Run) -> ExecutionStarted:
        return ExecutionStarted(
            event_id=f"{run.id}:started",
            execution_id=run.id,
            tenant_id=run.tenant_id,
            occurred_at=run.created_at,
            workflow=run.workflow,
            inputs=run.inputs,
            requested_by=run.requested_by,
            usd_inr_rate=Decimal(run.usd_inr_rate),
        )

    async def on_step_completed(self, event: StepCompleted) -> None:
        run = await self._runs.record_output(event.execution_id, event.step_id, event.output)
        if run is None:
            raise UnknownExecution(f"no execution {event.execution_id}")
        if run.ended or event.step_id not in {s.id for s in run.workflow.steps}:
            return
        await self._act(run, after_step(run.workflow, run.outputs, event.step_id))

    async def on_step_failed(self, event: StepFailed) -> None:
        run = await self._runs.get(event.execution_id)
        if run is None:
            raise UnknownExecution(f"no execution {event.execution_id}")
        if run.ended:
            return
        await self._act(run, after_failure(run.workflow, run.outputs, event.step_id, event.error))

    async def _act(self, run: Run, action: Dispatch | End) -> None:
        match action:
            case Dispatch(step=step, previous=previous):
                if step.id in run.outputs:
                    return  # already ran: this is a repeated event
                await self._publisher.publish(
                    self._topics.step_tasks(step.agent),
                    run.id,
                    RunStep(
                        event_id=f"{run.id}:{step.id}",
                        execution_id=run.id,
                        tenant_id=run.tenant_id,
                        occurred_at=datetime.now(UTC),
                        workflow_id=run.workflow.id,
                        step=step,
                        inputs=run.inputs,
                        previous=previous,
                    ),
                )
            case End(status=status, outputs=outputs, error=error):
                await self._emit(
                    ExecutionEnded(
                        event_id=f"{run.id}:ended",
                        execution_id=run.id,
                        tenant_id=run.tenant_id,
                        occurred_at=datetime.now(UTC),
                        status=status,
                        outputs=outputs,
                        error=error,
                    )
                )
                await self._runs.mark_ended(run.id)

    async def _emit(self, event: ExecutionStarted | ExecutionEnded) -> None:
        await self._publisher.publish(self._topics.execution_events, event.execution_id, event)
