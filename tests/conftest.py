"""Shared fixtures: real infrastructure for integration and end-to-end tests.

Where the environment names a broker and MongoDB (ORCHESTRATE_TEST_KAFKA and
ORCHESTRATE_TEST_MONGO_URL) they are used; where a Docker engine answers,
testcontainers starts Apache Kafka and MongoDB; otherwise the local binaries that
the `local` extra installs (Tansu and mongod) are started.
"""

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrate_devstack import MongoServer, TansuBroker

MEASUREMENTS: list[str] = []


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    mongo_url: str
    broker: TansuBroker | None = None
    mongo: MongoServer | None = None


def _docker_engine_available() -> bool:
    """True when a Docker engine answers /_ping on its socket (DOCKER_HOST or the default)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").partition(":")
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (name, int(port or 2375))
        else:
            return False
        with probe:
            probe.settimeout(3)
            probe.connect(address)
            probe.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = probe.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
    except OSError:
        return False


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    kafka = os.environ.get("ORCHESTRATE_TEST_KAFKA")
    mongo_url = os.environ.get("ORCHESTRATE_TEST_MONGO_URL")
    if kafka and mongo_url:
        yield Infra(kafka, mongo_url)
        return
    if _docker_engine_available():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

        with KafkaContainer().with_kraft() as kafka_box, MongoDbContainer("mongo:7") as mongo_box:
            yield Infra(kafka_box.get_bootstrap_server(), mongo_box.get_connection_url())
        return
    workdir = tmp_path_factory.mktemp("infra")
    with TansuBroker(workdir / "kafka") as broker, MongoServer(workdir / "mongo") as mongo:
        yield Infra(broker.bootstrap_servers, mongo.url, broker, mongo)


@pytest.fixture
def namespace() -> str:
    """A prefix for this test's own topics, consumer groups and databases."""
    return f"t{uuid.uuid4().hex[:10]}_"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASUREMENTS:
        terminalreporter.section("measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"
