"""Property-based run of the gateway's own OpenAPI document (schemathesis): for schema-
valid and schema-invalid requests alike, no 500 and no answer that breaks the schema."""

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from pymongo import MongoClient

from orchestrate_devstack.stack import Stack
from orchestrate_gateway.stores import hash_key

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    """A key made the way KeyStore makes them, with the synchronous driver."""
    token = "rv_test_schemathesis" + "x" * 20
    client: MongoClient[dict[str, object]] = MongoClient(stack.wiring.mongo_url)
    try:
        client[f"{stack.wiring.db_prefix}gateway"]["api_keys"].update_one(
            {"_id": "key_schemathesis"},
            {
                "$set": {
                    "owner_email": "fuzz@acme.test",
                    "tenant_id": "fuzz",
                    "prefix": token[:12],
                    "created_at": datetime.now(UTC),
                    "revoked_at": None,
                    "hash": hash_key(token),
                }
            },
            upsert=True,
        )
    finally:
        client.close()
    return token


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_the_api_keeps_its_openapi_contract(
    stack: Stack, token: str, mode: schemathesis.GenerationMode
) -> None:
    base_url = stack.wiring.base_url
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    # An operation the document describes badly would be an Err here: fail on it.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.label for op in operations} >= {
        "POST /v1/orchestrate/executions",
        "GET /v1/orchestrate/executions/{execution_id}",
        "POST /v1/orchestrate/executions/{execution_id}/approve",
    }
    tested = 0
    for operation in operations:
        if mode is schemathesis.GenerationMode.NEGATIVE and not operation.path.startswith("/v1/"):
            continue  # the health endpoints take no input to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def conforms(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

        conforms()
        tested += 1
    assert tested >= 5
