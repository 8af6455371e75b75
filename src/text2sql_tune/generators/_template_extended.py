"""More question shapes for the template generator: common ones the standard set lacks.

Distinct paying entities, conditional shares (``uniqExactIf(...) / uniqExact(...)``), rates
within a filtered subset, relative dates ("yesterday", "in the last 7 days", "last month"),
median and percentiles, ``WITH TOTALS``, a span between an entity's first and last event (a
subquery with ``HAVING``), the top value of a joined dimension, and distinct entities filtered on
both sides of a join. They are used by targeted generation and with ``extended=True``; the
standard mix leaves them out so a seed keeps producing the pairs it produced before.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from ._template_base import RELATIVE_WINDOWS, _Join, _TableInfo, _Window, template
from ._template_library import _TemplateLibrary
from ._wording import adjective, flag_word, ident, literal, plural, round_nice, words

__all__ = ["_ExtendedTemplates"]

_PERCENTILES = [(0.9, "90th"), (0.75, "75th"), (0.95, "95th"), (0.99, "99th")]
_YOUNGER_OLDER = ("age",)
_SMALL = {2: "two", 3: "three", 5: "five", 10: "ten"}  # small counts read better as words


@lru_cache(maxsize=1024)
def _ladder(examples: tuple[Any, ...]) -> tuple[int, ...]:
    found: set[int] = set()
    for value in examples:
        if not isinstance(value, int | float) or value <= 0:
            continue
        nice = round_nice(value)
        magnitude = 10 ** (len(str(nice)) - 1)
        steps = [m * magnitude * scale // 10 for scale in (1, 10, 100) for m in (1, 2, 5)]
        below = [x for x in steps if 0 < x < nice]
        above = [x for x in steps if x > nice]
        found.update([nice, *below[-1:], *above[:1]])
    return tuple(sorted(found))


class _ExtendedTemplates(_TemplateLibrary):
    """The extended templates (see the module docstring)."""

    # -- vocabulary -------------------------------------------------------------------------

    def _any_window(self, rng: random.Random) -> _Window:
        """A calendar window, or now and then one relative to today."""
        if self._focus is None and self._relative_ok() and rng.random() < 0.3:
            _, text, sql = rng.choice(RELATIVE_WINDOWS)
            return _Window(text, sql)
        return self._window(rng)

    @staticmethod
    def _people(info: _TableInfo) -> str:
        """What a dimension's rows are called.

        Its description's first word when that is a plural noun ("customers registered in the
        shop" -> customers), else the table's noun.
        """
        first = (info.table.description or "").split(" ", 1)[0].strip(",.;:").lower()
        if first.isalpha() and len(first) > 3 and first.endswith("s") and first != "this":
            return first
        return info.noun

    def _entity_key(self, fact: _TableInfo) -> tuple[str, str] | None:
        """``(key column, entity noun)`` of a fact table's other key ("user_id", "customers")."""
        for join in self._joins:
            if join.fact is fact:
                return join.key, self._people(join.dim)
        keys = self._other_keys(fact)
        if not keys:
            return None
        return keys[0], self._key_noun(keys[0])

    def _paying(self, rng: random.Random, i: _TableInfo) -> tuple[str, str, str] | None:
        """``(key column, entity noun, money measure)`` for a dated table with both, else None."""
        entity = self._entity_key(i)
        money = [m for m in i.measures if self._is_money(m)]
        if entity is None or not money or not i.date:
            return None
        return *entity, self._choose(rng, money)

    @staticmethod
    def _thresholds(info: _TableInfo, column: str) -> tuple[int, ...]:
        """Round thresholds around a column's example values, on a 1-2-5 ladder.

        27 -> 20, 30, 50; 1506.7 -> 1000, 2000, 5000.
        """
        return _ladder(tuple(info.table.column(column).examples))

    # -- templates ----------------------------------------------------------------------------

    @template(3, "table", extended=True)
    def _t_distinct_paying(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        paying = self._paying(rng, i)
        if paying is None:
            return None
        assert i.date
        key, people, measure = paying
        w = self._any_window(rng)
        question = rng.choice(
            [
                f"How many distinct {people} made a purchase {w.text}?",
                f"How many {people} spent money {w.text}?",
                f"What was the number of paying {people} {w.text}?",
            ]
        )
        return (
            question,
            f"select uniqExact({key}) as paying_{ident(people)} from {i.table.full_name} "
            f"where ({w.sql(i.date)}) and ({measure} > 0)",
        )

    @template(2, "table", extended=True)
    def _t_paying_by_month(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        paying = self._paying(rng, i)
        if paying is None:
            return None
        key, people, measure = paying
        year = rng.randint(self.date_range[0].year, self.date_range[1].year)
        return (
            rng.choice(
                [
                    f"What was the monthly number of paying {people} in {year}?",
                    f"How many {people} made a purchase in each month of {year}?",
                ]
            ),
            f"select toStartOfMonth({i.date}) as month, uniqExactIf({key}, {measure} > 0) "
            f"as paying_{ident(people)} from {i.table.full_name} "
            f"where toStartOfYear({i.date}) = '{year}-01-01' group by month order by month",
        )

    @template(3, "table", extended=True)
    def _t_rate_in_subset(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags or not i.date:
            return None
        picked = self._pick_category_value(rng, i)
        if picked is None:
            return None
        column, value = picked
        flag = self._choose(rng, i.flags)
        w = self._any_window(rng)
        label = f"{ident(flag_word(flag))}_rate"
        return (
            rng.choice(
                [
                    f"What was the {flag_word(flag)} rate of {value} {i.noun} {w.text}, "
                    "in percent?",
                    f"What share of {i.noun} {self._filter_phrase(column, value, verb=False)} "
                    f"{w.text} were {adjective(flag)}, in percent?",
                ]
            ),
            f"select {self._percent_of(flag)} as {label} from {i.table.full_name} "
            f"where ({column} = {literal(value)}) and ({w.sql(i.date)})",
        )

    @template(2, "table", extended=True)
    def _t_entity_share(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        entity = self._entity_key(i)
        picked = self._pick_category_value(rng, i)
        if entity is None or picked is None or not i.date:
            return None
        key, people = entity
        column, value = picked
        w = self._any_window(rng)
        phrase = self._filter_phrase(column, value, verb=True)
        return (
            f"What percentage of {people} {phrase} {w.text}?",
            f"select 100 * uniqExactIf({key}, {column} = {literal(value)}) / uniqExact({key}) "
            f"as {ident(str(value))}_share from {i.table.full_name} where {w.sql(i.date)}",
        )

    @template(2, "table", extended=True)
    def _t_percentiles(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures or not i.categories:
            return None
        measure, column = self._choose(rng, i.measures), self._choose(rng, i.categories)
        level, ordinal = rng.choice(_PERCENTILES)
        text = self._measure_words(measure)
        windowed = rng.random() < 0.5 if self._focus is None else self._focus.windowed
        where, when = self._where_window(rng, i, windowed)
        name = ident(measure)
        return (
            f"For each {words(column)}, what were the median {text} and its {ordinal} "
            f"percentile{when}?",
            f"select {column}, median({measure}) as median_{name}, "
            f"quantile({level})({measure}) as p{round(level * 100)}_{name} "
            f"from {i.table.full_name}{where} group by {column} order by {column}",
        )

    @template(2, "table", extended=True)
    def _t_totals(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.categories or not i.date:
            return None
        column = self._choose(rng, i.categories)
        w = self._window(rng)
        entity = self._entity_key(i)
        if entity is not None and rng.random() < 0.5:
            key, people = entity
            head = f"How many unique {people} were there"
            agg, label = f"uniqExact({key})", ident(people)
        else:
            head, agg, label = self._total_or_count(rng, i)
        return (
            f"{head} {w.text} for each {words(column)}, including the totals?",
            f"select {column}, {agg} as {label} from {i.table.full_name} where {w.sql(i.date)} "
            f"group by {column} with totals order by {column}",
        )

    @template(1, "table", extended=True)
    def _t_first_last_span(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        entity = self._entity_key(i)
        if entity is None or not i.date:
            return None
        key, people = entity
        least = rng.choice([2, 3, 5, 10])
        person = people[:-1] if people.endswith("s") else people
        return (
            f"What is the average number of days from a {person}'s first {i.singular} to their "
            f"last one, among {people} with at least {_SMALL[least]} {i.noun}?",
            f"select avg(last_date - first_date) as avg_days_between from (select {key}, "
            f"min({i.date}) as first_date, max({i.date}) as last_date from {i.table.full_name} "
            f"group by {key} having count() >= {least})",
        )

    @template(3, "join", extended=True)
    def _t_join_two_filters(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        numeric = [m for m in d.measures if self._thresholds(d, m)]
        picked = self._pick_category_value(rng, d)
        if not f.measures or not f.date or not numeric or picked is None:
            return None
        column, value = picked
        limit_column = self._choose(rng, numeric)
        threshold = rng.choice(self._thresholds(d, limit_column))
        below = rng.random() < 0.5
        if limit_column.lower() in _YOUNGER_OLDER:
            limit_text = f"aged {'under' if below else 'over'} {threshold}"
        else:
            limit_text = f"with {words(limit_column)} {'below' if below else 'above'} {threshold}"
        measure = self._choose(rng, f.measures)
        w = self._window(rng)
        people = self._people(d)
        return (
            f"What was the total {self._measure_words(measure)} from {people} "
            f"{self._filter_phrase(column, value, verb=False)} {limit_text} {w.text}?",
            f"select sum({f.alias}.{measure}) as total_{measure} {j.source()} "
            f"where ({d.alias}.{column} = {literal(value)}) and "
            f"({d.alias}.{limit_column} {'<' if below else '>'} {threshold}) and "
            f"({w.sql(j.fact_date())})",
        )

    @template(2, "join", extended=True)
    def _t_top_dimension(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        if not d.categories or not f.measures or not f.date:
            return None
        column = self._choose(rng, d.categories)
        measure = self._choose(rng, f.measures)
        w = self._window(rng)
        top = rng.choice([1, 1, 3])
        things = plural(words(column))
        text = self._measure_words(measure)
        question = (
            f"Which {words(column)} had the highest total {text} {w.text}?"
            if top == 1
            else f"Which {top} {things} had the highest total {text} {w.text}?"
        )
        return (
            question,
            f"select {d.alias}.{column} as {column}, sum({f.alias}.{measure}) as total_{measure} "
            f"{j.source()} where {w.sql(j.fact_date())} "
            f"group by {column} order by total_{measure} desc limit {top}",
        )

    @template(2, "join", extended=True)
    def _t_join_flag_threshold(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        numeric = [m for m in f.measures if self._thresholds(f, m)]
        picked = self._pick_category_value(rng, d)
        if not d.flags or not numeric or not f.date or picked is None:
            return None
        column, value = picked
        flag = self._choose(rng, d.flags)
        measure = self._choose(rng, numeric)
        threshold = rng.choice(self._thresholds(f, measure))
        w = self._window(rng)
        people = self._people(d)
        return (
            f"How many {adjective(flag)} {people} {self._filter_phrase(column, value, verb=True)} "
            f"had at least one {f.singular} with {self._measure_words(measure)} over "
            f"{threshold} {w.text}?",
            f"select uniqExact({f.alias}.{j.key}) as {ident(people)} {j.source()} "
            f"where ({d.alias}.{column} = {literal(value)}) and ({d.alias}.{flag} = 1) and "
            f"({f.alias}.{measure} > {threshold}) and ({w.sql(j.fact_date())})",
        )
