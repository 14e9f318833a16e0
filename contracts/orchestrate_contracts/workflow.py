"""Workflow definitions: workflows are data (steps, agents, approval policy), not code.

An execution carries a snapshot of its workflow in ExecutionStarted, so a definition
changed later never alters a run already in flight.
"""

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .topics import AGENTS

WorkflowId = Annotated[str, StringConstraints(pattern=r"^wf_[a-z0-9_]{1,64}$")]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
# "<step_id>.<output key>": a value one step produced, e.g. "step_1.priority".
OutputRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}\.[A-Za-z0-9_]{1,64}$")]

_INPUT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Model(BaseModel):
    # Unknown fields are ignored so that schemas can grow by adding fields.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class InputField(_Model):
    name: str
    type: Literal["string"] = "string"
    required: bool = True
    # Bounded so that a message carrying the inputs stays under the record size limit.
    max_length: int = Field(default=20_000, ge=1, le=50_000)
    description: str = ""

    @model_validator(mode="after")
    def _check_name(self) -> Self:
        if not _INPUT_NAME.match(self.name):
            raise ValueError(f"input name {self.name!r} must match {_INPUT_NAME.pattern}")
        return self


class Condition(_Model):
    """True when the referenced output is one of the listed values."""

    field: OutputRef
    in_: tuple[str, ...] = Field(alias="in", min_length=1)


class ApprovalPolicy(_Model):
    """When a human must decide, and what a rejection does to the run.

    on_reject "continue" runs the remaining steps, which see the rejection (the
    responder then must not promise what was refused); "end" stops the execution
    with status "rejected". The deadline defaults to 24 hours.
    """

    required_when_any: tuple[Condition, ...] = ()
    on_reject: Literal["continue", "end"] = "continue"
    # How long a person has to decide; then the system decides with on_timeout:
    # "reject" or "approve" (recorded as the system's decision, not a person's), or
    # "fail" (the step fails and the execution ends failed).
    deadline_s: int = Field(default=86_400, ge=1, le=90 * 86_400)
    on_timeout: Literal["reject", "approve", "fail"] = "reject"


class ModelChoice(_Model):
    """Which model an agent step calls; unset fields fall back to the agent's settings."""

    backend: Literal["builtin", "openai"] | None = None
    # The model name at an OpenAI-compatible endpoint, e.g. "gpt-4o-mini".
    model: str | None = Field(default=None, max_length=200)
    # Replaces the agent's default instructions for the openai backend.
    system_prompt: str | None = Field(default=None, max_length=20_000)


class StepDefinition(_Model):
    id: StepId
    agent: str
    name: str = ""
    approval: ApprovalPolicy | None = None
    model: ModelChoice | None = None

    @model_validator(mode="after")
    def _check_agent(self) -> Self:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; known: {', '.join(AGENTS)}")
        if (self.agent == "escalation") != (self.approval is not None):
            raise ValueError("an approval policy belongs on, and only on, escalation steps")
        return self


class WorkflowDefinition(_Model):
    id: WorkflowId
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    description: str = ""
    inputs: tuple[InputField, ...]
    steps: tuple[StepDefinition, ...] = Field(min_length=1)
    # Execution output name -> "<step_id>.<key>" of the step output it is read from.
    outputs: dict[str, OutputRef] = {}

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        for position, step in enumerate(self.steps):
            earlier = set(ids[:position])
            for condition in step.approval.required_when_any if step.approval else ():
                if condition.field.split(".", 1)[0] not in earlier:
                    raise ValueError(
                        f"{step.id}: condition {condition.field} names no earlier step"
                    )
        for name, ref in self.outputs.items():
            if ref.split(".", 1)[0] not in ids:
                raise ValueError(f"output {name}: {ref} names no step")
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError("input names must be unique")
        return self

    def step(self, step_id: str) -> StepDefinition:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
