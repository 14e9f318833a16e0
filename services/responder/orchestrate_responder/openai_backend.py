"""The openai backend: any OpenAI-compatible chat-completions endpoint drafts the reply.

The system prompt (which a workflow step may replace) carries the rules a support lead
would give: promise a remedy only when a person approved it.
"""

import json
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from orchestrate_contracts.chat import ChatMessage, ChatRequest, ChatResponse
from orchestrate_contracts.messages import Usage

from .model import Draft, count_tokens

SYSTEM_PROMPT = (
    "You are a courteous customer-support agent of an online shop with subscriptions. "
    "Write the reply to the customer's ticket, using the classification, the order "
    "number and the escalation outcome you are given. If the outcome is 'approved', you "
    "may promise what was asked; if it is 'rejected', say kindly that it cannot be "
    "approved as asked and that the team will explain the options; otherwise promise "
    "nothing beyond the next step. Mention the order number when there is one. End with "
    "a courteous sign-off from the Customer Support Team. Answer with the reply only."
)


class ModelCallError(Exception):
    """The endpoint failed or gave no reply."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str | None
    timeout_s: float


async def write_with_openai(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    draft: Draft,
    model: str,
    system_prompt: str | None,
) -> tuple[str, Usage]:
    facts = {
        "ticket": draft.ticket,
        "category": draft.category,
        "sentiment": draft.sentiment,
        "order_number": draft.order_number,
        "amount": draft.amount,
        "escalation_outcome": draft.outcome,
        "approver_notes": draft.approver_notes,
    }
    messages = [
        ChatMessage(role="system", content=system_prompt or SYSTEM_PROMPT),
        ChatMessage(role="user", content=json.dumps(facts, ensure_ascii=False)),
    ]
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    try:
        reply = await client.post(
            f"{endpoint.base_url.rstrip('/')}/chat/completions",
            json=ChatRequest(model=model, messages=messages).model_dump(exclude_none=True),
            headers=headers,
            timeout=endpoint.timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ModelCallError(f"{type(exc).__name__} calling the model endpoint") from exc
    if reply.status_code >= 400:
        status = reply.status_code
        raise ModelCallError(f"the model endpoint answered HTTP {status}: {reply.text[:300]}")
    try:
        response = ChatResponse.model_validate_json(reply.content)
    except ValidationError as exc:
        raise ModelCallError(f"the model endpoint sent no chat completion: {exc}") from exc
    text = (response.choices[0].message.content or "").strip()
    if not text:
        raise ModelCallError("the model answered with an empty reply")
    if response.usage is not None:
        usage = Usage(
            model=model,
            input_tokens=response.usage.prompt_tokens,
            output_tokens=response.usage.completion_tokens,
        )
    else:  # the server reported none: count what was sent and received
        sent = sum(count_tokens(m.content) for m in messages)
        usage = Usage(model=model, input_tokens=sent, output_tokens=count_tokens(text))
    return text, usage
