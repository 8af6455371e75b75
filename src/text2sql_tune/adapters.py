"""``Function*`` adapters: plug a plain function (sync or async) into any interface.

Example:
    >>> from text2sql_tune import FunctionModel
    >>> model = FunctionModel(lambda question: "SELECT 1")
    >>> model.predict("anything").sql
    'SELECT 1'
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .interfaces import (
    DatasetFilter,
    ExecutionLimits,
    Judge,
    QAGenerator,
    SQLExecutor,
    Text2SQLModel,
    Tuner,
)
from .records import (
    FilterDecision,
    JudgeInput,
    Prediction,
    QAPair,
    QueryResult,
    TuningJob,
    Verdict,
)
from .safety import SQLGuard
from .sql.dialects import Dialect

__all__ = [
    "FunctionExecutor",
    "FunctionFilter",
    "FunctionGenerator",
    "FunctionJudge",
    "FunctionModel",
    "FunctionTuner",
]

T = TypeVar("T")


async def _call(fn: Callable[..., T | Awaitable[T]], *args: Any) -> T:
    """Call a sync or async function; sync ones run in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        result: T = await fn(*args)
        return result
    value = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(value):
        return await value
    return value


class FunctionGenerator(QAGenerator):
    """A generator from a function ``fn(index) -> QAPair | dict | (question, sql)``.

    Args:
        fn: Called once per attempt with its index (0-based); sync or async.
        name: Name recorded as the pairs' ``source``.
    """

    def __init__(self, fn: Callable[[int], Any], *, name: str = "function") -> None:
        self.fn = fn
        self.name = name

    async def agenerate(self, n: int) -> AsyncIterator[QAPair]:
        """Yield one pair per call of the function (a raised error becomes a rejected pair)."""
        for index in range(n):
            try:
                value = await _call(self.fn, index)
                pair = _as_pair(value, self.name)
            except Exception as exc:
                pair = QAPair(rejected=f"{type(exc).__name__}: {exc}", source=self.name)
            yield pair


def _as_pair(value: Any, source: str) -> QAPair:
    if isinstance(value, QAPair):
        return value if value.source else value.model_copy(update={"source": source})
    if isinstance(value, tuple) and len(value) == 2:
        return QAPair(question=value[0], sql=value[1], source=source)
    if isinstance(value, dict):
        return QAPair.model_validate({"source": source, **value})
    raise TypeError(f"expected QAPair, dict or (question, sql), got {type(value).__name__}")


class FunctionExecutor(SQLExecutor):
    """An executor from a function ``fn(sql) -> QueryResult`` (sync or async).

    The function receives SQL that already passed the guard; it should apply ``limits`` itself.
    Raise :class:`~text2sql_tune.errors.SQLExecutionError` for engine errors: the ``dialect``
    files them under their category.

    Args:
        fn: Runs one checked statement.
        dialect: The engine's :class:`~text2sql_tune.sql.dialects.Dialect` or its name; the
            default guard parses with it.
        limits: The limits ``fn`` should apply.
        guard: The safety guard (default: the dialect's).
        concurrency: Queries run at once.
    """

    def __init__(
        self,
        fn: Callable[[str], QueryResult | Awaitable[QueryResult]],
        *,
        dialect: Dialect | str = "clickhouse",
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
    ) -> None:
        self.dialect = Dialect.get(dialect)
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self.fn = fn

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        return await _call(self.fn, sql)


class FunctionFilter(DatasetFilter):
    """A per-pair filter from ``fn(pair) -> bool | str | None | FilterDecision``.

    ``True``/``None`` keeps the pair; ``False`` drops it with reason ``name``; a string drops it
    with that string as the reason.
    """

    def __init__(self, fn: Callable[[QAPair], Any], *, name: str = "function") -> None:
        self.fn = fn
        self.name = name

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Apply the function to each pair."""
        decisions = []
        for pair in pairs:
            value = self.fn(pair)
            if isinstance(value, FilterDecision):
                decisions.append(value)
            elif value is True or value is None:
                decisions.append(FilterDecision(keep=True, filter=self.name))
            elif value is False:
                decisions.append(FilterDecision(keep=False, filter=self.name, reason=self.name))
            else:
                decisions.append(FilterDecision(keep=False, filter=self.name, reason=str(value)))
        return decisions


class FunctionModel(Text2SQLModel):
    """A text-to-SQL model from ``fn(question) -> str | Prediction`` (sync or async)."""

    def __init__(self, fn: Callable[[str], Any], *, name: str = "function") -> None:
        self.fn = fn
        self.name = name

    async def apredict(self, question: str) -> Prediction:
        """Call the function; an exception becomes ``Prediction.error``."""
        started = time.perf_counter()
        try:
            value = await _call(self.fn, question)
        except Exception as exc:
            return Prediction(
                question=question,
                error=f"{type(exc).__name__}: {exc}",
                latency_s=time.perf_counter() - started,
            )
        if isinstance(value, Prediction):
            return value
        return Prediction(
            question=question,
            sql=str(value),
            raw_output=str(value),
            latency_s=time.perf_counter() - started,
        )


class FunctionJudge(Judge):
    """A judge from ``fn(case) -> bool | None | Verdict`` (sync or async)."""

    def __init__(self, fn: Callable[[JudgeInput], Any], *, name: str = "function") -> None:
        self.fn = fn
        self.name = name

    async def ajudge(self, case: JudgeInput) -> Verdict:
        """Call the function and wrap a bare bool/None into a verdict."""
        value = await _call(self.fn, case)
        if isinstance(value, Verdict):
            return value
        if value is None:
            return Verdict(correct=None, reason="the function could not decide", judge=self.name)
        return Verdict(correct=bool(value), reason=f"{self.name} returned {value}", judge=self.name)


class FunctionTuner(Tuner):
    """A tuner from two functions (sync or async).

    ``start(train, validation) -> TuningJob`` starts a job and
    ``status(job_id) -> TuningJob`` reads one.
    """

    def __init__(
        self,
        start: Callable[[Sequence[QAPair], Sequence[QAPair] | None], Any],
        status: Callable[[str], Any],
        *,
        name: str = "function",
    ) -> None:
        self._start = start
        self._status = status
        self.name = name

    async def astart(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Call the start function."""
        job: TuningJob = await _call(self._start, list(train), validation)
        return job

    async def astatus(self, job_id: str) -> TuningJob:
        """Call the status function."""
        job: TuningJob = await _call(self._status, job_id)
        return job
