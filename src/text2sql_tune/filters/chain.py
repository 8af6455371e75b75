"""FilterChain: run filters one after another and report what each dropped; the default chain."""

from __future__ import annotations

import asyncio
import gc
import inspect
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .. import registry
from ..analysis.dataset_stats import dataset_stats
from ..errors import ConfigurationError
from ..interfaces import DatasetFilter, SQLExecutor
from ..records import MAX_SQL_LENGTH, EvalCase, FilterDecision, QAPair
from ..safety import SQLGuard
from .dedupe import NearDuplicateQuestionFilter
from .length import SQLLengthFilter
from .report import DroppedPair, FilterReport, FilterStep

__all__ = ["DEFAULT_FILTERS", "FilterChain", "build_filter", "default_filters"]

GENERATOR_STEP = "generator"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk step.

    Filters build hundreds of thousands of small containers that all survive; each automatic
    collection would traverse them again (measured: a third of the time at 100,000 pairs). Nothing
    here creates reference cycles, and the previous state is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


DEFAULT_FILTERS: tuple[str, ...] = (
    "sql_length",
    "safety",
    "valid_sql",
    "row_count",
    "duplicate_question",
    "duplicate_sql",
    "near_duplicate",
    "leakage",
)
"""The registry names of the default chain, in the order the filters run."""


def sql_length_filter(*, max_sql_length: int = MAX_SQL_LENGTH) -> DatasetFilter:
    """The registry's ``sql_length`` filter: SQL longer than ``max_sql_length`` characters."""
    return SQLLengthFilter(max_sql_length)


def near_duplicate_filter(*, near_dup_threshold: float = 0.9) -> DatasetFilter:
    """The registry's ``near_duplicate`` filter: rewordings of a kept question."""
    return NearDuplicateQuestionFilter(threshold=near_dup_threshold)


def build_filter(
    name: str,
    settings: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> DatasetFilter:
    """Build the filter registered under ``name``.

    Args:
        name: A filter name of the :mod:`~text2sql_tune.registry`.
        settings: Shared cleaning settings (``min_rows``, ``max_rows``, ``near_dup_threshold``,
            ``max_sql_length``, ``eval_cases``, ``executor``); the factory gets those its
            signature names.
        options: Keyword arguments for this filter; they override the shared settings.

    Raises:
        ConfigurationError: Unknown name, an option the filter does not take, or a value it
            refuses.
    """
    factory = registry.get("filter", name)
    options = dict(options or {})
    try:
        parameters = list(inspect.signature(factory).parameters.values())
        open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters)
    except (TypeError, ValueError):  # no signature to read: it gets its own options only
        parameters, open_ended = [], True
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not open_ended and set(options) - named:
        unknown = ", ".join(sorted(set(options) - named))
        raise ConfigurationError(
            f"filter {name!r} takes no option {unknown}; it takes: "
            f"{', '.join(sorted(named)) or 'no options'}"
        )
    shared = {k: v for k, v in (settings or {}).items() if k in named and v is not None}
    try:
        return factory(**{**shared, **options})
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"filter {name!r}: {exc}") from exc


def default_filters(
    *,
    min_rows: int = 1,
    max_rows: int = 100,
    near_dup_threshold: float = 0.9,
    eval_cases: Iterable[EvalCase] | None = None,
    max_sql_length: int | None = MAX_SQL_LENGTH,
    extra: Iterable[str | DatasetFilter] = (),
    without: Iterable[str] = (),
    options: Mapping[str, Mapping[str, Any]] | None = None,
    guard: SQLGuard | None = None,
    executor: SQLExecutor | None = None,
) -> list[DatasetFilter]:
    """The article's cleaning as a list of filters, in the order they run, plus your own.

    SQL length, safety, valid SQL, row count, duplicate questions, duplicate SQL, near-duplicate
    questions, and leakage when a golden set is given (:data:`DEFAULT_FILTERS`); then ``extra``.

    Args:
        min_rows: Fewest result rows a kept pair has (the article: more than 0).
        max_rows: Most result rows a kept pair has (the article: 100).
        near_dup_threshold: Word-set Jaccard similarity at which two questions are near
            duplicates (also used against golden questions).
        eval_cases: The golden set to keep out of the training data; ``None`` skips leakage.
        max_sql_length: Longest SQL kept, in characters; ``None`` skips the length filter.
        extra: More filters, run after the default ones: registry names (built with the
            settings above and their ``options``; a default one named again runs once, in its
            place) or filter objects.
        without: Default filters to leave out, by name (e.g. ``"near_duplicate"``).
        options: Filter name -> keyword arguments for that filter, overriding the settings
            above (e.g. ``{"row_count": {"max_rows": 500}}``).
        guard: The guard of the database the pairs were validated on (``executor.guard``), so
            that pairs nobody validated are checked in that engine's dialect; default
            ClickHouse's.
        executor: The database the pairs were validated on, for the filters that run queries
            (the leakage filter compares results with it); ``None``: they compare text only.

    Returns:
        The filters, ready for :class:`FilterChain`.

    Raises:
        ConfigurationError: A name in ``without`` that is not a default filter, an unknown
            filter name, or options for a filter that is not in the chain or does not take them.
    """
    skipped = {_default_name(name) for name in without}
    if max_sql_length is None:
        skipped.add("sql_length")
    if eval_cases is None:
        skipped.add("leakage")
    chosen: list[str | DatasetFilter] = [name for name in DEFAULT_FILTERS if name not in skipped]
    for item in extra:
        item = registry.check("filter", item) if isinstance(item, str) else item
        if item not in chosen:  # a default filter named again runs once, in its place
            chosen.append(item)
    by_name = {registry.check("filter", name): dict(o) for name, o in (options or {}).items()}
    unused = sorted(set(by_name) - {name for name in chosen if isinstance(name, str)})
    if unused:
        raise ConfigurationError(
            f"options for {', '.join(unused)}, which the cleaning chain does not run"
        )
    settings = {
        "min_rows": min_rows,
        "max_rows": max_rows,
        "near_dup_threshold": near_dup_threshold,
        "eval_cases": None if eval_cases is None else list(eval_cases),
        "max_sql_length": max_sql_length,
        "executor": executor,
    }
    if guard is not None and "safety" in chosen:
        # The executor's own guard validated most pairs already: trust their validation and
        # check the others in the engine's dialect.
        safety = by_name.setdefault("safety", {})
        safety.setdefault("guard", guard)
        safety.setdefault("trust_validation", True)
    return [
        build_filter(item, settings, by_name.get(item)) if isinstance(item, str) else item
        for item in chosen
    ]


def _default_name(name: str) -> str:
    key = name.strip().lower()
    if key not in DEFAULT_FILTERS:
        raise ConfigurationError(
            f"{name!r} is not a default filter; the default chain: {', '.join(DEFAULT_FILTERS)}"
        )
    return key


class _Run:
    """Book-keeping of one chain run: survivors, steps and dropped pairs."""

    def __init__(self, pairs: Sequence[QAPair]) -> None:
        self.input_count = len(pairs)
        self.steps: list[FilterStep] = []
        self.dropped: list[DroppedPair] = []
        self.survivors: list[tuple[int, QAPair]] = []
        rejected: Counter[str] = Counter()
        for index, pair in enumerate(pairs):
            if pair.ok:
                self.survivors.append((index, pair))
                continue
            decision = FilterDecision(
                keep=False,
                filter=GENERATOR_STEP,
                reason="rejected_by_generator",
                detail=pair.rejected,
            )
            self.dropped.append(DroppedPair(index=index, pair=pair, decision=decision))
            rejected["rejected_by_generator"] += 1
        self._add_step(GENERATOR_STEP, self.input_count, rejected)

    @property
    def pairs(self) -> list[QAPair]:
        return [pair for _, pair in self.survivors]

    def _add_step(
        self, name: str, seen: int, reasons: Counter[str], elapsed_s: float = 0.0
    ) -> None:
        dropped = sum(reasons.values())
        self.steps.append(
            FilterStep(
                name=name,
                input=seen,
                kept=seen - dropped,
                dropped=dropped,
                reasons=dict(reasons.most_common()),
                elapsed_s=elapsed_s,
            )
        )

    def record(
        self,
        dataset_filter: DatasetFilter,
        decisions: Sequence[FilterDecision],
        started: float,
    ) -> None:
        if len(decisions) != len(self.survivors):
            raise ValueError(
                f"filter {dataset_filter.name!r} returned {len(decisions)} decisions "
                f"for {len(self.survivors)} pairs"
            )
        survivors = []
        reasons: Counter[str] = Counter()
        for (index, pair), decision in zip(self.survivors, decisions, strict=True):
            if decision.keep:
                survivors.append((index, pair))
                continue
            if decision.reason is None or not decision.filter:
                decision = decision.model_copy(
                    update={
                        "reason": decision.reason or dataset_filter.name,
                        "filter": decision.filter or dataset_filter.name,
                    }
                )
            reasons[decision.reason or dataset_filter.name] += 1
            self.dropped.append(DroppedPair(index=index, pair=pair, decision=decision))
        elapsed = time.perf_counter() - started
        self._add_step(dataset_filter.name, len(self.survivors), reasons, elapsed)
        self.survivors = survivors

    def report(self) -> tuple[list[QAPair], FilterReport]:
        kept = self.pairs
        self.dropped.sort(key=lambda d: d.index)
        by_reason = Counter(d.decision.reason or d.decision.filter for d in self.dropped)
        return kept, FilterReport(
            input_count=self.input_count,
            kept_count=len(kept),
            dropped_count=len(self.dropped),
            steps=self.steps,
            by_reason=dict(by_reason.most_common()),
            stats=dataset_stats(kept),
            dropped=self.dropped,
        )


class FilterChain:
    """Runs filters in order; each sees only the pairs the previous ones kept.

    Pairs their generator rejected (``QAPair.rejected`` set) are dropped first, as step
    ``generator`` with reason ``rejected_by_generator``. Every dropped pair is reported once,
    with the first filter and reason that dropped it.

    Args:
        filters: The filters, e.g. :func:`default_filters` (plus your own
            :class:`~text2sql_tune.interfaces.DatasetFilter`).

    Example:
        >>> from text2sql_tune import FilterChain, default_filters
        >>> kept, report = FilterChain(default_filters()).apply(validated)  # doctest: +SKIP
        >>> report.save("clean.report.json", dropped_path="clean.dropped.jsonl")  # doctest: +SKIP
    """

    def __init__(self, filters: Iterable[DatasetFilter]) -> None:
        self.filters = list(filters)

    def apply(self, pairs: Sequence[QAPair]) -> tuple[list[QAPair], FilterReport]:
        """Filter ``pairs``.

        Args:
            pairs: The pairs (usually validated; see :func:`~text2sql_tune.validate_pairs`).

        Returns:
            The kept pairs in input order, and the report (with statistics of the kept pairs).

        Raises:
            ValueError: A filter returned a different number of decisions than pairs.
        """
        with _gc_paused():
            run = _Run(pairs)
            for dataset_filter in self.filters:
                started = time.perf_counter()
                run.record(dataset_filter, dataset_filter.decide(run.pairs), started)
            return run.report()

    async def aapply(self, pairs: Sequence[QAPair]) -> tuple[list[QAPair], FilterReport]:
        """Async twin of :meth:`apply`: each filter runs through its ``adecide``."""
        run = _Run(pairs)
        for dataset_filter in self.filters:
            started = time.perf_counter()
            run.record(dataset_filter, await dataset_filter.adecide(run.pairs), started)
        return await asyncio.to_thread(run.report)
