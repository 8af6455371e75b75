"""Model prices for cost estimates, overridable by the user.

Prices are USD per one million tokens, input (prompt) and output (completion). The defaults are
OpenAI's published list prices for common chat models at the time of writing; they change, so
pass your own :class:`PriceTable` (or :meth:`PriceTable.set` a model) when the estimate matters.
Cached-input discounts and batch prices are not modelled: the estimate is an upper bound.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigurationError

__all__ = ["DEFAULT_PRICES", "ModelPrice", "PriceTable"]


class ModelPrice(BaseModel):
    """The price of one model.

    Attributes:
        input_per_1m: USD per one million prompt tokens.
        output_per_1m: USD per one million completion tokens.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for the given token counts."""
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-2024-05-13": (5.0, 15.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}
"""Default USD prices per 1M (input, output) tokens, by model name."""


class PriceTable:
    """Per-model prices; looks dated snapshots up under their family name.

    A model is found by its exact name, else by the longest known name it starts with followed by
    ``-`` (so ``gpt-4o-2024-08-06`` costs like ``gpt-4o`` and ``gpt-4o-mini-2024-07-18`` like
    ``gpt-4o-mini``). Fine-tuned models (``ft:...``) and local models are unknown unless you add
    them: their cost is ``None``.

    Args:
        prices: ``{model: (input_per_1m, output_per_1m)}`` or ``{model: ModelPrice}``; these
            override the defaults.
        include_defaults: Start from :data:`DEFAULT_PRICES` (set ``False`` for a table with only
            your own prices).

    Example:
        >>> table = PriceTable({"my-llama": (0.0, 0.0)})
        >>> table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0)
        0.15
        >>> table.cost("unknown-model", 10, 10) is None
        True
    """

    def __init__(
        self,
        prices: Mapping[str, tuple[float, float] | ModelPrice] | None = None,
        *,
        include_defaults: bool = True,
    ) -> None:
        self._prices: dict[str, ModelPrice] = {}
        if include_defaults:
            for model, (inp, out) in DEFAULT_PRICES.items():
                self.set(model, inp, out)
        for model, price in (prices or {}).items():
            if isinstance(price, ModelPrice):
                self._prices[model] = price
            else:
                self.set(model, *price)

    @classmethod
    def from_file(cls, path: str | Path, *, include_defaults: bool = True) -> PriceTable:
        """Read prices from a JSON file ``{"model": [input_per_1m, output_per_1m], ...}``.

        Raises:
            ConfigurationError: The file is missing or not in that shape.
        """
        try:
            data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
            prices = {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
            raise ConfigurationError(
                f"{path}: expected a JSON object {{model: [input_per_1m, output_per_1m]}}: {exc}"
            ) from exc
        return cls(prices, include_defaults=include_defaults)

    def set(self, model: str, input_per_1m: float, output_per_1m: float) -> None:
        """Add or replace the price of ``model`` (USD per 1M input / output tokens)."""
        self._prices[model] = ModelPrice(input_per_1m=input_per_1m, output_per_1m=output_per_1m)

    def get(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (exact name, else its longest known family), or ``None``."""
        if model in self._prices:
            return self._prices[model]
        best: str | None = None
        for known in self._prices:
            if model.startswith(known + "-") and (best is None or len(known) > len(best)):
                best = known
        return self._prices[best] if best is not None else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Estimated USD for one call, or ``None`` when the model's price is unknown."""
        price = self.get(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    def models(self) -> list[str]:
        """The model names with a price, sorted."""
        return sorted(self._prices)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None
