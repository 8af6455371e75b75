"""An offline generator: question/SQL pairs composed from the schema, no LLM needed.

It reads column types, names, example values and date ranges and fills templates: counts,
sums and averages, filters, group-bys, top-N, rates in percent, date windows (years, quarters,
months) and joins between tables that share a key column. Wording comes from column names, with
a few natural phrasings for common ones (country, browser, ``is_*`` flags). Deterministic for a
seed; the demo's default generator and a cheap way to seed a dataset.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from ..interfaces import QAGenerator, SQLExecutor
from ..records import QAPair
from ..schema import DatabaseSchema
from ._targeting import targeted_pairs
from ._template_base import _Focus
from ._template_extended import _ExtendedTemplates
from ._wording import as_date

if TYPE_CHECKING:
    from ..analysis import GenerationTarget

__all__ = ["TemplateQAGenerator"]

_MAX_ATTEMPTS = 60


class TemplateQAGenerator(_ExtendedTemplates, QAGenerator):
    """Composes varied question/SQL pairs (ClickHouse SQL) from the schema alone.

    Args:
        schema: The annotated schema (types, example values, descriptions).
        seed: Random seed; the same seed gives the same pairs.
        date_range: Dates the data covers; default from the date columns' example values, else
            the last three years.
        values: Known values of text columns, ``{"table.column" or "column": [...]}``; default the
            columns' example values. :meth:`afrom_database` reads them from the data.
        extended: Also use the extended templates (distinct paying entities, conditional shares,
            relative dates, percentiles, ``WITH TOTALS``, first-to-last spans, joined
            dimensions). Off by default, so a seed keeps producing the pairs it produced before.
        targets: Generate for these analysis targets instead (see :meth:`targeted`).

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
        extended: bool = False,
        targets: Sequence[GenerationTarget] = (),
    ) -> None:
        self.seed = seed
        self.values = {k: list(v) for k, v in (values or {}).items()}
        self._read_schema(schema, date_range)
        self.offset = 0
        self.extended = extended or bool(targets)
        self.targets = list(targets)
        if self.targets:
            self.name = "template:targeted"
        self._templates = self._applicable_templates(self.extended)

    def targeted(
        self, targets: Sequence[GenerationTarget], *, seed: int | None = None
    ) -> TemplateQAGenerator:
        """A generator of pairs for ``targets``: the templates whose queries use their concepts.

        Every template (standard and extended) is tried a few times; for each target, those
        whose queries cover most of the target's concepts (and of its pattern) are kept, and
        their pairs fill the target's share of the budget (by weight), each pair checked to use
        at least one of the target's concepts. Values and periods are the generator's own:
        nothing of a golden case but its pattern is used. Deterministic for the seed and the
        targets.

        Args:
            targets: From :attr:`Analysis.targets <text2sql_tune.analysis.Analysis.targets>`.
            seed: Random seed (default: this generator's).

        Returns:
            A new generator with the same schema, values and date range; its pairs carry
            ``metadata["target"]`` (the case or term) and ``metadata["reason"]``.
        """
        return TemplateQAGenerator(
            self.schema,
            seed=self.seed if seed is None else seed,
            date_range=self.date_range,
            values=self.values,
            extended=True,
            targets=targets,
        )

    # -- construction -----------------------------------------------------------------------

    @classmethod
    async def afrom_database(
        cls,
        executor: SQLExecutor,
        schema: DatabaseSchema | None = None,
        *,
        seed: int = 0,
        max_values: int = 12,
        extended: bool = False,
    ) -> TemplateQAGenerator:
        """Build a generator whose filter values and date range come from the data.

        Runs one small query per text column (its most common values) and per date column
        (its first and last date).

        Args:
            executor: The database.
            schema: The schema; default introspected from the executor.
            seed: Random seed.
            max_values: Most common values kept per text column.
            extended: Also use the extended templates.
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
        return cls(schema, seed=seed, date_range=date_range, values=values, extended=extended)

    # -- templates ------------------------------------------------------------------------------

    def _applicable_templates(
        self, extended: bool = False
    ) -> list[tuple[Callable[[random.Random], tuple[str, str]], int]]:
        templates: list[tuple[Callable[[random.Random], tuple[str, str]], int]] = []
        for info in self._tables:
            needs = ("table", "dated" if info.date else "undated")
            for fn, weight in self._registered(needs, extended):
                if fn(random.Random(0), info) is not None:
                    templates.append((_bind(fn, info), weight))
        for join in self._joins:
            for fn, weight in self._registered(("join",), extended):
                if fn(random.Random(0), join) is not None:
                    templates.append((_bind(fn, join), weight))
        return templates

    # -- generation -----------------------------------------------------------------------------

    def pairs(self, n: int) -> list[QAPair]:
        """Return ``n`` pairs, all different while the templates allow it."""
        if self.targets and self._templates:
            return targeted_pairs(
                self._templates,
                self.targets,
                n,
                seed=self.seed,
                name=self.name,
                focus=self._set_focus,
            )
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

    def _set_focus(self, focus: _Focus | None) -> None:
        self._focus = focus

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
