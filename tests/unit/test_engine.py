"""Workflow progression and input validation."""

from typing import Any

import pytest

from orchestrate_contracts.messages import Output
from orchestrate_contracts.workflow import WorkflowDefinition
from orchestrate_gateway.engine import (
    Dispatch,
    End,
    after_failure,
    after_step,
    first,
    resume,
    validate_inputs,
)
from orchestrate_gateway.errors import InvalidInputs
from orchestrate_gateway.stores import shipped_workflows

CLASSIFIED: Output = {"category": "refund", "priority": "high", "sentiment": "frustrated"}


@pytest.fixture
def triage() -> WorkflowDefinition:
    (workflow,) = [w for w in shipped_workflows() if w.id == "wf_customer_support_triage"]
    return workflow


def test_triage_starts_with_the_classifier(triage: WorkflowDefinition) -> None:
    action = first(triage)
    assert action.step.id == "step_1" and action.step.agent == "classifier"
    assert action.previous == ()


def test_each_step_hands_earlier_outputs_to_the_next(triage: WorkflowDefinition) -> None:
    action = after_step(triage, {"step_1": CLASSIFIED}, "step_1")
    assert isinstance(action, Dispatch)
    assert action.step.agent == "escalation"
    assert [(p.step_id, p.agent, p.output) for p in action.previous] == [
        ("step_1", "classifier", CLASSIFIED)
    ]
    decided: Output = {"approved": True, "approved_by": "a@example.com", "notes": "ok"}
    action = after_step(triage, {"step_1": CLASSIFIED, "step_2": decided}, "step_2")
    assert isinstance(action, Dispatch)
    assert action.step.agent == "responder"
    assert [p.step_id for p in action.previous] == ["step_1", "step_2"]


def test_last_step_ends_with_the_declared_outputs(triage: WorkflowDefinition) -> None:
    outputs: dict[str, Output] = {
        "step_1": CLASSIFIED,
        "step_2": {"approved": True},
        "step_3": {"response": "Hello"},
    }
    action = after_step(triage, outputs, "step_3")
    assert action == End(
        "completed", {"category": "refund", "priority": "high", "response": "Hello"}
    )


def test_rejection_continues_when_the_policy_says_continue(triage: WorkflowDefinition) -> None:
    outputs: dict[str, Output] = {"step_1": CLASSIFIED, "step_2": {"approved": False}}
    action = after_step(triage, outputs, "step_2")
    assert isinstance(action, Dispatch) and action.step.id == "step_3"


def test_rejection_ends_the_run_when_the_policy_says_end(triage: WorkflowDefinition) -> None:
    raw = triage.model_dump(by_alias=True)
    raw["steps"][1]["approval"]["on_reject"] = "end"
    strict = WorkflowDefinition.model_validate(raw)
    action = after_step(strict, {"step_1": CLASSIFIED, "step_2": {"approved": False}}, "step_2")
    assert action == End("rejected", {"category": "refund", "priority": "high"})


def test_a_failed_step_fails_the_run(triage: WorkflowDefinition) -> None:
    action = after_failure(triage, {"step_1": CLASSIFIED}, "step_3", "model timed out")
    assert action.status == "failed"
    assert action.error == "step_3 failed: model timed out"
    assert action.outputs == {"category": "refund", "priority": "high"}


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({}, "required"),
        ({"ticket": "   "}, "must not be blank"),
        ({"ticket": 42}, "must be a string"),
        ({"ticket": "x" * 20_001}, "longer than 20000 chars"),
        ({"ticket": "ok", "extra": "x"}, "not an input of this workflow"),
    ],
)
def test_inputs_are_validated(
    triage: WorkflowDefinition, inputs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidInputs) as caught:
        validate_inputs(triage, inputs)
    assert [d["problem"] for d in caught.value.details or []] == [problem]


def test_valid_inputs_pass(triage: WorkflowDefinition) -> None:
    validate_inputs(triage, {"ticket": "Where is my order?"})


def test_workflow_definitions_reject_broken_references(triage: WorkflowDefinition) -> None:
    raw = triage.model_dump(by_alias=True)
    raw["outputs"]["response"] = "step_9.response"
    with pytest.raises(ValueError, match="names no step"):
        WorkflowDefinition.model_validate(raw)
    raw = triage.model_dump(by_alias=True)
    raw["steps"][1]["approval"]["required_when_any"][0]["field"] = "step_3.priority"
    with pytest.raises(ValueError, match="names no earlier step"):
        WorkflowDefinition.model_validate(raw)


def test_resume_repeats_the_first_step_without_output(triage: WorkflowDefinition) -> None:
    action = resume(triage, {})
    assert isinstance(action, Dispatch) and action.step.id == "step_1"
    action = resume(triage, {"step_1": CLASSIFIED})
    assert isinstance(action, Dispatch) and action.step.id == "step_2"
    assert [p.step_id for p in action.previous] == ["step_1"]


def test_resume_ends_a_run_whose_steps_all_ran(triage: WorkflowDefinition) -> None:
    outputs: dict[str, Output] = {
        "step_1": CLASSIFIED,
        "step_2": {"approved": True},
        "step_3": {"response": "Hi"},
    }
    assert resume(triage, outputs) == End(
        "completed", {"category": "refund", "priority": "high", "response": "Hi"}
    )
