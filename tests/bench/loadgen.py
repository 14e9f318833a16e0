"""The benchmark's load generator, run as its own process by the runner:
``python -m tests.bench.loadgen CONFIG.json``.

It works through a phase plan (warm-up, ramp, latency, optional soak) with open-loop
arrivals: sends are scheduled at absolute times, so a slow answer never lowers the
offered rate. Each start goes either through the HTTP API or as a StartExecution on
the Kafka ingress topic. It follows every execution on the events topic (all
partitions assigned, positioned at the end before any load), approves parked steps
at once, samples GETs of recent executions, and turns each ended execution into its
metrics (stats.py) so that only numbers, not events, are kept.

On stdout it prints one JSON line per phase boundary (``start``, ``end`` of the load
window, ``done`` after the drain with a summary, ``baseline`` one minute into a soak),
on which the runner samples the processes; the raw figures go to the results file.
"""

import asyncio
import contextlib
import json
import math
import random
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from orchestrate_contracts.messages import StartExecution, encode
from orchestrate_contracts.topics import message_key

from .stats import (
    Event,
    ExecutionMetrics,
    IncompleteTrace,
    StepLoad,
    Trace,
    event_from_json,
    extract,
    judge,
    percentiles,
    window_mean,
)

# Tickets the built-in classifier rates high priority or frustrated/angry (so the
# escalation step parks), and tickets it rates neither (checked against the model;
# the run reports how many parked against the intent).
NEEDS_APPROVAL = (
    "I have been waiting for my refund for {n} weeks. Order #{order}. This is unacceptable!",
    "Still no refund for order {order} after {n} weeks, this is ridiculous. I want my money back",
    "I was charged twice for order #{order} and nobody answers. Fix this now, I am furious!",
    "My package for order {order} never arrived after {n} weeks. This is the worst service ever!",
)
ON_ITS_OWN = (
    "Hi, could you send me a copy of the invoice for my last purchase? Thanks!",
    "Please send me the invoice for my order {order}, thanks!",
    "How do I change the email address on my account? Thanks in advance.",
    "Could you tell me whether you ship to Canada? Order {order} is for a friend there.",
    "Hello, I would like to update my shipping address for order #{order}. Thank you!",
)
API = "/v1/orchestrate"
HTTP_TIMEOUT_S = 30.0
# What a request that got no answer raises.
HTTP_ERRORS = (aiohttp.ClientError, TimeoutError)
APPROVE_BODY = json.dumps({"approved": True, "notes": "bench"}).encode()
# The gateway may see a step as parked a little after we read StepAwaitingApproval:
# until then approve answers 404/409, and we try again this often, for this long.
APPROVE_RETRY_DELAY_S = 0.005
APPROVE_RETRY_FOR_S = 10.0
# GETs pick among the executions started this recently.
RECENT_S = 5.0
INFLIGHT_SAMPLE_S = 0.1
# Lost executions described in the results (the rest are counted).
LOST_DETAILS = 20
# The ramp halves a first unsustained rate down to this.
MIN_RAMP_RATE = 1.0
# A fetch returns as soon as records arrive, so a long wait delays nothing measured
# (every latency uses the services' own timestamps) and saves the CPU that polling
# every few milliseconds costs on an idle topic (~9% of a core at 10 ms).
EVENTS_FETCH_MAX_WAIT_MS = 100


def ticket(rng: random.Random, needs_approval: bool) -> str:
    template = rng.choice(NEEDS_APPROVAL if needs_approval else ON_ITS_OWN)
    return template.format(n=rng.randint(2, 9), order=rng.randint(10_000, 99_999))


@dataclass(frozen=True)
class LoadConfig:
    """Written by the runner as JSON; rates in executions/s, durations in seconds."""

    base_url: str
    api_key: str
    bootstrap: str
    requests_topic: str
    events_topic: str
    tenant: str
    requested_by: str
    workflow_id: str
    http_share: float
    approval_share: float
    get_share: float
    get_min_rate: float
    max_outstanding: int
    drain_timeout_s: float
    warmup_rate: float
    warmup_s: float
    ramp_start: float
    ramp_factor: float
    ramp_step_s: float
    ramp_max: float
    latency_fraction: float
    latency_s: float
    soak_s: float
    soak_baseline_s: float
    seed: int
    results_path: str


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 3) for v in values]


@dataclass
class Phase:
    """One entry of the plan and everything measured of the executions it started."""

    name: str
    kind: str
    rate: float
    duration_s: float
    # Epoch seconds of the load window; the end is open while load is offered.
    window_start: float = 0.0
    window_end: float = math.inf
    sent: int = 0
    sent_http: int = 0
    intended_parked: int = 0
    start_failed: int = 0
    ended: int = 0
    ended_in_window: int = 0
    # Ended within the window's second half, when the pipeline is full: the
    # completion rate, unbiased by the time executions take to go through.
    ended_in_steady: int = 0
    completed: int = 0
    parked: int = 0
    parked_unintended: int = 0
    unparked_intended: int = 0
    approve_retries: int = 0
    cap_hits: int = 0
    get_404: int = 0
    unfinished_after_drain: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # (seconds into the window, executions in flight)
    inflight: list[tuple[float, int]] = field(default_factory=list)
    # How late each send left against its schedule (the generator's own lag).
    lag_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    overhead_ms: dict[str, list[float]] = field(default_factory=dict)
    end_hop_ms: list[float] = field(default_factory=list)
    approve_to_resume_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    # Ramp steps: what was judged, and the verdict.
    load: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None

    @property
    def steady_start(self) -> float:
        return self.window_start + self.duration_s / 2

    @property
    def in_flight(self) -> int:
        return self.sent - self.start_failed - self.ended

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def record(self, metrics: ExecutionMetrics) -> None:
        self.completed += 1
        self.e2e_ms.append(metrics.e2e * 1000)
        for step_id, overhead in metrics.overheads:
            self.overhead_ms.setdefault(step_id, []).append(overhead * 1000)
        self.end_hop_ms.append(metrics.end_hop * 1000)
        if metrics.approve_to_resume is not None:
            self.approve_to_resume_ms.append(metrics.approve_to_resume * 1000)

    def summary(self) -> dict[str, Any]:
        """The few figures the runner prints as the run goes."""
        e2e = percentiles(self.e2e_ms)
        return {
            "sent": self.sent,
            "ended": self.ended,
            "errors": sum(self.errors.values()),
            "unfinished": self.unfinished_after_drain,
            "e2e_p50_ms": e2e and e2e.p50,
            "e2e_p99_ms": e2e and e2e.p99,
            "parked_share": self.parked / self.completed if self.completed else None,
            "verdict": self.verdict,
        }

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        lag = percentiles(raw.pop("lag_ms"))
        raw["lag_ms"] = lag and {"p99": lag.p99, "max": lag.max}
        for name in ("e2e_ms", "end_hop_ms", "approve_to_resume_ms", "get_ms"):
            raw[name] = _rounded(raw[name])
        raw["overhead_ms"] = {k: _rounded(v) for k, v in raw["overhead_ms"].items()}
        raw["inflight"] = [(round(t, 2), n) for t, n in raw["inflight"]]
        return raw


class Execution:
    """One execution being followed: its client-side times and its events so far."""

    __slots__ = (
        "approve_sent_at",
        "approving",
        "events",
        "needs_approval",
        "phase",
        "sent_at",
        "via",
    )

    def __init__(self, phase: Phase, via: str, needs_approval: bool, sent_at: float) -> None:
        self.phase = phase
        self.via = via
        self.needs_approval = needs_approval
        self.sent_at = sent_at
        self.events: list[Event] = []
        self.approve_sent_at: float | None = None
        self.approving = False


class LoadGenerator:
    def __init__(
        self,
        config: LoadConfig,
        http: aiohttp.ClientSession,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
    ) -> None:
        self._config = config
        self._http = http
        self._producer = producer
        self._consumer = consumer
        self._rng = random.Random(config.seed)
        self._approval_credit = 0.0
        self._slots = asyncio.Semaphore(config.max_outstanding)
        self._live: dict[str, Execution] = {}
        self._ended: set[str] = set()
        # Events of HTTP starts that arrived before the 202 named their execution.
        self._orphans: dict[str, list[dict[str, Any]]] = {}
        self._recent: deque[tuple[float, str]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: asyncio.Future[None] | None = None
        # Set whenever an execution ends or fails to start: what a drain waits for.
        self._settled_one = asyncio.Event()
        self.phases: list[Phase] = []
        self.sustained_rate: float | None = None

    # ----------------------------------------------------------------------- plan

    async def run(self) -> None:
        """The plan, while the events consumer runs; the consumer or any request
        failing unexpectedly fails the run."""
        self._failure = asyncio.get_running_loop().create_future()
        consuming = asyncio.create_task(self._consume())
        planning = asyncio.create_task(self._plan())
        await asyncio.wait(
            {consuming, planning, self._failure}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (planning, consuming):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._failure.done():
            self._failure.result()

    async def _plan(self) -> None:
        config = self._config
        await self._phase("warmup", "warmup", config.warmup_rate, config.warmup_s)
        self.sustained_rate = await self._ramp()
        # An overloaded last step may still drain: the latency phase starts from idle.
        await self._drain(self.phases)
        # With no sustained step, the lowest rate tried is the best guess there is.
        base = self.sustained_rate or min(p.rate for p in self.phases if p.kind == "ramp")
        await self._phase("latency", "latency", base * config.latency_fraction, config.latency_s)
        if config.soak_s > 0:
            await self._phase("soak", "soak", base * config.latency_fraction, config.soak_s)
        # Stragglers of any phase get one more drain before they count as lost.
        await self._drain(self.phases)

    async def _ramp(self) -> float | None:
        """Raise the rate by a factor per step until a step is not sustained (or, when
        the first step is not, halve it until one is); then run one step halfway
        between the highest sustained and the lowest unsustained rate. Returns the
        best completion rate of a sustained step, None if none was."""
        config = self._config
        best: float | None = None
        sustained: float | None = None  # the highest sustained rate
        unsustained: float | None = None  # the lowest unsustained rate
        rate, refined, step = config.ramp_start, False, 0
        while True:
            step += 1
            phase = await self._phase(f"ramp-{step}", "ramp", rate, config.ramp_step_s)
            assert phase.verdict is not None
            if phase.verdict["sustained"]:
                # Capped at the offered rate: more in the second half is backlog of
                # the first.
                best = max(best or 0.0, min(phase.verdict["achieved_rate"], rate))
                sustained = rate
            else:
                unsustained = rate
            if refined:
                return best
            if unsustained is None:
                if rate >= config.ramp_max:
                    return best
                rate = min(rate * config.ramp_factor, config.ramp_max)
            elif sustained is None:
                if rate / 2 < MIN_RAMP_RATE:
                    return best
                rate /= 2
            else:
                refined, rate = True, (sustained + unsustained) / 2

    async def _phase(self, name: str, kind: str, rate: float, duration_s: float) -> Phase:
        phase = Phase(name, kind, rate, duration_s)
        self.phases.append(phase)
        loop = asyncio.get_running_loop()
        started = loop.time()
        phase.window_start = time.time()
        self._mark("start", phase)
        get_rate = max(self._config.get_min_rate, self._config.get_share * rate)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._arrivals(phase, started))
            group.create_task(self._gets(phase, started, get_rate))
            group.create_task(self._sample_inflight(phase, started))
            if kind == "soak" and self._config.soak_baseline_s < duration_s:
                group.create_task(self._mark_after(self._config.soak_baseline_s, "baseline", phase))
        phase.window_end = time.time()
        self._mark("end", phase)
        await self._drain([phase])
        phase.unfinished_after_drain = phase.in_flight
        if kind == "ramp":
            quarter = duration_s / 4
            load = StepLoad(
                offered_rate=rate,
                steady_s=phase.window_end - phase.steady_start,
                ended_in_steady=phase.ended_in_steady,
                inflight_mid=window_mean(phase.inflight, quarter, 2 * quarter),
                inflight_end=window_mean(phase.inflight, 3 * quarter, math.inf),
                errors=sum(phase.errors.values()),
                stuck=phase.unfinished_after_drain,
                cap_hits=phase.cap_hits,
            )
            phase.load, phase.verdict = asdict(load), asdict(judge(load))
        self._mark("done", phase, summary=phase.summary())
        return phase

    async def _drain(self, phases: list[Phase]) -> None:
        """Until every execution of the phases has ended, or the drain timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.drain_timeout_s
        while any(p.in_flight for p in phases) and loop.time() < deadline:
            self._settled_one.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled_one.wait(), deadline - loop.time())

    def _mark(self, event: str, phase: Phase, **extra: Any) -> None:
        line = {"event": event, "phase": phase.name, "kind": phase.kind, "rate": phase.rate}
        print(json.dumps(line | {"at": time.time()} | extra), flush=True)

    async def _mark_after(self, delay_s: float, event: str, phase: Phase) -> None:
        await asyncio.sleep(delay_s)
        self._mark(event, phase)

    # ----------------------------------------------------------------------- load

    async def _arrivals(self, phase: Phase, started: float) -> None:
        loop = asyncio.get_running_loop()
        total = round(phase.rate * phase.duration_s)
        sent = 0
        while sent < total:
            due = min(total, math.floor((loop.time() - started) * phase.rate) + 1)
            while sent < due:
                phase.lag_ms.append((loop.time() - started - sent / phase.rate) * 1000)
                await self._launch(phase)
                sent += 1
            await asyncio.sleep(started + sent / phase.rate - loop.time())

    async def _gets(self, phase: Phase, started: float, rate: float) -> None:
        loop = asyncio.get_running_loop()
        total, done = round(rate * phase.duration_s), 0
        while done < total:
            await asyncio.sleep(started + done / rate - loop.time())
            done += 1
            while self._recent and self._recent[0][0] < loop.time() - RECENT_S:
                self._recent.popleft()
            if self._recent:
                _, execution_id = self._recent[self._rng.randrange(len(self._recent))]
                self._spawn(self._get(phase, execution_id))

    async def _sample_inflight(self, phase: Phase, started: float) -> None:
        loop = asyncio.get_running_loop()
        while (elapsed := loop.time() - started) < phase.duration_s:
            phase.inflight.append((elapsed, phase.in_flight))
            await asyncio.sleep(INFLIGHT_SAMPLE_S)

    async def _launch(self, phase: Phase) -> None:
        # Spread exactly: the share that parks is then the classifier's doing, not chance.
        self._approval_credit += self._config.approval_share
        needs_approval = self._approval_credit >= 1
        self._approval_credit -= needs_approval
        text = ticket(self._rng, needs_approval)
        phase.sent += 1
        phase.intended_parked += needs_approval
        if self._rng.random() < self._config.http_share:
            phase.sent_http += 1
            self._spawn(self._start_http(phase, needs_approval, text))
        else:
            await self._start_kafka(phase, needs_approval, text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # The loop keeps only weak references to tasks: hold them until done.
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (error := task.exception()) is None:
            return
        if self._failure is not None and not self._failure.done():
            self._failure.set_exception(error)

    @contextlib.asynccontextmanager
    async def _slot(self, phase: Phase) -> AsyncIterator[None]:
        """One of the capped outstanding HTTP requests; waiting for one is counted."""
        if self._slots.locked():
            phase.cap_hits += 1
        async with self._slots:
            yield

    async def _send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        async with self._http.request(method, API + path, data=body) as response:
            return response.status, await response.read()

    async def _start_http(self, phase: Phase, needs_approval: bool, text: str) -> None:
        body = json.dumps({"workflow_id": self._config.workflow_id, "inputs": {"ticket": text}})
        async with self._slot(phase):
            sent_at = time.time()
            try:
                status, reply = await self._send("POST", "/executions", body.encode())
            except HTTP_ERRORS as exc:
                self._http_start_failed(phase, f"start {type(exc).__name__}")
                return
        if status != 202:
            self._http_start_failed(phase, f"start {status}")
            return
        execution = Execution(phase, "http", needs_approval, sent_at)
        self._register(json.loads(reply)["id"], execution)

    async def _start_kafka(self, phase: Phase, needs_approval: bool, text: str) -> None:
        config = self._config
        execution_id = f"exec_{uuid.uuid4().hex}"
        value = encode(
            StartExecution(
                execution_id=execution_id,
                tenant_id=config.tenant,
                workflow_id=config.workflow_id,
                inputs={"ticket": text},
                requested_by=config.requested_by,
            )
        )
        self._register(execution_id, Execution(phase, "kafka", needs_approval, time.time()))
        try:
            delivery = await self._producer.send(
                config.requests_topic, value, key=message_key(execution_id)
            )
        except KafkaError as exc:
            self._start_failed(phase, execution_id, f"send {type(exc).__name__}")
            return

        def delivered(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                self._start_failed(phase, execution_id, "send cancelled")
            elif (error := future.exception()) is not None:
                self._start_failed(phase, execution_id, f"send {type(error).__name__}")

        delivery.add_done_callback(delivered)

    def _http_start_failed(self, phase: Phase, error: str) -> None:
        phase.start_failed += 1
        phase.error(error)
        self._settled_one.set()

    def _start_failed(self, phase: Phase, execution_id: str, error: str) -> None:
        if self._live.pop(execution_id, None) is not None:
            phase.start_failed += 1
            self._settled_one.set()
        phase.error(error)

    def _register(self, execution_id: str, execution: Execution) -> None:
        self._live[execution_id] = execution
        self._recent.append((asyncio.get_running_loop().time(), execution_id))
        for raw in self._orphans.pop(execution_id, ()):
            self._on_event(execution_id, execution, event_from_json(raw))

    async def _approve(self, execution_id: str, execution: Execution) -> None:
        phase = execution.phase
        loop = asyncio.get_running_loop()
        give_up = loop.time() + APPROVE_RETRY_FOR_S
        path = f"/executions/{execution_id}/approve"
        while True:
            async with self._slot(phase):
                # Before sending: the execution may end before the answer is read.
                execution.approve_sent_at = time.time()
                try:
                    status, reply = await self._send("POST", path, APPROVE_BODY)
                except HTTP_ERRORS as exc:
                    phase.error(f"approve {type(exc).__name__}")
                    return
            if status == 202:
                return
            not_yet = status in (404, 409) and json.loads(reply)["error"]["code"] in (
                "execution_not_found",
                "not_awaiting_approval",
            )
            if not (not_yet and loop.time() < give_up):
                phase.error(f"approve {status}")
                return
            phase.approve_retries += 1
            await asyncio.sleep(APPROVE_RETRY_DELAY_S)

    async def _get(self, phase: Phase, execution_id: str) -> None:
        async with self._slot(phase):
            started = time.perf_counter()
            try:
                status, _ = await self._send("GET", f"/executions/{execution_id}")
            except HTTP_ERRORS as exc:
                phase.error(f"get {type(exc).__name__}")
                return
            elapsed_ms = (time.perf_counter() - started) * 1000
        if status == 200:
            phase.get_ms.append(elapsed_ms)
        elif status == 404:
            phase.get_404 += 1
        else:
            phase.error(f"get {status}")

    # ----------------------------------------------------------------------- events

    async def _consume(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self._on_record(record.value)

    def _on_record(self, value: bytes) -> None:
        raw = json.loads(value)
        execution_id = raw["execution_id"]
        execution = self._live.get(execution_id)
        if execution is not None:
            self._on_event(execution_id, execution, event_from_json(raw))
        elif execution_id not in self._ended:
            self._orphans.setdefault(execution_id, []).append(raw)

    def _on_event(self, execution_id: str, execution: Execution, event: Event) -> None:
        execution.events.append(event)
        if event.kind == "step_awaiting_approval" and not execution.approving:
            execution.approving = True
            self._spawn(self._approve(execution_id, execution))
        elif event.kind == "step_failed":
            execution.phase.error("step failed")
        elif event.kind == "execution_ended":
            self._finish(execution_id, execution, event)

    def _finish(self, execution_id: str, execution: Execution, ended: Event) -> None:
        del self._live[execution_id]
        self._ended.add(execution_id)
        self._settled_one.set()
        phase = execution.phase
        phase.ended += 1
        if phase.window_start <= ended.occurred_at <= phase.window_end:
            phase.ended_in_window += 1
            phase.ended_in_steady += ended.occurred_at >= phase.steady_start
        if ended.status != "completed":
            phase.error(f"ended {ended.status}")
            return
        trace = Trace(execution.sent_at, execution.events, execution.approve_sent_at)
        try:
            metrics = extract(trace)
        except IncompleteTrace as exc:
            phase.error(f"incomplete events: {exc}")
            return
        phase.parked += metrics.parked
        phase.parked_unintended += metrics.parked and not execution.needs_approval
        phase.unparked_intended += execution.needs_approval and not metrics.parked
        phase.record(metrics)

    # ----------------------------------------------------------------------- results

    def results(self) -> dict[str, Any]:
        lost = [
            {
                "id": execution_id,
                "phase": execution.phase.name,
                "via": execution.via,
                "sent_at": execution.sent_at,
                "events": [f"{e.kind} {e.step_id or ''}".strip() for e in execution.events],
                "approve_sent_at": execution.approve_sent_at,
            }
            for execution_id, execution in self._live.items()
        ]
        return {
            "phases": [phase.to_json() for phase in self.phases],
            "sustained_rate": self.sustained_rate,
            # Includes HTTP starts never answered, which have no id.
            "lost": sum(phase.in_flight for phase in self.phases),
            # What the services' logs and MongoDB can tell more about.
            "lost_executions": lost[:LOST_DETAILS],
            "orphans": len(self._orphans),
        }


async def _events_consumer(config: LoadConfig) -> AIOKafkaConsumer:
    """A group-less consumer on every partition of the events topic, at its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=EVENTS_FETCH_MAX_WAIT_MS,
    )
    await consumer.start()
    await consumer.topics()  # refreshes metadata
    partitions = [
        TopicPartition(config.events_topic, p)
        for p in sorted(consumer.partitions_for_topic(config.events_topic) or ())
    ]
    if not partitions:
        await consumer.stop()
        raise RuntimeError(f"topic {config.events_topic} has no partitions")
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)  # resolved now, before any load
    return consumer


async def generate(config: LoadConfig) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                config.base_url,
                connector=aiohttp.TCPConnector(limit=config.max_outstanding),
                headers={
                    "Authorization": f"Bearer {config.api_key}",
                    "Content-Type": "application/json",
                },
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
            )
        )
        producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap, acks="all", linger_ms=0)
        await producer.start()
        stack.push_async_callback(producer.stop)
        consumer = await _events_consumer(config)
        stack.push_async_callback(consumer.stop)
        generator = LoadGenerator(config, http, producer, consumer)
        await generator.run()
        return generator.results()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.bench.loadgen CONFIG.json")
    config = LoadConfig(**json.loads(Path(sys.argv[1]).read_text()))
    results = uvloop.run(generate(config))
    Path(config.results_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
