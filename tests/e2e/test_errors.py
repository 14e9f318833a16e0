"""Every error case of the HTTP API, in its one JSON shape."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from orchestrate_devstack.stack import Stack
from orchestrate_gateway.stores import KeyStore

from .conftest import Keys
from .test_triage import SEED_TICKET, TRIAGE, auth, start, wait_status

pytestmark = pytest.mark.e2e


ENDPOINTS: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/executions/exec_0123456789abcdef", None),
    ("POST", "/executions", {"workflow_id": TRIAGE, "inputs": {"ticket": "hi"}}),
    ("POST", "/executions/exec_0123456789abcdef/approve", {"approved": True}),
    ("GET", "/workflows", None),
    ("GET", f"/workflows/{TRIAGE}", None),
]


def error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer rv_live_doesnotexist0000000000000000000000000000"},
        {"Authorization": "Bearer sk_live_wrongprefix"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_requests_without_a_valid_key_get_401(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path, body in ENDPOINTS:
        reply = await api.request(method, path, headers=headers, json=body)
        error(reply, 401, "unauthorized")
        assert reply.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_gets_401_everywhere(api: httpx.AsyncClient, keys: Keys) -> None:
    for method, path, body in ENDPOINTS:
        reply = await api.request(method, path, headers=auth(keys.revoked), json=body)
        error(reply, 401, "unauthorized")


async def test_unknown_and_foreign_executions_are_the_same_404(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    execution_id = await start(api, keys.acme, SEED_TICKET)
    await wait_status(api, keys.acme, execution_id, "awaiting_approval")
    missing = error(
        await api.get("/executions/exec_ffffffffffffffff", headers=auth(keys.globex)),
        404,
        "execution_not_found",
    )
    foreign = error(
        await api.get(f"/executions/{execution_id}", headers=auth(keys.globex)),
        404,
        "execution_not_found",
    )
    assert missing["message"].replace("exec_ffffffffffffffff", "X") == foreign["message"].replace(
        execution_id, "X"
    )
    # Nor can another tenant decide it.
    error(
        await api.post(
            f"/executions/{execution_id}/approve",
            headers=auth(keys.globex),
            json={"approved": True},
        ),
        404,
        "execution_not_found",
    )
    reply = await api.get(f"/executions/{execution_id}", headers=auth(keys.acme))
    assert reply.json()["status"] == "awaiting_approval"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"inputs": {"ticket": "hi"}}',
        b'{"workflow_id": "wf_customer_support_triage"}',
        b'{"workflow_id": "wf_customer_support_triage", "inputs": "ticket"}',
        b'{"workflow_id": 7, "inputs": {"ticket": "hi"}}',
    ],
)
async def test_malformed_start_bodies_get_422(
    api: httpx.AsyncClient, keys: Keys, content: bytes
) -> None:
    headers = auth(keys.acme) | {"Content-Type": "application/json"}
    details = error(
        await api.post("/executions", headers=headers, content=content), 422, "validation_error"
    )["details"]
    assert details and all({"loc", "msg", "type"} <= set(d) for d in details)


async def test_inputs_that_do_not_fit_the_workflow_get_422(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    reply = await api.post(
        "/executions",
        headers=auth(keys.acme),
        json={"workflow_id": TRIAGE, "inputs": {"ticket": "", "x": 1}},
    )
    details = error(reply, 422, "invalid_inputs")["details"]
    assert {d["input"] for d in details} == {"ticket", "x"}


async def test_an_unknown_workflow_gets_404(api: httpx.AsyncClient, keys: Keys) -> None:
    reply = await api.post(
        "/executions",
        headers=auth(keys.acme),
        json={"workflow_id": "wf_nope", "inputs": {"ticket": "hi"}},
    )
    error(reply, 404, "workflow_not_found")


async def test_approving_what_does_not_wait_gets_409(api: httpx.AsyncClient, keys: Keys) -> None:
    ticket = "Could you send me the invoice for my last order please? Thanks"
    execution_id = await start(api, keys.acme, ticket)
    await wait_status(api, keys.acme, execution_id, "completed")
    reply = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": True, "notes": "late"},
    )
    error(reply, 409, "not_awaiting_approval")


async def test_a_second_decision_gets_409_and_changes_nothing(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    execution_id = await start(api, keys.acme, SEED_TICKET)
    await wait_status(api, keys.acme, execution_id, "awaiting_approval")
    first = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": True, "notes": "first"},
    )
    assert first.status_code == 202
    second = await api.post(
        f"/executions/{execution_id}/approve",
        headers=auth(keys.acme),
        json={"approved": False, "notes": "second"},
    )
    assert second.status_code == 409
    assert second.json()["error"]["code"] in {"already_decided", "not_awaiting_approval"}
    done = await wait_status(api, keys.acme, execution_id, "completed")
    assert done["steps"][1]["output"]["approved"] is True
    assert done["steps"][1]["output"]["notes"] == "first"


@pytest.mark.parametrize("body", [{}, {"approved": "yes"}, {"approved": True, "notes": "x" * 4001}])
async def test_malformed_decisions_get_422(
    api: httpx.AsyncClient, keys: Keys, body: dict[str, object]
) -> None:
    reply = await api.post(
        "/executions/exec_0123456789abcdef/approve", headers=auth(keys.acme), json=body
    )
    error(reply, 422, "validation_error")


async def test_a_body_over_the_limit_gets_413(api: httpx.AsyncClient, keys: Keys) -> None:
    body = {"workflow_id": TRIAGE, "inputs": {"ticket": "x" * (200 * 1024)}}
    error(
        await api.post("/executions", headers=auth(keys.acme), json=body), 413, "payload_too_large"
    )

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"workflow_id": "wf_customer_support_triage", "inputs": {"ticket": "'
        for _ in range(50):
            yield b"y" * 8192
        yield b'"}}'

    headers = auth(keys.acme) | {"Content-Type": "application/json"}
    error(
        await api.post("/executions", headers=headers, content=streamed()), 413, "payload_too_large"
    )


@pytest.mark.parametrize("depth", [17, 5_000])
async def test_deeply_nested_inputs_are_refused(
    api: httpx.AsyncClient, keys: Keys, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    content = f'{{"workflow_id": "{TRIAGE}", "inputs": {{"ticket": {nested}}}}}'.encode()
    headers = auth(keys.acme) | {"Content-Type": "application/json"}
    reply = await api.post("/executions", headers=headers, content=content)
    assert reply.status_code in (400, 422)
    assert reply.json()["error"]["code"] in ("validation_error", "malformed_body")


@pytest.mark.parametrize(
    "inputs",
    [
        {"ticket": {"$ne": None}},
        {"$where": "sleep(1000)"},
        {"ticket": "hi", "$gt": ""},
    ],
)
async def test_operator_shaped_inputs_are_only_data(
    api: httpx.AsyncClient, keys: Keys, inputs: dict[str, object]
) -> None:
    reply = await api.post(
        "/executions", headers=auth(keys.acme), json={"workflow_id": TRIAGE, "inputs": inputs}
    )
    error(reply, 422, "invalid_inputs")
    for path in ('/executions/{"$ne": null}', "/executions/[$ne]=1"):
        error(await api.get(path, headers=auth(keys.acme)), 404, "execution_not_found")


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    api: httpx.AsyncClient, keys: Keys, stack: Stack
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.wiring.mongo_url)
    try:
        store = KeyStore(client[f"{stack.wiring.db_prefix}gateway"]["api_keys"])
        busy, _ = await store.create(
            "busy@acme.test", "acme", rate_limit_per_s=1, rate_limit_burst=5
        )
    finally:
        await client.close()
    # This key may make 5 requests at once, then 1 a second.
    replies = await asyncio.gather(*(api.get("/workflows", headers=auth(busy)) for _ in range(20)))
    assert all(r.status_code in (200, 429) for r in replies)
    limited = [r for r in replies if r.status_code == 429]
    assert 14 <= len(limited) <= 15  # 5 of the burst, plus at most one refilled token
    body = error(limited[0], 429, "rate_limited")
    assert body["message"].startswith("too many requests")
    assert int(limited[0].headers["retry-after"]) >= 1
    # Other keys keep their own budget.
    assert (await api.get("/workflows", headers=auth(keys.acme))).status_code == 200
