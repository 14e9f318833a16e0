"""Cost and duration arithmetic: exact micro-dollars, INR at the fixed rate."""

from datetime import UTC, datetime

import pytest

from orchestrate_contracts.messages import Usage
from orchestrate_contracts.pricing import ModelPrice, PriceCatalogue, price_catalogue
from orchestrate_gateway.views import cost, iso
from orchestrate_ledger.projection import elapsed_ms, to_ms


def test_tokens_times_price_per_million_is_micro_dollars() -> None:
    catalogue = PriceCatalogue(
        version="t",
        models={"m": ModelPrice(input="0.15", output="0.60")},
    )
    usage = Usage(model="m", input_tokens=1_000, output_tokens=500)
    assert catalogue.cost_usd_micros(usage) == 450  # 1000*0.15 + 500*0.60
    assert catalogue.cost_usd_micros(Usage(model="m", input_tokens=1, output_tokens=0)) == 0
    assert catalogue.cost_usd_micros(Usage(model="m", input_tokens=4, output_tokens=0)) == 1


def test_unknown_models_are_an_error() -> None:
    with pytest.raises(KeyError, match="not in price catalogue"):
        price_catalogue().cost_usd_micros(Usage(model="nope", input_tokens=1, output_tokens=1))


def test_shipped_catalogue_prices_the_builtin_models() -> None:
    catalogue = price_catalogue()
    assert {"builtin-classifier-v1", "builtin-responder-v1"} <= set(catalogue.models)


def test_sums_of_micro_dollars_do_not_drift() -> None:
    # 0.1 + 0.2 style drift would show here with floats.
    total = sum([100_000, 200_000])
    assert cost(total, "88.00").usd == 0.3
    assert cost(1_550, "88.00").model_dump() == {"usd": 0.00155, "inr": 0.1364}
    assert cost(0, "88.00").model_dump() == {"usd": 0.0, "inr": 0.0}
    assert cost(1_234_567, "83.3333").model_dump() == {"usd": 1.234567, "inr": 102.8805}


def test_durations_and_timestamps() -> None:
    start = datetime(2026, 2, 1, 10, 30, 0, 999_999, tzinfo=UTC)
    end = datetime(2026, 2, 1, 10, 30, 2, 1_000, tzinfo=UTC)
    assert to_ms(start).microsecond == 999_000
    assert elapsed_ms(to_ms(start), to_ms(end)) == 1_002
    assert elapsed_ms(end, start) == 0
    assert iso(datetime(2026, 2, 1, 10, 30, tzinfo=UTC)) == "2026-02-01T10:30:00Z"
