"""Helpers the built-in filters share: decisions and short details."""

from __future__ import annotations

from ..records import FilterDecision, OutcomeStatus, QAPair

__all__ = ["drop", "keep", "shorten", "validated_ok"]

_DETAIL_LENGTH = 200


def keep(name: str) -> FilterDecision:
    """A "keep" decision by filter ``name``."""
    return FilterDecision(keep=True, filter=name)


def drop(name: str, reason: str, detail: str | None = None) -> FilterDecision:
    """A "drop" decision by filter ``name`` with a groupable ``reason``."""
    return FilterDecision(keep=False, filter=name, reason=reason, detail=detail)


def shorten(text: str, limit: int = _DETAIL_LENGTH) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def validated_ok(pair: QAPair) -> bool:
    """True when the pair's SQL was validated and ran with an acceptable row count."""
    return pair.validation is not None and pair.validation.status is OutcomeStatus.OK
