"""The five services as separate processes over the real broker and mongod."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack import free_port
from orchestrate_devstack.stack import Stack, Wiring
from orchestrate_gateway.stores import KeyStore

from ..conftest import Infra


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    namespace = f"e{uuid.uuid4().hex[:8]}"
    wiring = Wiring(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        mongo_url=infra.mongo_url,
        topic_prefix=f"{namespace}.",
        db_prefix=f"{namespace}_",
        gateway_port=free_port(),
    )
    running = Stack(wiring, tmp_path_factory.mktemp("services"))
    running.start()
    yield running
    running.stop()


@dataclass(frozen=True)
class Keys:
    acme: str
    acme_email: str
    globex: str
    revoked: str


@pytest.fixture(scope="session")
async def keys(stack: Stack) -> AsyncIterator[Keys]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        stack.wiring.mongo_url, tz_aware=True
    )
    store = KeyStore(client[f"{stack.wiring.db_prefix}gateway"]["api_keys"])
    await store.ensure_indexes()
    acme, _ = await store.create("ops@acme.test", "acme")
    globex, _ = await store.create("ops@globex.test", "globex", live=False)
    revoked, record = await store.create("former@acme.test", "acme")
    assert await store.revoke(record.id)
    yield Keys(acme=acme, acme_email="ops@acme.test", globex=globex, revoked=revoked)
    await client.close()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{stack.wiring.base_url}/v1/orchestrate", timeout=10
    ) as client:
        yield client
