"""The benchmark's results: the JSON document, the table on stdout, the latency plot.

``build`` turns the load generator's raw figures, the floor and the process figures
into one document; ``table`` and ``plot`` only read that document, so an old
``results-*.json`` can be rendered again.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display here

import matplotlib.pyplot as plt

from .floor import Floor
from .stats import percentiles

STEPS_PER_EXECUTION = 3  # the triage workflow: classifier, escalation, responder

# The system's targets (docs/PERFORMANCE.md).
SUSTAINED_TARGET = 500.0
OVERHEAD_P50_TARGET_MS = 5.0
OVERHEAD_P99_TARGET_MS = 25.0
GET_P99_TARGET_MS = 20.0
APPROVE_TO_RESUME_P99_TARGET_MS = 100.0
# For the five services: the local broker keeps every record in memory and mongod's
# cache fills with the data, so their growth is shown but is no leak.
SOAK_RSS_GROWTH_TARGET = 0.05
# Lost executions listed in the table (the JSON has more).
LOST_SHOWN = 5
# Cores used by processes outside the run above which the table warns of noise.
NOISY_OTHER_CORES = 0.2
# How far the share of executions that parked may be from the configured share.
PARKED_SHARE_TOLERANCE = 0.03

SERVICES = ("gateway", "classifier", "escalation", "responder", "ledger")
PROCESS_ORDER = (*SERVICES, "tansu", "mongod", "loadgen")


def _dist(values: list[float]) -> dict[str, float] | None:
    summary = percentiles(values)
    return None if summary is None else asdict(summary)


def _pooled(overheads: Mapping[str, list[float]]) -> list[float]:
    return [value for values in overheads.values() for value in values]


def _load_figures(phase: Mapping[str, Any], floor: Floor) -> dict[str, Any]:
    """Latency and correctness figures of one phase's executions."""
    duration = phase["window_end"] - phase["window_start"]
    # Over the window's second half, like a ramp step's verdict (stats.py).
    rate = phase["ended_in_steady"] / (duration - phase["duration_s"] / 2)
    overhead = percentiles(_pooled(phase["overhead_ms"]))
    completed = phase["completed"]
    return {
        "offered_rate": phase["rate"],
        "duration_s": duration,
        "sent": phase["sent"],
        "sent_http": phase["sent_http"],
        "executions_ended": phase["ended_in_window"],
        "executions_per_s": rate,
        "steps_per_s": STEPS_PER_EXECUTION * rate,
        "e2e_ms": _dist(phase["e2e_ms"]),
        "overhead_ms": overhead and asdict(overhead),
        "overhead_by_step_ms": {k: _dist(v) for k, v in sorted(phase["overhead_ms"].items())},
        "end_hop_ms": _dist(phase["end_hop_ms"]),
        "overhead_vs_floor": overhead
        and {
            "p50": overhead.p50 / floor.per_step_p50_ms,
            "p99": overhead.p99 / floor.per_step_p99_ms,
        },
        "get_ms": _dist(phase["get_ms"]),
        "get_404": phase["get_404"],
        "approve_to_resume_ms": _dist(phase["approve_to_resume_ms"]),
        "approve_retries": phase["approve_retries"],
        "parked_share": phase["parked"] / completed if completed else None,
        "parked_unintended": phase["parked_unintended"],
        "unparked_intended": phase["unparked_intended"],
        "errors": phase["errors"],
        "stuck": phase["unfinished_after_drain"],
        "cap_hits": phase["cap_hits"],
        "loadgen_lag_ms": phase["lag_ms"],
    }


def _process_figures(usage: Mapping[str, Any], executions: int) -> dict[str, Any]:
    """CPU and memory of every process over a phase (usage: see the runner)."""
    return {
        "machine_cpu_util": usage["machine_cpu_util"],
        "other_cpu_cores": usage["other_cpu_cores"],
        "cpu_s": usage["cpu_s"],
        "cpu_ms_per_execution": {
            name: 1000 * seconds / executions if executions else None
            for name, seconds in usage["cpu_s"].items()
        },
        "peak_rss_mb": usage["peak_rss_mb"],
        "end_rss_mb": usage["end_rss_mb"],
    }


def build(
    *,
    stamp: str,
    machine: Mapping[str, Any],
    git: Mapping[str, Any],
    config: Mapping[str, Any],
    floor: Floor,
    loadgen: Mapping[str, Any],
    usage: Mapping[str, Mapping[str, Any]],
    soak_baseline_rss_mb: Mapping[str, float] | None,
    rss_series: list[dict[str, Any]],
) -> dict[str, Any]:
    """The results document. ``usage`` holds, per phase name, the process figures
    over its load window; ``soak_baseline_rss_mb`` the RSS one minute into the soak."""
    phases = {phase["name"]: phase for phase in loadgen["phases"]}
    ramp = []
    for phase in loadgen["phases"]:
        if phase["kind"] != "ramp":
            continue
        figures = _load_figures(phase, floor)
        ramp.append(
            {
                "name": phase["name"],
                "offered_rate": phase["rate"],
                "achieved_rate": phase["verdict"]["achieved_rate"],
                "inflight_mid": phase["load"]["inflight_mid"],
                "inflight_end": phase["load"]["inflight_end"],
                "sustained": phase["verdict"]["sustained"],
                "reasons": phase["verdict"]["reasons"],
                "machine_cpu_util": usage[phase["name"]]["machine_cpu_util"],
                "other_cpu_cores": usage[phase["name"]]["other_cpu_cores"],
                "cpu_ms_per_execution": _process_figures(
                    usage[phase["name"]], phase["ended_in_window"]
                )["cpu_ms_per_execution"],
            }
            | {
                k: figures[k]
                for k in ("e2e_ms", "overhead_ms", "get_ms", "approve_to_resume_ms", "errors")
            }
        )
    sustained = loadgen["sustained_rate"]
    # The step the load generator took the sustained rate from (see its _ramp).
    best = max(
        (step for step in ramp if step["sustained"]),
        key=lambda step: min(step["achieved_rate"], step["offered_rate"]),
        default=None,
    )

    latency = phases["latency"]
    latency_figures = _load_figures(latency, floor) | _process_figures(
        usage["latency"], latency["ended_in_window"]
    )

    soak = None
    if "soak" in phases:
        end_rss = usage["soak"]["end_rss_mb"]
        soak = _load_figures(phases["soak"], floor) | {
            "baseline_rss_mb": soak_baseline_rss_mb,
            "end_rss_mb": end_rss,
            "rss_growth": soak_baseline_rss_mb
            and {
                name: end_rss[name] / soak_baseline_rss_mb[name] - 1
                for name in end_rss
                if soak_baseline_rss_mb.get(name)
            },
        }

    errors: dict[str, int] = {}
    for phase in loadgen["phases"]:
        for kind, count in phase["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    results: dict[str, Any] = {
        "stamp": stamp,
        "machine": dict(machine),
        "git": dict(git),
        "config": dict(config),
        "floor": {
            "kafka_one_way_ms": asdict(floor.kafka_one_way_ms),
            "mongo_upsert_ms": asdict(floor.mongo_upsert_ms),
            "per_step_p50_ms": floor.per_step_p50_ms,
            "per_step_p99_ms": floor.per_step_p99_ms,
            "broker_cpu_ms_per_message": floor.broker_cpu_ms_per_message,
            "mongod_cpu_ms_per_upsert": floor.mongod_cpu_ms_per_upsert,
        },
        "warmup": _load_figures(phases["warmup"], floor)
        | _process_figures(usage["warmup"], phases["warmup"]["ended_in_window"]),
        "ramp": ramp,
        "sustained": {
            "executions_per_s": sustained,
            "steps_per_s": sustained and STEPS_PER_EXECUTION * sustained,
            "offered_rate": best and best["offered_rate"],
        },
        "latency": latency_figures,
        "soak": soak,
        "rss_series_mb": rss_series,
        "errors": errors,
        "stuck": sum(phase["unfinished_after_drain"] for phase in loadgen["phases"]),
        "lost": loadgen["lost"],
        "lost_executions": loadgen["lost_executions"],
        "unclaimed_executions": loadgen["orphans"],
    }
    results["checks"] = [asdict(check) for check in _checks(results)]
    return results


def clean(results: Mapping[str, Any]) -> bool:
    """No errors and no execution lost: what the exit code reports."""
    return not results["errors"] and not results["lost"] and not results["unclaimed_executions"]


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Check:
    figure: str
    value: str
    target: str
    met: bool | None  # None: a figure without a target


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _get(dist: Mapping[str, float] | None, key: str) -> float | None:
    return None if dist is None else dist[key]


def _spread(dist: Mapping[str, float] | None, *keys: str) -> str:
    if dist is None:
        return "n/a"
    return " / ".join(f"{dist[key]:.1f}" for key in keys) + " ms"


def _at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def _checks(results: Mapping[str, Any]) -> list[Check]:
    config, latency, soak = results["config"], results["latency"], results["soak"]
    sustained = results["sustained"]["executions_per_s"]
    floor = results["floor"]
    share = config["approval_share"]
    overhead = latency["overhead_ms"]
    ratio = latency["overhead_vs_floor"]
    checks = [
        Check(
            f"sustained executions/s ({share:.0%} parked)",
            "none" if sustained is None else f"{sustained:.1f}",
            f">= {SUSTAINED_TARGET:.0f}",
            sustained is not None and sustained >= SUSTAINED_TARGET,
        ),
        Check(
            "sustained steps/s",
            "none" if sustained is None else f"{STEPS_PER_EXECUTION * sustained:.1f}",
            "",
            None,
        ),
        Check(
            f"latency phase: executions/s (offered {latency['offered_rate']:.1f}/s)",
            f"{latency['executions_per_s']:.1f}",
            "",
            None,
        ),
        Check("e2e p50 / p95 / p99", _spread(latency["e2e_ms"], "p50", "p95", "p99"), "", None),
        Check(
            "step overhead p50",
            _ms(_get(overhead, "p50")) + (f" ({ratio['p50']:.1f}x floor)" if ratio else ""),
            f"<= {OVERHEAD_P50_TARGET_MS:.0f} ms",
            _at_most(_get(overhead, "p50"), OVERHEAD_P50_TARGET_MS),
        ),
        Check(
            "step overhead p99",
            _ms(_get(overhead, "p99")) + (f" ({ratio['p99']:.1f}x floor)" if ratio else ""),
            f"<= {OVERHEAD_P99_TARGET_MS:.0f} ms",
            _at_most(_get(overhead, "p99"), OVERHEAD_P99_TARGET_MS),
        ),
        Check(
            "end hop p50 / p99",
            _spread(latency["end_hop_ms"], "p50", "p99"),
            "",
            None,
        ),
        Check(
            "floor per step p50 / p99 (2 Kafka hops + 1 upsert)",
            f"{_ms(floor['per_step_p50_ms'])} / {_ms(floor['per_step_p99_ms'])}",
            "",
            None,
        ),
        Check(
            "GET p50",
            _ms(_get(latency["get_ms"], "p50")) + f" ({latency['get_404']} x 404)",
            "",
            None,
        ),
        Check(
            "GET p99",
            _ms(_get(latency["get_ms"], "p99")),
            f"<= {GET_P99_TARGET_MS:.0f} ms",
            _at_most(_get(latency["get_ms"], "p99"), GET_P99_TARGET_MS),
        ),
        Check(
            "approve-to-resume p50",
            _ms(_get(latency["approve_to_resume_ms"], "p50")),
            "",
            None,
        ),
        Check(
            "approve-to-resume p99",
            _ms(_get(latency["approve_to_resume_ms"], "p99")),
            f"<= {APPROVE_TO_RESUME_P99_TARGET_MS:.0f} ms",
            _at_most(_get(latency["approve_to_resume_ms"], "p99"), APPROVE_TO_RESUME_P99_TARGET_MS),
        ),
    ]
    parked = latency["parked_share"]
    checks.append(
        Check(
            "parked share (parked unintended, missed)",
            "n/a"
            if parked is None
            else f"{parked:.1%} ({latency['parked_unintended']}, {latency['unparked_intended']})",
            f"{share:.0%} +- {PARKED_SHARE_TOLERANCE:.0%}",
            None if parked is None else abs(parked - share) <= PARKED_SHARE_TOLERANCE,
        )
    )
    if soak is not None:
        growth = soak["rss_growth"] or {}
        services = {name: growth[name] for name in SERVICES if name in growth}
        worst = max(services.items(), key=lambda item: item[1]) if services else None
        checks += [
            Check(
                f"soak RSS growth, worst service ({worst[0]})" if worst else "soak RSS growth",
                "n/a" if worst is None else f"{worst[1]:+.1%}",
                f"< {SOAK_RSS_GROWTH_TARGET:.0%}",
                None if worst is None else worst[1] < SOAK_RSS_GROWTH_TARGET,
            ),
            Check(
                "soak RSS growth, broker / mongod",
                " / ".join(
                    "n/a" if name not in growth else f"{growth[name]:+.1%}"
                    for name in ("tansu", "mongod")
                ),
                "",
                None,
            ),
            Check(
                f"soak: executions/s (offered {soak['offered_rate']:.1f}/s), e2e p50 / p99",
                f"{soak['executions_per_s']:.1f}, {_spread(soak['e2e_ms'], 'p50', 'p99')}",
                "",
                None,
            ),
            Check(
                "soak lost/stuck executions",
                str(soak["stuck"]),
                "0",
                soak["stuck"] == 0,
            ),
        ]
    errors = sum(results["errors"].values())
    checks += [
        Check("errors (all phases)", str(errors), "0", errors == 0),
        Check(
            "lost executions (all phases)",
            str(results["lost"] + results["unclaimed_executions"]),
            "0",
            results["lost"] + results["unclaimed_executions"] == 0,
        ),
    ]
    return checks


# --------------------------------------------------------------------------- rendering


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: Mapping[str, Any]) -> str:
    machine, git = results["machine"], results["git"]
    floor = results["floor"]
    lines = [
        f"Orchestrate benchmark {results['stamp']}: {machine['cpu_model']}, "
        f"{machine['cores']} cores, {machine['ram_gb']:.0f} GB, "
        f"commit {git['commit']}{' (dirty)' if git['dirty'] else ''}",
        f"Floor: Kafka one-way p50 {floor['kafka_one_way_ms']['p50']:.2f} ms, "
        f"p99 {floor['kafka_one_way_ms']['p99']:.2f} ms; MongoDB upsert p50 "
        f"{floor['mongo_upsert_ms']['p50']:.2f} ms, p99 {floor['mongo_upsert_ms']['p99']:.2f} ms",
        f"Infrastructure CPU: broker {floor['broker_cpu_ms_per_message']:.2f} ms per message "
        f"sent and fetched; mongod {floor['mongod_cpu_ms_per_upsert']:.2f} ms per upsert",
        "",
        "Ramp (ms; CPU: all cores' busy share; other: cores used by processes outside the run)",
        f"{'offered/s':>10} {'done/s':>8} {'in flight':>10} {'e2e p50':>8} {'e2e p99':>8}"
        f" {'ovh p50':>8} {'ovh p99':>8} {'GET p99':>8} {'CPU':>5} {'other':>5}  sustained",
    ]
    for step in results["ramp"]:
        lines.append(
            f"{step['offered_rate']:>10.1f} {step['achieved_rate']:>8.1f}"
            f" {step['inflight_end']:>10.1f}"
            f" {_fmt(_get(step['e2e_ms'], 'p50')):>8} {_fmt(_get(step['e2e_ms'], 'p99')):>8}"
            f" {_fmt(_get(step['overhead_ms'], 'p50')):>8}"
            f" {_fmt(_get(step['overhead_ms'], 'p99')):>8}"
            f" {_fmt(_get(step['get_ms'], 'p99')):>8}"
            f" {step['machine_cpu_util']:>5.0%} {step['other_cpu_cores']:>5.2f}  "
            + ("yes" if step["sustained"] else "no: " + "; ".join(step["reasons"]))
        )
    lines += ["", f"{'Figure':<52} {'Value':<28} {'Target':<12}"]
    for check in results["checks"]:
        verdict = {True: "met", False: "NOT MET", None: ""}[check["met"]]
        lines.append(f"{check['figure']:<52} {check['value']:<28} {check['target']:<12} {verdict}")
    latency = results["latency"]
    lines += [
        "",
        f"Processes over the latency phase ({latency['executions_ended']} executions; "
        f"machine CPU {latency['machine_cpu_util']:.0%} busy, "
        f"{latency['other_cpu_cores']:.2f} cores of it outside the run)",
        f"{'process':<12} {'CPU ms/exec':>12} {'CPU s':>8} {'peak RSS MB':>12} {'end RSS MB':>11}",
    ]
    for name in PROCESS_ORDER:
        lines.append(
            f"{name:<12} {_fmt(latency['cpu_ms_per_execution'][name], '.2f'):>12}"
            f" {latency['cpu_s'][name]:>8.1f} {latency['peak_rss_mb'][name]:>12.0f}"
            f" {latency['end_rss_mb'][name]:>11.0f}"
        )
    total = sum(latency["cpu_s"].values())
    per_execution = (
        1000 * total / latency["executions_ended"] if latency["executions_ended"] else None
    )
    lines.append(f"{'total':<12} {_fmt(per_execution, '.2f'):>12} {total:>8.1f}")
    if results["errors"]:
        lines += ["", "Errors: " + ", ".join(f"{k}: {v}" for k, v in results["errors"].items())]
    for lost in results["lost_executions"][:LOST_SHOWN]:
        approved = "" if lost["approve_sent_at"] is None else ", approved"
        lines.append(
            f"Lost: {lost['id']} ({lost['phase']}, via {lost['via']}{approved}),"
            f" events: {', '.join(lost['events']) or 'none'}"
        )
    busiest = max(
        [latency["other_cpu_cores"]] + [step["other_cpu_cores"] for step in results["ramp"]]
    )
    if busiest > NOISY_OTHER_CORES:
        lines += [
            "",
            f"WARNING: processes outside the run used up to {busiest:.2f} cores meanwhile;"
            " these figures understate the system.",
        ]
    return "\n".join(lines)


def plot(results: Mapping[str, Any], path: Path) -> None:
    """Latency against offered load over the ramp, log scale, the sustained rate marked."""
    # In rate order: the ramp may step down and back up.
    ramp = sorted(results["ramp"], key=lambda step: step["offered_rate"])
    offered = [step["offered_rate"] for step in ramp]
    figure, axes = plt.subplots(figsize=(9, 5.5))
    lines = (
        ("e2e_ms", "p50", "e2e p50", "-"),
        ("e2e_ms", "p99", "e2e p99", "--"),
        ("overhead_ms", "p50", "step overhead p50", "-"),
        ("overhead_ms", "p99", "step overhead p99", "--"),
    )
    for metric, key, label, style in lines:
        points = [(x, _get(step[metric], key)) for x, step in zip(offered, ramp, strict=True)]
        kept = [(x, y) for x, y in points if y is not None and y > 0]
        if kept:
            axes.plot(*zip(*kept, strict=True), style, marker="o", label=label)
    sustained = results["sustained"]["executions_per_s"]
    if sustained:
        axes.axvline(sustained, color="grey", linestyle=":", label=f"sustained {sustained:.0f}/s")
    axes.set_yscale("log")
    axes.set_xlabel("offered executions/s")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    machine = results["machine"]
    axes.set_title(
        f"Orchestrate latency vs load: {machine['cores']} cores ({machine['cpu_model']}), "
        f"{machine['date'][:10]}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
