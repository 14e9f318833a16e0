"""The built-in classifier: a statistical model trained on the labelled tickets it ships."""

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from orchestrate_classifier.model import MODEL, classify, count_tokens, extract_entities, warm_up
from orchestrate_classifier.training import (
    CATEGORIES,
    PRIORITIES,
    SENTIMENTS,
    Example,
    TicketModel,
    held_out_split,
    load_examples,
    load_or_train,
)

SEED_REFUND = "I have been waiting for my refund for 2 weeks. Order #12345. This is unacceptable!"
SEED_INVOICE = "Hi, could you send me a copy of the invoice for my last purchase? Thanks!"


@pytest.fixture(scope="module")
def split() -> tuple[list[Example], list[Example]]:
    return held_out_split(load_examples())


@pytest.fixture(scope="module")
def trained(split: tuple[list[Example], list[Example]]) -> TicketModel:
    """Fitted from scratch on the train split only."""
    train, _ = split
    return TicketModel.fit(train)


def test_the_seed_refund_ticket() -> None:
    result, usage = classify(SEED_REFUND)
    assert (result.category, result.priority, result.sentiment) == ("refund", "high", "frustrated")
    assert result.entities == {"order_number": "12345", "waiting_days": 14}
    assert 0.5 < result.confidence <= 1.0
    assert usage.model == MODEL == "builtin-classifier-v1"
    assert usage.input_tokens == count_tokens(SEED_REFUND)
    assert usage.output_tokens == 3 + count_tokens("12345") + count_tokens("14")


def test_a_polite_request_for_an_invoice_copy_is_low_priority() -> None:
    result, _ = classify(SEED_INVOICE)
    assert (result.category, result.priority) == ("invoice", "low")


@pytest.mark.parametrize(
    "ticket",
    [
        SEED_INVOICE,
        "Please send me the invoice for my order, thanks!",
        "Could you send me the invoice for my last order please? Thanks",
    ],
)
def test_invoice_requests(ticket: str) -> None:
    assert classify(ticket)[0].category == "invoice"


@pytest.mark.parametrize(
    ("ticket", "category"),
    [
        ("I've been wating for my refnd for 2 weeks. Ordr #12345. This is unaceptable!", "refund"),
        ("hi cuold u send me a coppy of the invioce for my last purchse? thx", "invoice"),
        ("my pakage hasnt arived yet, its been 10 days", "shipping"),
        ("i forgott my pasword and cant log inn", "account"),
        ("plz cancle my subscripton", "cancellation"),
        ("my card was chraged twice for the same ordr", "payment"),
    ],
)
def test_misspelled_tickets(ticket: str, category: str) -> None:
    assert classify(ticket)[0].category == category


def test_held_out_accuracy(
    split: tuple[list[Example], list[Example]], trained: TicketModel
) -> None:
    _, test = split
    predictions = trained.predict_many([e.text for e in test])
    hits = sum(e.category == p.category for e, p in zip(test, predictions, strict=True))
    assert hits / len(test) >= 0.9


def test_the_held_out_split_is_fixed_grouped_and_stratified(
    split: tuple[list[Example], list[Example]],
) -> None:
    train, test = split
    assert held_out_split(load_examples()) == split
    # Variants of one phrasing (a template, a hand-written message and its noisy copy)
    # never straddle the split.
    assert not {e.group for e in train} & {e.group for e in test}
    held_out = Counter(e.category for e in test)
    total = Counter(e.category for e in train + test)
    assert all(0.15 <= held_out[c] / total[c] <= 0.25 for c in CATEGORIES)


def test_the_shipped_data_covers_the_taxonomy() -> None:
    examples = load_examples()
    assert len(examples) >= 1500
    per_category = Counter(e.category for e in examples)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 120
    assert {e.priority for e in examples} == set(PRIORITIES)
    assert {e.sentiment for e in examples} == set(SENTIMENTS)
    assert len({e.text for e in examples}) == len(examples)


def test_training_is_deterministic(split: tuple[list[Example], list[Example]]) -> None:
    train, test = split
    texts = [e.text for e in test[:100]]
    first = TicketModel.fit(train[::5]).probabilities(texts)
    second = TicketModel.fit(train[::5]).probabilities(texts)
    for head, probabilities in first.items():
        assert np.array_equal(probabilities, second[head])


def test_fast_scoring_matches_scikit_learn(
    split: tuple[list[Example], list[Example]], trained: TicketModel
) -> None:
    _, test = split
    texts = [e.text for e in test] + ["", "?!"]
    ours = trained.probabilities(texts)
    reference = trained.reference_probabilities(texts)
    for head, probabilities in ours.items():
        np.testing.assert_allclose(probabilities, reference[head], rtol=0, atol=1e-12)


def test_classify_is_fast_after_warm_up(split: tuple[list[Example], list[Example]]) -> None:
    warm_up()
    tickets = [e.text for e in split[1][:200]]
    started = time.perf_counter()
    for ticket in tickets:
        classify(ticket)
    per_ticket_s = (time.perf_counter() - started) / len(tickets)
    # About a millisecond on an idle machine; generous for a busy CI runner.
    assert per_ticket_s < 0.02


def test_the_fitted_model_is_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "tickets.jsonl"
    rows = [
        {"text": e.text, "category": e.category, "priority": e.priority, "sentiment": e.sentiment}
        for e in load_examples()[::10]
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_or_train(data, cache)
    assert len(list(cache.glob("classifier-*.pickle"))) == 1

    def no_training(*_: object) -> TicketModel:
        raise AssertionError("trained again instead of loading the cached model")

    monkeypatch.setattr(TicketModel, "fit", no_training)
    second = load_or_train(data, cache)
    assert second.predict(SEED_REFUND) == first.predict(SEED_REFUND)


def test_a_cache_that_cannot_be_written_only_costs_the_cache(tmp_path: Path) -> None:
    data = tmp_path / "tickets.jsonl"
    rows = [
        {"text": e.text, "category": e.category, "priority": e.priority, "sentiment": e.sentiment}
        for e in load_examples()[::10]
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    not_a_directory = tmp_path / "occupied"
    not_a_directory.write_text("a file where the cache directory would go")
    model = load_or_train(data, not_a_directory)
    assert model.predict(SEED_REFUND).category in CATEGORIES


@pytest.mark.parametrize(
    ("ticket", "entities"),
    [
        ("Order no. 558120, I paid 89 USD on March 3rd", {"order_number": "558120"}),
        ("You only refunded €45.90 but I paid €91.80", {"amount": "€45.90"}),
        ("charged 1.299,00 € on 2024-11-02", {"amount": "1.299,00 €", "date": "2024-11-02"}),
        ("refund of ₹4,599, waiting three weeks", {"amount": "₹4,599", "waiting_days": 21}),
        ("order ID KX-99812 placed on 5 October 2024", {"order_number": "KX-99812"}),
        ("Is support available 24/7?", {}),
    ],
)
def test_entities(ticket: str, entities: dict[str, str | int]) -> None:
    found = extract_entities(ticket)
    assert {key: found[key] for key in entities if key in found} == entities
