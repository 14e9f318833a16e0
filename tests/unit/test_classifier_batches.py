"""The built-in classifier takes a batch's tickets in one model pass, and a ticket the
model cannot take fails its own step only."""

from collections.abc import Sequence

import pytest

from orchestrate_classifier import app
from orchestrate_classifier.model import Classification, classify_many
from orchestrate_contracts.messages import Usage


def test_a_batch_is_classified_like_single_tickets() -> None:
    tickets = [
        "I have been waiting for my refund for 3 weeks. Order #12345. This is unacceptable!",
        "Please send me the invoice for my order 555, thanks!",
    ]
    assert classify_many(tickets) == [classify_many([t])[0] for t in tickets]


async def test_a_failing_ticket_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def fragile(tickets: Sequence[str]) -> list[tuple[Classification, Usage]]:
        if "poison" in tickets:
            raise ValueError("the model cannot take this ticket")
        return classify_many(tickets)

    monkeypatch.setattr(app, "classify_many", fragile)
    results = await app.classify_batch(["Where is my order 42?", "poison", "Refund please"])
    assert isinstance(results[1], ValueError)
    assert [type(r) for r in (results[0], results[2])] == [tuple, tuple]
    assert results[0] == classify_many(["Where is my order 42?"])[0]
