"""The public HTTP representations (the API contract) and how documents map to them."""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field, JsonValue, StrictBool, field_validator

from orchestrate_contracts.documents import ExecutionDocument, ExecutionStatus, StepStatus
from orchestrate_contracts.messages import Usage
from orchestrate_contracts.workflow import WorkflowDefinition

_MICRO = Decimal("0.000001")
_INR_PLACES = Decimal("0.0001")


class Cost(BaseModel):
    usd: float = Field(description="US dollars, exact to the micro-dollar")
    inr: float = Field(description="Indian rupees at the rate fixed when the execution started")


class StepView(BaseModel):
    id: str
    agent: str
    status: StepStatus
    output: dict[str, JsonValue] | None
    duration_ms: int | None
    started_at: str | None = Field(description="Extra: when the step started (ISO-8601 UTC)")
    completed_at: str | None = Field(description="Extra: when the step ended (ISO-8601 UTC)")
    cost: Cost = Field(description="Extra: the cost of this step's model calls")
    usage: Usage | None = Field(
        description="Extra: the model and the input and output tokens of the step's calls"
    )
    error: str | None = Field(description="Extra: why the step failed, else null")


class ExecutionView(BaseModel):
    id: str
    workflow_id: str | None
    workflow_name: str | None
    status: ExecutionStatus
    inputs: dict[str, JsonValue]
    outputs: dict[str, JsonValue]
    steps: list[StepView]
    cost: Cost
    duration_ms: int | None
    created_at: str | None
    completed_at: str | None
    error: str | None = Field(description="Extra: why the execution failed, else null")


MAX_INPUT_DEPTH = 16


def _depth(value: JsonValue) -> int:
    """Nesting depth, without recursion: hostile input may nest very deep."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


class StartExecutionBody(BaseModel):
    workflow_id: str = Field(min_length=1, max_length=100)
    inputs: dict[str, JsonValue] = Field(max_length=64)

    @field_validator("inputs")
    @classmethod
    def _shallow(cls, inputs: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if _depth(inputs) > MAX_INPUT_DEPTH:
            raise ValueError(f"inputs nest deeper than {MAX_INPUT_DEPTH} levels")
        return inputs


class ExecutionAccepted(BaseModel):
    id: str
    workflow_id: str
    status: ExecutionStatus
    created_at: str


class ApproveBody(BaseModel):
    approved: StrictBool = Field(
        description="true approves, false rejects; nothing else is a decision"
    )
    notes: str = Field(default="", max_length=4000)


class DecisionAccepted(BaseModel):
    execution_id: str
    step_id: str
    approved: bool
    approved_by: str
    notes: str
    decided_at: str


class WorkflowList(BaseModel):
    workflows: list[WorkflowDefinition]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, JsonValue]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC to the second, as in 2026-02-01T10:30:00Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cost(usd_micros: int, usd_inr_rate: str | None) -> Cost:
    usd = (Decimal(usd_micros) * _MICRO).quantize(_MICRO)
    rate = Decimal(usd_inr_rate) if usd_inr_rate else Decimal(0)
    inr = (usd * rate).quantize(_INR_PLACES, rounding=ROUND_HALF_UP)
    return Cost(usd=float(usd), inr=float(inr))


def execution_view(doc: ExecutionDocument) -> ExecutionView:
    return ExecutionView(
        id=doc.id,
        workflow_id=doc.workflow_id,
        workflow_name=doc.workflow_name,
        status=doc.status,
        inputs=doc.inputs,
        outputs=doc.outputs,
        steps=[
            StepView(
                id=step.id,
                agent=step.agent,
                status=step.status,
                output=step.output,
                duration_ms=step.duration_ms,
                started_at=iso(step.started_at),
                completed_at=iso(step.completed_at),
                cost=cost(step.cost_usd_micros, doc.usd_inr_rate),
                usage=step.usage,
                error=step.error,
            )
            for step in doc.steps
        ],
        cost=cost(doc.cost_usd_micros, doc.usd_inr_rate),
        duration_ms=doc.duration_ms,
        created_at=iso(doc.created_at),
        completed_at=iso(doc.completed_at),
        error=doc.error,
    )
