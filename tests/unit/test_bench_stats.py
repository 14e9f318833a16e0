"""The benchmark's arithmetic (tests/bench/stats.py): percentiles, the sustained-rate
verdict and the metrics of one execution from its events."""

from datetime import UTC, datetime

import pytest

from tests.bench.stats import (
    Event,
    IncompleteTrace,
    StepLoad,
    Trace,
    event_from_json,
    extract,
    judge,
    percentile,
    percentiles,
    window_mean,
)

T = 1_800_000_000.0  # an epoch second; times below are T + milliseconds
US = 1e-6  # epoch seconds as floats carry about 0.2 us of rounding


def at(ms: float) -> float:
    return T + ms / 1000


# --------------------------------------------------------------------------- percentiles


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([10.0, 20.0], 25) == 12.5
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_1_to_101() -> None:
    ordered = [float(v) for v in range(1, 102)]
    assert percentile(ordered, 50) == 51.0
    assert percentile(ordered, 95) == 96.0
    assert percentile(ordered, 99) == 100.0


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_refuses_what_has_none(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


def test_percentiles_sort_their_input() -> None:
    summary = percentiles([5.0, 1.0, 4.0, 2.0, 3.0])
    assert summary is not None
    assert (summary.count, summary.p50, summary.max) == (5, 3.0, 5.0)
    assert summary.p99 == pytest.approx(4.96)
    assert percentiles([]) is None


# --------------------------------------------------------------------------- verdict


def step(**changes: float) -> StepLoad:
    """A 12 s step at 100/s that the system kept up with."""
    values: dict[str, float] = {
        "offered_rate": 100.0,
        "steady_s": 6.0,
        "ended_in_steady": 598,
        "inflight_mid": 8.0,
        "inflight_end": 9.0,
        "errors": 0,
        "stuck": 0,
        "cap_hits": 0,
    } | changes
    return StepLoad(
        offered_rate=values["offered_rate"],
        steady_s=values["steady_s"],
        ended_in_steady=int(values["ended_in_steady"]),
        inflight_mid=values["inflight_mid"],
        inflight_end=values["inflight_end"],
        errors=int(values["errors"]),
        stuck=int(values["stuck"]),
        cap_hits=int(values["cap_hits"]),
    )


def test_a_step_kept_up_with_is_sustained() -> None:
    verdict = judge(step())
    assert verdict.sustained
    assert verdict.achieved_rate == pytest.approx(598 / 6)
    assert verdict.reasons == ()


def test_a_slower_system_that_keeps_pace_is_sustained() -> None:
    # 400 in flight (4 s of latency at 100/s), but not growing.
    assert judge(step(inflight_mid=400.0, inflight_end=410.0)).sustained


def test_too_few_completions_are_not_sustained() -> None:
    verdict = judge(step(ended_in_steady=550))  # 91.7/s of 100/s
    assert not verdict.sustained
    assert "completed 91.7/s" in verdict.reasons[0]


def test_completions_at_95_percent_suffice() -> None:
    assert judge(step(ended_in_steady=570)).sustained  # exactly 95/s


def test_growing_in_flight_is_not_sustained() -> None:
    # Allowed growth at 100/s: 0.25 s x 100/s + 5 = 30 executions.
    assert judge(step(inflight_mid=20.0, inflight_end=50.0)).sustained
    verdict = judge(step(inflight_mid=20.0, inflight_end=51.0))
    assert not verdict.sustained
    assert verdict.reasons == ("in flight grew from 20 to 51 (allowed +30)",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"errors": 1}, "1 errors"),
        ({"stuck": 2}, "2 executions did not end"),
        ({"cap_hits": 3}, "3 sends waited for the HTTP request cap"),
    ],
)
def test_errors_stuck_executions_and_cap_hits_are_not_sustained(
    change: dict[str, float], reason: str
) -> None:
    verdict = judge(step(**change))
    assert not verdict.sustained
    assert verdict.reasons == (reason,)


def test_window_mean() -> None:
    samples = [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 8.0)]
    assert window_mean(samples, 1.0, 3.0) == 3.0
    assert window_mean(samples, 2.0, float("inf")) == 6.0
    with pytest.raises(ValueError):
        window_mean(samples, 5.0, 6.0)


# --------------------------------------------------------------------------- executions


def test_events_are_read_from_their_json() -> None:
    event = event_from_json(
        {
            "type": "step_completed",
            "execution_id": "exec_0123456789",
            "step_id": "step_1",
            "occurred_at": "2027-01-15T08:00:00.250000Z",
            "started_at": "2027-01-15T08:00:00.100+00:00",
            "completed_at": "2027-01-15T08:00:00.200000Z",
            "output": {"category": "refund"},
        }
    )
    base = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    assert event.kind == "step_completed"
    assert event.step_id == "step_1"
    assert event.occurred_at == pytest.approx(base + 0.25, abs=US)
    assert event.started_at == pytest.approx(base + 0.1, abs=US)
    assert event.completed_at == pytest.approx(base + 0.2, abs=US)
    assert event.status is None


def completed(step_id: str, started: float, done: float) -> Event:
    return Event("step_completed", step_id, at(done), started_at=at(started), completed_at=at(done))


def on_its_own() -> list[Event]:
    """Sent at 0 ms; 3 steps; ended at 60 ms."""
    return [
        Event("execution_started", None, at(5)),
        Event("step_started", "step_1", at(8)),
        completed("step_1", 8, 20),
        completed("step_2", 24, 24),
        Event("step_started", "step_3", at(30)),
        completed("step_3", 30, 52),
        Event("execution_ended", None, at(60), status="completed"),
    ]


def test_metrics_of_an_execution_that_did_not_park() -> None:
    metrics = extract(Trace(sent_at=at(0), events=on_its_own()))
    assert metrics.status == "completed"
    assert not metrics.parked
    assert metrics.e2e == pytest.approx(0.060, abs=US)
    assert [step_id for step_id, _ in metrics.overheads] == ["step_1", "step_2", "step_3"]
    # step_1 from ExecutionStarted (5) to its start (8), then from each completion.
    assert [v for _, v in metrics.overheads] == pytest.approx([0.003, 0.004, 0.006], abs=US)
    assert metrics.end_hop == pytest.approx(0.008, abs=US)
    assert metrics.approve_to_resume is None


def test_metrics_of_a_parked_execution() -> None:
    events = [
        Event("execution_started", None, at(5)),
        Event("step_started", "step_1", at(8)),
        completed("step_1", 8, 20),
        Event("step_awaiting_approval", "step_2", at(25), started_at=at(25)),
        # A person (the load generator) approves at 1,025 ms, decided at 1,027 ms.
        completed("step_2", 25, 1_027),
        Event("step_started", "step_3", at(1_040)),
        completed("step_3", 1_040, 1_062),
        Event("execution_ended", None, at(1_070), status="completed"),
    ]
    metrics = extract(Trace(sent_at=at(0), events=events, approve_sent_at=at(1_025)))
    assert metrics.parked
    # 1,070 ms in all, of which 1,000 ms (25 -> 1,025) waited for the person.
    assert metrics.e2e == pytest.approx(0.070, abs=US)
    assert [v for _, v in metrics.overheads] == pytest.approx([0.003, 0.005, 0.013], abs=US)
    assert metrics.end_hop == pytest.approx(0.008, abs=US)
    assert metrics.approve_to_resume == pytest.approx(0.015, abs=US)


def test_resume_falls_back_to_the_next_steps_start_without_step_started() -> None:
    events = [
        Event("execution_started", None, at(5)),
        completed("step_1", 8, 20),
        Event("step_awaiting_approval", "step_2", at(25)),
        completed("step_2", 25, 102),
        completed("step_3", 130, 150),
        Event("execution_ended", None, at(155), status="completed"),
    ]
    metrics = extract(Trace(sent_at=at(0), events=events, approve_sent_at=at(100)))
    assert metrics.approve_to_resume == pytest.approx(0.030, abs=US)


def test_repeated_events_count_once() -> None:
    events = on_its_own()
    repeated = [*events[:3], events[2], events[0], *events[3:], events[-1]]
    assert extract(Trace(at(0), repeated)) == extract(Trace(at(0), events))


def test_a_parked_execution_without_an_approval_is_incomplete() -> None:
    events = on_its_own()
    events.insert(3, Event("step_awaiting_approval", "step_2", at(22)))
    with pytest.raises(IncompleteTrace, match="no approval"):
        extract(Trace(at(0), events))


def test_an_execution_without_its_end_is_incomplete() -> None:
    with pytest.raises(IncompleteTrace):
        extract(Trace(at(0), on_its_own()[:-1]))


def test_an_execution_that_failed_reports_its_status() -> None:
    events = [
        Event("execution_started", None, at(5)),
        Event("step_failed", "step_1", at(40)),
        Event("execution_ended", None, at(45), status="failed"),
    ]
    metrics = extract(Trace(at(0), events))
    assert metrics.status == "failed"
    assert metrics.overheads == ()
    assert metrics.end_hop == pytest.approx(0.040, abs=US)
