"""Shared parts of the template generator: what each table offers, and the words for it.

:class:`_TemplateBase` reads the schema once (each table's date column, keys, flags, categories
and measures, and the joins between tables that share a key) and holds the vocabulary the
templates draw from: date windows, filter phrases, values, the SQL pieces several templates
write. ``@template`` registers a template method with its weight and what it needs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, TypeVar

from ..schema import DatabaseSchema, Table, friendly_type
from ._wording import (
    LOCATION_WORDS,
    MONEY_WORDS,
    MONTHS,
    USED_WORDS,
    as_date,
    ident,
    place,
    plural,
    singular,
    words,
)

__all__ = [
    "RELATIVE_WINDOWS",
    "_Focus",
    "_Join",
    "_TableInfo",
    "_TemplateBase",
    "_Window",
    "template",
]

_V = TypeVar("_V")


@dataclass
class _TableInfo:
    table: Table
    alias: str
    noun: str  # plural, e.g. "sessions"
    singular: str
    date: str | None = None
    keys: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)


@dataclass
class _Join:
    fact: _TableInfo
    dim: _TableInfo
    key: str

    def source(self) -> str:
        """The ``from`` clause joining the fact table to the dimension on the key."""
        f, d, key = self.fact, self.dim, self.key
        return (
            f"from {f.table.full_name} as {f.alias} inner join {d.table.full_name} as {d.alias} "
            f"on {f.alias}.{key} = {d.alias}.{key}"
        )

    def fact_date(self) -> str:
        """The fact table's date column, qualified with its alias."""
        return f"{self.fact.alias}.{self.fact.date}"


@dataclass
class _Window:
    text: str  # "in March 2024"
    sql: Callable[[str], str]  # column -> condition


@dataclass(frozen=True)
class _Focus:
    """What targeted generation narrows the templates to: a target pattern's columns and grain.

    ``grain`` is a period of :class:`~text2sql_tune.analysis.SQLConcepts` (``year``, ``month``,
    ``relative_day``...); ``windowed`` is False when the pattern filters on no period.
    """

    columns: frozenset[str] = frozenset()
    grain: str | None = None
    windowed: bool = True


_Condition = Callable[[str], str]  # column -> SQL condition


def _in_last_days(days: int) -> _Condition:
    return lambda c: f"({c} >= today() - {days}) and ({c} < today())"


def _period_starts(start: str, value: str) -> _Condition:
    return lambda c: f"{start}({c}) = {value}"


def _this_and_last(period: str, start: str, last: str) -> list[tuple[str, str, _Condition]]:
    """The windows "this <period>" and "last <period>".

    ``start`` is the function starting a period, ``last`` the SQL for the start of the last one.
    """
    return [
        (f"relative_{period}", f"this {period}", _period_starts(start, f"{start}(today())")),
        (f"relative_{period}", f"last {period}", _period_starts(start, last)),
    ]


# (period, question text, condition) for windows relative to today
RELATIVE_WINDOWS: list[tuple[str, str, _Condition]] = [
    ("relative_day", "yesterday", lambda c: f"{c} = today() - 1"),
    ("relative_range", "in the last 7 days", _in_last_days(7)),
    ("relative_range", "in the last 30 days", _in_last_days(30)),
    *_this_and_last("week", "toMonday", "toMonday(today()) - 7"),
    *_this_and_last("month", "toStartOfMonth", "addMonths(toStartOfMonth(today()), -1)"),
    *_this_and_last("year", "toStartOfYear", "addYears(toStartOfYear(today()), -1)"),
]


_Needs = Literal["table", "dated", "undated", "join"]
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Spec:
    weight: int
    needs: _Needs
    extended: bool


_TEMPLATES: dict[str, _Spec] = {}
"""The templates by method name, in the order they are defined: part of the seeded sequence."""


def template(weight: int, needs: _Needs = "dated", *, extended: bool = False) -> Callable[[_F], _F]:
    """Register a ``_t_<name>`` method as a template drawn with ``weight``.

    Args:
        weight: How often it is drawn relative to the others.
        needs: ``"table"`` (tried on every table), ``"dated"`` / ``"undated"`` (tables with /
            without a date column) or ``"join"`` (tried on every join; it takes a ``_Join``).
        extended: One of the extended templates (targeted generation, ``extended=True``).
    """

    def register(fn: _F) -> _F:
        _TEMPLATES[fn.__name__] = _Spec(weight, needs, extended)
        return fn

    return register


class _TemplateBase:
    """The schema, read for templates (see the module docstring)."""

    schema: DatabaseSchema
    seed: int
    values: dict[str, list[Any]]
    date_range: tuple[date, date]
    _focus: _Focus | None = None
    _month_cache: tuple[tuple[date, date], list[date]] | None = None
    _tables: list[_TableInfo]
    _joins: list[_Join]

    def _read_schema(self, schema: DatabaseSchema, date_range: tuple[date, date] | None) -> None:
        self.schema = schema
        self._tables = self._analyse(schema)
        self._joins = self._find_joins()
        self.date_range = date_range or self._default_range()

    def _registered(
        self, needs: Container[str], extended: bool
    ) -> list[tuple[Callable[[random.Random, Any], tuple[str, str] | None], int]]:
        """``(template, weight)`` of the registered templates whose ``needs`` is among ``needs``."""
        return [
            (getattr(self, name), spec.weight)
            for name, spec in _TEMPLATES.items()
            if spec.needs in needs and (extended or not spec.extended)
        ]

    def _analyse(self, schema: DatabaseSchema) -> list[_TableInfo]:
        infos = []
        used_aliases: set[str] = set()
        for table in schema.tables:
            alias = table.name[:1].lower() or "t"
            if alias in used_aliases or not alias.isalpha():
                alias = f"t{len(used_aliases) + 1}"
            used_aliases.add(alias)
            noun = plural(words(table.name))
            info = _TableInfo(table, alias, noun, singular(noun))
            for column in table.columns:
                kind = friendly_type(column.type)
                name = column.name
                lowered = name.lower()
                if kind in ("date", "datetime"):
                    info.date = info.date or name
                elif lowered == "id" or lowered.endswith("_id"):
                    info.keys.append(name)
                elif kind == "boolean" or (
                    kind == "integer" and re.match(r"^(is|has)_", lowered) is not None
                ):
                    info.flags.append(name)
                elif kind in ("integer", "float", "decimal"):
                    info.measures.append(name)
                elif kind == "string":
                    info.categories.append(name)
            infos.append(info)
        return infos

    def _find_joins(self) -> list[_Join]:
        joins = []
        for fact in self._tables:
            for dim in self._tables:
                if dim is fact:
                    continue
                for key in fact.keys:
                    if key not in dim.keys:
                        continue
                    # The dimension is the table the key names (user_id -> users), else the one
                    # without a date column.
                    names_dim = plural(key[: -len("_id")]) == dim.noun if key != "id" else False
                    if names_dim or (dim.date is None and fact.date is not None):
                        joins.append(_Join(fact, dim, key))
        return joins

    def _default_range(self) -> tuple[date, date]:
        found = [
            d
            for info in self._tables
            if info.date
            for d in (as_date(v) for v in info.table.column(info.date).examples)
            if d is not None
        ]
        if len(found) >= 2 and min(found) < max(found):
            return min(found), max(found)
        today = date.today()
        return today.replace(year=today.year - 3, month=1, day=1), today

    def _values(self, info: _TableInfo, column: str) -> list[Any]:
        key = f"{info.table.full_name}.{column}"
        if key in self.values:
            return self.values[key]
        if column in self.values:
            return self.values[column]
        return [v for v in info.table.column(column).examples if v not in ("", None)]

    # -- vocabulary -----------------------------------------------------------------------------

    def _months(self) -> list[date]:
        """First days of the months in the date range (computed once per range)."""
        if self._month_cache is None or self._month_cache[0] != self.date_range:
            start, end = self.date_range
            months = []
            cursor = date(start.year, start.month, 1)
            while cursor <= end:
                months.append(cursor)
                cursor = (cursor + timedelta(days=32)).replace(day=1)
            self._month_cache = (self.date_range, months)
        return self._month_cache[1]

    def _quarters(self) -> list[date]:
        """First days of the quarters in the date range."""
        return sorted({date(m.year, 3 * ((m.month - 1) // 3) + 1, 1) for m in self._months()})

    def _relative_ok(self) -> bool:
        """Relative windows only when the data reaches (almost) today."""
        return self.date_range[1] >= date.today() - timedelta(days=2)

    @staticmethod
    def _year_window(year: int) -> _Window:
        return _Window(f"in {year}", lambda c: f"toStartOfYear({c}) = '{year}-01-01'")

    @staticmethod
    def _month_window(month: date) -> _Window:
        text = f"in {MONTHS[month.month - 1]} {month.year}"
        return _Window(text, lambda c: f"toStartOfMonth({c}) = '{month.isoformat()}'")

    @staticmethod
    def _quarter_window(quarter: date) -> _Window:
        number = (quarter.month - 1) // 3 + 1
        return _Window(
            f"in Q{number} {quarter.year}",
            lambda c: f"toStartOfQuarter({c}) = '{quarter.isoformat()}'",
        )

    def _window(self, rng: random.Random) -> _Window:
        if self._focus is not None and self._focus.grain is not None:
            focused = self._focused_window(rng, self._focus.grain)
            if focused is not None:
                return focused
        start, end = self.date_range
        # Whole periods inside the range only, so every window has data.
        years = [y for y in range(start.year, end.year + 1)]
        choice = rng.random()
        if choice < 0.4:
            return self._year_window(rng.choice(years))
        if choice < 0.85:
            return self._month_window(rng.choice(self._months()))
        return self._quarter_window(rng.choice(self._quarters()))

    def _focused_window(self, rng: random.Random, grain: str) -> _Window | None:
        """A window of the focus's grain (``year``, ``month``, ``relative_day``...), if any."""
        start, end = self.date_range
        if grain == "year":
            return self._year_window(rng.randint(start.year, end.year))
        if grain == "month":
            return self._month_window(rng.choice(self._months()))
        if grain == "quarter":
            return self._quarter_window(rng.choice(self._quarters()))
        if grain == "day":
            day = start + timedelta(days=rng.randrange((end - start).days + 1))
            text = f"on {MONTHS[day.month - 1]} {day.day}, {day.year}"
            return _Window(text, lambda c: f"{c} = '{day.isoformat()}'")
        relative = [w for w in RELATIVE_WINDOWS if w[0] == grain]
        if relative and self._relative_ok():
            _, text, sql = rng.choice(relative)
            return _Window(text, sql)
        return None

    def _choose(self, rng: random.Random, options: Sequence[str]) -> str:
        """``rng.choice(options)``, limited to the focus's columns when some are among them."""
        if self._focus is not None:
            preferred = [o for o in options if o in self._focus.columns]
            if preferred:
                return rng.choice(preferred)
        return rng.choice(options)

    def _choose_pair(self, rng: random.Random, options: Sequence[tuple[str, _V]]) -> tuple[str, _V]:
        """Like :meth:`_choose` for ``(column, data)`` pairs."""
        if self._focus is not None:
            preferred = [o for o in options if o[0] in self._focus.columns]
            if preferred:
                return rng.choice(preferred)
        return rng.choice(options)

    @staticmethod
    def _filter_phrase(column: str, value: Any, *, verb: bool) -> str:
        """How a noun is narrowed: "in Germany", "used Safari" / "on Safari", "with x Y"."""
        lowered = column.lower()
        if any(word in lowered for word in LOCATION_WORDS):
            return f"from {place(value)}" if verb else f"in {place(value)}"
        if any(word == lowered or lowered.endswith("_" + word) for word in USED_WORDS):
            return f"used {value}" if verb else f"on {value}"
        return f"with {words(column)} {value}"

    @staticmethod
    def _measure_words(column: str) -> str:
        return words(column)

    def _pick_category_value(self, rng: random.Random, i: _TableInfo) -> tuple[str, Any] | None:
        options = [(c, self._values(i, c)) for c in i.categories]
        options = [(c, v) for c, v in options if v]
        if not options:
            return None
        column, values = self._choose_pair(rng, options)
        return column, rng.choice(values)

    @staticmethod
    def _other_keys(info: _TableInfo) -> list[str]:
        """Key columns naming another entity than the table's own rows (``user_id`` of sessions)."""
        return [k for k in info.keys if k != "id" and plural(k[: -len("_id")]) != info.noun]

    @staticmethod
    def _key_noun(key: str) -> str:
        """What a key column's values are: ``user_id`` -> "users"."""
        return plural(words(key[: -len("_id")]))

    @staticmethod
    def _is_money(measure: str) -> bool:
        return any(word in measure.lower() for word in MONEY_WORDS)

    @staticmethod
    def _count_sql(info: _TableInfo, where: str) -> str:
        return f"select count() as {ident(info.noun)} from {info.table.full_name} where {where}"

    def _where_window(
        self, rng: random.Random, info: _TableInfo, windowed: bool = True
    ) -> tuple[str, str]:
        """``(" where <condition>", " <window>")`` on the table's date, or ``("", "")``."""
        if not info.date or not windowed:
            return "", ""
        w = self._window(rng)
        return f" where {w.sql(info.date)}", f" {w.text}"

    def _total_or_count(self, rng: random.Random, info: _TableInfo) -> tuple[str, str, str]:
        """``(question head, aggregate, label)``: half the time a measure's total, else a count."""
        if info.measures and rng.random() < 0.5:
            measure = self._choose(rng, info.measures)
            head = f"What was the total {self._measure_words(measure)}"
            return head, f"sum({measure})", f"total_{measure}"
        return f"How many {info.noun} were there", "count()", ident(info.noun)

    @staticmethod
    def _percent_of(flag: str) -> str:
        """The SQL for the percentage of rows with ``flag`` set."""
        return f"100 * countIf({flag} = 1) / count()"
