"""An offline generator: question/SQL pairs composed from the schema, no LLM needed.

It reads column types, names, example values and date ranges and fills templates: counts,
sums and averages, filters, group-bys, top-N, rates in percent, date windows (years, quarters,
months) and joins between tables that share a key column. Wording comes from column names, with
a few natural phrasings for common ones (country, browser, ``is_*`` flags). Deterministic for a
seed; the demo's default generator and a cheap way to seed a dataset.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..interfaces import QAGenerator, SQLExecutor
from ..models import QAPair
from ..schema import DatabaseSchema, Table, friendly_type
from ._wording import (
    LOCATION_WORDS,
    MONEY_WORDS,
    MONTHS,
    USED_WORDS,
    adjective,
    as_date,
    flag_word,
    ident,
    literal,
    place,
    plural,
    round_nice,
    singular,
    words,
)

__all__ = ["TemplateQAGenerator"]

_MAX_ATTEMPTS = 60


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


@dataclass
class _Window:
    text: str  # "in March 2024"
    sql: Callable[[str], str]  # column -> condition


class TemplateQAGenerator(QAGenerator):
    """Composes varied question/SQL pairs (ClickHouse SQL) from the schema alone.

    Args:
        schema: The annotated schema (types, example values, descriptions).
        seed: Random seed; the same seed gives the same pairs.
        date_range: Dates the data covers; default from the date columns' example values, else
            the last three years.
        values: Known values of text columns, ``{"table.column" or "column": [...]}``; default the
            columns' example values. :meth:`afrom_database` reads them from the data.

    Attributes:
        offset: Pairs of the seeded sequence to skip (set by :meth:`resume_after`).

    Example:
        >>> from text2sql_tune import demo_schema
        >>> pairs = TemplateQAGenerator(demo_schema(), seed=1).generate(3)
        >>> all(p.sql.startswith("select") for p in pairs)
        True
    """

    name = "template"

    def __init__(
        self,
        schema: DatabaseSchema,
        *,
        seed: int = 0,
        date_range: tuple[date, date] | None = None,
        values: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        self.schema = schema
        self.seed = seed
        self.values = {k: list(v) for k, v in (values or {}).items()}
        self.offset = 0
        self._tables = self._analyse(schema)
        self._joins = self._find_joins()
        self.date_range = date_range or self._default_range()
        self._templates = self._applicable_templates()

    # -- construction -----------------------------------------------------------------------

    @classmethod
    async def afrom_database(
        cls,
        executor: SQLExecutor,
        schema: DatabaseSchema | None = None,
        *,
        seed: int = 0,
        max_values: int = 12,
    ) -> TemplateQAGenerator:
        """Build a generator whose filter values and date range come from the data.

        Runs one small query per text column (its most common values) and per date column
        (its first and last date).

        Args:
            executor: The database.
            schema: The schema; default introspected from the executor.
            seed: Random seed.
            max_values: Most common values kept per text column.
        """
        schema = schema or await executor.aget_schema()
        probe = cls(schema, seed=seed)
        values: dict[str, list[Any]] = {}
        first: date | None = None
        last: date | None = None
        for info in probe._tables:
            full = info.table.full_name
            for column in info.categories:
                outcome = await executor.atry_execute(
                    f"select {column} as value, count() as n from {full} "
                    f"group by value order by n desc, value limit {max_values}"
                )
                if outcome.ok and outcome.result is not None:
                    found = [row[0] for row in outcome.result.rows if row[0] not in ("", None)]
                    if found:
                        values[f"{full}.{column}"] = found
            if info.date:
                outcome = await executor.atry_execute(
                    f"select min({info.date}), max({info.date}) from {full}"
                )
                if outcome.ok and outcome.result is not None and outcome.result.rows:
                    low, high = (as_date(v) for v in outcome.result.rows[0][:2])
                    if low and high and low.year > 1970:
                        first = low if first is None else min(first, low)
                        last = high if last is None else max(last, high)
        date_range = (first, last) if first and last else None
        return cls(schema, seed=seed, date_range=date_range, values=values)

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

    def _window(self, rng: random.Random) -> _Window:
        start, end = self.date_range
        # Whole periods inside the range only, so every window has data.
        years = [y for y in range(start.year, end.year + 1)]
        choice = rng.random()
        if choice < 0.4:
            year = rng.choice(years)
            return _Window(f"in {year}", lambda c: f"toStartOfYear({c}) = '{year}-01-01'")
        months = []
        cursor = date(start.year, start.month, 1)
        while cursor <= end:
            months.append(cursor)
            cursor = (cursor + timedelta(days=32)).replace(day=1)
        if choice < 0.85:
            month = rng.choice(months)
            text = f"in {MONTHS[month.month - 1]} {month.year}"
            return _Window(text, lambda c: f"toStartOfMonth({c}) = '{month.isoformat()}'")
        quarters = sorted({date(m.year, 3 * ((m.month - 1) // 3) + 1, 1) for m in months})
        quarter = rng.choice(quarters)
        number = (quarter.month - 1) // 3 + 1
        return _Window(
            f"in Q{number} {quarter.year}",
            lambda c: f"toStartOfQuarter({c}) = '{quarter.isoformat()}'",
        )

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

    # -- templates ------------------------------------------------------------------------------

    def _applicable_templates(self) -> list[tuple[Callable[[random.Random], tuple[str, str]], int]]:
        templates: list[tuple[Callable[[random.Random], tuple[str, str]], int]] = []
        for info in self._tables:
            t: list[tuple[Callable[[random.Random, _TableInfo], tuple[str, str] | None], int]]
            t = [(self._t_count_by_category, 2)]
            if info.date:
                t += [
                    (self._t_count_window, 2),
                    (self._t_count_filter_window, 4),
                    (self._t_sum_window, 3),
                    (self._t_avg_by_category_window, 3),
                    (self._t_top_n, 3),
                    (self._t_rate, 3),
                    (self._t_rate_by_category, 2),
                    (self._t_monthly_trend, 2),
                    (self._t_distinct_keys, 2),
                    (self._t_max_measure, 1),
                    (self._t_threshold, 2),
                ]
            else:
                t += [(self._t_dim_avg_filter, 2), (self._t_dim_flag_count, 2)]
            for fn, weight in t:
                if fn(random.Random(0), info) is not None:
                    templates.append((_bind(fn, info), weight))
        for join in self._joins:
            for jfn, weight in ((self._t_join_sum, 4), (self._t_join_count_by_dim, 3)):
                if jfn(random.Random(0), join) is not None:
                    templates.append((_bind(jfn, join), weight))
        return templates

    def _t_count_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        w = self._window(rng)
        question = rng.choice(
            [
                f"How many {i.noun} were there {w.text}?",
                f"What was the number of {i.noun} {w.text}?",
            ]
        )
        return (
            question,
            f"select count() as {ident(i.noun)} from {i.table.full_name} where {w.sql(i.date)}",
        )

    def _pick_category_value(self, rng: random.Random, i: _TableInfo) -> tuple[str, Any] | None:
        options = [(c, self._values(i, c)) for c in i.categories]
        options = [(c, v) for c, v in options if v]
        if not options:
            return None
        column, values = rng.choice(options)
        return column, rng.choice(values)

    def _t_count_filter_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        picked = self._pick_category_value(rng, i)
        if picked is None:
            return None
        column, value = picked
        w = self._window(rng)
        phrase = self._filter_phrase(column, value, verb=True)
        where = f"({column} = {literal(value)}) and ({w.sql(i.date)})"
        return (
            f"How many {i.noun} {phrase} {w.text}?",
            f"select count() as {ident(i.noun)} from {i.table.full_name} where {where}",
        )

    def _t_sum_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures or not i.date:
            return None
        measure = rng.choice(i.measures)
        w = self._window(rng)
        measure_text = self._measure_words(measure)
        if i.categories and rng.random() < 0.5 and (picked := self._pick_category_value(rng, i)):
            column, value = picked
            phrase = self._filter_phrase(column, value, verb=False)
            return (
                f"What was the total {measure_text} of {i.noun} {phrase} {w.text}?",
                f"select sum({measure}) as total_{measure} from {i.table.full_name} "
                f"where ({column} = {literal(value)}) and ({w.sql(i.date)})",
            )
        return (
            f"What was the total {measure_text} {w.text}?",
            f"select sum({measure}) as total_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    def _t_avg_by_category_window(
        self, rng: random.Random, i: _TableInfo
    ) -> tuple[str, str] | None:
        if not i.measures or not i.categories or not i.date:
            return None
        measure, column = rng.choice(i.measures), rng.choice(i.categories)
        w = self._window(rng)
        measure_text = self._measure_words(measure)
        per = "" if i.singular in measure_text else f" per {i.singular}"
        return (
            f"What was the average {measure_text}{per} for each {words(column)} {w.text}?",
            f"select {column}, avg({measure}) as avg_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)} group by {column} order by {column}",
        )

    def _t_count_by_category(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.categories:
            return None
        column = rng.choice(i.categories)
        where, text = "", ""
        if i.date:
            w = self._window(rng)
            where, text = f" where {w.sql(i.date)}", f" {w.text}"
        name = ident(i.noun)
        return (
            f"How many {i.noun} were there for each {words(column)}{text}?",
            f"select {column}, count() as {name} from {i.table.full_name}{where} "
            f"group by {column} order by {name} desc",
        )

    def _t_top_n(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.categories or not i.date or not (i.flags or i.measures):
            return None
        column = rng.choice(i.categories)
        top = rng.choice([3, 3, 5])
        w = self._window(rng)
        things = plural(words(column))
        if i.flags and (not i.measures or rng.random() < 0.5):
            flag = rng.choice(i.flags)
            label = f"{ident(flag_word(flag))}_{ident(i.noun)}"
            return (
                f"Top {top} {things} by number of {adjective(flag)} {i.noun} {w.text}",
                f"select {column}, countIf({flag} = 1) as {label} from {i.table.full_name} "
                f"where {w.sql(i.date)} group by {column} order by {label} desc limit {top}",
            )
        measure = rng.choice(i.measures)
        return (
            f"Which {top} {things} had the highest total {self._measure_words(measure)} {w.text}?",
            f"select {column}, sum({measure}) as total_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)} group by {column} order by total_{measure} desc limit {top}",
        )

    def _t_rate(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags or not i.date:
            return None
        flag = rng.choice(i.flags)
        w = self._window(rng)
        label = f"{ident(flag_word(flag))}_share"
        return (
            f"What share of {i.noun} {w.text} were marked as {flag_word(flag)}, in percent?",
            f"select 100 * countIf({flag} = 1) / count() as {label} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    def _t_rate_by_category(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags or not i.categories or not i.date:
            return None
        flag, column = rng.choice(i.flags), rng.choice(i.categories)
        w = self._window(rng)
        label = f"{ident(flag_word(flag))}_rate"
        return (
            f"What percentage of {i.noun} {w.text} were {adjective(flag)}, "
            f"for each {words(column)}?",
            f"select {column}, 100 * countIf({flag} = 1) / count() as {label} "
            f"from {i.table.full_name} where {w.sql(i.date)} group by {column} "
            f"order by {label} desc",
        )

    def _t_monthly_trend(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        start, end = self.date_range
        year = rng.randint(start.year, end.year)
        if i.measures and rng.random() < 0.5:
            measure = rng.choice(i.measures)
            head = f"What was the total {self._measure_words(measure)}"
            agg, label = f"sum({measure})", f"total_{measure}"
        else:
            head, agg, label = f"How many {i.noun} were there", "count()", ident(i.noun)
        return (
            f"{head} in each month of {year}?",
            f"select toStartOfMonth({i.date}) as month, {agg} as {label} "
            f"from {i.table.full_name} where toStartOfYear({i.date}) = '{year}-01-01' "
            "group by month order by month",
        )

    def _t_distinct_keys(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        keys = [k for k in i.keys if k != "id" and plural(k[: -len("_id")]) != i.noun]
        if not keys or not i.date:
            return None
        key = rng.choice(keys)
        entity = plural(words(key[: -len("_id")]))
        w = self._window(rng)
        return (
            f"How many distinct {entity} had {i.noun} {w.text}?",
            f"select uniqExact({key}) as {ident(entity)} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    def _t_max_measure(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures or not i.date:
            return None
        measure = rng.choice(i.measures)
        w = self._window(rng)
        return (
            f"What was the largest {self._measure_words(measure)} of a single {i.singular} "
            f"{w.text}?",
            f"select max({measure}) as max_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    def _t_threshold(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.date:
            return None
        numeric = [
            (m, [v for v in i.table.column(m).examples if isinstance(v, int | float) and v > 0])
            for m in i.measures
        ]
        numeric = [(m, v) for m, v in numeric if v]
        if not numeric:
            return None
        measure, examples = rng.choice(numeric)
        threshold = round_nice(rng.choice(examples))
        w = self._window(rng)
        name = ident(i.noun)
        return (
            f"How many {i.noun} {w.text} had a {self._measure_words(measure)} above {threshold}?",
            f"select count() as {name} from {i.table.full_name} "
            f"where ({measure} > {threshold}) and ({w.sql(i.date)})",
        )

    def _t_dim_avg_filter(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures:
            return None
        measure = rng.choice(i.measures)
        picked = self._pick_category_value(rng, i)
        if picked is None:
            return None
        column, value = picked
        phrase = self._filter_phrase(column, value, verb=False)
        return (
            f"What is the average {self._measure_words(measure)} of {i.noun} {phrase}?",
            f"select avg({measure}) as avg_{measure} from {i.table.full_name} "
            f"where {column} = {literal(value)}",
        )

    def _t_dim_flag_count(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags:
            return None
        flag = rng.choice(i.flags)
        group = rng.choice(i.categories) if i.categories and rng.random() < 0.5 else None
        name = f"{ident(adjective(flag))}_{ident(i.noun)}"
        if group:
            return (
                f"How many {adjective(flag)} {i.noun} are there for each {words(group)}?",
                f"select {group}, countIf({flag} = 1) as {name} from {i.table.full_name} "
                f"group by {group} order by {name} desc",
            )
        return (
            f"How many {adjective(flag)} {i.noun} are there?",
            f"select countIf({flag} = 1) as {name} from {i.table.full_name}",
        )

    def _t_join_sum(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        if not f.measures or not f.date:
            return None
        picked = self._pick_category_value(rng, d)
        if picked is None:
            return None
        column, value = picked
        measure = rng.choice(f.measures)
        w = self._window(rng)
        phrase = self._filter_phrase(column, value, verb=False)
        measure_text = self._measure_words(measure)
        if any(word in measure.lower() for word in MONEY_WORDS):
            question = f"What was the total {measure_text} from {d.noun} {phrase} {w.text}?"
        else:
            question = (
                f"What was the total {measure_text} of {f.noun} by {d.noun} {phrase} {w.text}?"
            )
        return (
            question,
            f"select sum({f.alias}.{measure}) as total_{measure} "
            f"from {f.table.full_name} as {f.alias} inner join {d.table.full_name} as {d.alias} "
            f"on {f.alias}.{j.key} = {d.alias}.{j.key} "
            f"where ({d.alias}.{column} = {literal(value)}) and ({w.sql(f'{f.alias}.{f.date}')})",
        )

    def _t_join_count_by_dim(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        if not d.categories or not f.date:
            return None
        column = rng.choice(d.categories)
        w = self._window(rng)
        name = ident(f.noun)
        return (
            f"How many {f.noun} did {d.noun} from each {words(column)} have {w.text}?",
            f"select {d.alias}.{column} as {column}, count() as {name} "
            f"from {f.table.full_name} as {f.alias} inner join {d.table.full_name} as {d.alias} "
            f"on {f.alias}.{j.key} = {d.alias}.{j.key} "
            f"where {w.sql(f'{f.alias}.{f.date}')} group by {column} order by {name} desc",
        )

    # -- generation -----------------------------------------------------------------------------

    def pairs(self, n: int) -> list[QAPair]:
        """Return ``n`` pairs, all different while the templates allow it."""
        rng = random.Random(self.seed)
        if not self._templates:
            return [
                QAPair(rejected="no template applies to this schema", source=self.name)
                for _ in range(n)
            ]
        functions = [fn for fn, _ in self._templates]
        weights = [w for _, w in self._templates]
        seen: set[str] = set()
        out: list[QAPair] = []
        for _ in range(n):
            question = sql = ""
            template = ""
            for _attempt in range(_MAX_ATTEMPTS):
                fn = rng.choices(functions, weights)[0]
                question, sql = fn(rng)
                template = getattr(fn, "template_name", "")
                if sql not in seen:
                    break
            seen.add(sql)
            out.append(
                QAPair(
                    question=question,
                    sql=sql,
                    source=self.name,
                    metadata={"template": template},
                )
            )
        return out

    def resume_after(self, count: int) -> None:
        """Continue the seeded sequence after its first ``count`` pairs (resumed runs)."""
        self.offset = max(0, count)

    async def agenerate(self, n: int) -> AsyncIterator[QAPair]:
        """Yield ``n`` pairs (deterministic for the seed), after the first :attr:`offset`."""
        for pair in self.pairs(self.offset + n)[self.offset :]:
            yield pair


def _bind(fn: Callable[[random.Random, Any], tuple[str, str] | None], target: Any) -> Any:
    def call(rng: random.Random) -> tuple[str, str]:
        for _ in range(_MAX_ATTEMPTS):
            result = fn(rng, target)
            if result is not None:
                return result
        raise RuntimeError(f"template {fn.__name__} does not apply")  # pragma: no cover

    call.template_name = fn.__name__.removeprefix("_t_")  # type: ignore[attr-defined]
    return call
