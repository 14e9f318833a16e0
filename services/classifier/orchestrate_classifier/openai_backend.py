"""The openai backend: any OpenAI-compatible chat-completions endpoint classifies.

The answer must be one JSON object that validates against `Answer`; an answer that
does not is sent back with the validation errors, a bounded number of times.
"""

import json
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, Field, ValidationError, field_validator

from orchestrate_contracts.chat import ChatMessage, ChatRequest, ChatResponse
from orchestrate_contracts.messages import Usage

from .model import Classification, count_tokens, extract_entities
from .training import CATEGORIES, PRIORITIES, SENTIMENTS

SYSTEM_PROMPT = (
    "You triage customer-support tickets of an online shop with subscriptions. "
    "Answer with one JSON object and nothing else: "
    f'{{"category": one of {list(CATEGORIES)}, "priority": one of {list(PRIORITIES)}, '
    f'"sentiment": one of {list(SENTIMENTS)}, "confidence": a number from 0 to 1}}. '
    "Priority: urgent for fraud, unauthorised charges, legal threats, safety or account "
    "takeover; high for money owed long overdue, repeated failures, frustrated or angry "
    "customers, service down; low for feedback and general questions; medium otherwise."
)


class ModelCallError(Exception):
    """The endpoint failed or never gave a valid answer."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str | None
    timeout_s: float


class Answer(BaseModel):
    category: str
    priority: str
    sentiment: str
    confidence: float = Field(default=0.5, ge=0, le=1)

    @field_validator("category", "priority", "sentiment")
    @classmethod
    def _known(cls, value: str, info: object) -> str:
        allowed = {"category": CATEGORIES, "priority": PRIORITIES, "sentiment": SENTIMENTS}
        field = getattr(info, "field_name", "")
        if value not in allowed[field]:
            raise ValueError(f"{value!r} is not one of {list(allowed[field])}")
        return value


async def chat(client: httpx.AsyncClient, endpoint: Endpoint, request: ChatRequest) -> ChatResponse:
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    try:
        reply = await client.post(
            f"{endpoint.base_url.rstrip('/')}/chat/completions",
            json=request.model_dump(exclude_none=True),
            headers=headers,
            timeout=endpoint.timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ModelCallError(f"{type(exc).__name__} calling the model endpoint") from exc
    if reply.status_code >= 400:
        raise ModelCallError(
            f"the model endpoint answered HTTP {reply.status_code}: {reply.text[:300]}"
        )
    try:
        return ChatResponse.model_validate_json(reply.content)
    except ValidationError as exc:
        raise ModelCallError(f"the model endpoint sent no chat completion: {exc}") from exc


async def classify_with_openai(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    ticket: str,
    model: str,
    system_prompt: str | None,
    answer_attempts: int,
) -> tuple[Classification, Usage]:
    messages = [
        ChatMessage(role="system", content=system_prompt or SYSTEM_PROMPT),
        ChatMessage(role="user", content=ticket),
    ]
    tokens_in = tokens_out = 0
    problem = ""
    for _ in range(answer_attempts):
        request = ChatRequest(
            model=model, messages=messages, response_format={"type": "json_object"}
        )
        response = await chat(client, endpoint, request)
        content = response.choices[0].message.content or ""
        if response.usage is not None:
            tokens_in += response.usage.prompt_tokens
            tokens_out += response.usage.completion_tokens
        else:  # the server reported none: count what was sent and received
            tokens_in += sum(count_tokens(m.content) for m in messages)
            tokens_out += count_tokens(content)
        try:
            answer = Answer.model_validate_json(content)
        except ValidationError as exc:
            problem = json.dumps([e["msg"] for e in exc.errors(include_url=False)])
            messages += [
                ChatMessage(role="assistant", content=content),
                ChatMessage(
                    role="user",
                    content=f"That answer is not valid: {problem}. Answer again with the JSON "
                    "object only.",
                ),
            ]
            continue
        classification = Classification(
            category=answer.category,
            priority=answer.priority,
            sentiment=answer.sentiment,
            entities=extract_entities(ticket),
            confidence=round(answer.confidence, 2),
        )
        return classification, Usage(model=model, input_tokens=tokens_in, output_tokens=tokens_out)
    raise ModelCallError(f"no valid answer in {answer_attempts} attempts; last: {problem}")
