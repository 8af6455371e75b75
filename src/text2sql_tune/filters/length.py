"""SQLLengthFilter: drop pairs whose SQL is too long to be a training example (or to lex fast)."""

from __future__ import annotations

from collections.abc import Sequence

from ..interfaces import DatasetFilter
from ..records import MAX_SQL_LENGTH, FilterDecision, QAPair
from ._common import drop, keep

__all__ = ["SQLLengthFilter"]


class SQLLengthFilter(DatasetFilter):
    """Drops pairs whose SQL is longer than ``max_length`` characters.

    It runs first in :func:`~text2sql_tune.filters.default_filters`, so no later filter tokenises
    such SQL (lexing 10 MB of SQL takes many seconds). Only the length is looked at.

    Args:
        max_length: Longest SQL kept, in characters.

    Reasons:
        ``sql_too_long``: the SQL is longer than ``max_length`` (detail: its length).
    """

    name = "sql_length"

    def __init__(self, max_length: int = MAX_SQL_LENGTH) -> None:
        if max_length < 1:
            raise ValueError("max_length must be >= 1")
        self.max_length = max_length

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Keep pairs whose SQL is at most ``max_length`` characters long."""
        kept = keep(self.name)
        return [
            kept
            if len(pair.sql) <= self.max_length
            else drop(
                self.name,
                "sql_too_long",
                f"{len(pair.sql):,} characters, over the limit of {self.max_length:,}",
            )
            for pair in pairs
        ]
