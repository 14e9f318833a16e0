"""A failing model call is retried with backoff, then recorded as the step's failure."""

from datetime import UTC, datetime

import pytest

from orchestrate_classifier.app import run_with_retries as classifier_retries
from orchestrate_contracts.messages import RunStep, StepCompleted, StepFailed
from orchestrate_gateway.stores import shipped_workflows
from orchestrate_responder.app import run_with_retries as responder_retries

TRIAGE = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")
T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
TASK = RunStep(
    event_id="exec_0123456789abcdef:step_1",
    execution_id="exec_0123456789abcdef",
    tenant_id="acme",
    occurred_at=T0,
    workflow_id=TRIAGE.id,
    step=TRIAGE.step("step_1"),
    inputs={"ticket": "refund please"},
)


def flaky(failures: int) -> tuple[list[int], object]:
    calls: list[int] = []

    async def step(task: RunStep, started_at: datetime) -> StepCompleted:
        calls.append(1)
        if len(calls) <= failures:
            raise TimeoutError("model did not answer in 30 s")
        return StepCompleted(
            event_id=f"{task.event_id}:completed",
            execution_id=task.execution_id,
            tenant_id=task.tenant_id,
            occurred_at=T0,
            step_id=task.step.id,
            agent="classifier",
            output={"category": "refund"},
            started_at=started_at,
            completed_at=T0,
        )

    return calls, step


@pytest.mark.parametrize("retries", [classifier_retries, responder_retries])
async def test_a_transient_failure_is_retried(retries) -> None:
    calls, step = flaky(failures=2)
    outcome = await retries(step, TASK, T0, attempts=3, first_delay_s=0)
    assert isinstance(outcome, StepCompleted)
    assert len(calls) == 3


@pytest.mark.parametrize("retries", [classifier_retries, responder_retries])
async def test_a_lasting_failure_fails_the_step(retries) -> None:
    calls, step = flaky(failures=99)
    outcome = await retries(step, TASK, T0, attempts=3, first_delay_s=0)
    assert isinstance(outcome, StepFailed)
    assert len(calls) == 3
    assert outcome.error == "TimeoutError: model did not answer in 30 s (after 3 attempts)"
    assert (outcome.step_id, outcome.started_at) == ("step_1", T0)
