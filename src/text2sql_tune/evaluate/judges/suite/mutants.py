"""Near misses of a reference query, and the constants it compares with.

A test suite is good when it tells the reference apart from the queries a model gets *almost*
right. Following Zhong et al. (EMNLP 2020), the near misses are mutants of the reference:

- a filter dropped (each conjunct of each ``WHERE`` / ``HAVING``);
- a filter added (``column = value`` for a category or flag column of its tables);
- a comparison flipped (``>`` to ``>=`` or ``<``, ``=`` to ``!=``...);
- a constant changed: a unit (x60, /60, x100, /100, x1000), off by one, a date by one day;
- for a ranking (``ORDER BY ... LIMIT``): the direction flipped, or the measure ranked by swapped
  for another (``count()`` for ``sum(amount)``).

The copies that make the most mutants give another result than the reference are kept. The
constants (:func:`constants`) also seed the copies' values: a row exactly at, just below and
just above each one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, zip_longest
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ....sql.dialects import Dialect

__all__ = ["Constants", "constants", "mutants"]

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}:\d{2})?$")
_FLIPS: dict[type[exp.Expr], tuple[type[exp.Expr], ...]] = {
    exp.GT: (exp.GTE, exp.LT),
    exp.GTE: (exp.GT, exp.LTE),
    exp.LT: (exp.LTE, exp.GT),
    exp.LTE: (exp.LT, exp.GTE),
    exp.EQ: (exp.NEQ,),
    exp.NEQ: (exp.EQ,),
}
_COMPARISONS = tuple(_FLIPS)
_UNITS = (60, 1 / 60, 100, 1 / 100, 1000)


@dataclass
class Constants:
    """The numbers and dates a query compares with."""

    numbers: set[float] = field(default_factory=set)
    dates: set[dt.date] = field(default_factory=set)


def _parse(sql: str, dialect: Dialect | str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read=Dialect.get(dialect).sqlglot_dialect)
    except SqlglotError:
        return None


def _compared(node: exp.Expr) -> bool:
    parent = node.parent
    while isinstance(parent, (exp.Paren, exp.Neg, exp.Cast, exp.Tuple)):
        parent = parent.parent
    return isinstance(parent, (*_COMPARISONS, exp.Between, exp.In))


def _date(text: str) -> dt.date | None:
    match = _DATE.match(text)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def constants(sql: str, dialect: Dialect | str = "clickhouse") -> Constants:
    """The numbers and dates ``sql`` compares columns with (in filters, ``BETWEEN``, ``IN``)."""
    found = Constants()
    tree = _parse(sql, dialect)
    if tree is None:
        return found
    for node in tree.find_all(exp.Literal):
        if not _compared(node):
            continue
        if node.is_string:
            day = _date(node.name)
            if day is not None:
                found.dates.add(day)
        else:
            try:
                value = float(node.name)
            except ValueError:
                continue
            negative = isinstance(node.parent, exp.Neg)
            found.numbers.add(-value if negative else value)
    return found


def mutants(
    sql: str,
    dialect: Dialect | str = "clickhouse",
    additions: Sequence[tuple[str, Any]] = (),
    limit: int = 24,
    measures: Sequence[str] = (),
) -> list[str]:
    """Near misses of ``sql`` (see the module docstring), at most ``limit`` of them.

    Args:
        sql: The reference.
        dialect: Its dialect (its sqlglot parser and generator write the mutants).
        additions: ``(column, value)`` filters that may be added.
        limit: The most mutants returned; the kinds take turns, so each is represented.
        measures: Aggregates a ranking may be swapped to (``"sum(amount)"``).

    Returns:
        Distinct mutant statements, none equal to the reference.
    """
    tree = _parse(sql, dialect)
    if tree is None:
        return []
    write = Dialect.get(dialect).sqlglot_dialect
    kinds = (
        _dropped(tree),
        _flipped(tree),
        _constants_changed(tree),
        _added(tree, additions),
        _reranked(tree, measures, write),
    )
    seen = {tree.sql(write)}
    out: list[str] = []
    for mutant in chain.from_iterable(zip_longest(*kinds)):
        if mutant is None:
            continue
        try:
            text = mutant.sql(write)
        except SqlglotError:
            continue
        if text not in seen:
            seen.add(text)
            out.append(text)
            if len(out) >= limit:
                break
    return out


def _nth(tree: exp.Expr, kinds: tuple[type[exp.Expr], ...], index: int) -> exp.Expr:
    return list(tree.find_all(*kinds))[index]


def _dropped(tree: exp.Expr) -> Iterator[exp.Expr]:
    for index, clause in enumerate(tree.find_all(exp.Where, exp.Having)):
        count = len(list(_conjuncts(clause.this)))
        for position in range(count):
            copy = tree.copy()
            target = _nth(copy, (exp.Where, exp.Having), index)
            parts = list(_conjuncts(target.this))
            del parts[position]
            if parts:
                target.set("this", exp.and_(*parts))
            else:
                target.pop()
            yield copy


def _conjuncts(node: exp.Expr) -> Iterator[exp.Expr]:
    while isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        node = node.this
    if isinstance(node, exp.And):
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _flipped(tree: exp.Expr) -> Iterator[exp.Expr]:
    for index, node in enumerate(tree.find_all(*_COMPARISONS)):
        for other in _FLIPS[type(node)]:
            copy = tree.copy()
            target = _nth(copy, _COMPARISONS, index)
            target.replace(other(this=target.this, expression=target.expression))
            yield copy


def _constants_changed(tree: exp.Expr) -> Iterator[exp.Expr]:
    for index, node in enumerate(tree.find_all(exp.Literal)):
        if not _compared(node):
            continue
        for replacement in _variants(node):
            copy = tree.copy()
            _nth(copy, (exp.Literal,), index).replace(replacement)
            yield copy


def _variants(node: exp.Literal) -> Iterator[exp.Expr]:
    if node.is_string:
        day = _date(node.name)
        if day is not None and len(node.name) == 10:
            for delta in (-1, 1):
                yield exp.Literal.string((day + dt.timedelta(days=delta)).isoformat())
        return
    try:
        value = float(node.name)
    except ValueError:
        return
    for factor in _UNITS:
        scaled = value * factor
        yield exp.Literal.number(_number(scaled))
    for delta in (-1, 1):
        yield exp.Literal.number(_number(value + delta))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _added(tree: exp.Expr, additions: Sequence[tuple[str, Any]]) -> Iterator[exp.Expr]:
    if not isinstance(tree, exp.Select) or not additions:
        return
    for column, value in additions:
        copy = tree.copy()
        assert isinstance(copy, exp.Select)
        if isinstance(value, str):
            constant: exp.Expr = exp.Literal.string(value)
        else:
            constant = exp.Literal.number(_number(float(value)))
        yield copy.where(exp.EQ(this=exp.column(column), expression=constant), copy=False)


def _reranked(tree: exp.Expr, measures: Sequence[str], write: str) -> Iterator[exp.Expr]:
    """A ranking turned around, or ranked by another aggregate."""
    order = tree.args.get("order")
    if not isinstance(tree, exp.Select) or tree.args.get("limit") is None:
        return
    if not isinstance(order, exp.Order):
        return
    for index, ordered in enumerate(order.expressions):
        copy = tree.copy()
        target = copy.args["order"].expressions[index]
        target.set("desc", not ordered.args.get("desc"))
        yield copy
        if ordered.this.find(exp.AggFunc) is None:
            continue
        for measure in measures:
            try:
                swapped = sqlglot.parse_one(measure, read=write)
            except SqlglotError:
                continue
            copy = tree.copy()
            copy.args["order"].expressions[index].set("this", swapped)
            yield copy
