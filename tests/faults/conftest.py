"""A stack of its own for each fault test: they kill and restart things."""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack import free_port
from orchestrate_devstack.stack import Stack, Wiring
from tests.conftest import Infra


@pytest.fixture
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    namespace = f"f{uuid.uuid4().hex[:8]}"
    wiring = Wiring(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        mongo_url=infra.mongo_url,
        topic_prefix=f"{namespace}.",
        db_prefix=f"{namespace}_",
        gateway_port=free_port(),
        # Recover lost publishes and fire deadlines quickly, so that tests do not wait.
        extra={
            "STALE_AFTER_S": "4",
            "RECONCILE_INTERVAL_S": "1",
            "DEADLINE_POLL_INTERVAL_S": "0.2",
        },
    )
    running = Stack(wiring, tmp_path_factory.mktemp("fault-services"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def mongo(stack: Stack) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.wiring.mongo_url, tz_aware=True
    )
    yield client
    await client.close()
