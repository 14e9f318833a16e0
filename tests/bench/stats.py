"""The benchmark's arithmetic: percentiles, the sustained-rate decision, and the
per-execution metrics, all plain functions of recorded numbers.

Metrics of one execution, from its events on ``orchestrate.executions.events`` and two
client-side times of the load generator (``time.time()``; every process of the run
shares one clock). All are in seconds here; the report shows milliseconds.

- parked time = approve send time - ``StepAwaitingApproval.occurred_at`` (0 when the
  execution never parked). The approve send time is that of the request answered
  202; attempts answered 404/409 because the gateway did not yet see the step as
  parked are retried and count as parked time, as a person could not decide either.
- e2e latency = ``ExecutionEnded.occurred_at`` - start send time - parked time.
- step overhead of step k = ``StepCompleted_k.started_at`` - ready_k, where
  ready_1 = ``ExecutionStarted.occurred_at`` and ready_k =
  ``StepCompleted_{k-1}.completed_at``: the step's time minus the agent's own compute
  time (``completed_at`` - ``started_at``). For a parked step, completed_at is the
  decision time, so the next step's hop includes the decision's delivery through the
  escalation service.
- end hop = ``ExecutionEnded.occurred_at`` - ``StepCompleted_last.completed_at``,
  reported apart from the step overheads.
- approve-to-resume = ``StepStarted.occurred_at`` of the step after the parked one -
  approve send time (``StepCompleted.started_at`` of that step if it published no
  StepStarted).

Steps are taken in the order their StepCompleted arrived, which is workflow order:
one execution's events share a partition and each step starts only after the one
before it completed. A repeated event (at-least-once delivery) counts once. Some
services stamp times to the millisecond, so single hops carry up to 1 ms of
rounding and may come out slightly negative; they are not clamped.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A ramp step is sustained when executions end at no less than this share of the
# offered rate over the step's second half (each step starts from an idle system, so
# over the whole step the pipeline's filling would count as a deficit)...
MIN_COMPLETION_RATIO = 0.95
# ...and in-flight executions do not pile up: the mean over the step's last quarter
# may exceed the mean over its second quarter by at most this much offered work plus
# a few executions of noise. Over a 12 s step this detects a deficit of about 4% of
# the offered rate that the completion ratio alone would let pass, while a system
# that is slower but keeps pace (a larger, stable in-flight count) still passes.
GROWTH_ALLOWANCE_S = 0.25
GROWTH_SLACK = 5.0


class IncompleteTrace(ValueError):
    """The events of an execution lack what a metric needs."""


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    p50: float
    p95: float
    p99: float
    max: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, interpolated linearly between
    the nearest ranks (numpy's default method)."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(values: Iterable[float]) -> Percentiles | None:
    """p50/p95/p99/max of the values; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return Percentiles(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1],
    )


# --------------------------------------------------------------------------- executions


@dataclass(frozen=True, slots=True)
class Event:
    """The fields of one execution event that the metrics use, times as epoch seconds."""

    kind: str
    step_id: str | None
    occurred_at: float
    started_at: float | None = None
    completed_at: float | None = None
    status: str | None = None


def _epoch(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def event_from_json(record: Mapping[str, Any]) -> Event:
    """An event from its decoded JSON record (ISO-8601 times with a UTC offset)."""
    occurred_at = _epoch(record["occurred_at"])
    assert occurred_at is not None
    return Event(
        kind=record["type"],
        step_id=record.get("step_id"),
        occurred_at=occurred_at,
        started_at=_epoch(record.get("started_at")),
        completed_at=_epoch(record.get("completed_at")),
        status=record.get("status"),
    )


@dataclass(frozen=True, slots=True)
class Trace:
    """What the load generator saw of one execution."""

    sent_at: float
    events: Sequence[Event]
    approve_sent_at: float | None = None


@dataclass(frozen=True, slots=True)
class ExecutionMetrics:
    status: str
    parked: bool
    e2e: float
    # (step id, overhead), in workflow order.
    overheads: tuple[tuple[str, float], ...]
    end_hop: float
    approve_to_resume: float | None


def extract(trace: Trace) -> ExecutionMetrics:
    """The metrics of one ended execution (definitions in the module docstring)."""
    started: Event | None = None
    ended: Event | None = None
    awaiting: Event | None = None
    completed: dict[str, Event] = {}
    step_started: dict[str, float] = {}
    for event in trace.events:
        if event.kind == "execution_started":
            started = started or event
        elif event.kind == "execution_ended":
            ended = ended or event
        elif event.kind == "step_awaiting_approval":
            awaiting = awaiting or event
        elif event.kind == "step_completed" and event.step_id is not None:
            completed.setdefault(event.step_id, event)
        elif event.kind == "step_started" and event.step_id is not None:
            step_started.setdefault(event.step_id, event.occurred_at)
    if started is None or ended is None:
        raise IncompleteTrace("no ExecutionStarted or no ExecutionEnded")

    overheads: list[tuple[str, float]] = []
    ready = started.occurred_at
    for step_id, step in completed.items():
        if step.started_at is None or step.completed_at is None:
            raise IncompleteTrace(f"StepCompleted of {step_id} without started_at/completed_at")
        overheads.append((step_id, step.started_at - ready))
        ready = step.completed_at

    parked_for = 0.0
    approve_to_resume: float | None = None
    if awaiting is not None:
        if trace.approve_sent_at is None:
            raise IncompleteTrace("parked, but no approval was sent")
        parked_for = trace.approve_sent_at - awaiting.occurred_at
        order = list(completed)
        if awaiting.step_id in order and order.index(awaiting.step_id) + 1 < len(order):
            resumed = order[order.index(awaiting.step_id) + 1]
            resumed_at = step_started.get(resumed, completed[resumed].started_at)
            assert resumed_at is not None  # checked with the overheads above
            approve_to_resume = resumed_at - trace.approve_sent_at

    return ExecutionMetrics(
        status=ended.status or "unknown",
        parked=awaiting is not None,
        e2e=ended.occurred_at - trace.sent_at - parked_for,
        overheads=tuple(overheads),
        end_hop=ended.occurred_at - ready,
        approve_to_resume=approve_to_resume,
    )


# --------------------------------------------------------------------------- ramp steps


def window_mean(samples: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Mean value of the (time, value) samples with start <= time < end."""
    inside = [value for at, value in samples if start <= at < end]
    if not inside:
        raise ValueError(f"no samples in [{start}, {end})")
    return math.fsum(inside) / len(inside)


@dataclass(frozen=True, slots=True)
class StepLoad:
    """What one ramp step offered and what came of it."""

    offered_rate: float
    # The second half of the step's window, and the executions whose ExecutionEnded
    # occurred within it.
    steady_s: float
    ended_in_steady: int
    # Mean executions in flight (started, not ended) over the window's second and
    # last quarters.
    inflight_mid: float
    inflight_end: float
    errors: int
    # Executions of the step not ended by the end of the drain after it.
    stuck: int
    # Sends that found the load generator's cap of outstanding HTTP requests full.
    cap_hits: int


@dataclass(frozen=True, slots=True)
class Verdict:
    sustained: bool
    achieved_rate: float
    reasons: tuple[str, ...]


def judge(step: StepLoad) -> Verdict:
    """Whether the system kept up with the step's offered rate, and why not."""
    achieved = step.ended_in_steady / step.steady_s
    allowed_growth = GROWTH_ALLOWANCE_S * step.offered_rate + GROWTH_SLACK
    reasons: list[str] = []
    if achieved < MIN_COMPLETION_RATIO * step.offered_rate:
        reasons.append(
            f"completed {achieved:.1f}/s < {MIN_COMPLETION_RATIO:.0%} of {step.offered_rate:.1f}/s"
        )
    if step.inflight_end - step.inflight_mid > allowed_growth:
        reasons.append(
            f"in flight grew from {step.inflight_mid:.0f} to {step.inflight_end:.0f}"
            f" (allowed +{allowed_growth:.0f})"
        )
    if step.errors:
        reasons.append(f"{step.errors} errors")
    if step.stuck:
        reasons.append(f"{step.stuck} executions did not end")
    if step.cap_hits:
        reasons.append(f"{step.cap_hits} sends waited for the HTTP request cap")
    return Verdict(not reasons, achieved, tuple(reasons))
