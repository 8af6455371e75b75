"""The deterministic judge: run both queries and compare their results by the documented rules."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ...errors import Text2SQLTuneError
from ...interfaces import Judge, SQLExecutor
from ...records import JudgeInput, QueryResult, Verdict
from ...sql.dialects import Dialect
from .compare import Comparison, MatchRules, compare_results
from .ordering import TopRows, reference_order, rounded_to, top_rows
from .question import QuestionReading, read_question
from .rewrite import ExactRewrite, rewrite_exact
from .suite import TestSuite
from .suite.suite import Decide, Run
from .ties import tie_breaks

__all__ = ["ExecutionMatchJudge"]

logger = logging.getLogger("text2sql_tune")

_NO_LIMIT_ON_STRUCTURE = float("inf")


class ExecutionMatchJudge(Judge):
    """Judges by execution match: the predicted result must hold the reference's answer.

    The comparison rules (columns matched by value, row order only when asked for, numeric
    tolerance, totals, NULL/NaN, dates) are in
    :class:`~text2sql_tune.evaluate.judges.MatchRules` and
    ``docs/judge-rules.md``.

    Approximate functions (``median``, ``quantile``, ``uniq``...): with an executor and
    ``rules.approximate == "rewrite"`` both queries are re-run with exact variants and the verdict
    records ``details["rewritten"]``; otherwise numbers are compared with
    ``rules.approximate_rel_tol`` and ``details["approximate"] == "tolerance"``. A value difference
    beyond that tolerance is then undecided, not wrong.

    A prediction must run as written: when the input carries no results, both queries run
    as written first, and a prediction that cannot (the guard refuses it, say) is wrong even
    when its exact rewrite would run.

    Test-suite checking (:class:`~text2sql_tune.evaluate.judges.TestSuite`): a prediction that
    matches on the database is also compared on small perturbed copies of it, chosen to tell
    the reference apart from its near misses; a mismatch on one copy makes it wrong, and
    ``details["test_suite"]`` says which copy and why. It is on by default for chDB (scratch
    tables in memory), opt-in elsewhere (it needs a writable scratch database).

    Args:
        executor: Runs the queries when the input carries no results, and runs the exact
            rewrites. Without one, the input must carry both results.
        rules: The matching rules.
        dialect: The SQL's dialect (which functions are approximate, how to parse the
            ``ORDER BY``); default the executor's, else ClickHouse.
        test_suite: A :class:`~text2sql_tune.evaluate.judges.TestSuite`, ``True`` for the
            default one (:meth:`~text2sql_tune.evaluate.judges.TestSuite.shared`), ``False``
            for none; ``None`` (default): the default one when the executor is a
            :class:`~text2sql_tune.ChDBExecutor`, else none.

    Raises:
        ConfigurationError: A test suite was asked for and the executor has no admin
            connection to build it with (pass ``TestSuite(admin=...)``).

    Example:
        >>> judge = ExecutionMatchJudge(executor)  # doctest: +SKIP
        >>> judge.judge(JudgeInput(question=q, reference_sql=ref, predicted_sql=pred))  # +SKIP
    """

    name = "execution"

    def __init__(
        self,
        executor: SQLExecutor | None = None,
        rules: MatchRules | None = None,
        *,
        dialect: Dialect | str | None = None,
        test_suite: TestSuite | bool | None = None,
    ) -> None:
        self.executor = executor
        self.rules = rules or MatchRules()
        if dialect is None:
            dialect = executor.dialect if executor is not None else "clickhouse"
        self.dialect = Dialect.get(dialect)
        if test_suite is None:
            from ...executors.chdb import ChDBExecutor

            test_suite = isinstance(executor, ChDBExecutor)
        if test_suite is True:
            test_suite = TestSuite.shared()
        self.test_suite = test_suite or None
        if self.test_suite is not None and executor is not None:
            self.test_suite.check_usable(executor)

    async def _run(self, sql: str) -> tuple[QueryResult | None, str | None]:
        assert self.executor is not None
        outcome = await self.executor.atry_execute(sql, min_rows=0, max_rows=self.rules.max_rows)
        if outcome.result is not None:
            return outcome.result, None
        return None, outcome.error or outcome.status.value

    async def ajudge(self, case: JudgeInput) -> Verdict:
        """Compare the predicted result with the reference result.

        Returns:
            ``correct`` True / False, or ``None`` (undecided) with the reason and details.
        """
        details: dict[str, Any] = {}
        changed_rules = self.rules.model_dump(exclude_defaults=True)
        if changed_rules:
            details["rules"] = changed_rules
        if not case.predicted_sql.strip():
            return self._verdict(False, "there is no predicted SQL", details)
        reference, predicted = case.reference, case.predicted
        if reference is None or predicted is None:
            if self.executor is None:
                return self._verdict(
                    None, "no results to compare and no executor to run the queries", details
                )
            # Both queries run as written first: an exact rewrite must never make a query
            # that cannot run (one the guard refuses, say) look correct.
            if reference is None:
                reference, error = await self._run(case.reference_sql)
                if reference is None:
                    return self._verdict(None, f"the reference query failed: {error}", details)
            if predicted is None:
                predicted, error = await self._run(case.predicted_sql)
                if predicted is None:
                    return self._verdict(False, f"the predicted query failed: {error}", details)
        ref_rw = rewrite_exact(case.reference_sql, self.dialect)
        pred_rw = rewrite_exact(case.predicted_sql, self.dialect)
        approximate = ref_rw.approximate or pred_rw.approximate
        use_tolerance = approximate
        if approximate:
            details["approximate_functions"] = sorted(
                {name for rw in (ref_rw, pred_rw) for name, _ in rw.replaced}
                | {name for rw in (ref_rw, pred_rw) for name in rw.without_exact}
            )
        if approximate and self.executor is not None and self.rules.approximate == "rewrite":
            rewritten = await self._rerun_exact(ref_rw, pred_rw, details)
            if rewritten is not None:
                reference, predicted = rewritten
                use_tolerance = bool(ref_rw.without_exact or pred_rw.without_exact)
        if use_tolerance:
            details["approximate"] = "tolerance"
            details["approximate_rel_tol"] = self.rules.approximate_rel_tol
        run = self._run_result if self.executor is not None else None
        question = read_question(case.question)
        top = top_rows(ref_rw.sql, self.dialect)
        comparison = await self._decide(
            case.reference_sql, question, top, reference, predicted, use_tolerance, run
        )
        details.update(comparison.details)
        reason = comparison.reason
        if comparison.equal and details.get("approximate") == "rewrite":
            reason += " (approximate functions rewritten to exact variants)"
        elif comparison.equal and use_tolerance:
            reason += f" (approximate functions: {self.rules.approximate_rel_tol:.0%} tolerance)"
        verdict = self._verdict(comparison.equal, reason, details)
        if comparison.equal and self.test_suite is not None and self.executor is not None:
            exact = details.get("approximate") == "rewrite"
            sqls = (ref_rw.sql, pred_rw.sql) if exact else (case.reference_sql, case.predicted_sql)

            # A rounding judged fine on the database is judged at its own precision on the
            # copies: their values have other scales (0.04 rounded to one decimal is 0.0).
            on_copies = question
            if question.decimals is None:
                on_copies = replace(question, decimals=rounded_to(sqls[1], self.dialect))

            async def decide(ref: QueryResult, pred: QueryResult, on_copy: Run) -> Comparison:
                return await self._decide(
                    case.reference_sql, on_copies, top, ref, pred, use_tolerance, on_copy
                )

            return await self._on_test_suite(self.test_suite, self.executor, sqls, decide, verdict)
        return verdict

    async def _on_test_suite(
        self,
        suite: TestSuite,
        executor: SQLExecutor,
        sqls: tuple[str, str],
        decide: Decide,
        verdict: Verdict,
    ) -> Verdict:
        """The verdict after comparing the two queries on the test suite's copies too."""
        try:
            check = await suite.acheck(executor, *sqls, decide)
        except Text2SQLTuneError as exc:  # no suite costs the check, never the verdict
            logger.warning("the test suite could not be built: %s", exc)
            details = {**verdict.details, "test_suite": {"error": str(exc)}}
            return verdict.model_copy(update={"details": details})
        if check is None:
            return verdict
        details = {**verdict.details, "test_suite": check.to_details()}
        if check.broken is None:
            return verdict.model_copy(update={"details": details})
        broken = check.broken
        return self._verdict(
            False,
            f"the results match on the database but not on test-suite copy {broken['copy']} "
            f"of {check.copies} ({_rows(broken['rows'])}): {broken['reason']}",
            details,
        )

    async def _run_result(self, sql: str) -> QueryResult | None:
        return (await self._run(sql))[0]

    async def _rerun_exact(
        self, ref_rw: ExactRewrite, pred_rw: ExactRewrite, details: dict[str, Any]
    ) -> tuple[QueryResult, QueryResult] | None:
        reference, ref_error = await self._run(ref_rw.sql)
        predicted, pred_error = await self._run(pred_rw.sql)
        if reference is None or predicted is None:
            details["rewrite_failed"] = ref_error or pred_error
            return None
        details["approximate"] = "rewrite"
        details["rewritten"] = {
            "reference": ref_rw.sql if ref_rw.changed else None,
            "predicted": pred_rw.sql if pred_rw.changed else None,
            "replaced": sorted({f"{a}->{b}" for rw in (ref_rw, pred_rw) for a, b in rw.replaced}),
        }
        return reference, predicted

    async def _decide(
        self,
        reference_sql: str,
        question: QuestionReading,
        top: TopRows | None,
        reference: QueryResult,
        predicted: QueryResult,
        approximate: bool,
        run: Run | None,
    ) -> Comparison:
        """Compare two results by the rules, then try what the reference leaves open.

        What it leaves open: rows tied at its ``LIMIT`` (another tie-break is as right), and,
        for a question that asks for an entity only, the ranking measure it shows besides.
        ``run`` runs a query on the database the results came from (ties need one more query).
        """
        orders, order_key = reference_order(reference_sql, reference.columns, self.dialect)
        if self.rules.row_order == "ignore":
            ordered = False
        elif self.rules.row_order == "strict":
            ordered = orders
        else:
            ordered = orders and question.asks_for_order(top_rows=top is not None)
        rules = self.rules

        def compare(ref: QueryResult, key: list[int] | None, tolerance: bool) -> Comparison:
            return compare_results(
                ref,
                predicted,
                rules,
                ordered=ordered,
                order_key=key,
                approximate=tolerance,
                question=question,
            )

        comparison = compare(reference, order_key, approximate)
        if comparison.equal is False:
            alternatives = await self._alternatives(
                question, top, reference, order_key, predicted, run
            )
            for alternative, key, note in alternatives:
                relaxed = compare(alternative, key, approximate)
                if relaxed.equal:
                    relaxed.reason += f" ({note})"
                    relaxed.details["relaxed"] = note
                    return relaxed
        if comparison.equal is False and approximate:
            loose = rules.model_copy(update={"approximate_rel_tol": _NO_LIMIT_ON_STRUCTURE})
            structure = compare_results(
                reference,
                predicted,
                loose,
                ordered=ordered,
                order_key=order_key,
                approximate=True,
                question=question,
            )
            if structure.equal is not False:
                return Comparison(
                    None,
                    "approximate functions were compared with tolerance and the values differ "
                    f"beyond {rules.approximate_rel_tol:.0%}: {comparison.reason}",
                    comparison.details,
                )
        return comparison

    async def _alternatives(
        self,
        question: QuestionReading,
        top: TopRows | None,
        reference: QueryResult,
        order_key: list[int] | None,
        predicted: QueryResult,
        run: Run | None,
    ) -> list[tuple[QueryResult, list[int] | None, str]]:
        """Other results the reference stands for, each with its sort key and why."""
        if top is None:
            return []
        found: list[tuple[QueryResult, list[int] | None, str]] = []
        bases: list[tuple[QueryResult, str]] = [(reference, "")]
        if top.with_ties is not None and run is not None:
            tied = await run(top.with_ties)
            if tied is not None:
                breaks = tie_breaks(reference, tied, top.limit, top.keys, predicted, self.rules)
                bases += [(b, "another tie-break at the LIMIT") for b in breaks]
                found += [(b, order_key, note) for b, note in bases[1:]]
        if question.asks_quantity or len(predicted.columns) >= len(reference.columns):
            return found
        for base, note in bases:
            projected = _without_ranking_measure(base, order_key)
            if projected is not None:
                left_out = "the ranking measure left out, as the question asks for the entity"
                found.append((projected, None, f"{note}; {left_out}" if note else left_out))
        return found

    def _verdict(self, correct: bool | None, reason: str, details: dict[str, Any]) -> Verdict:
        return Verdict(correct=correct, reason=reason, judge=self.name, details=details)


def _without_ranking_measure(
    reference: QueryResult, order_key: list[int] | None
) -> QueryResult | None:
    """The reference without the numeric columns it ranks by (``None`` when it has none)."""
    if not order_key:
        return None
    measures = {
        i
        for i in order_key
        if reference.rows
        and all(
            isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
            for row in reference.rows
        )
    }
    keep = [i for i in range(len(reference.columns)) if i not in measures]
    if not measures or not keep:
        return None
    return reference.model_copy(
        update={
            "columns": [reference.columns[i] for i in keep],
            "types": [reference.types[i] for i in keep if i < len(reference.types)],
            "rows": [[row[i] for i in keep] for row in reference.rows],
            "totals": None,
        }
    )


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n} rows" for table, n in counts.items())
