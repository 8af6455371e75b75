"""What a table's columns hold: the domain the perturbed copies draw their values from.

One pass over each table gives, per column, its distinct count, range, its distinct values
when there are few (categories, flags) or a sample otherwise, plus a sample of whole rows and a
fingerprint of the data (row count and a hash of every row), so a cache can tell when the data
changed. Only the library's own statements run here, on the trusted admin connection.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ....records import QueryResult
from .retarget import quote

__all__ = [
    "LOW_CARDINALITY",
    "Admin",
    "ColumnProfile",
    "Kind",
    "TableProfile",
    "column_kind",
    "literal",
    "profile_table",
]

Admin = Callable[[str], Awaitable[QueryResult]]
"""Runs one trusted statement (DDL, ``INSERT``, the profile queries) and returns its result."""

Kind = Literal["int", "float", "string", "date", "datetime", "bool", "other"]

LOW_CARDINALITY = 24
"""Columns with at most this many distinct values are categories: copies use only those."""

_SAMPLE_VALUES = 48
_KEY_NAME = re.compile(r"(?:^|_)(?:id|key|uuid|code)$|[a-z]Id$", re.IGNORECASE)
_SAMPLE_ROWS = 160


@dataclass
class ColumnProfile:
    """One column's domain.

    Attributes:
        name: The column.
        type: Its engine type.
        kind: What its values are (``other`` columns are left at their defaults in copies).
        nullable: It may hold NULL.
        distinct: Distinct non-NULL values.
        low: Its smallest value (``None`` for an empty table).
        high: Its largest value.
        values: Every distinct value of a category column, else a sample.
        unique: Every row has its own value.
        primary: The column is part of the table's primary key.
    """

    name: str
    type: str
    kind: Kind
    nullable: bool
    distinct: int = 0
    low: Any = None
    high: Any = None
    values: list[Any] = field(default_factory=list)
    unique: bool = False
    primary: bool = False
    rows: int = 0

    @property
    def key(self) -> bool:
        """A key: unique integers or texts, in the primary key or named like an id."""
        named = _KEY_NAME.search(self.name) is not None
        return self.unique and self.kind in ("int", "string") and (self.primary or named)

    @property
    def categorical(self) -> bool:
        """True for flags and categories: copies draw only from the values seen.

        Texts with few distinct values, and numbers with few values that repeat (a flag, a
        rating); not a key.
        """
        if self.kind == "bool":
            return True
        if self.key or not 0 < self.distinct <= LOW_CARDINALITY:
            return False
        return self.kind == "string" or self.distinct * 2 <= self.rows


@dataclass
class TableProfile:
    """One table's columns, a sample of its rows and a fingerprint of its data."""

    database: str
    name: str
    rows: int
    fingerprint: str
    columns: list[ColumnProfile]
    sample: list[dict[str, Any]]


def literal(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def column_kind(type_name: str) -> tuple[Kind, bool]:
    """The kind of a column type and whether it is nullable."""
    base, nullable = type_name, False
    while True:
        match = re.fullmatch(r"(LowCardinality|Nullable)\((.*)\)", base)
        if match is None:
            break
        nullable = nullable or match.group(1) == "Nullable"
        base = match.group(2)
    if re.fullmatch(r"U?Int\d+", base):
        return "int", nullable
    if re.match(r"(Float\d+|Decimal)", base):
        return "float", nullable
    if base == "Bool":
        return "bool", nullable
    if re.match(r"(String|FixedString|Enum\d*\()", base):
        return "string", nullable
    if re.fullmatch(r"Date(32)?", base):
        return "date", nullable
    if re.match(r"DateTime", base):
        return "datetime", nullable
    return "other", nullable


def _typed(kind: Kind, value: Any) -> Any:
    """A value as JSON gave it (64-bit integers come quoted) in its column's Python type."""
    if value is None:
        return None
    if kind in ("int", "bool"):
        return int(value)
    if kind == "float":
        return float(value)
    return value


async def profile_table(admin: Admin, database: str, table: str, seed: int) -> TableProfile:
    """Profile ``database.table`` (see the module docstring)."""
    described = await admin(
        "SELECT name, type, is_in_primary_key FROM system.columns WHERE database = "
        f"{literal(database)} AND table = {literal(table)} AND default_kind IN ('', 'DEFAULT') "
        "ORDER BY position"
    )
    columns = []
    for name, type_name, primary in described.rows:
        kind, nullable = column_kind(str(type_name))
        column = ColumnProfile(str(name), str(type_name), kind, nullable, primary=bool(primary))
        columns.append(column)
    source = f"{quote(database)}.{quote(table)}"
    scalar = [c for c in columns if c.kind != "other"]
    parts = ["count()", "toString(sum(cityHash64(*)))"]
    for column in scalar:
        name = quote(column.name)
        parts += [
            f"uniqExact({name})",
            f"min({name})",
            f"max({name})",
            f"groupUniqArray({LOW_CARDINALITY + 1})({name})",
            f"groupArraySample({_SAMPLE_VALUES}, {seed + 1})({name})",
        ]
    stats = (await admin(f"SELECT {', '.join(parts)} FROM {source}")).rows[0]
    rows = int(stats[0])
    for index, column in enumerate(scalar):
        distinct, low, high, few, sample = stats[2 + 5 * index : 7 + 5 * index]
        column.distinct, column.rows = int(distinct), rows
        column.unique = rows > 1 and column.distinct == rows
        column.low, column.high = _typed(column.kind, low), _typed(column.kind, high)
        chosen = few if column.distinct <= LOW_CARDINALITY else sample
        column.values = sorted(
            {_typed(column.kind, v) for v in chosen if v is not None},
            key=lambda v: (str(type(v)), v),
        )
    sample_rows: list[dict[str, Any]] = []
    if scalar and rows:
        names = ", ".join(quote(c.name) for c in scalar)
        picked = await admin(
            f"SELECT {names} FROM {source} ORDER BY cityHash64({seed}, *) LIMIT {_SAMPLE_ROWS}"
        )
        sample_rows = [
            {c.name: _typed(c.kind, v) for c, v in zip(scalar, row, strict=True)}
            for row in picked.rows
        ]
    return TableProfile(database, table, rows, f"{rows}:{stats[1]}", columns, sample_rows)
