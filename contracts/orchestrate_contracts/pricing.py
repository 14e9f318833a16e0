"""The versioned price catalogue (prices.json) that turns token usage into cost.

Prices are USD per million tokens, so tokens x price is exactly micro-dollars: the
cost of a step is an integer number of micro-dollars and sums never drift.
"""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field

from .messages import Usage


class ModelPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    # Built-in models run locally; their price is a stand-in for the compute they use.
    notional: bool = False


class PriceCatalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    models: dict[str, ModelPrice]

    def cost_usd_micros(self, usage: Usage) -> int:
        price = self.models.get(usage.model)
        if price is None:
            raise KeyError(f"model {usage.model!r} is not in price catalogue {self.version}")
        micros = usage.input_tokens * price.input + usage.output_tokens * price.output
        return int(micros.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@cache
def price_catalogue() -> PriceCatalogue:
    raw = files(__package__).joinpath("prices.json").read_text()
    return PriceCatalogue.model_validate_json(raw)
