"""The rows of one small perturbed copy of a set of tables.

A copy starts from rows sampled from the real table, then replaces cells with values from the
column's domain (:mod:`.profile`):

- a category or flag column takes only values seen in it, drawn uniformly, so rare categories
  become common; a nullable column sometimes gets NULL;
- a number, date or text column takes a sampled value, its smallest or largest, 0 for numbers,
  boundary days for dates (today, yesterday, month and year ends), and the constants the
  reference compares with together with their neighbours (one below, one above, the day
  before and after), never leaving the sign the column has in the data; the edge values (NULL,
  0, today, the constants and their neighbours) are each put in some row of every perturbed
  copy;
- a key column (every value distinct) stays distinct, and a column that names another copied
  table's key takes values that key has in the copy, so joins still find their rows.

Copies differ in size and in how many cells they perturb (the first keeps the sampled rows as
they are), so together they hold both realistic and edge-case data.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from .mutants import Constants
from .profile import ColumnProfile, TableProfile

__all__ = ["copy_rows", "perturbed_share"]

_PERTURB = (0.0, 0.35, 0.7, 1.0)
_NULL_SHARE = 0.1
_CONSTANT_SHARE = 0.5


def copy_rows(
    tables: Sequence[TableProfile],
    index: int,
    constants: Constants,
    rng: random.Random,
    size: tuple[int, int],
    today: dt.date,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows for the ``index``-th copy of ``tables`` (see the module docstring).

    Args:
        tables: The profiled tables.
        index: Which copy (it sets how many cells are perturbed).
        constants: The constants the reference compares with.
        rng: The copy's random generator (seeded: a copy is rebuilt identically).
        size: Fewest and most rows per table.
        today: The day relative dates are taken from.

    Returns:
        ``(database, table)`` -> rows, each a mapping of column name to value.
    """
    share = perturbed_share(index)
    keys = _keys(tables)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for table in sorted(tables, key=lambda t: _depth(t, keys)):
        count = rng.randint(*size) if table.rows else 0
        rows = _sampled(table, count, rng)
        for column in table.columns:
            if column.kind == "other":
                continue
            parent = keys.get(column.name)
            if parent is not None and parent != (table.database, table.name):
                allowed = [r[column.name] for r in out.get(parent, [])]
                _reference(rows, column, allowed, rng)
            elif column.key:
                _distinct(rows, column)
            elif share:
                pool = _pool(column, today)
                for row in rows:
                    if rng.random() < share:
                        row[column.name] = _draw(column, pool, constants, rng)
                _place_edges(rows, column, _edges(column, constants, today), rng)
        out[(table.database, table.name)] = rows
    return out


def perturbed_share(index: int) -> float:
    """The share of cells the ``index``-th copy perturbs (the first keeps its sampled rows)."""
    return _PERTURB[index % len(_PERTURB)]


def _keys(tables: Sequence[TableProfile]) -> dict[str, tuple[str, str]]:
    """Key column name -> the table it is the key of (when one table has it as its key)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table in tables:
        for column in table.columns:
            if column.key:
                found.setdefault(column.name, []).append((table.database, table.name))
    return {name: owners[0] for name, owners in found.items() if len(owners) == 1}


def _depth(table: TableProfile, keys: dict[str, tuple[str, str]]) -> int:
    """0 for tables no column of which names another table's key: they are built first."""
    own = (table.database, table.name)
    return int(any(keys.get(c.name, own) != own for c in table.columns))


def _sampled(table: TableProfile, count: int, rng: random.Random) -> list[dict[str, Any]]:
    if not table.sample or count == 0:
        return []
    if count <= len(table.sample):
        return [dict(r) for r in rng.sample(table.sample, count)]
    return [dict(rng.choice(table.sample)) for _ in range(count)]


def _reference(
    rows: list[dict[str, Any]], column: ColumnProfile, allowed: list[Any], rng: random.Random
) -> None:
    present = set(allowed)
    for row in rows:
        if row.get(column.name) not in present:
            row[column.name] = rng.choice(allowed) if allowed else None


def _distinct(rows: list[dict[str, Any]], column: ColumnProfile) -> None:
    seen: set[Any] = set()
    fresh = 0
    for row in rows:
        value = row.get(column.name)
        while value is None or value in seen:
            fresh += 1
            if column.kind == "int":
                value = int(column.high or 0) + fresh
            else:
                value = f"{column.high or ''}~{fresh}"
        seen.add(value)
        row[column.name] = value


def _pool(column: ColumnProfile, today: dt.date) -> list[Any]:
    if column.categorical:
        return list(column.values) or [column.low]
    pool = [v for v in (*column.values, column.low, column.high) if v is not None]
    if column.kind in ("int", "float"):
        pool.append(0)
    elif column.kind in ("date", "datetime"):
        pool += [_as(column, d) for d in _boundary_days(column, today)]
    return pool


def _edges(column: ColumnProfile, constants: Constants, today: dt.date) -> list[Any]:
    """Values every perturbed copy holds somewhere: NULL, 0, the constants and their neighbours."""
    edges: list[Any] = [None] if column.nullable else []
    if column.categorical:
        return edges
    if column.kind in ("int", "float"):
        edges.append(0)
    elif column.kind in ("date", "datetime"):
        edges += [_as(column, today), _as(column, today - dt.timedelta(days=1))]
    return edges + _constant_pool(column, constants)


def _place_edges(
    rows: list[dict[str, Any]], column: ColumnProfile, edges: list[Any], rng: random.Random
) -> None:
    if not rows or not edges:
        return
    room = max(1, len(rows) // 2)
    chosen = rng.sample(edges, min(len(edges), room))
    for row, value in zip(rng.sample(rows, len(chosen)), chosen, strict=True):
        row[column.name] = value


def _constant_pool(column: ColumnProfile, constants: Constants) -> list[Any]:
    values: list[Any] = []
    if column.kind in ("int", "float"):
        non_negative = column.low is None or column.low >= 0 or column.type.startswith("UInt")
        for number in constants.numbers:
            for near in (number - 1, number, number + 1):
                if column.kind == "int" and not float(near).is_integer():
                    continue
                if non_negative and near < 0:
                    continue
                values.append(int(near) if column.kind == "int" else near)
    elif column.kind in ("date", "datetime"):
        for day in constants.dates:
            values += [_as(column, day + dt.timedelta(days=d)) for d in (-1, 0, 1)]
    return values


def _draw(column: ColumnProfile, pool: list[Any], constants: Constants, rng: random.Random) -> Any:
    if column.nullable and rng.random() < _NULL_SHARE:
        return None
    if not column.categorical and rng.random() < _CONSTANT_SHARE:
        near = _constant_pool(column, constants)
        if near:
            return rng.choice(near)
    return rng.choice(pool) if pool else None


def _boundary_days(column: ColumnProfile, today: dt.date) -> list[dt.date]:
    days = [today, today - dt.timedelta(days=1), today - dt.timedelta(days=7)]
    for value in (column.low, column.high):
        day = _day(value)
        if day is None:
            continue
        first = day.replace(day=1)
        days += [first, first - dt.timedelta(days=1), day.replace(month=1, day=1)]
        days.append(day.replace(month=12, day=31))
    return days


def _day(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _as(column: ColumnProfile, day: dt.date) -> str:
    return day.isoformat() if column.kind == "date" else f"{day.isoformat()} 00:00:00"
