"""The template generator's standard templates: one method per question shape.

Each ``_t_<name>`` method returns ``(question, sql)`` for one table (or one join), or ``None``
when the table lacks what the template needs; ``@template`` registers it with its weight. The
set and its order are frozen: a seed must keep producing the pairs it produced before (resumed
runs rely on it). New shapes go to ``_template_extended.py``.
"""

from __future__ import annotations

import random

from ._template_base import _Join, _TableInfo, _TemplateBase, template
from ._wording import adjective, flag_word, ident, literal, plural, round_nice, words

__all__ = ["_TemplateLibrary"]


class _TemplateLibrary(_TemplateBase):
    """The standard templates (see the module docstring)."""

    @template(2, "table")
    def _t_count_by_category(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.categories:
            return None
        column = self._choose(rng, i.categories)
        where, text = self._where_window(rng, i)
        name = ident(i.noun)
        return (
            f"How many {i.noun} were there for each {words(column)}{text}?",
            f"select {column}, count() as {name} from {i.table.full_name}{where} "
            f"group by {column} order by {name} desc",
        )

    @template(2)
    def _t_count_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        w = self._window(rng)
        question = rng.choice(
            [
                f"How many {i.noun} were there {w.text}?",
                f"What was the number of {i.noun} {w.text}?",
            ]
        )
        return question, self._count_sql(i, w.sql(i.date))

    @template(4)
    def _t_count_filter_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        picked = self._pick_category_value(rng, i)
        if picked is None:
            return None
        column, value = picked
        w = self._window(rng)
        phrase = self._filter_phrase(column, value, verb=True)
        return (
            f"How many {i.noun} {phrase} {w.text}?",
            self._count_sql(i, f"({column} = {literal(value)}) and ({w.sql(i.date)})"),
        )

    @template(3)
    def _t_sum_window(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures or not i.date:
            return None
        measure = self._choose(rng, i.measures)
        w = self._window(rng)
        measure_text = self._measure_words(measure)
        head, where = f"What was the total {measure_text}", w.sql(i.date)
        if i.categories and rng.random() < 0.5 and (picked := self._pick_category_value(rng, i)):
            column, value = picked
            head += f" of {i.noun} {self._filter_phrase(column, value, verb=False)}"
            where = f"({column} = {literal(value)}) and ({where})"
        return (
            f"{head} {w.text}?",
            f"select sum({measure}) as total_{measure} from {i.table.full_name} where {where}",
        )

    @template(3)
    def _t_avg_by_category_window(
        self, rng: random.Random, i: _TableInfo
    ) -> tuple[str, str] | None:
        if not i.measures or not i.categories or not i.date:
            return None
        measure, column = self._choose(rng, i.measures), self._choose(rng, i.categories)
        w = self._window(rng)
        measure_text = self._measure_words(measure)
        per = "" if i.singular in measure_text else f" per {i.singular}"
        return (
            f"What was the average {measure_text}{per} for each {words(column)} {w.text}?",
            f"select {column}, avg({measure}) as avg_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)} group by {column} order by {column}",
        )

    @template(3)
    def _t_top_n(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.categories or not i.date or not (i.flags or i.measures):
            return None
        column = self._choose(rng, i.categories)
        top = rng.choice([3, 3, 5])
        w = self._window(rng)
        things = plural(words(column))
        if i.flags and (not i.measures or rng.random() < 0.5):
            flag = self._choose(rng, i.flags)
            label = f"{ident(flag_word(flag))}_{ident(i.noun)}"
            question = f"Top {top} {things} by number of {adjective(flag)} {i.noun} {w.text}"
            agg = f"countIf({flag} = 1)"
        else:
            measure = self._choose(rng, i.measures)
            label, agg = f"total_{measure}", f"sum({measure})"
            question = (
                f"Which {top} {things} had the highest total {self._measure_words(measure)} "
                f"{w.text}?"
            )
        return (
            question,
            f"select {column}, {agg} as {label} from {i.table.full_name} "
            f"where {w.sql(i.date)} group by {column} order by {label} desc limit {top}",
        )

    @template(3)
    def _t_rate(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags or not i.date:
            return None
        flag = self._choose(rng, i.flags)
        w = self._window(rng)
        label = f"{ident(flag_word(flag))}_share"
        return (
            f"What share of {i.noun} {w.text} were marked as {flag_word(flag)}, in percent?",
            f"select {self._percent_of(flag)} as {label} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    @template(2)
    def _t_rate_by_category(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags or not i.categories or not i.date:
            return None
        flag, column = self._choose(rng, i.flags), self._choose(rng, i.categories)
        w = self._window(rng)
        label = f"{ident(flag_word(flag))}_rate"
        return (
            f"What percentage of {i.noun} {w.text} were {adjective(flag)}, "
            f"for each {words(column)}?",
            f"select {column}, {self._percent_of(flag)} as {label} "
            f"from {i.table.full_name} where {w.sql(i.date)} group by {column} "
            f"order by {label} desc",
        )

    @template(2)
    def _t_monthly_trend(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        assert i.date
        start, end = self.date_range
        year = rng.randint(start.year, end.year)
        head, agg, label = self._total_or_count(rng, i)
        return (
            f"{head} in each month of {year}?",
            f"select toStartOfMonth({i.date}) as month, {agg} as {label} "
            f"from {i.table.full_name} where toStartOfYear({i.date}) = '{year}-01-01' "
            "group by month order by month",
        )

    @template(2)
    def _t_distinct_keys(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        keys = self._other_keys(i)
        if not keys or not i.date:
            return None
        key = rng.choice(keys)
        entity = self._key_noun(key)
        w = self._window(rng)
        return (
            f"How many distinct {entity} had {i.noun} {w.text}?",
            f"select uniqExact({key}) as {ident(entity)} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    @template(1)
    def _t_max_measure(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures or not i.date:
            return None
        measure = self._choose(rng, i.measures)
        w = self._window(rng)
        return (
            f"What was the largest {self._measure_words(measure)} of a single {i.singular} "
            f"{w.text}?",
            f"select max({measure}) as max_{measure} from {i.table.full_name} "
            f"where {w.sql(i.date)}",
        )

    @template(2)
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
        measure, examples = self._choose_pair(rng, numeric)
        threshold = round_nice(rng.choice(examples))
        w = self._window(rng)
        return (
            f"How many {i.noun} {w.text} had a {self._measure_words(measure)} above {threshold}?",
            self._count_sql(i, f"({measure} > {threshold}) and ({w.sql(i.date)})"),
        )

    @template(2, "undated")
    def _t_dim_avg_filter(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.measures:
            return None
        measure = self._choose(rng, i.measures)
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

    @template(2, "undated")
    def _t_dim_flag_count(self, rng: random.Random, i: _TableInfo) -> tuple[str, str] | None:
        if not i.flags:
            return None
        flag = self._choose(rng, i.flags)
        group = self._choose(rng, i.categories) if i.categories and rng.random() < 0.5 else None
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

    @template(4, "join")
    def _t_join_sum(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        if not f.measures or not f.date:
            return None
        picked = self._pick_category_value(rng, d)
        if picked is None:
            return None
        column, value = picked
        measure = self._choose(rng, f.measures)
        w = self._window(rng)
        phrase = self._filter_phrase(column, value, verb=False)
        measure_text = self._measure_words(measure)
        if self._is_money(measure):
            question = f"What was the total {measure_text} from {d.noun} {phrase} {w.text}?"
        else:
            question = (
                f"What was the total {measure_text} of {f.noun} by {d.noun} {phrase} {w.text}?"
            )
        return (
            question,
            f"select sum({f.alias}.{measure}) as total_{measure} {j.source()} "
            f"where ({d.alias}.{column} = {literal(value)}) and ({w.sql(j.fact_date())})",
        )

    @template(3, "join")
    def _t_join_count_by_dim(self, rng: random.Random, j: _Join) -> tuple[str, str] | None:
        f, d = j.fact, j.dim
        if not d.categories or not f.date:
            return None
        column = self._choose(rng, d.categories)
        w = self._window(rng)
        name = ident(f.noun)
        return (
            f"How many {f.noun} did {d.noun} from each {words(column)} have {w.text}?",
            f"select {d.alias}.{column} as {column}, count() as {name} {j.source()} "
            f"where {w.sql(j.fact_date())} group by {column} order by {name} desc",
        )
