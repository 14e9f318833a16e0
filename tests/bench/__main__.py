"""`python -m tests.bench` (`make bench`): benchmark the whole system on this machine.

Starts a fresh broker, mongod and the five services under ``<out>/run-<UTC stamp>/``
(their logs and the load generator's files stay there), measures the floor, then runs
the load generator (loadgen.py) as its own process through warm-up, ramp, latency
phase and, with ``--soak-minutes``, a soak, while sampling every process from /proc.
Writes ``<out>/results-<stamp>.json``, ``<out>/latest.json`` and
``<out>/latency-vs-load.png`` and prints the table. Exits 1 if any request or
execution failed or an execution was lost (MongoDB's data is then kept in the run
directory), 2 if the run could not complete (a process died). Metric definitions:
stats.py.
"""

import argparse
import asyncio
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

from pymongo import AsyncMongoClient

from orchestrate_devstack.infra import InfraError, MongoServer, TansuBroker, free_port
from orchestrate_devstack.stack import Stack, Wiring
from orchestrate_gateway.stores import KeyStore

from . import floor, report
from .loadgen import LoadConfig
from .procs import Processes, Snapshot, usage

REPO = Path(__file__).resolve().parents[2]
TENANT = "bench"
EMAIL = "bench@orchestrate.local"
WORKFLOW = "wf_customer_support_triage"
# The benchmark's key must never meet the gateway's per-key rate limit.
KEY_RATE = 100_000
RSS_SAMPLE_S = 5.0
SOAK_BASELINE_S = 60.0


class BenchFailed(RuntimeError):
    """The run could not complete: a process died or the load generator failed."""


class RssSampler(threading.Thread):
    """RSS of every process every few seconds, for the soak's memory curve."""

    def __init__(self, processes: Processes, interval_s: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self._processes = processes
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self.series: list[dict[str, Any]] = []

    def run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            snapshot = self._processes.snapshot()
            self.series.append(
                {"at": round(snapshot.at, 1)}
                | {name: round(kb / 1024, 1) for name, kb in snapshot.rss_kb.items()}
            )

    def stop(self) -> None:
        self._stopping.set()
        self.join()


# --------------------------------------------------------------------------- the run


async def _api_key(wiring: Wiring) -> str:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(wiring.mongo_url, tz_aware=True)
    try:
        keys = KeyStore(client[f"{wiring.db_prefix}gateway"]["api_keys"])
        token, _ = await keys.create(
            EMAIL, TENANT, rate_limit_per_s=KEY_RATE, rate_limit_burst=KEY_RATE
        )
        return token
    finally:
        await client.close()


def _load_config(args: argparse.Namespace, wiring: Wiring, key: str, run_dir: Path) -> LoadConfig:
    return LoadConfig(
        base_url=wiring.base_url,
        api_key=key,
        bootstrap=wiring.kafka_bootstrap_servers,
        requests_topic=wiring.topics.execution_requests,
        events_topic=wiring.topics.execution_events,
        tenant=TENANT,
        requested_by=EMAIL,
        workflow_id=WORKFLOW,
        http_share=args.http_share,
        approval_share=args.approval_share,
        get_share=args.get_share,
        get_min_rate=args.get_min_rate,
        max_outstanding=args.max_outstanding,
        drain_timeout_s=args.drain_timeout_s,
        warmup_rate=args.warmup_rate,
        warmup_s=args.warmup_s,
        ramp_start=args.ramp_start,
        ramp_factor=args.ramp_factor,
        ramp_step_s=args.ramp_step_s,
        ramp_max=args.max_rate,
        latency_fraction=args.latency_fraction,
        latency_s=args.latency_s,
        soak_s=args.soak_minutes * 60,
        soak_baseline_s=SOAK_BASELINE_S,
        seed=args.seed,
        results_path=str(run_dir / "loadgen-results.json"),
    )


def _progress(mark: Mapping[str, Any]) -> None:
    if mark["event"] == "start":
        print(f"  {mark['phase']:<9} {mark['rate']:7.1f}/s ...", end="", flush=True)
    elif mark["event"] == "done":
        summary = mark["summary"]
        verdict = summary["verdict"]
        p50, p99 = summary["e2e_p50_ms"], summary["e2e_p99_ms"]
        line = (
            f" ended {summary['ended']}/{summary['sent']}"
            + (f", e2e p50 {p50:.0f} ms p99 {p99:.0f} ms" if p50 is not None else "")
            + (f", {summary['errors']} errors" if summary["errors"] else "")
            + (f", {summary['unfinished']} unfinished" if summary["unfinished"] else "")
        )
        if verdict is not None:
            line += f", done {verdict['achieved_rate']:.1f}/s: " + (
                "sustained"
                if verdict["sustained"]
                else "NOT sustained: " + "; ".join(verdict["reasons"])
            )
        print(line, flush=True)


class Profiler:
    """py-spy flame graphs of the given processes, from start() to stop(); py-spy's
    own messages go next to each graph."""

    def __init__(self, pids: Mapping[str, int], out_dir: Path) -> None:
        self._pids = pids
        self._out_dir = out_dir
        self._running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self) -> None:
        self._out_dir.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).with_name("py-spy"))
        for name, pid in self._pids.items():
            argv = [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
            argv += ["--format", "flamegraph", "--output", str(self._out_dir / f"{name}.svg")]
            log = (self._out_dir / f"{name}.log").open("wb")
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            self._running.append((process, log))

    def stop(self) -> None:
        for process, _ in self._running:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for process, log in self._running:
            process.wait(30)
            log.close()
        self._running = []


def _watch(
    loadgen: subprocess.Popen[str],
    processes: Processes,
    dead: Callable[[], list[str]],
    profiler: Profiler | None,
) -> tuple[dict[str, dict[str, Snapshot]], Snapshot | None]:
    """Follow the load generator's phase marks until it exits, snapshotting the
    processes at each; fail as soon as any server or service is gone."""
    assert loadgen.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, args=(loadgen.stdout,), daemon=True).start()
    marks: dict[str, dict[str, Snapshot]] = {}
    baseline: Snapshot | None = None
    try:
        while True:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                if gone := dead():
                    raise BenchFailed(f"exited during the run: {', '.join(gone)}") from None
                continue
            if line is None:
                return marks, baseline
            mark = json.loads(line)
            snapshot = processes.snapshot()
            if mark["event"] == "baseline":
                baseline = snapshot
            else:
                marks.setdefault(mark["phase"], {})[mark["event"]] = snapshot
            if profiler is not None and mark["phase"] == "latency":
                if mark["event"] == "start":
                    profiler.start()
                elif mark["event"] == "end":
                    profiler.stop()
            _progress(mark)
    finally:
        if profiler is not None:
            profiler.stop()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drive(
    args: argparse.Namespace,
    run_dir: Path,
    config: LoadConfig,
    stack: Stack,
    broker: TansuBroker,
    mongo: MongoServer,
) -> tuple[dict[str, Any], dict[str, dict[str, Snapshot]], Snapshot | None, list[dict[str, Any]]]:
    config_path = run_dir / "loadgen-config.json"
    config_path.write_text(json.dumps(asdict(config), indent=2))
    log_path = run_dir / "loadgen.log"
    with log_path.open("ab") as log:
        loadgen = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.loadgen", str(config_path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        try:
            services = {name: service.pid for name, service in stack.services.items()}
            pids = services | {"tansu": broker.pid, "mongod": mongo.pid, "loadgen": loadgen.pid}
            processes = Processes(pids)

            def dead() -> list[str]:
                gone = [name for name, s in stack.services.items() if not s.running]
                return gone + [server.name for server in (broker, mongo) if not server.running]

            profiler = (
                Profiler(services | {"loadgen": loadgen.pid}, run_dir / "profiles")
                if args.profile
                else None
            )
            sampler = RssSampler(processes, RSS_SAMPLE_S)
            sampler.start()
            try:
                marks, baseline = _watch(loadgen, processes, dead, profiler)
            finally:
                sampler.stop()
            code = loadgen.wait()
        finally:
            _stop(loadgen)
    if code != 0:
        raise BenchFailed(f"the load generator exited with code {code}; see {log_path}")
    raw = json.loads(Path(config.results_path).read_text())
    return raw, marks, baseline, sampler.series


def _machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return {
        "cpu_model": model,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gb": mem_kb / 1024 / 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _git() -> dict[str, Any]:
    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", *argv], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out.resolve()
    run_dir = out / f"run-{stamp}"
    run_dir.mkdir(parents=True)
    print(f"Benchmark {stamp}: servers, services and logs in {run_dir}", flush=True)
    broker, mongo = TansuBroker(run_dir / "tansu"), MongoServer(run_dir / "mongo")
    with broker, mongo:
        wiring = Wiring(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            mongo_url=mongo.url,
            gateway_port=free_port(),
        )
        stack = Stack(wiring, run_dir / "logs")
        try:
            stack.start()
            key = asyncio.run(_api_key(wiring))
            print(f"Floor: {args.floor_count} Kafka round trips, then as many upserts", flush=True)
            measured_floor = floor.run(
                wiring.kafka_bootstrap_servers,
                wiring.mongo_url,
                count=args.floor_count,
                fetch_max_wait_ms=wiring.kafka_fetch_max_wait_ms,
                broker_pid=broker.pid,
                mongod_pid=mongo.pid,
            )
            print("Load:", flush=True)
            config = _load_config(args, wiring, key, run_dir)
            raw, marks, baseline, series = _drive(args, run_dir, config, stack, broker, mongo)
        finally:
            stack.stop()

    results = report.build(
        stamp=stamp,
        machine=_machine() | {"date": now.isoformat(timespec="seconds")},
        git=_git(),
        config=vars(args) | {"out": str(out)},
        floor=measured_floor,
        loadgen=raw,
        usage={phase: usage(m["start"], m["end"]) for phase, m in marks.items()},
        soak_baseline_rss_mb=(
            None if baseline is None else {n: kb / 1024 for n, kb in baseline.rss_kb.items()}
        ),
        rss_series=series,
    )
    document = json.dumps(results, indent=1)
    (out / f"results-{stamp}.json").write_text(document)
    (out / "latest.json").write_text(document)
    report.plot(results, run_dir / "latency-vs-load.png")
    shutil.copyfile(run_dir / "latency-vs-load.png", out / "latency-vs-load.png")
    print()
    print(report.table(results))
    print(f"\nResults: {out / f'results-{stamp}.json'}; plot: {out / 'latency-vs-load.png'}")
    if not report.clean(results):
        print(f"MongoDB data kept for diagnosis: {mongo.dbpath}")
        return 1
    # Only this run's executions: kept after every run, the data would pile up.
    shutil.rmtree(mongo.dbpath)
    return 0


def _rate(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be within 0-1")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be > 0 and <= 1")
    return value


def _minutes(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--out", type=Path, default=REPO / ".bench", help="output directory")
    add("--warmup-rate", type=_rate, default=20.0, help="warm-up executions/s")
    add("--warmup-s", type=_rate, default=20.0, help="warm-up seconds (not measured)")
    add("--ramp-start", type=_rate, default=25.0, help="first ramp step, executions/s")
    add("--ramp-factor", type=float, default=1.25, help="each ramp step's rate over the last")
    add("--ramp-step-s", type=_rate, default=12.0, help="seconds of load per ramp step")
    add("--max-rate", type=_rate, default=1000.0, help="the ramp's highest rate")
    add("--latency-s", type=_rate, default=60.0, help="seconds of the latency phase")
    add(
        "--latency-fraction",
        type=_fraction,
        default=0.5,
        help="latency and soak phases run at this share of the sustained rate",
    )
    add("--soak-minutes", type=_minutes, default=0.0, help="soak duration (0: no soak)")
    add("--approval-share", type=_share, default=0.2, help="share of tickets that park")
    add("--http-share", type=_share, default=0.5, help="share of starts via HTTP (rest Kafka)")
    add("--get-share", type=_share, default=0.1, help="GETs per started execution")
    add("--get-min-rate", type=_rate, default=5.0, help="GETs/s at least")
    add("--max-outstanding", type=_count, default=256, help="cap on outstanding HTTP requests")
    add("--drain-timeout-s", type=_rate, default=30.0, help="wait for executions after a phase")
    add("--floor-count", type=_count, default=2000, help="messages and upserts of the floor")
    add("--seed", type=int, default=1, help="seed of the ticket mix")
    add(
        "--profile",
        action="store_true",
        help="py-spy flame graphs of the services and the load generator over the latency"
        " phase, in the run directory (perturbs that phase's figures)",
    )
    args = parser.parse_args(argv)
    if args.ramp_factor <= 1:
        parser.error("--ramp-factor must be > 1")
    if args.ramp_step_s < 2:
        parser.error("--ramp-step-s must be >= 2 (the verdict compares quarters of a step)")
    return args


def _terminated(_signum: int, _frame: object) -> NoReturn:
    # Like Ctrl-C: unwinds through every finally, so every process gets stopped.
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return run(args)
    except (BenchFailed, InfraError) as exc:
        print(
            f"\nBenchmark failed: {exc}\nSee the logs in the run directory above.", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted; everything stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
