"""When row order matters: does the question ask for an order, and what does the reference sort by.

Row order is compared only when the reference query sorts its result *and* the question asks for an
order or a top-N ("top 3", "ranked", "highest first"); otherwise a result is a set of facts whose
order carries no meaning. Rows tied on the reference's sort key may come in any order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ...sql.dialects import Dialect

__all__ = ["question_asks_for_order", "reference_order"]

_ORDER_WORDS = re.compile(
    r"\b(top|top-\d+|order(ed)?|sort(ed)?|rank(ed|ing)?|descending|ascending|highest|lowest|"
    r"largest|smallest|biggest|most|least|best|worst|first\s+\d+|last\s+\d+|"
    r"chronological(ly)?)\b",
    re.IGNORECASE,
)


def question_asks_for_order(question: str) -> bool:
    """True when the question asks for an ordering or a top-N (``"top 5"``, ``"highest"``...)."""
    return _ORDER_WORDS.search(question) is not None


def reference_order(
    sql: str, columns: Sequence[str], dialect: Dialect | str = "clickhouse"
) -> tuple[bool, list[int] | None]:
    """Whether the outermost query has an ``ORDER BY``, and the result columns it sorts by.

    Args:
        sql: The reference statement.
        columns: Its result's column names, in order.
        dialect: The statement's dialect (its sqlglot parser reads it).

    Returns:
        ``(orders, key)``: ``key`` lists result column indexes of the sort key, or is ``None`` when
        a sort expression is not a result column (ties cannot be told apart then).
    """
    read = Dialect.get(dialect).sqlglot_dialect
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except SqlglotError:
        return ("order by" in sql.lower(), None)
    order = tree.args.get("order")
    if not isinstance(order, exp.Order) or not order.expressions:
        return (False, None)
    select = tree if isinstance(tree, exp.Select) else None
    projections = list(select.expressions) if select is not None else []
    by_alias = {p.alias_or_name.lower(): i for i, p in enumerate(projections)}
    by_sql = {p.unalias().sql(read).lower(): i for i, p in enumerate(projections)}
    lowered = [c.lower() for c in columns]
    usable = len(projections) == len(columns) and not any(
        isinstance(p, exp.Star) for p in projections
    )
    key: list[int] = []
    for ordered in order.expressions:
        target = ordered.this
        index: int | None = None
        if isinstance(target, exp.Literal) and not target.is_string:
            position = int(target.name) - 1
            index = position if 0 <= position < len(columns) else None
        elif isinstance(target, exp.Column) and target.name.lower() in lowered:
            index = lowered.index(target.name.lower())
        elif usable:
            name = target.alias_or_name.lower() if isinstance(target, exp.Column) else ""
            index = by_alias.get(name, by_sql.get(target.sql(read).lower()))
        if index is None:
            return (True, None)
        key.append(index)
    return (True, key)
