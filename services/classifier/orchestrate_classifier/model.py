"""The built-in ticket classifier: weighted lexicon scoring over the ticket text.

It reads category, priority and sentiment from the words of the ticket itself and
extracts the entities a reply needs (order number, amount, waiting time).
"""

import re
from dataclasses import dataclass

from orchestrate_contracts.messages import Usage

MODEL = "builtin-classifier-v1"

# Stems and phrases per category, with weights; the highest total wins.
_CATEGORY_TERMS: dict[str, dict[str, float]] = {
    "refund": {"refund": 3, "money back": 3, "reimburs": 2, "return": 1, "credit back": 2},
    "order": {
        "order status": 2,
        "my order": 1,
        "ordered": 1,
        "wrong item": 2,
        "missing item": 2,
        "order": 0.5,
    },
    "payment": {
        "payment": 2,
        "charged": 2,
        "card": 1,
        "declined": 2,
        "double charge": 3,
        "paid": 1,
    },
    "invoice": {"invoice": 3, "receipt": 2, "billing address": 1, "vat": 2, "tax": 1},
    "shipping": {
        "shipping": 2,
        "delivery": 2,
        "deliver": 2,
        "tracking": 2,
        "courier": 2,
        "package": 1,
        "parcel": 2,
        "arrive": 1,
        "shipped": 2,
        "never came": 2,
    },
    "cancellation": {"cancel": 3, "cancellation": 3, "terminate": 2, "close my": 1},
    "account": {
        "password": 3,
        "log in": 2,
        "login": 2,
        "account": 1,
        "email address": 1,
        "sign in": 2,
        "locked": 2,
        "2fa": 2,
    },
    "subscription": {
        "subscription": 3,
        "plan": 1,
        "renew": 2,
        "upgrade": 2,
        "downgrade": 2,
        "membership": 2,
        "trial": 2,
    },
    "technical": {
        "error": 2,
        "bug": 2,
        "crash": 3,
        "not working": 2,
        "broken": 1,
        "app": 1,
        "website": 1,
        "loading": 2,
        "glitch": 2,
    },
    "feedback": {"suggest": 2, "feedback": 3, "love": 1, "great": 1, "improve": 1, "thank": 1},
    "contact": {
        "speak to": 2,
        "phone number": 2,
        "contact": 2,
        "call me": 2,
        "human": 1,
        "manager": 1,
    },
}

_ANGRY = (
    "furious",
    "outrage",
    "scam",
    "fraud",
    "ridiculous",
    "worst",
    "disgusting",
    "lawyer",
    "sue ",
    "never again",
    "rip-off",
    "ripoff",
    "pathetic",
)
_FRUSTRATED = (
    "unacceptable",
    "waiting",
    "still not",
    "still haven",
    "again",
    "frustrat",
    "annoy",
    "fed up",
    "how long",
    "no response",
    "nobody",
    "ignored",
    "weeks",
)
_NEGATIVE = (
    "disappoint",
    "unhappy",
    "problem",
    "issue",
    "broken",
    "wrong",
    "not happy",
    "poor",
    "bad",
)
_POSITIVE = (
    "thank",
    "love",
    "great",
    "awesome",
    "excellent",
    "happy",
    "appreciate",
    "amazing",
    "perfect",
)
_URGENT = (
    "urgent",
    "asap",
    "immediately",
    "right now",
    "emergency",
    "chargeback",
    "lawyer",
    "legal action",
    "fraud",
    "unauthori",
    "stolen",
    "hacked",
)

_ORDER = re.compile(
    r"(?:\border\s*(?:no\.?|number|num|id)?\s*[:#]?\s*#?|#)\s*([A-Z0-9-]*\d[A-Z0-9-]*)",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"(?:[$€£₹]\s?\d[\d,]*(?:\.\d{1,2})?|\d[\d,]*(?:\.\d{1,2})?\s?"
    r"(?:usd|eur|gbp|inr|dollars|euros|rupees))",
    re.IGNORECASE,
)
_WAIT = re.compile(r"(\d+|a|an|one|two|three|four|five|six)\s+(day|week|month)s?", re.IGNORECASE)
_WORDS_AS_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
}
_DAYS_PER_UNIT = {"day": 1, "week": 7, "month": 30}
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    priority: str
    sentiment: str
    entities: dict[str, str | int]
    confidence: float


def count_tokens(text: str) -> int:
    """Word-and-punctuation tokens, the unit the built-in models are priced in."""
    return len(_TOKEN.findall(text))


def _score(text: str, terms: dict[str, float]) -> float:
    return sum(weight * text.count(term) for term, weight in terms.items())


def _hits(text: str, terms: tuple[str, ...]) -> int:
    return sum(1 for term in terms if term in text)


def _sentiment(text: str, raw: str) -> str:
    shouting = sum(1 for w in re.findall(r"\b[A-Z]{3,}\b", raw)) >= 2 or "!!" in raw
    angry = _hits(text, _ANGRY) + (1 if shouting else 0)
    frustrated = _hits(text, _FRUSTRATED)
    negative = _hits(text, _NEGATIVE)
    positive = _hits(text, _POSITIVE)
    if angry >= 2 or (angry and frustrated):
        return "angry"
    if frustrated or angry:
        return "frustrated"
    if negative > positive:
        return "negative"
    if positive:
        return "positive"
    return "neutral"


def _waiting_days(text: str) -> int:
    days = 0
    for amount, unit in _WAIT.findall(text):
        n = int(amount) if amount.isdigit() else _WORDS_AS_NUMBERS[amount.lower()]
        days = max(days, n * _DAYS_PER_UNIT[unit.lower()])
    return days


def _priority(text: str, category: str, sentiment: str, waiting_days: int) -> str:
    if _hits(text, _URGENT):
        return "urgent"
    if sentiment in ("angry", "frustrated") or waiting_days >= 7:
        return "high"
    if category in ("feedback", "other") or sentiment == "positive":
        return "low"
    return "medium"


def _entities(raw: str, waiting_days: int) -> dict[str, str | int]:
    found: dict[str, str | int] = {}
    if order := _ORDER.search(raw):
        found["order_number"] = order.group(1)
    if amount := _AMOUNT.search(raw):
        found["amount"] = amount.group(0)
    if waiting_days:
        found["waiting_days"] = waiting_days
    return found


def classify(ticket: str) -> tuple[Classification, Usage]:
    text = ticket.lower()
    scores = {category: _score(text, terms) for category, terms in _CATEGORY_TERMS.items()}
    total = sum(scores.values())
    category, best = max(scores.items(), key=lambda item: item[1])
    if best == 0:
        category, confidence = "other", 0.0
    else:
        confidence = round(best / total, 2)
    sentiment = _sentiment(text, ticket)
    waiting_days = _waiting_days(text)
    result = Classification(
        category=category,
        priority=_priority(text, category, sentiment, waiting_days),
        sentiment=sentiment,
        entities=_entities(ticket, waiting_days),
        confidence=confidence,
    )
    # Output tokens: the three labels plus the entities emitted.
    usage = Usage(
        model=MODEL,
        input_tokens=count_tokens(ticket),
        output_tokens=3 + sum(count_tokens(str(v)) for v in result.entities.values()),
    )
    return result, usage
