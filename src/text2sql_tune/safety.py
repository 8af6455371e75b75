"""SQL safety guard (placeholder until the foundation work lands: see issue 2)."""

from __future__ import annotations

import re

__all__ = ["SQLGuard", "strip_format_clause"]

_FORMAT_TAIL = re.compile(r"\s+format\s+\w+\s*;?\s*$", re.IGNORECASE)


def strip_format_clause(sql: str) -> str:
    """Remove a trailing ``FORMAT <name>`` clause and semicolon."""
    return _FORMAT_TAIL.sub("", sql.strip()).rstrip().rstrip(";").rstrip()


class SQLGuard:
    """Refuses unsafe SQL before it reaches the engine."""

    def __init__(self, *, dialect: str = "clickhouse") -> None:
        self.dialect = dialect

    def check(self, sql: str) -> str:
        """Return the statement to run, or raise ``UnsafeSQLError``."""
        return strip_format_clause(sql)
