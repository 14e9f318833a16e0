"""Workflow progression: given a run's state, what happens next. Plain logic.

A run advances one step at a time through its workflow's steps. A rejected approval
ends the run when the step's policy says "end"; otherwise the remaining steps run and
see the rejection in the earlier outputs.
"""

from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from orchestrate_contracts.messages import Output, PriorStep
from orchestrate_contracts.workflow import StepDefinition, WorkflowDefinition

from .errors import InvalidInputs


@dataclass(frozen=True, slots=True)
class Dispatch:
    step: StepDefinition
    previous: tuple[PriorStep, ...]


@dataclass(frozen=True, slots=True)
class End:
    status: Literal["completed", "rejected", "failed"]
    outputs: dict[str, JsonValue]
    error: str | None = None


def validate_inputs(workflow: WorkflowDefinition, inputs: dict[str, JsonValue]) -> None:
    """The same rules for HTTP and Kafka callers; all problems are reported at once."""
    problems: list[dict[str, object]] = []
    declared = {field.name: field for field in workflow.inputs}
    for name in inputs:
        if name not in declared:
            problems.append({"input": name, "problem": "not an input of this workflow"})
    for name, field in declared.items():
        value = inputs.get(name)
        if value is None:
            if field.required:
                problems.append({"input": name, "problem": "required"})
        elif not isinstance(value, str):
            problems.append({"input": name, "problem": "must be a string"})
        elif field.required and not value.strip():
            problems.append({"input": name, "problem": "must not be blank"})
        elif len(value) > field.max_length:
            problems.append({"input": name, "problem": f"longer than {field.max_length} chars"})
    if problems:
        raise InvalidInputs(f"inputs do not match workflow {workflow.id}", details=problems)


def collect_outputs(
    workflow: WorkflowDefinition, outputs: dict[str, Output]
) -> dict[str, JsonValue]:
    collected: dict[str, JsonValue] = {}
    for name, ref in workflow.outputs.items():
        step_id, key = ref.split(".", 1)
        if step_id in outputs:
            collected[name] = outputs[step_id].get(key)
    return collected


def first(workflow: WorkflowDefinition) -> Dispatch:
    return Dispatch(workflow.steps[0], ())


def after_step(
    workflow: WorkflowDefinition, outputs: dict[str, Output], completed: str
) -> Dispatch | End:
    """What follows the completion of step `completed`, given all outputs so far."""
    index = next(i for i, step in enumerate(workflow.steps) if step.id == completed)
    step = workflow.steps[index]
    if (
        step.approval is not None
        and outputs[completed].get("approved") is False
        and step.approval.on_reject == "end"
    ):
        return End("rejected", collect_outputs(workflow, outputs))
    if index + 1 == len(workflow.steps):
        return End("completed", collect_outputs(workflow, outputs))
    previous = tuple(
        PriorStep(step_id=s.id, agent=s.agent, output=outputs[s.id])
        for s in workflow.steps[: index + 1]
    )
    return Dispatch(workflow.steps[index + 1], previous)


def after_failure(
    workflow: WorkflowDefinition, outputs: dict[str, Output], step_id: str, error: str
) -> End:
    return End("failed", collect_outputs(workflow, outputs), f"{step_id} failed: {error}")


def resume(workflow: WorkflowDefinition, outputs: dict[str, Output]) -> Dispatch | End:
    """What a run should do next, from its outputs alone: the first step without an
    output runs (again), or the run ends. Used to recover runs a crash left behind."""
    done = [step.id for step in workflow.steps if step.id in outputs]
    for position, step in enumerate(workflow.steps):
        if step.id not in outputs:
            if position == 0:
                return first(workflow)
            outcome = after_step(workflow, outputs, workflow.steps[position - 1].id)
            return outcome
    return after_step(workflow, outputs, done[-1])
