"""Dataset statistics: what a set of pairs covers (tables, columns, SQL features, question sizes).

:func:`dataset_stats` reads every pair's SQL through :func:`~text2sql_tune.sql.profile.profile_sql`
(sqlglot's ClickHouse tokenizer, cached per statement) and counts, per table, column, clause
feature, aggregate family and function, how many pairs use it. A training set that never uses
``JOIN`` or window functions will not teach them; the counts show such gaps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from ..records import QAPair
from ..sql.profile import profile_sql

__all__ = ["FEATURES", "DatasetStats", "WordCounts", "dataset_stats"]

FEATURES: tuple[str, ...] = (
    "where",
    "group_by",
    "having",
    "order_by",
    "limit",
    "join",
    "subquery",
    "cte",
    "union",
    "window",
    "distinct",
    "case",
    "aggregate",
    "date_function",
)
"""The SQL features :class:`DatasetStats` counts (see ``SQLProfile.features``)."""


class WordCounts(BaseModel):
    """Smallest, mean and largest number of words in a question.

    Attributes:
        min: Fewest words.
        mean: Mean number of words.
        max: Most words.
    """

    model_config = ConfigDict(extra="forbid")

    min: int = 0
    mean: float = 0.0
    max: int = 0


class DatasetStats(BaseModel):
    """What a dataset covers; each count is a number of pairs, most used first.

    Attributes:
        count: Number of pairs.
        tables: Pairs reading each table (as written, e.g. ``ecommerce.sessions``).
        columns: Pairs referencing each column name (best effort, from the token stream).
        features: Pairs using each SQL feature in :data:`FEATURES` (0 for uncovered ones).
        aggregates: Pairs using each aggregate family (``count``, ``sum``, ``avg``, ``uniq``,
            ``quantile``, ...; combinators such as ``-If`` folded in).
        functions: Pairs calling each function, as written.
        question_words: Question length in words.
        sources: Pairs per ``source`` (``"unknown"`` when not set); its length is the number of
            distinct sources.
        unparsed: Pairs whose SQL sqlglot could not tokenize (not counted in the SQL facts).
    """

    model_config = ConfigDict(extra="forbid")

    count: int = 0
    tables: dict[str, int] = Field(default_factory=dict)
    columns: dict[str, int] = Field(default_factory=dict)
    features: dict[str, int] = Field(default_factory=dict)
    aggregates: dict[str, int] = Field(default_factory=dict)
    functions: dict[str, int] = Field(default_factory=dict)
    question_words: WordCounts = Field(default_factory=WordCounts)
    sources: dict[str, int] = Field(default_factory=dict)
    unparsed: int = 0

    def to_table(self, *, top: int = 8) -> Table:
        """A rich table summarising the statistics (the ``top`` entries of each count)."""
        table = Table(title=f"Dataset: {self.count:,} pairs", show_header=False)
        table.add_column("what")
        table.add_column("value")
        words = self.question_words
        table.add_row("question words", f"min {words.min}, mean {words.mean:.1f}, max {words.max}")
        covered = {name: n for name, n in self.features.items() if n}
        table.add_row(
            f"SQL features ({len(covered)}/{len(self.features)})", _top(covered, len(covered))
        )
        missing = [name for name, n in self.features.items() if not n]
        if missing:
            table.add_row("features not covered", ", ".join(missing))
        for label, counts in (
            ("aggregates", self.aggregates),
            ("tables", self.tables),
            ("columns", self.columns),
            ("functions", self.functions),
            ("sources", self.sources),
        ):
            table.add_row(f"{label} ({len(counts)})", _top(counts, top))
        if self.unparsed:
            table.add_row("SQL not tokenized", str(self.unparsed))
        return table


def _top(counts: dict[str, int], top: int) -> str:
    shown = [f"{name} {n:,}" for name, n in list(counts.items())[:top]]
    if len(counts) > top:
        shown.append(f"... {len(counts) - top} more")
    return ", ".join(shown) or "-"


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def dataset_stats(pairs: Iterable[QAPair]) -> DatasetStats:
    """Count what ``pairs`` cover.

    Args:
        pairs: The pairs (usually the ones cleaning kept).

    Returns:
        The statistics.
    """
    tables: Counter[str] = Counter()
    columns: Counter[str] = Counter()
    features: Counter[str] = Counter(dict.fromkeys(FEATURES, 0))
    aggregates: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    words: list[int] = []
    unparsed = 0
    for pair in pairs:
        words.append(len(pair.question.split()))
        sources[pair.source or "unknown"] += 1
        profile = profile_sql(pair.sql)
        if not profile.parsed:
            unparsed += 1
            continue
        tables.update(profile.tables)
        columns.update(profile.columns)
        features.update(profile.features)
        aggregates.update(profile.aggregates)
        functions.update(profile.functions)
    return DatasetStats(
        count=len(words),
        tables=_ranked(tables),
        columns=_ranked(columns),
        features={name: features[name] for name in sorted(features, key=lambda f: -features[f])},
        aggregates=_ranked(aggregates),
        functions=_ranked(functions),
        question_words=WordCounts(
            min=min(words, default=0),
            mean=sum(words) / len(words) if words else 0.0,
            max=max(words, default=0),
        ),
        sources=_ranked(sources),
        unparsed=unparsed,
    )
