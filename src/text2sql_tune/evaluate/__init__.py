"""Evaluate: score a text-to-SQL model on a golden set, lint the golden set, judge results.

- :class:`Evaluator` / :func:`evaluate_predictions`: validity, correctness and an error breakdown.
- :func:`lint_golden`: check a golden set before trusting its scores.
- :mod:`~text2sql_tune.evaluate.judges`: the execution-match, LLM and cascade judges.
"""

from __future__ import annotations

from typing import Any

from . import evaluator as _evaluator
from .evaluator import (
    Evaluator,
    aevaluate_predictions,
    categorize_error,
    evaluate_predictions,
    read_predictions,
)
from .golden_lint import GoldenFinding, GoldenLintReport, Severity, alint_golden, lint_golden

__all__ = [
    "Evaluator",
    "GoldenFinding",
    "GoldenLintReport",
    "Severity",
    "aevaluate_predictions",
    "alint_golden",
    "categorize_error",
    "evaluate_predictions",
    "lint_golden",
    "read_predictions",
]


def __getattr__(name: str) -> Any:
    if name == "ERROR_CATEGORIES":  # deprecated, warns from the evaluator module
        return _evaluator.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
