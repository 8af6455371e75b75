"""Evaluate a text-to-SQL model (or a file of its predictions) on a golden set.

For each golden case the :class:`Evaluator` gets the predicted SQL (from a
:class:`~text2sql_tune.interfaces.Text2SQLModel` or a predictions file), runs it and the reference
SQL on the database, asks a :class:`~text2sql_tune.interfaces.Judge` whether the answers match,
and files the case under one category (``correct``, ``wrong_result``, ``syntax_error``,
``unknown_column`` ...). The :class:`~text2sql_tune.records.EvalReport` it returns has validity
(did the SQL run), accuracy (was the answer right), per-case reasons, latency and token cost.

Example:
    >>> from text2sql_tune.evaluate.evaluator import Evaluator
    >>> report = Evaluator(executor).evaluate(model, cases)  # doctest: +SKIP
    >>> report.summary.accuracy  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._sync import run_sync
from ..errors import EvaluationError, ProviderOutageError, ProviderUnavailableError
from ..interfaces import Judge, SQLExecutor, Text2SQLModel
from ..io.records import read_cases
from ..records import (
    EvalCase,
    EvalReport,
    EvalResult,
    EvalSummary,
    ExecutionOutcome,
    JudgeInput,
    OutcomeStatus,
    Prediction,
    ResultPreview,
    Usage,
)
from ..sql.dialects import Dialect
from ..sql.normalize import normalize_question
from .inputs import (
    check_golden_cases,
    prediction_problems,
    read_predictions,
    shown_questions,
)

__all__ = [
    "Evaluator",
    "aevaluate_predictions",
    "categorize_error",
    "evaluate_predictions",
    "match_predictions",
    "normalize_question",
    "read_predictions",
    "summarize",
]

logger = logging.getLogger("text2sql_tune")

_STATUS_CATEGORIES = {
    OutcomeStatus.UNSAFE: "unsafe",
    OutcomeStatus.TIMEOUT: "timeout",
    OutcomeStatus.TOO_MANY_ROWS: "too_many_rows",
    OutcomeStatus.EMPTY: "empty_result",
}


def categorize_error(outcome: ExecutionOutcome, dialect: Dialect | str = "clickhouse") -> str:
    """The evaluation category of a failed execution (``syntax_error``, ``unknown_column``...).

    Args:
        outcome: The predicted query's outcome.
        dialect: The engine that ran it, for outcomes its executor did not categorize (read
            from a file written before outcomes had ``error_category``).

    Returns:
        A category; ``execution_error`` when the error is not one of the known kinds.
    """
    if outcome.status is OutcomeStatus.UNSAFE and "could not parse" in (outcome.error or ""):
        # Outcomes recorded before the guard had its own syntax error (SQLSyntaxError).
        return "syntax_error"
    if outcome.status in _STATUS_CATEGORIES:
        return _STATUS_CATEGORIES[outcome.status]
    if outcome.error_category:
        return outcome.error_category
    return Dialect.get(dialect).categorize(
        outcome.error_code, outcome.error_name, outcome.error or ""
    )


def __getattr__(name: str) -> Any:
    if name == "ERROR_CATEGORIES":  # ClickHouse's names moved to its dialect in 0.2
        warnings.warn(
            "text2sql_tune.evaluate.ERROR_CATEGORIES is deprecated: errors are filed by the "
            'executor\'s dialect (Dialect.get("clickhouse").error_names); it goes in 0.3',
            DeprecationWarning,
            stacklevel=2,
        )
        return Dialect.get("clickhouse").error_names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def match_predictions(
    cases: Sequence[EvalCase], predictions: Sequence[Prediction]
) -> tuple[list[Prediction | None], list[Prediction]]:
    """Pair each golden case with its prediction by normalised question.

    Returns:
        One prediction (or ``None`` when missing) per case, in golden order, and the predictions
        that match no case. When a question is predicted twice, the first prediction is used.
    """
    by_question: dict[str, Prediction] = {}
    for prediction in predictions:
        by_question.setdefault(normalize_question(prediction.question), prediction)
    wanted = {normalize_question(case.question) for case in cases}
    matched = [by_question.get(normalize_question(case.question)) for case in cases]
    unmatched = [p for q, p in by_question.items() if q not in wanted]
    return matched, unmatched


def summarize(results: Sequence[EvalResult]) -> EvalSummary:
    """Counts and rates over evaluated cases."""
    total = len(results)
    usage: Usage | None = None
    for result in results:
        if result.usage is not None:
            usage = result.usage if usage is None else usage + result.usage
    valid = sum(r.valid for r in results)
    correct = sum(r.correct is True for r in results)
    return EvalSummary(
        total=total,
        valid=valid,
        correct=correct,
        wrong=sum(r.correct is False for r in results),
        undecided=sum(r.correct is None for r in results),
        validity_rate=valid / total if total else 0.0,
        accuracy=correct / total if total else 0.0,
        by_status=dict(Counter(r.status.value if r.status else "not_run" for r in results)),
        by_category=dict(Counter(r.category for r in results)),
        usage=usage,
        mean_latency_s=sum(r.latency_s for r in results) / total if total else 0.0,
    )


class Evaluator:
    """Runs predictions against a golden set and judges them.

    Args:
        executor: The database both the predicted and the reference SQL run on.
        judge: Decides correctness; default
            :class:`~text2sql_tune.evaluate.judges.ExecutionMatchJudge` on the same executor.
        concurrency: Cases evaluated at once (model calls and queries).
        max_rows: More predicted rows than this is ``too_many_rows`` (default: the executor's cap).
        preview_rows: First rows of the reference and the predicted result kept on each
            :class:`~text2sql_tune.records.EvalResult` as evidence for reports (0: none).
        max_consecutive_failures: Model calls in a row that got no answer from the provider
            (after its retries) before :meth:`aevaluate` stops with ``ProviderOutageError``;
            ``None``: never stop (each such case is ``no_sql``).
    """

    def __init__(
        self,
        executor: SQLExecutor,
        judge: Judge | None = None,
        *,
        concurrency: int = 8,
        max_rows: int | None = None,
        preview_rows: int = 10,
        max_consecutive_failures: int | None = 5,
    ) -> None:
        from ..llm.outage import FailureStreak

        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if preview_rows < 0:
            raise ValueError("preview_rows must be >= 0")
        FailureStreak(max_consecutive_failures)  # validates the limit now
        if judge is None:
            from .judges import ExecutionMatchJudge

            judge = ExecutionMatchJudge(executor)
        self.executor = executor
        self.judge = judge
        self.concurrency = concurrency
        self.max_rows = max_rows
        self.preview_rows = preview_rows
        self.max_consecutive_failures = max_consecutive_failures
        self._references: dict[str, asyncio.Task[ExecutionOutcome]] = {}

    async def aevaluate(
        self,
        model: Text2SQLModel,
        cases: Sequence[EvalCase],
        *,
        on_done: Callable[[int, EvalResult], None] | None = None,
    ) -> EvalReport:
        """Ask ``model`` every golden question, then run and judge its SQL.

        Args:
            model: The model under evaluation.
            cases: The golden set.
            on_done: Called with (index, result) as each case finishes (progress display).

        Returns:
            The report, results in golden order.

        Raises:
            ProviderOutageError: ``max_consecutive_failures`` model calls in a row got no
                answer; no new question is asked, the ones in flight finish first (a
                :class:`~text2sql_tune.models.CheckpointedModel` keeps their answers).
        """
        from ..llm.outage import FailureStreak

        streak = FailureStreak(self.max_consecutive_failures)

        async def predict(case: EvalCase) -> Prediction:
            if streak.stopped is not None:  # the provider is down: do not ask the rest
                raise streak.stopped
            started = time.perf_counter()
            try:
                prediction = await model.apredict(case.question)
            except ProviderUnavailableError as exc:
                streak.failure(exc)  # raises ProviderOutageError at the limit
                prediction = Prediction(
                    question=case.question, error=f"no answer from the provider: {exc}"
                )
            except Exception as exc:  # a model failure is one failed case, not a failed run
                prediction = Prediction(
                    question=case.question, error=f"{type(exc).__name__}: {exc}"
                )
            else:
                streak.success()
            if not prediction.latency_s:
                prediction.latency_s = time.perf_counter() - started
            return prediction

        return await self._run(cases, predict, model.name, {}, on_done)

    def evaluate(
        self,
        model: Text2SQLModel,
        cases: Sequence[EvalCase],
        *,
        on_done: Callable[[int, EvalResult], None] | None = None,
    ) -> EvalReport:
        """Sync twin of :meth:`aevaluate`."""
        return run_sync(self.aevaluate(model, cases, on_done=on_done))

    async def aevaluate_predictions(
        self,
        cases: Sequence[EvalCase],
        predictions: Sequence[Prediction],
        *,
        name: str = "predictions",
        on_done: Callable[[int, EvalResult], None] | None = None,
        strict: bool = False,
    ) -> EvalReport:
        """Judge ready-made predictions, matched to cases by normalised question.

        A case with no prediction counts as ``no_sql``. Predictions matching no case are logged
        as a warning naming them, counted in ``metadata["unmatched_predictions"]`` and listed in
        ``metadata["unmatched_questions"]``; a question predicted twice is scored with its first
        prediction, with a warning.

        Args:
            cases: The golden set.
            predictions: The predictions.
            name: The name of the evaluated model in the report.
            on_done: Called with (index, result) as each case finishes.
            strict: Refuse predictions that match no golden question instead of warning.

        Raises:
            EvaluationError: The golden set is empty or repeats a question, there are no
                predictions, no prediction matches any case, or (``strict``) some match none.
        """
        check_golden_cases(cases)
        if not predictions:
            raise EvaluationError("there are no predictions to evaluate")
        matched, _ = match_predictions(cases, predictions)
        unmatched, repeated = prediction_problems(cases, predictions)
        if cases and all(p is None for p in matched):
            raise EvaluationError(
                f"none of the {len(predictions)} predictions matches a golden question "
                "(questions are compared ignoring case, spacing and trailing punctuation)"
            )
        if unmatched:
            message = (
                f"{len(unmatched)} prediction(s) match no golden question: "
                f"{shown_questions(unmatched)}"
            )
            if strict:
                raise EvaluationError(f"{message}; strict mode: nothing was scored")
            logger.warning("%s; they are not scored", message)
        if repeated:
            logger.warning(
                "%d question(s) are predicted more than once; the first prediction is scored: %s",
                len(repeated),
                shown_questions(repeated),
            )
        by_case = dict(zip((id(c) for c in cases), matched, strict=True))

        async def lookup(case: EvalCase) -> Prediction | None:
            return by_case[id(case)]

        extra = {"unmatched_predictions": len(unmatched), "unmatched_questions": unmatched[:100]}
        return await self._run(cases, lookup, name, extra, on_done)

    def evaluate_predictions(
        self,
        cases: Sequence[EvalCase],
        predictions: Sequence[Prediction],
        *,
        name: str = "predictions",
        on_done: Callable[[int, EvalResult], None] | None = None,
        strict: bool = False,
    ) -> EvalReport:
        """Sync twin of :meth:`aevaluate_predictions`."""
        return run_sync(
            self.aevaluate_predictions(
                cases, predictions, name=name, on_done=on_done, strict=strict
            )
        )

    async def _run(
        self,
        cases: Sequence[EvalCase],
        get_prediction: Callable[[EvalCase], Any],
        name: str,
        metadata: dict[str, Any],
        on_done: Callable[[int, EvalResult], None] | None,
    ) -> EvalReport:
        if not cases:
            raise EvaluationError("the golden set is empty")
        check_golden_cases(cases)
        slots = asyncio.Semaphore(self.concurrency)
        self._references = {}  # each run sees the database as it is now

        async def one(index: int, case: EvalCase) -> EvalResult:
            async with slots:
                prediction = await get_prediction(case)
                result = await self.aevaluate_case(case, prediction)
            if on_done is not None:
                on_done(index, result)
            return result

        # Every case runs to its end even when one fails, so answers in flight are not lost.
        outcomes = await asyncio.gather(
            *(one(i, c) for i, c in enumerate(cases)), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            stop = next((f for f in failures if isinstance(f, ProviderOutageError)), failures[0])
            raise stop
        results = [o for o in outcomes if isinstance(o, EvalResult)]
        logger.info("evaluated %d cases of %s with judge %s", len(results), name, self.judge.name)
        ran = [r for r in results if r.category != "no_sql"]
        if ran and all(r.category == "reference_failed" for r in ran):
            logger.warning(
                "the reference query failed for all %d cases it ran for: is %s the database "
                "the golden set was written for?",
                len(ran),
                self.executor.name,
            )
        return EvalReport(
            summary=summarize(results),
            results=results,
            model=name,
            judge=self.judge.name,
            metadata={"database": self.executor.name, **metadata},
        )

    async def _reference(self, sql: str) -> ExecutionOutcome:
        task = self._references.get(sql)
        if task is None:
            task = asyncio.ensure_future(self.executor.atry_execute(sql, min_rows=0))
            self._references[sql] = task
        return await task

    async def aevaluate_case(self, case: EvalCase, prediction: Prediction | None) -> EvalResult:
        """Run, judge and categorise one case (``prediction`` ``None`` means none was given)."""
        base: dict[str, Any] = {"question": case.question, "reference_sql": case.sql}
        if prediction is None:
            return EvalResult(
                **base,
                predicted_sql="",
                valid=False,
                correct=False,
                category="no_sql",
                reason="no prediction for this question (no SQL to run)",
            )
        base.update(
            predicted_sql=prediction.sql,
            latency_s=prediction.latency_s,
            usage=prediction.usage,
        )
        if not prediction.sql.strip():
            why = prediction.error or "the answer held no SQL"
            return EvalResult(
                **base,
                valid=False,
                correct=False,
                category="no_sql",
                reason=f"the model gave no SQL: {why}",
                error=prediction.error,
            )
        outcome, reference = await asyncio.gather(
            self.executor.atry_execute(prediction.sql, min_rows=1, max_rows=self.max_rows),
            self._reference(case.sql),
        )
        if not reference.executed or reference.result is None:
            # Whatever the prediction did, a case whose reference fails cannot be scored.
            return EvalResult(
                **base,
                valid=outcome.executed,
                status=outcome.status,
                correct=None,
                category="reference_failed",
                reason=f"the reference query failed: {_first_line(reference.error)}",
                error=reference.error,
            )
        base.update(valid=outcome.executed, status=outcome.status)
        if self.preview_rows:
            base.update(
                reference_preview=_preview(reference, self.preview_rows),
                predicted_preview=_preview(outcome, self.preview_rows),
            )
        if not outcome.executed:
            return EvalResult(
                **base,
                correct=False,
                category=categorize_error(outcome, self.executor.dialect),
                reason=_failure_reason(outcome),
                error=outcome.error,
            )
        ref_rows = reference.result.row_count
        if outcome.status is OutcomeStatus.TOO_MANY_ROWS:
            # The engine may stop such a query at its row cap, leaving no result to count.
            count = "over the row cap" if outcome.result is None else outcome.result.row_count
            return EvalResult(
                **base,
                correct=False,
                category="too_many_rows",
                reason=f"the predicted query returned too many rows "
                f"({count}; the reference returned {ref_rows})",
            )
        assert outcome.result is not None  # ok and empty outcomes always carry their result
        if outcome.status is OutcomeStatus.EMPTY and ref_rows > 0:
            return EvalResult(
                **base,
                correct=False,
                category="empty_result",
                reason=f"the predicted query returned no rows; the reference returned {ref_rows}",
            )
        return await self._judge(case, prediction, outcome, reference, base)

    async def _judge(
        self,
        case: EvalCase,
        prediction: Prediction,
        outcome: ExecutionOutcome,
        reference: ExecutionOutcome,
        base: dict[str, Any],
    ) -> EvalResult:
        judge_input = JudgeInput(
            question=case.question,
            reference_sql=case.sql,
            predicted_sql=prediction.sql,
            reference=reference.result,
            predicted=outcome.result,
        )
        try:
            verdict = await self.judge.ajudge(judge_input)
        except Exception as exc:  # one broken verdict must not lose the whole evaluation
            return EvalResult(
                **base,
                correct=None,
                category="undecided",
                reason=f"the judge failed: {type(exc).__name__}: {exc}",
                judge=self.judge.name,
            )
        usage = base.get("usage")
        judge_usage = verdict.details.get("usage")
        if isinstance(judge_usage, dict) and not verdict.details.get("cached"):
            extra = Usage.model_validate(judge_usage)
            base["usage"] = extra if usage is None else usage + extra
        category = {True: "correct", False: "wrong_result", None: "undecided"}[verdict.correct]
        return EvalResult(
            **base,
            correct=verdict.correct,
            category=category,
            reason=verdict.reason,
            judge=verdict.judge,
            details=verdict.details,
        )


def _preview(outcome: ExecutionOutcome, rows: int) -> ResultPreview | None:
    return None if outcome.result is None else ResultPreview.of(outcome.result, rows)


def _failure_reason(outcome: ExecutionOutcome) -> str:
    if outcome.status is OutcomeStatus.UNSAFE:
        return f"the safety guard refused the predicted query: {_first_line(outcome.error)}"
    if outcome.status is OutcomeStatus.TIMEOUT:
        return f"the predicted query ran past the time limit: {_first_line(outcome.error)}"
    if outcome.status is OutcomeStatus.TOO_MANY_ROWS:
        return f"the predicted query returned too many rows: {_first_line(outcome.error)}"
    return f"the predicted query failed: {_first_line(outcome.error)}"


def _first_line(text: str | None) -> str:
    if not text:
        return "unknown error"
    line = text.strip().splitlines()[0]
    return line[:300]


async def aevaluate_predictions(
    golden: str | Path,
    predictions: str | Path,
    executor: SQLExecutor,
    *,
    judge: Judge | None = None,
    concurrency: int = 8,
) -> EvalReport:
    """Evaluate a predictions file against a golden-set file (no model needed).

    Args:
        golden: Golden set file (JSONL/JSON/TSV/CSV; ``sql_query`` accepted).
        predictions: Predictions file, ``{"question", "sql"}`` per record.
        executor: The database.
        judge: The judge (default: execution match).
        concurrency: Cases evaluated at once.

    Returns:
        The report; ``model`` is the predictions file name.
    """
    evaluator = Evaluator(executor, judge, concurrency=concurrency)
    report = await evaluator.aevaluate_predictions(
        read_cases(golden), read_predictions(predictions), name=Path(predictions).name
    )
    report.metadata.update(golden=str(golden), predictions=str(predictions))
    return report


def evaluate_predictions(
    golden: str | Path,
    predictions: str | Path,
    executor: SQLExecutor,
    *,
    judge: Judge | None = None,
    concurrency: int = 8,
) -> EvalReport:
    """Sync twin of :func:`aevaluate_predictions`."""
    return run_sync(
        aevaluate_predictions(golden, predictions, executor, judge=judge, concurrency=concurrency)
    )
