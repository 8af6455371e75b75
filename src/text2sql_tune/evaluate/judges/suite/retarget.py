"""Point a query at the copies of its tables: ``db.sessions`` -> ``scratch.c1a2b_0_sessions``.

The rewrite works on sqlglot's tokens and replaces table names only, so the rest of the query
runs as written. A table keeps its name as an alias (``... AS sessions``) unless the query gave it
one, so columns qualified by the table name still resolve. A table with no copy is left alone:
the guard of the copies allows only the scratch database, so such a query is refused there
rather than reading the real data.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from ....sql.dialects import Dialect
from ....sql.tokens import tokenize
from ....sql.walk import NAMES, TokenWalk

__all__ = ["quote", "retarget"]

# Words that may follow a table name without being its alias (sqlglot reads some as names).
_NOT_ALIASES = frozenset(
    {"FINAL", "SAMPLE", "ARRAY", "GLOBAL", "PREWHERE", "ANY", "ALL", "ASOF", "SEMI", "ANTI"}
    | {"INNER", "LEFT", "RIGHT", "FULL", "CROSS", "PASTE", "LIMIT", "SETTINGS", "WITH"}
)


def quote(name: str) -> str:
    """A ClickHouse identifier in backquotes."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def retarget(
    sql: str,
    tables: Mapping[tuple[str, str], str],
    scratch: str,
    default_database: str,
    dialect: Dialect | str = "clickhouse",
) -> str | None:
    """``sql`` reading the copies of its tables.

    Args:
        sql: The statement.
        tables: ``(database, table)`` of a real table -> the name of its copy.
        scratch: The database holding the copies.
        default_database: The database an unqualified table name means.
        dialect: The statement's dialect.

    Returns:
        The rewritten statement, or ``None`` when it cannot be tokenized.
    """
    try:
        tokens = tokenize(sql, Dialect.get(dialect).sqlglot_dialect)
    except TokenError:
        return None
    kinds = [t.token_type for t in tokens]
    texts = [t.text for t in tokens]
    walk = TokenWalk(kinds, texts)
    ctes = _cte_names(kinds, texts)
    edits: list[tuple[int, int, str]] = []  # (start, end inclusive, replacement)
    handled: set[int] = set()
    for index, kind in enumerate(kinds):
        if kind not in (TokenType.FROM, TokenType.JOIN):
            continue
        span = walk.table_at(index)
        if span is None:
            continue
        start, end = span
        if end - start == 2:
            key = (texts[start], texts[end])
        elif start == end and texts[start] not in ctes:
            key = (default_database, texts[start])
        else:
            continue
        copy = tables.get(key)
        if copy is None:
            continue
        handled.update(range(start, end + 1))
        name = f"{quote(scratch)}.{quote(copy)}"
        if not _has_alias(kinds, texts, end + 1):
            name += f" AS {quote(key[1])}"
        edits.append((tokens[start].start, tokens[end].end, name))
    # db.table.column elsewhere: the table's alias (its own name) qualifies the column now.
    for index in range(len(kinds) - 4):
        if index in handled or kinds[index] not in NAMES or kinds[index + 1] is not TokenType.DOT:
            continue
        column = kinds[index + 2] in NAMES and kinds[index + 3] is TokenType.DOT
        if column and (texts[index], texts[index + 2]) in tables:
            edits.append((tokens[index].start, tokens[index + 1].end, ""))
    text = sql
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end + 1 :]
    return text


def _has_alias(kinds: list[TokenType], texts: list[str], index: int) -> bool:
    if index >= len(kinds):
        return False
    kind = kinds[index]
    return kind is TokenType.ALIAS or (kind in NAMES and texts[index].upper() not in _NOT_ALIASES)


def _cte_names(kinds: list[TokenType], texts: list[str]) -> frozenset[str]:
    """Names defined as ``name AS (`` (common table expressions)."""
    return frozenset(
        texts[i]
        for i in range(len(kinds) - 2)
        if kinds[i] in NAMES
        and kinds[i + 1] is TokenType.ALIAS
        and kinds[i + 2] is TokenType.L_PAREN
    )
