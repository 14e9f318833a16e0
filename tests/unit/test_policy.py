"""Approval policy: when a person must decide."""

import pytest

from orchestrate_contracts.messages import PriorStep
from orchestrate_escalation.policy import evaluate
from orchestrate_gateway.stores import shipped_workflows


def _policy():
    (workflow,) = [w for w in shipped_workflows() if w.id == "wf_customer_support_triage"]
    policy = workflow.step("step_2").approval
    assert policy is not None
    return policy


def _classified(priority: str, sentiment: str) -> tuple[PriorStep, ...]:
    output = {"category": "refund", "priority": priority, "sentiment": sentiment}
    return (PriorStep(step_id="step_1", agent="classifier", output=output),)


@pytest.mark.parametrize(
    ("priority", "sentiment", "required"),
    [
        ("high", "neutral", True),
        ("urgent", "positive", True),
        ("low", "frustrated", True),
        ("medium", "angry", True),
        ("low", "neutral", False),
        ("medium", "negative", False),
        ("low", "positive", False),
    ],
)
def test_triage_policy(priority: str, sentiment: str, required: bool) -> None:
    verdict = evaluate(_policy(), _classified(priority, sentiment))
    assert verdict.required is required


def test_the_verdict_says_why() -> None:
    verdict = evaluate(_policy(), _classified("high", "frustrated"))
    assert verdict.reason == (
        "approval required: step_1.priority is high; step_1.sentiment is frustrated"
    )
    verdict = evaluate(_policy(), _classified("low", "neutral"))
    assert verdict.reason.startswith("no approval needed: step_1.priority is low")
    assert "step_1.priority in [high, urgent]" in verdict.reason


def test_missing_outputs_never_require_approval() -> None:
    assert evaluate(_policy(), ()).required is False
