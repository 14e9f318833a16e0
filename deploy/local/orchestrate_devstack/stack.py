"""The whole system on one machine: broker, mongod and the five services as separate
processes, wired by environment variables exactly as in production.

`make run` and the end-to-end tests both use it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrate_contracts.topics import DEFAULT_PARTITIONS, Topics

from .infra import InfraError, create_topics, free_port

SERVICES = ("ledger", "classifier", "escalation", "responder", "gateway")


@dataclass(frozen=True)
class Wiring:
    """Where the services find the infrastructure, and how they are namespaced."""

    kafka_bootstrap_servers: str
    mongo_url: str
    topic_prefix: str = ""
    db_prefix: str = "orchestrate_"
    gateway_port: int = 8080
    # Health ports of the other services (their /healthz and /readyz).
    health_ports: dict[str, int] = field(
        default_factory=lambda: {name: free_port() for name in SERVICES if name != "gateway"}
    )
    # A local single-node broker needs no long failure detection: groups form in ~1 s.
    kafka_session_timeout_ms: int = 3_000
    kafka_heartbeat_interval_ms: int = 300
    # Where records arrive after a pause, Tansu answers the waiting fetch some
    # 0.4 x this wait later (Kafka answers at once), so this bounds a quiet system's
    # latency per hop; shorter waits cost CPU, as idle consumers poll more often and
    # Tansu spends ~1 ms of CPU on each request (docs/PERFORMANCE.md).
    kafka_fetch_max_wait_ms: int = 100
    # How long a consumer's idle poll waits before the next (a busy one never waits).
    kafka_batch_timeout_ms: int = 20
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def ready_url(self, service: str) -> str:
        port = self.gateway_port if service == "gateway" else self.health_ports[service]
        return f"http://127.0.0.1:{port}/readyz"

    def env(self) -> dict[str, str]:
        groups = {
            "CLASSIFIER_GROUP": "classifier",
            "RESPONDER_GROUP": "responder",
            "ESCALATION_GROUP": "escalation",
            "ESCALATION_DECISIONS_GROUP": "escalation-decisions",
            "LEDGER_GROUP": "ledger",
            "ENGINE_GROUP": "engine",
            "INGRESS_GROUP": "ingress",
        }
        values = (
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
                "MONGO_URL": self.mongo_url,
                "TOPIC_PREFIX": self.topic_prefix,
                "GATEWAY_DB": f"{self.db_prefix}gateway",
                "LEDGER_DB": f"{self.db_prefix}ledger",
                "ESCALATION_DB": f"{self.db_prefix}escalation",
                "PORT": str(self.gateway_port),
                **{
                    f"{name.upper()}_HEALTH_PORT": str(port)
                    for name, port in self.health_ports.items()
                },
                "KAFKA_SESSION_TIMEOUT_MS": str(self.kafka_session_timeout_ms),
                "KAFKA_HEARTBEAT_INTERVAL_MS": str(self.kafka_heartbeat_interval_ms),
                "KAFKA_FETCH_MAX_WAIT_MS": str(self.kafka_fetch_max_wait_ms),
                "KAFKA_BATCH_TIMEOUT_MS": str(self.kafka_batch_timeout_ms),
            }
            | {name: f"{self.topic_prefix}orchestrate-{group}" for name, group in groups.items()}
            | self.extra
        )
        return {f"ORCHESTRATE_{name}": value for name, value in values.items()}

    def create_topics(self) -> None:
        topics = dict.fromkeys(self.topics.all(), DEFAULT_PARTITIONS)
        # In a thread of its own: callers may already run an event loop (test fixtures).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(create_topics, self.kafka_bootstrap_servers, topics).result()


class Service:
    """One service as a child process, logging to a file."""

    def __init__(self, name: str, wiring: Wiring, log_dir: Path, instance: int = 1) -> None:
        self.name = name
        self.wiring = wiring
        # Further instances of a service join the same consumer groups.
        self.log_path = log_dir / (f"{name}.log" if instance == 1 else f"{name}-{instance}.log")
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"orchestrate_{self.name}"],
            env=os.environ | self.wiring.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._end(signal.SIGKILL, 5.0)

    def _end(self, sig: signal.Signals, timeout: float) -> int | None:
        process = self._process
        code = None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
        if self._log is not None:
            self._log.close()
        self._process, self._log = None, None
        return code


class Stack:
    """The five services over given infrastructure."""

    def __init__(self, wiring: Wiring, log_dir: Path) -> None:
        self.wiring = wiring
        self.services = {name: Service(name, wiring, log_dir) for name in SERVICES}

    def start(self, ready_timeout: float = 60.0) -> None:
        self.wiring.create_topics()
        for service in self.services.values():
            service.start()
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until every service answers its readiness check."""
        deadline = time.monotonic() + timeout
        waiting = list(self.services)
        while waiting:
            dead = [s.name for s in self.services.values() if not s.running]
            if dead:
                raise InfraError(f"services exited: {', '.join(dead)}; see {self.log_dir()}")
            waiting = [name for name in waiting if not _answers(self.wiring.ready_url(name))]
            if waiting and time.monotonic() > deadline:
                raise InfraError(
                    f"not ready after {timeout:.0f} s: {', '.join(waiting)}; see {self.log_dir()}"
                )
            if waiting:
                time.sleep(0.1)

    def log_dir(self) -> Path:
        return next(iter(self.services.values())).log_path.parent

    def stop(self) -> None:
        # The gateway first, so that no new work enters while the workers drain.
        for name in reversed(SERVICES):
            self.services[name].stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def pick_port(preferred: int) -> int:
    """The preferred port if free, else any free one."""
    try:
        with socket.socket() as probe:
            # Servers bind with SO_REUSEADDR: a port in TIME_WAIT is free for them.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", preferred))
        return preferred
    except OSError:
        return free_port()
