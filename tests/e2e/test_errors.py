"""Every error case of the HTTP API, in its one JSON shape."""

from typing import Any

import httpx
import pytest

from .conftest import Keys
from .test_triage import SEED_TICKET, TRIAGE, auth, start, wait_status

pytestmark = pytest.mark.e2e


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
    for method, path, body in [
        ("GET", "/executions/exec_0123456789abcdef", None),
        ("POST", "/executions", {"workflow_id": TRIAGE, "inputs": {"ticket": "hi"}}),
        ("POST", "/executions/exec_0123456789abcdef/approve", {"approved": True}),
        ("GET", "/workflows", None),
    ]:
        reply = await api.request(method, path, headers=headers, json=body)
        error(reply, 401, "unauthorized")
        assert reply.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_gets_401(api: httpx.AsyncClient, keys: Keys) -> None:
    error(await api.get("/workflows", headers=auth(keys.revoked)), 401, "unauthorized")


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
