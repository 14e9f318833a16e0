"""The execution document: the read model the ledger writes to MongoDB and the
gateway serves. The ledger is its only writer.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .messages import Output, Usage

ExecutionStatus = Literal[
    "pending", "running", "awaiting_approval", "completed", "rejected", "failed"
]
StepStatus = Literal["pending", "running", "awaiting_approval", "completed", "failed", "skipped"]


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class StepDocument(_Document):
    id: str
    agent: str
    name: str = ""
    status: StepStatus = "pending"
    output: Output | None = None
    # Why the step waits for a person, or why it failed.
    reason: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    usage: Usage | None = None
    cost_usd_micros: int = 0


class ExecutionDocument(_Document):
    id: str = Field(alias="_id")
    tenant_id: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    workflow_version: int | None = None
    status: ExecutionStatus = "pending"
    inputs: dict[str, JsonValue] = {}
    outputs: dict[str, JsonValue] = {}
    steps: list[StepDocument] = []
    cost_usd_micros: int = 0
    # Decimal as text: the USD->INR rate fixed when the execution started.
    usd_inr_rate: str | None = None
    requested_by: str = ""
    error: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    # Optimistic concurrency: each write bumps the version and stamps its own id.
    version: int = 0
    write_id: str = ""
