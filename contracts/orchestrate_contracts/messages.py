"""Every message on Orchestrate's topics: commands (imperative) and events (past tense).

Each record value is one of these models as JSON, with a `type` discriminator, keyed
by execution id. Schemas evolve only by adding fields with defaults; unknown fields
are ignored so that older consumers keep working.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from .workflow import StepDefinition, StepId, WorkflowDefinition, WorkflowId

T = TypeVar("T")

ExecutionId = Annotated[str, StringConstraints(pattern=r"^exec_[A-Za-z0-9]{8,64}$")]
TenantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Output = dict[str, JsonValue]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Envelope(_Message):
    """What every record carries so that consumers can route and de-duplicate it."""

    # Deterministic where a fact can be re-published after a crash, so that a
    # consumer recognises the copy.
    event_id: str = Field(min_length=1, max_length=200)
    execution_id: ExecutionId
    tenant_id: TenantId
    occurred_at: AwareDatetime


class Usage(_Message):
    """Token usage of the model calls a step made."""

    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


# --- Commands ---------------------------------------------------------------------


class StartExecution(_Message):
    """Ask for a new execution: published by other services to the ingress topic.

    `execution_id` is optional: give one to make retries of the same request
    idempotent; without it the id is derived from the record's position, so a
    redelivered record still starts one execution only.
    """

    type: Literal["start_execution"] = "start_execution"
    execution_id: ExecutionId | None = None
    tenant_id: TenantId
    workflow_id: WorkflowId
    inputs: dict[str, JsonValue]
    requested_by: str = Field(default="", max_length=320)


class PriorStep(_Message):
    """A completed step's output, handed to the steps after it."""

    step_id: StepId
    agent: str
    output: Output


class RunStep(_Envelope):
    """Run one step of an execution: sent to the step's agent topic."""

    type: Literal["run_step"] = "run_step"
    workflow_id: WorkflowId
    step: StepDefinition
    inputs: dict[str, JsonValue]
    # The steps already completed, in workflow order.
    previous: tuple[PriorStep, ...] = ()


class DecideApproval(_Envelope):
    """A person's decision on a parked step: from the gateway to the escalation service."""

    type: Literal["decide_approval"] = "decide_approval"
    step_id: StepId
    approved: bool
    notes: str = Field(default="", max_length=4000)
    # The email of the API key's owner.
    decided_by: str = Field(min_length=3, max_length=320)
    api_key_id: str


# --- Events (topic: execution events) -------------------------------------------


class ExecutionStarted(_Envelope):
    type: Literal["execution_started"] = "execution_started"
    workflow: WorkflowDefinition
    inputs: dict[str, JsonValue]
    requested_by: str = ""
    # The rate fixed at start, so that the record's INR figure never changes later.
    usd_inr_rate: Decimal = Field(gt=0)


class StepStarted(_Envelope):
    type: Literal["step_started"] = "step_started"
    step_id: StepId
    agent: str


class StepAwaitingApproval(_Envelope):
    type: Literal["step_awaiting_approval"] = "step_awaiting_approval"
    step_id: StepId
    agent: str
    started_at: AwareDatetime
    reason: str


class StepCompleted(_Envelope):
    type: Literal["step_completed"] = "step_completed"
    step_id: StepId
    agent: str
    output: Output
    started_at: AwareDatetime
    completed_at: AwareDatetime
    usage: Usage | None = None
    # Integer micro-dollars: sums stay exact.
    cost_usd_micros: int = Field(default=0, ge=0)


class StepFailed(_Envelope):
    type: Literal["step_failed"] = "step_failed"
    step_id: StepId
    agent: str
    error: str
    started_at: AwareDatetime
    failed_at: AwareDatetime


class ExecutionEnded(_Envelope):
    type: Literal["execution_ended"] = "execution_ended"
    status: Literal["completed", "rejected", "failed"]
    outputs: dict[str, JsonValue] = {}
    error: str | None = None


ExecutionEvent = Annotated[
    ExecutionStarted
    | StepStarted
    | StepAwaitingApproval
    | StepCompleted
    | StepFailed
    | ExecutionEnded,
    Discriminator("type"),
]

# Kafka's default record limit is 1 MB; an execution's messages stay far below this
# (inputs are bounded by their workflow), so anything larger is refused as poison.
MAX_RECORD_BYTES = 256 * 1024


class Undecodable(ValueError):
    """A record that is no message of its topic: poison for the dead-letter topic."""


# One decoder per topic: the only place where bytes become messages.
_EVENT = TypeAdapter[ExecutionEvent](ExecutionEvent)


def _decode(raw: bytes, parse: Callable[[bytes], T], what: str) -> T:
    if len(raw) > MAX_RECORD_BYTES:
        raise Undecodable(f"{what}: record of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        message: T = parse(raw)
    except ValidationError as exc:
        raise Undecodable(f"invalid {what}: {exc}") from exc
    return message


def decode_execution_event(raw: bytes) -> ExecutionEvent:
    return _decode(raw, _EVENT.validate_json, "execution event")


def decode_start_execution(raw: bytes) -> StartExecution:
    return _decode(raw, StartExecution.model_validate_json, "StartExecution")


def decode_run_step(raw: bytes) -> RunStep:
    return _decode(raw, RunStep.model_validate_json, "RunStep")


def decode_decide_approval(raw: bytes) -> DecideApproval:
    return _decode(raw, DecideApproval.model_validate_json, "DecideApproval")


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode()
