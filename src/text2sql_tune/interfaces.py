"""The pluggable interfaces: generators, executors, filters, tuners, judges and text-to-SQL models.

Each interface is an abstract base class with an async core (``a<name>``) and a sync twin
(``<name>``) that runs it through :func:`text2sql_tune._sync.run_sync`. Implement the abstract
methods of the async core; the sync twins come for free. Plain functions plug in through the
``Function*`` adapters in :mod:`text2sql_tune.adapters`.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._sync import run_sync
from .errors import (
    SQLExecutionError,
    SQLSyntaxError,
    SQLTimeoutError,
    Text2SQLTuneError,
    TooManyRowsError,
    TuningError,
    UnknownFunctionError,
    UnsafeSQLError,
)
from .records import (
    ExecutionOutcome,
    FilterDecision,
    JudgeInput,
    OutcomeStatus,
    Prediction,
    QAPair,
    QueryResult,
    TuningJob,
    Verdict,
)
from .sql.dialects import Dialect

if TYPE_CHECKING:
    from .safety import SQLGuard
    from .schema import DatabaseSchema

__all__ = [
    "DatasetFilter",
    "ExecutionLimits",
    "Judge",
    "QAGenerator",
    "SQLExecutor",
    "Text2SQLModel",
    "Tuner",
]


_LONG_SQL = 2_000  # characters above which the guard runs in a worker thread


class ExecutionLimits(BaseModel):
    """Limits every executor enforces on the server side.

    Attributes:
        max_execution_time_s: Seconds a query may run before the engine stops it.
        max_result_rows: Rows a result may have; more stops the query (``TooManyRowsError``).
        max_memory_usage_bytes: Memory one query may use.
        max_result_bytes: Bytes a result may have, both as the engine counts them
            (``max_result_bytes``) and as the executor receives it, checked before decoding.
        overflow: ``"throw"``: a result over the row or byte cap is an error; ``"break"``: the
            engine stops reading and the executor returns the first ``max_result_rows`` rows
            with ``truncated`` set (for showing a preview, never for validation).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_execution_time_s: float = Field(default=30.0, gt=0)
    max_result_rows: int = Field(default=10_000, gt=0)
    max_memory_usage_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_result_bytes: int = Field(default=32 * 1024**2, gt=0)
    overflow: Literal["throw", "break"] = "throw"


class QAGenerator(ABC):
    """Produces question/SQL pairs.

    Implement :meth:`agenerate` as an async generator that yields pairs as they are produced,
    including rejected ones (``QAPair.rejected`` set) so callers can checkpoint and count them.
    """

    name: str = "generator"

    @abstractmethod
    def agenerate(self, n: int) -> AsyncIterator[QAPair]:
        """Yield ``n`` pairs (usable or rejected) as they arrive.

        Args:
            n: How many generation attempts to make.
        """

    def generate(self, n: int) -> list[QAPair]:
        """Sync twin of :meth:`agenerate`: return all ``n`` pairs as a list."""

        async def collect() -> list[QAPair]:
            return [pair async for pair in self.agenerate(n)]

        return run_sync(collect())


class SQLExecutor(ABC):
    """Runs SQL on a database, safely and with limits.

    Every query goes through the safety guard first (:class:`text2sql_tune.safety.SQLGuard`), which
    refuses anything but one read-only statement and strips a trailing ``FORMAT`` clause. Subclasses
    implement :meth:`_aexecute_checked` (run one already-checked statement with ``self.limits``
    applied server-side) and set :attr:`dialect` when the engine is not ClickHouse.

    Args:
        limits: Server-side limits (time, rows, memory).
        guard: The safety guard; the default refuses everything unsafe in this executor's dialect.
        concurrency: Queries run at once by :meth:`aexecute_many` and concurrent callers.

    Attributes:
        dialect: What the library knows about the engine
            (:class:`~text2sql_tune.sql.dialects.Dialect`): the guard's parser and function
            catalog, schema introspection, error categories, approximate functions. A subclass
            may also name it (``dialect = "sqlite"``); the name is looked up with ``Dialect.get``.
    """

    dialect: Dialect = Dialect.get("clickhouse")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        named = cls.__dict__.get("dialect")
        if isinstance(named, str):
            cls.dialect = Dialect.get(named)

    def __init__(
        self,
        *,
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
    ) -> None:
        from .safety import SQLGuard

        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.limits = limits or ExecutionLimits()
        self.guard = guard or SQLGuard(dialect=self.dialect)
        self.concurrency = concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        """A short description of the database, for logs and reports (no secrets)."""
        return type(self).__name__

    @abstractmethod
    async def _aexecute_checked(self, sql: str) -> QueryResult:
        """Run one statement that already passed the guard, with ``self.limits`` enforced.

        Raises:
            SQLExecutionError: The engine rejected the query (and its subclasses for timeouts and
                row-cap overflows).
        """

    def _slot(self) -> asyncio.Semaphore:
        # A semaphore binds to the event loop it first waits on; an executor used from several
        # loops (sync twins on the portal loop, then asyncio.run elsewhere) needs one per loop.
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def aexecute(self, sql: str) -> QueryResult:
        """Check ``sql`` with the guard and run it.

        Args:
            sql: One read-only statement; a trailing ``FORMAT ...`` clause is ignored.

        Returns:
            The typed result.

        Raises:
            UnsafeSQLError: The guard refused the statement (it never reached the engine).
            SQLSyntaxError: The guard could not read it as SQL (it never reached the engine).
            SQLExecutionError: The engine rejected it; ``SQLTimeoutError`` / ``TooManyRowsError``
                when a limit stopped it. Whatever else the engine or its driver raises for one
                query (a bad payload, a result too large for memory) comes as one of these too.
        """
        try:
            if len(sql) > _LONG_SQL:  # a long statement takes milliseconds: not on the event loop
                checked = await asyncio.to_thread(self.guard.check, sql)
            else:
                checked = self.guard.check(sql)
        except Text2SQLTuneError:
            raise
        except Exception as exc:  # a custom guard that breaks refuses: fail closed
            raise UnsafeSQLError(sql, f"the guard failed: {type(exc).__name__}: {exc}") from exc
        async with self._slot():
            try:
                return await self._aexecute_checked(checked)
            except SQLExecutionError as exc:
                self._filed(exc)
                raise
            except Text2SQLTuneError:
                raise
            except MemoryError:
                raise TooManyRowsError(
                    checked, None, "RESULT_TOO_LARGE", "the result does not fit in memory"
                ) from None
            except Exception as exc:
                failed = f"the executor failed: {exc}"
                raise self._filed(
                    SQLExecutionError(checked, None, type(exc).__name__, failed)
                ) from exc

    def _filed(self, error: SQLExecutionError) -> SQLExecutionError:
        """``error`` with its engine-neutral category, from this executor's dialect."""
        if error.category is None:
            error.category = self.dialect.categorize(error.code, error.name, error.message)
        return error

    def execute(self, sql: str) -> QueryResult:
        """Sync twin of :meth:`aexecute`."""
        return run_sync(self.aexecute(sql))

    async def atry_execute(
        self, sql: str, *, min_rows: int = 1, max_rows: int | None = None
    ) -> ExecutionOutcome:
        """Run ``sql`` and classify how it went; never raises for SQL problems.

        Args:
            sql: The statement.
            min_rows: Fewer result rows than this is ``empty``.
            max_rows: More result rows than this is ``too_many_rows`` (default: the row cap).

        Returns:
            The outcome: ok / error / too_many_rows / empty / unsafe / timeout, with the error's
            engine-neutral category. SQL the guard cannot read is an ``error`` named
            ``SYNTAX_ERROR``, a function it does not know one named ``UNKNOWN_FUNCTION``, like
            the engine's own.

        Raises:
            ConfigurationError: The database cannot be reached or is misconfigured: that is no
                problem of one query, so it is not turned into an outcome.
        """
        started = time.perf_counter()
        try:
            result = await self.aexecute(sql)
        except UnknownFunctionError as exc:
            code = self.dialect.unknown_function_code
            return _failed(
                OutcomeStatus.ERROR,
                exc.reason,
                started,
                code,
                "UNKNOWN_FUNCTION",
                "unknown_function",
            )
        except UnsafeSQLError as exc:
            return _failed(OutcomeStatus.UNSAFE, exc.reason, started)
        except SQLSyntaxError as exc:
            return _failed(
                OutcomeStatus.ERROR, exc.message, started, None, "SYNTAX_ERROR", "syntax_error"
            )
        except (SQLTimeoutError, TooManyRowsError) as exc:
            timeout = isinstance(exc, SQLTimeoutError)
            status = OutcomeStatus.TIMEOUT if timeout else OutcomeStatus.TOO_MANY_ROWS
            return _failed(status, str(exc), started, exc.code, exc.name, exc.category)
        except SQLExecutionError as exc:
            return _failed(
                OutcomeStatus.ERROR, exc.message, started, exc.code, exc.name, exc.category
            )
        limit = self.limits.max_result_rows if max_rows is None else max_rows
        if result.truncated or result.row_count > limit:
            status = OutcomeStatus.TOO_MANY_ROWS
        elif result.row_count < min_rows:
            status = OutcomeStatus.EMPTY
        else:
            status = OutcomeStatus.OK
        return ExecutionOutcome(
            status=status, result=result, elapsed_s=time.perf_counter() - started
        )

    def try_execute(
        self, sql: str, *, min_rows: int = 1, max_rows: int | None = None
    ) -> ExecutionOutcome:
        """Sync twin of :meth:`atry_execute`."""
        return run_sync(self.atry_execute(sql, min_rows=min_rows, max_rows=max_rows))

    async def aexecute_many(
        self,
        sqls: Sequence[str],
        *,
        min_rows: int = 1,
        max_rows: int | None = None,
        on_done: Callable[[int, ExecutionOutcome], None] | None = None,
    ) -> list[ExecutionOutcome]:
        """Run many statements concurrently (up to ``concurrency`` at once), keeping input order.

        Args:
            sqls: The statements.
            min_rows: See :meth:`atry_execute`.
            max_rows: See :meth:`atry_execute`.
            on_done: Called with (index, outcome) as each finishes, e.g. to advance a progress bar.

        Returns:
            One outcome per statement, in input order.
        """

        async def one(index: int, sql: str) -> ExecutionOutcome:
            outcome = await self.atry_execute(sql, min_rows=min_rows, max_rows=max_rows)
            if on_done is not None:
                on_done(index, outcome)
            return outcome

        return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(sqls))))

    def execute_many(
        self,
        sqls: Sequence[str],
        *,
        min_rows: int = 1,
        max_rows: int | None = None,
        on_done: Callable[[int, ExecutionOutcome], None] | None = None,
    ) -> list[ExecutionOutcome]:
        """Sync twin of :meth:`aexecute_many`."""
        return run_sync(
            self.aexecute_many(sqls, min_rows=min_rows, max_rows=max_rows, on_done=on_done)
        )

    async def aget_schema(self, databases: Sequence[str] | None = None) -> DatabaseSchema:
        """Introspect tables, columns, types (and comments) the way the dialect knows how.

        Args:
            databases: Databases (schemas) to include; default all but the system ones.
        """
        return await self.dialect.aintrospect(self._aexecute_checked, databases)

    def get_schema(self, databases: Sequence[str] | None = None) -> DatabaseSchema:
        """Sync twin of :meth:`aget_schema`."""
        return run_sync(self.aget_schema(databases))

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections; the executor cannot be used afterwards."""

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        run_sync(self.aclose())

    def __enter__(self) -> SQLExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> SQLExecutor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _failed(
    status: OutcomeStatus,
    error: str,
    started: float,
    code: int | None = None,
    name: str | None = None,
    category: str | None = None,
) -> ExecutionOutcome:
    return ExecutionOutcome(
        status=status,
        error=error,
        error_code=code,
        error_name=name,
        error_category=category,
        elapsed_s=time.perf_counter() - started,
    )


class DatasetFilter(ABC):
    """Decides which pairs stay in a dataset.

    Implement :meth:`decide`: given the whole dataset (so filters can look across pairs, e.g. for
    duplicates), return one :class:`FilterDecision` per pair, in input order.
    """

    name: str = "filter"

    @abstractmethod
    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Return one decision per pair, in input order."""

    async def adecide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Async twin of :meth:`decide` (runs it in a worker thread)."""
        return await asyncio.to_thread(self.decide, pairs)

    def keep(self, pairs: Sequence[QAPair]) -> list[QAPair]:
        """Return only the pairs this filter keeps."""
        decisions = self.decide(pairs)
        return [p for p, d in zip(pairs, decisions, strict=True) if d.keep]


class Text2SQLModel(ABC):
    """Answers a question with SQL. Implement :meth:`apredict`."""

    name: str = "model"

    @abstractmethod
    async def apredict(self, question: str) -> Prediction:
        """Return the model's SQL for ``question`` (errors go in ``Prediction.error``)."""

    def predict(self, question: str) -> Prediction:
        """Sync twin of :meth:`apredict`."""
        return run_sync(self.apredict(question))


class Judge(ABC):
    """Decides whether a predicted query answers the question like the reference.

    Implement :meth:`ajudge`.
    """

    name: str = "judge"

    @abstractmethod
    async def ajudge(self, case: JudgeInput) -> Verdict:
        """Return a verdict (``correct`` may be ``None`` when undecided)."""

    def judge(self, case: JudgeInput) -> Verdict:
        """Sync twin of :meth:`ajudge`."""
        return run_sync(self.ajudge(case))


class Tuner(ABC):
    """Starts and follows tuning jobs at a provider.

    Implement :meth:`astart` and :meth:`astatus` (and :meth:`acancel` where the provider allows,
    :meth:`model_for` where it serves the tuned model); :meth:`await_until_done` polls with
    backoff.
    """

    name: str = "tuner"

    @abstractmethod
    async def astart(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Upload the formatted data and start tuning; returns at once with the job."""

    def start(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Sync twin of :meth:`astart`."""
        return run_sync(self.astart(train, validation=validation))

    @abstractmethod
    async def astatus(self, job_id: str) -> TuningJob:
        """Return the job's current state."""

    def status(self, job_id: str) -> TuningJob:
        """Sync twin of :meth:`astatus`."""
        return run_sync(self.astatus(job_id))

    async def acancel(self, job_id: str) -> TuningJob:
        """Cancel the job (not every provider supports it)."""
        raise TuningError(f"{type(self).__name__} cannot cancel jobs", job_id)

    def cancel(self, job_id: str) -> TuningJob:
        """Sync twin of :meth:`acancel`."""
        return run_sync(self.acancel(job_id))

    def model_for(self, job: TuningJob | str) -> Text2SQLModel:
        """The tuned model of a completed job (what ``[evaluate] model = "tuned"`` evaluates).

        Args:
            job: The job, or what identifies its tuned model (a job id or model name).

        Raises:
            TuningError: The job has no tuned model yet, or this tuner cannot build one (the
                default: override it where the provider serves tuned models).
        """
        job_id = job.job_id if isinstance(job, TuningJob) else job
        raise TuningError(
            f"{type(self).__name__} cannot build the tuned model of a job (it does not "
            "implement model_for)",
            job_id,
        )

    async def await_until_done(
        self,
        job_id: str,
        *,
        poll_interval_s: float = 30.0,
        max_interval_s: float = 300.0,
        timeout_s: float | None = None,
        on_update: Callable[[TuningJob], Any] | None = None,
    ) -> TuningJob:
        """Poll until the job is completed, failed or cancelled.

        The interval starts at ``poll_interval_s`` and grows by half after every unchanged status,
        up to ``max_interval_s``.

        Args:
            job_id: The job.
            poll_interval_s: First interval between polls.
            max_interval_s: Longest interval between polls.
            timeout_s: Give up after this many seconds (``TuningError``); ``None`` waits forever.
            on_update: Called with the job after every poll (progress display).

        Returns:
            The job in its terminal state.

        Raises:
            TuningError: When the job failed or was cancelled, or the timeout passed.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        interval = poll_interval_s
        last_status = None
        while True:
            job = await self.astatus(job_id)
            if on_update is not None:
                on_update(job)
            if job.status.terminal:
                if job.status.value != "completed":
                    reason = job.message or job.provider_status or job.status.value
                    raise TuningError(f"tuning job ended {job.status.value}: {reason}", job_id)
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TuningError(f"gave up waiting after {timeout_s} s", job_id)
            if job.status == last_status:
                interval = min(interval * 1.5, max_interval_s)
            last_status = job.status
            sleep_for = interval if deadline is None else min(interval, deadline - time.monotonic())
            await asyncio.sleep(max(sleep_for, 0.0))

    def wait_until_done(
        self,
        job_id: str,
        *,
        poll_interval_s: float = 30.0,
        max_interval_s: float = 300.0,
        timeout_s: float | None = None,
        on_update: Callable[[TuningJob], Any] | None = None,
    ) -> TuningJob:
        """Sync twin of :meth:`await_until_done`."""
        return run_sync(
            self.await_until_done(
                job_id,
                poll_interval_s=poll_interval_s,
                max_interval_s=max_interval_s,
                timeout_s=timeout_s,
                on_update=on_update,
            )
        )
