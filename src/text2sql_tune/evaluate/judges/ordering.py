"""What the reference's ``ORDER BY`` and ``LIMIT`` say: its sort key, its top rows, its ties.

Row order is compared only when the reference query sorts its result *and* the question asks for
an order (:mod:`~text2sql_tune.evaluate.judges.question`); otherwise a result is a set of facts
whose order carries no meaning. Rows tied on the reference's sort key may come in any order, and
when the reference keeps its top N rows, the rows tied with the N-th may take its place
(:func:`top_rows` gives the query that finds them: ``LIMIT N WITH TIES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ...sql.dialects import Dialect
from .question import question_asks_for_order

__all__ = [
    "KEY_PREFIX",
    "TopRows",
    "question_asks_for_order",
    "reference_order",
    "rounded_to",
    "top_rows",
]

KEY_PREFIX = "__t2s_key"
"""Name prefix of the sort-key columns :func:`top_rows` appends to the query with ties."""


@dataclass(frozen=True)
class TopRows:
    """A reference that keeps its first ``limit`` rows in the order of its ``ORDER BY``.

    Attributes:
        limit: How many rows it keeps.
        with_ties: The same query with ``LIMIT n WITH TIES`` (it also returns the rows tied
            with the n-th), its sort keys appended as the last ``keys`` columns; ``None`` when
            it cannot be written (a ``DISTINCT`` on other columns, say).
        keys: How many sort-key columns ``with_ties`` appends.
    """

    limit: int
    with_ties: str | None
    keys: int


def _parse(sql: str, dialect: Dialect | str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read=Dialect.get(dialect).sqlglot_dialect)
    except SqlglotError:
        return None


def top_rows(sql: str, dialect: Dialect | str = "clickhouse") -> TopRows | None:
    """The reference's top-N shape: an outer ``ORDER BY ... LIMIT n`` (no ``BY``, no offset).

    Args:
        sql: The reference statement.
        dialect: Its dialect.

    Returns:
        The :class:`TopRows`, or ``None`` when the outer query keeps no top rows.
    """
    tree = _parse(sql, dialect)
    if not isinstance(tree, exp.Select):
        return None
    limit, order = tree.args.get("limit"), tree.args.get("order")
    if not isinstance(limit, exp.Limit) or not isinstance(order, exp.Order):
        return None
    count = limit.args.get("expression")
    options = limit.args.get("limit_options")
    if (
        limit.expressions
        or tree.args.get("offset") is not None
        or limit.args.get("offset") is not None
        or (options is not None and options.args.get("with_ties"))
        or not isinstance(count, exp.Literal)
        or count.is_string
        or not count.name.isdigit()
        or (isinstance(tree.args.get("group"), exp.Group) and tree.args["group"].args.get("totals"))
    ):
        return None
    return TopRows(int(count.name), _with_ties(tree, order, dialect), len(order.expressions))


def _with_ties(tree: exp.Select, order: exp.Order, dialect: Dialect | str) -> str | None:
    write = Dialect.get(dialect).sqlglot_dialect
    projections = list(tree.expressions)
    keys: list[exp.Expression] = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and not key.is_string and key.name.isdigit():
            position = int(key.name) - 1
            if not 0 <= position < len(projections):
                return None
            key = projections[position].unalias()
        keys.append(key)
    shown = {p.unalias().sql(write) for p in projections} | {p.alias_or_name for p in projections}
    if tree.args.get("distinct") is not None and any(k.sql(write) not in shown for k in keys):
        return None  # the extra columns would change what DISTINCT keeps
    tied = tree.copy()
    limit = tied.args["limit"]
    limit.set("limit_options", exp.LimitOptions(with_ties=True))
    tied = tied.select(
        *(key.copy().as_(f"{KEY_PREFIX}{i}") for i, key in enumerate(keys)), copy=False
    )
    try:
        return tied.sql(write)
    except SqlglotError:
        return None


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
    tree = _parse(sql, dialect)
    if tree is None:
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


def rounded_to(sql: str, dialect: Dialect | str = "clickhouse") -> int | None:
    """The fewest decimal places a ``round(x, d)`` in ``sql`` keeps (``None``: no rounding)."""
    tree = _parse(sql, dialect)
    if tree is None:
        return None
    places: list[int] = []
    for node in tree.find_all(exp.Round):
        decimals = node.args.get("decimals")
        if decimals is None:
            places.append(0)
        elif isinstance(decimals, exp.Literal) and decimals.name.isdigit():
            places.append(int(decimals.name))
    return min(places) if places else None
