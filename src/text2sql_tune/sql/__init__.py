"""SQL as text: pull it out of an answer, tokenize it, normalise it, profile what it uses.

- :func:`extract_sql`: the SQL statement in a model's answer (code fences, prose around it).
- :mod:`~text2sql_tune.sql.tokens`: sqlglot's tokenizer (dialect ``clickhouse`` unless named).
- :mod:`~text2sql_tune.sql.walk`: the one token walker (brackets, calls, tables, clauses).
- :func:`normalize_sql`: the key under which the same query in other spelling compares equal.
- :func:`profile_sql`: tables, columns, clauses and functions a statement uses.
- :func:`~text2sql_tune.sql.concepts.sql_concepts`: the concepts the analysis compares
  (filters, periods, group keys, measures).

Engine-specific knowledge lives in :mod:`text2sql_tune.sql.dialects`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extract import extract_sql
    from .normalize import normalize_question, normalize_sql
    from .profile import SQLProfile, profile_sql

__all__ = ["SQLProfile", "extract_sql", "normalize_question", "normalize_sql", "profile_sql"]

# Imported on first use: the dialects (needed by every executor) must not load sqlglot.
_HOMES = {
    "SQLProfile": "profile",
    "extract_sql": "extract",
    "normalize_question": "normalize",
    "normalize_sql": "normalize",
    "profile_sql": "profile",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
