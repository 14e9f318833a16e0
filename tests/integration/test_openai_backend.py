"""The openai backends against a local server speaking the chat-completions wire format:
usage counts, answers that do not validate, HTTP errors, timeouts, malformed bodies."""

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from orchestrate_classifier.app import Models, run, run_with_retries
from orchestrate_classifier.openai_backend import (
    Endpoint,
    ModelCallError,
    classify_with_openai,
)
from orchestrate_contracts.messages import PriorStep, RunStep, StepCompleted, StepFailed
from orchestrate_contracts.workflow import ModelChoice
from orchestrate_gateway.stores import shipped_workflows
from orchestrate_responder.app import Models as ResponderModels
from orchestrate_responder.app import run as responder_run
from orchestrate_responder.openai_backend import Endpoint as ResponderEndpoint
from orchestrate_responder.openai_backend import ModelCallError as ResponderModelCallError
from tests.fake_openai import FakeOpenAI, Reply, classification, fake_openai

pytestmark = pytest.mark.integration

TICKET = "I have been waiting for my refund for 2 weeks. Order #12345. This is unacceptable!"
TRIAGE = next(w for w in shipped_workflows() if w.id == "wf_customer_support_triage")
T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def endpoint(server: FakeOpenAI, timeout_s: float = 5.0) -> Endpoint:
    return Endpoint(server.base_url, "sk-test", timeout_s)


async def test_an_answer_is_validated_and_its_usage_recorded(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    server.script = [Reply(classification(), usage=(61, 17))]
    result, usage = await classify_with_openai(
        client, endpoint(server), TICKET, "gpt-4o-mini", None, 3
    )
    assert (result.category, result.priority, result.sentiment) == ("refund", "high", "frustrated")
    assert result.entities["order_number"] == "12345"  # extracted from the ticket itself
    assert (usage.model, usage.input_tokens, usage.output_tokens) == ("gpt-4o-mini", 61, 17)
    (request,) = server.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert request["messages"][1]["content"] == TICKET
    assert request["authorization"] == "Bearer sk-test"


async def test_an_invalid_answer_is_sent_back_and_every_call_counted(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    server.script = [
        Reply(classification(category="refunds-please")),
        Reply("Sure! Here is the JSON you asked for"),
        Reply(classification(priority="urgent")),
    ]
    result, usage = await classify_with_openai(
        client, endpoint(server), TICKET, "gpt-4o-mini", "Classify this.", 3
    )
    assert result.priority == "urgent"
    assert (usage.input_tokens, usage.output_tokens) == (150, 30)
    assert server.requests[0]["messages"][0]["content"] == "Classify this."
    correction = server.requests[1]["messages"][-1]["content"]
    assert correction.startswith("That answer is not valid") and "refunds-please" in correction


async def test_answers_that_never_validate_fail_after_the_bound(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    server.script = [Reply("{}")] * 3
    with pytest.raises(ModelCallError, match="no valid answer in 3 attempts"):
        await classify_with_openai(client, endpoint(server), TICKET, "gpt-4o-mini", None, 3)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(status=500), "HTTP 500"),
        (Reply(status=429), "HTTP 429"),
        (Reply(raw=b"<html>bad gateway</html>"), "no chat completion"),
        (Reply(raw=b'{"choices": []}'), "no chat completion"),
        (Reply(classification(), delay_s=2.0), "ReadTimeout"),
    ],
)
async def test_endpoint_failures_are_model_call_errors(
    server: FakeOpenAI, client: httpx.AsyncClient, reply: Reply, message: str
) -> None:
    server.script = [reply]
    with pytest.raises(ModelCallError, match=message):
        await classify_with_openai(
            client, endpoint(server, timeout_s=0.5), TICKET, "gpt-4o-mini", None, 3
        )


async def test_missing_usage_is_counted_with_the_tokenizer(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    server.script = [Reply(classification(), usage=None)]
    _, usage = await classify_with_openai(client, endpoint(server), TICKET, "m", None, 3)
    assert usage.input_tokens > 21 and usage.output_tokens > 5


def task(choice: ModelChoice | None) -> RunStep:
    step = TRIAGE.step("step_1").model_copy(update={"model": choice})
    return RunStep(
        event_id="exec_0123456789abcdef:step_1",
        execution_id="exec_0123456789abcdef",
        tenant_id="acme",
        occurred_at=T0,
        workflow_id=TRIAGE.id,
        step=step,
        inputs={"ticket": TICKET},
    )


async def test_the_workflow_step_chooses_the_backend_and_the_step_is_priced(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    models = Models("builtin", "gpt-4o-mini", endpoint(server), client, 3)
    # A transient HTTP error, retried by the agent, then an answer.
    server.script = [Reply(status=503), Reply(classification(), usage=(1000, 500))]
    choice = ModelChoice(backend="openai", model="gpt-4o")
    outcome = await run_with_retries(
        lambda t, s: run(t, s, models), task(choice), T0, attempts=3, first_delay_s=0
    )
    assert isinstance(outcome, StepCompleted)
    assert outcome.usage is not None and outcome.usage.model == "gpt-4o"
    assert outcome.cost_usd_micros == 1000 * 2.5 + 500 * 10  # gpt-4o per 1M tokens
    assert [r["model"] for r in server.requests] == ["gpt-4o", "gpt-4o"]
    # Without a choice on the step, the settings' backend (builtin) classifies offline.
    offline = await run(task(None), T0, models)
    assert isinstance(offline, StepCompleted) and offline.usage is not None
    assert offline.usage.model == "builtin-classifier-v1" and len(server.requests) == 2


async def test_a_lasting_endpoint_failure_fails_the_step(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    models = Models("openai", "gpt-4o-mini", endpoint(server), client, 3)
    server.script = [Reply(status=500)] * 3
    outcome = await run_with_retries(
        lambda t, s: run(t, s, models), task(None), T0, attempts=3, first_delay_s=0
    )
    assert isinstance(outcome, StepFailed)
    assert "HTTP 500" in outcome.error and "after 3 attempts" in outcome.error


def responder_task(choice: ModelChoice | None, approved: bool) -> RunStep:
    step = TRIAGE.step("step_3").model_copy(update={"model": choice})
    decision = {
        "approved": approved,
        "approved_by": "ops@acme.test",
        "notes": "ok",
        "decided_by": "person",
    }
    return RunStep(
        event_id="exec_0123456789abcdef:step_3",
        execution_id="exec_0123456789abcdef",
        tenant_id="acme",
        occurred_at=T0,
        workflow_id=TRIAGE.id,
        step=step,
        inputs={"ticket": TICKET},
        previous=(
            PriorStep(
                step_id="step_1",
                agent="classifier",
                output={
                    "category": "refund",
                    "sentiment": "frustrated",
                    "entities": {"order_number": "12345"},
                },
            ),
            PriorStep(step_id="step_2", agent="escalation", output=decision),
        ),
    )


async def test_the_responder_drafts_with_the_workflows_prompt_and_facts(
    server: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    models = ResponderModels(
        "builtin", "gpt-4o-mini", ResponderEndpoint(server.base_url, None, 5), client
    )
    server.script = [Reply("Hello, your refund for Order #12345 is approved.", usage=(300, 40))]
    choice = ModelChoice(backend="openai", system_prompt="Reply in one sentence.")
    outcome = await responder_run(responder_task(choice, approved=True), T0, models)
    assert isinstance(outcome, StepCompleted)
    assert outcome.output == {"response": "Hello, your refund for Order #12345 is approved."}
    assert outcome.usage is not None
    assert (outcome.usage.model, outcome.usage.input_tokens, outcome.usage.output_tokens) == (
        "gpt-4o-mini",
        300,
        40,
    )
    assert outcome.cost_usd_micros == 300 * 0.15 + 40 * 0.60
    (request,) = server.requests
    assert request["messages"][0] == {"role": "system", "content": "Reply in one sentence."}
    facts = json.loads(request["messages"][1]["content"])
    assert facts["escalation_outcome"] == "approved" and facts["order_number"] == "12345"
    assert request["authorization"] is None  # no key configured: no header


@pytest.mark.parametrize("reply", [Reply(status=502), Reply(""), Reply(raw=b"nope")])
async def test_responder_endpoint_failures_are_errors(
    server: FakeOpenAI, client: httpx.AsyncClient, reply: Reply
) -> None:
    models = ResponderModels(
        "openai", "gpt-4o-mini", ResponderEndpoint(server.base_url, "k", 5), client
    )
    server.script = [reply]
    with pytest.raises(ResponderModelCallError):
        await responder_run(responder_task(None, approved=False), T0, models)
