"""Approval deadlines: what the system decides, and how the decided step is reported."""

from datetime import UTC, datetime, timedelta

import pytest

from orchestrate_contracts.messages import PriorStep, RunStep, StepCompleted, StepFailed
from orchestrate_escalation.parking import Decision, ParkedStep, outcome, timeout_decision
from orchestrate_gateway.stores import shipped_workflows
from orchestrate_responder.app import draft_from

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
TRIAGE = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")


def parked(on_timeout: str) -> ParkedStep:
    task = RunStep(
        event_id="exec_0123456789abcdef:step_2",
        execution_id="exec_0123456789abcdef",
        tenant_id="acme",
        occurred_at=T0,
        workflow_id=TRIAGE.id,
        step=TRIAGE.step("step_2"),
        inputs={"ticket": "refund!"},
    )
    return ParkedStep.model_validate(
        {
            "_id": "exec_0123456789abcdef:step_2",
            "execution_id": task.execution_id,
            "tenant_id": "acme",
            "step_id": "step_2",
            "task": task,
            "reason": "approval required",
            "parked_at": T0,
            "deadline_at": T0 + timedelta(hours=24),
            "on_timeout": on_timeout,
        }
    )


def test_the_triage_workflow_gives_a_person_24_hours_then_rejects() -> None:
    policy = TRIAGE.step("step_2").approval
    assert policy is not None
    assert (policy.deadline_s, policy.on_timeout) == (86_400, "reject")


@pytest.mark.parametrize(("on_timeout", "approved"), [("reject", False), ("approve", True)])
def test_a_deadline_decision_is_the_systems(on_timeout: str, approved: bool) -> None:
    step = parked(on_timeout)
    now = T0 + timedelta(hours=24, milliseconds=1_234_567)
    step.decision = timeout_decision(step, now)
    event = outcome(step)
    assert isinstance(event, StepCompleted)
    assert event.output["approved"] is approved
    assert event.output["approved_by"] is None
    assert event.output["decided_by"] == "deadline"
    assert (
        event.output["notes"]
        == f"no decision within 86400 s; the workflow's on_timeout is {on_timeout}"
    )
    assert event.completed_at == now.replace(microsecond=567000)
    assert event.event_id == "exec_0123456789abcdef:step_2:decided"


def test_on_timeout_fail_fails_the_step() -> None:
    step = parked("fail")
    step.decision = timeout_decision(step, T0 + timedelta(days=1))
    event = outcome(step)
    assert isinstance(event, StepFailed)
    assert "no decision within 86400 s" in event.error


def test_a_persons_decision_is_recorded_as_theirs() -> None:
    step = parked("reject")
    step.decision = Decision(
        approved=True,
        source="person",
        decided_by="ops@acme.test",
        notes="fine",
        decided_at=T0,
        api_key_id="key_1",
        event_id="d1",
    )
    event = outcome(step)
    assert isinstance(event, StepCompleted)
    assert event.output["approved_by"] == "ops@acme.test"
    assert event.output["decided_by"] == "person"


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        ({"approved": True, "decided_by": "person"}, "approved"),
        ({"approved": False, "decided_by": "person"}, "rejected"),
        ({"approved": True, "decided_by": "deadline"}, "not_required"),
        ({"approved": False, "decided_by": "deadline"}, "not_required"),
        ({"approval_required": False, "reason": "low priority"}, "not_required"),
    ],
)
def test_only_a_persons_approval_lets_the_reply_promise(
    decision: dict[str, object], expected: str
) -> None:
    task = RunStep(
        event_id="e:step_3",
        execution_id="exec_0123456789abcdef",
        tenant_id="acme",
        occurred_at=T0,
        workflow_id=TRIAGE.id,
        step=TRIAGE.step("step_3"),
        inputs={"ticket": "refund!"},
        previous=(
            PriorStep(step_id="step_1", agent="classifier", output={"category": "refund"}),
            PriorStep(step_id="step_2", agent="escalation", output=decision),
        ),
    )
    assert draft_from(task).outcome == expected
