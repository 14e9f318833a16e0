"""Projection of each event type into the execution document, and its idempotency."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orchestrate_contracts.documents import ExecutionDocument
from orchestrate_contracts.messages import (
    ExecutionEnded,
    ExecutionEvent,
    ExecutionStarted,
    StepAwaitingApproval,
    StepCompleted,
    StepFailed,
    StepStarted,
    Usage,
)
from orchestrate_gateway.stores import shipped_workflows
from orchestrate_ledger.projection import ProjectionRejected, project

EXEC = "exec_0123456789abcdef"
T0 = datetime(2026, 2, 1, 10, 30, 0, 123456, tzinfo=UTC)
TRIAGE = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def envelope(event_id: str, ms: int) -> dict[str, object]:
    return {"event_id": event_id, "execution_id": EXEC, "tenant_id": "acme", "occurred_at": at(ms)}


def started() -> ExecutionStarted:
    return ExecutionStarted(
        **envelope("started", 0),
        workflow=TRIAGE,
        inputs={"ticket": "refund please"},
        requested_by="ops@acme.test",
        usd_inr_rate=Decimal("88.00"),
    )


def completed(
    step: str, agent: str, start: int, end: int, micros: int, **output: object
) -> StepCompleted:
    return StepCompleted(
        **envelope(f"{step}:done", end),
        step_id=step,
        agent=agent,
        output=output,
        started_at=at(start),
        completed_at=at(end),
        usage=Usage(model="m", input_tokens=10, output_tokens=5) if micros else None,
        cost_usd_micros=micros,
    )


def happy_path() -> list[ExecutionEvent]:
    return [
        started(),
        StepStarted(**envelope("s1:start", 5), step_id="step_1", agent="classifier"),
        completed("step_1", "classifier", 5, 25, 300, category="refund", priority="high"),
        StepAwaitingApproval(
            **envelope("s2:park", 30),
            step_id="step_2",
            agent="escalation",
            started_at=at(30),
            reason="approval required: step_1.priority is high",
        ),
        completed("step_2", "escalation", 30, 60_030, 0, approved=True, approved_by="a@b.co"),
        StepStarted(**envelope("s3:start", 60_040), step_id="step_3", agent="responder"),
        completed("step_3", "responder", 60_040, 60_090, 1_250, response="Hello"),
        ExecutionEnded(
            **envelope("ended", 60_100),
            status="completed",
            outputs={"category": "refund", "priority": "high", "response": "Hello"},
        ),
    ]


def fold(events: list[ExecutionEvent]) -> ExecutionDocument:
    doc = None
    for event in events:
        doc = project(doc, event)
    assert doc is not None
    return doc


def test_execution_started_lays_out_the_plan() -> None:
    doc = project(None, started())
    assert doc.status == "running"
    assert doc.workflow_name == "Customer Support Triage"
    assert [(s.id, s.agent, s.status) for s in doc.steps] == [
        ("step_1", "classifier", "pending"),
        ("step_2", "escalation", "pending"),
        ("step_3", "responder", "pending"),
    ]
    assert doc.created_at == T0.replace(microsecond=123000)


def test_each_event_type_moves_the_document() -> None:
    events = happy_path()
    doc = fold(events[:2])
    assert doc.steps[0].status == "running"
    doc = fold(events[:3])
    assert doc.steps[0].status == "completed"
    assert doc.steps[0].output == {"category": "refund", "priority": "high"}
    assert doc.steps[0].duration_ms == 20
    doc = fold(events[:4])
    assert doc.status == "awaiting_approval"
    assert doc.steps[1].status == "awaiting_approval"
    assert doc.steps[1].reason == "approval required: step_1.priority is high"
    doc = fold(events[:5])
    assert doc.status == "running"
    assert doc.steps[1].duration_ms == 60_000
    doc = fold(events)
    assert doc.status == "completed"
    assert doc.outputs == {"category": "refund", "priority": "high", "response": "Hello"}
    assert doc.duration_ms == 60_100
    assert doc.cost_usd_micros == 1_550
    assert doc.completed_at == at(60_100).replace(microsecond=223000)


def test_step_failure_and_failed_end() -> None:
    doc = fold(
        [
            started(),
            StepFailed(
                **envelope("s1:fail", 9),
                step_id="step_1",
                agent="classifier",
                error="model timed out",
                started_at=at(1),
                failed_at=at(9),
            ),
            ExecutionEnded(
                **envelope("ended", 10), status="failed", error="step_1 failed: model timed out"
            ),
        ]
    )
    assert doc.status == "failed"
    assert doc.error == "step_1 failed: model timed out"
    assert (doc.steps[0].status, doc.steps[0].error, doc.steps[0].duration_ms) == (
        "failed",
        "model timed out",
        8,
    )
    assert [s.status for s in doc.steps[1:]] == ["skipped", "skipped"]


def test_redelivered_events_change_nothing() -> None:
    events = happy_path()
    once = fold(events)
    assert fold(events + events) == once
    assert fold([e for e in events for _ in range(2)]) == once


def test_a_second_result_for_a_step_is_ignored() -> None:
    events = happy_path()
    again = completed("step_3", "responder", 70_000, 70_500, 9_999, response="Other")
    doc = fold([*events, again])
    assert doc.steps[2].output == {"response": "Hello"}
    assert doc.cost_usd_micros == 1_550
    assert doc.steps[2].duration_ms == 50


@pytest.mark.parametrize("seed", range(5))
def test_any_order_after_the_start_gives_the_same_document(seed: int) -> None:
    events = happy_path()
    start, rest = events[0], events[1:]
    orders = list(itertools.islice(itertools.permutations(rest), seed * 997, seed * 997 + 40))
    expected = fold(events)
    for order in orders:
        assert fold([start, *order]) == expected


def test_events_of_an_unknown_execution_are_rejected() -> None:
    with pytest.raises(ProjectionRejected, match="unknown execution"):
        project(None, happy_path()[1])


def test_status_never_moves_back() -> None:
    events = happy_path()
    late_start = StepStarted(**envelope("s1:late", 1), step_id="step_1", agent="classifier")
    doc = fold([*events[:3], late_start])
    assert doc.steps[0].status == "completed"


def test_another_tenants_event_is_rejected() -> None:
    doc = project(None, started())
    stranger = StepStarted(
        **{**envelope("x", 1), "tenant_id": "other"}, step_id="step_1", agent="classifier"
    )
    with pytest.raises(ProjectionRejected):
        project(doc, stranger)
