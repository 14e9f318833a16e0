"""Crash safety: SIGKILL each service in turn, or restart mongod, while executions are
in flight; every execution still completes exactly once in the ledger."""

import asyncio
import signal
import time
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import SERVICES, Stack
from tests.conftest import MEASUREMENTS, Infra
from tests.faults.driver import Load
from tests.support import wait_for

pytestmark = pytest.mark.faults


@pytest.mark.timeout(300)
async def test_every_execution_completes_once_while_services_are_killed(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    load = Load(stack, mongo, count=200)
    kills: list[str] = []

    async def kill_each_service(_: httpx.AsyncClient) -> None:
        for name in SERVICES:
            await asyncio.sleep(1.5)  # spread the kills over the submission window
            service = stack.services[name]
            service.kill()
            kills.append(name)
            service.start()
        await asyncio.to_thread(stack.wait_ready, 60)

    await load.run(kill_each_service)
    await load.verify_exactly_once()
    assert kills == list(SERVICES)
    MEASUREMENTS.append(
        f"crash faults: {load.count} executions in flight ({len(load.parked)} parked for "
        f"approval), SIGKILL+restart of {', '.join(kills)}; completed {len(load.docs)}, "
        "lost 0, duplicated 0"
    )


@pytest.mark.timeout(300)
async def test_every_execution_completes_once_across_a_mongod_restart(
    infra: Infra, stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    if infra.mongo is None:
        pytest.skip("mongod is not ours to restart (external or container)")
    server = infra.mongo
    load = Load(stack, mongo, count=100)
    outage: list[int] = []

    async def restart_mongod(api: httpx.AsyncClient) -> None:
        await wait_for(
            lambda: asyncio.sleep(0, len(load.ids)), lambda n: n >= 30, what="work in flight"
        )
        await asyncio.to_thread(server.stop)

        async def status() -> int:
            try:
                return (await api.get("/executions/exec_00000000000000000")).status_code
            except httpx.TransportError:
                return 0

        # The gateway notices: it answers 503, not 500, while MongoDB is away.
        outage.append(await wait_for(status, lambda s: s == 503, what="a 503 during the outage"))
        await asyncio.to_thread(server.start)

    await load.run(restart_mongod)
    await load.verify_exactly_once()
    assert outage == [503]
    MEASUREMENTS.append(
        f"mongod restart: {load.count} executions in flight ({len(load.parked)} parked), "
        f"mongod stopped and restarted; completed {len(load.docs)}, lost 0, duplicated 0"
    )


@pytest.mark.timeout(300)
async def test_sigterm_drains_each_service_within_its_bound(
    stack: Stack, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    load = Load(stack, mongo, count=100)
    stops: dict[str, tuple[int | None, float]] = {}

    async def stop_each_service(_: httpx.AsyncClient) -> None:
        for name in SERVICES:
            await asyncio.sleep(1.0)
            service = stack.services[name]
            began = time.monotonic()
            code = await asyncio.to_thread(service.stop, 15.0)
            stops[name] = (code, time.monotonic() - began)
            service.start()
        await asyncio.to_thread(stack.wait_ready, 60)

    await load.run(stop_each_service)
    await load.verify_exactly_once()
    # Each exited by itself within its 10 s shutdown bound, never needing SIGKILL (uvicorn
    # re-raises the SIGTERM it handled once it has shut down, hence -15).
    assert all(code in (0, -signal.SIGTERM) for code, _ in stops.values()), stops
    assert all(seconds < 12 for _, seconds in stops.values()), stops
    slowest = max(seconds for _, seconds in stops.values())
    MEASUREMENTS.append(
        f"graceful shutdown: SIGTERM to each service under load of {load.count}: none needed "
        "SIGKILL, "
        f"slowest in {slowest:.1f} s; completed {len(load.docs)}, lost 0, duplicated 0"
    )
