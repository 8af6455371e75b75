"""The deterministic judge: run both queries and compare their results by the documented rules."""

from __future__ import annotations

from typing import Any

from ...interfaces import Judge, SQLExecutor
from ...records import JudgeInput, QueryResult, Verdict
from ...sql.dialects import Dialect
from .compare import MatchRules, compare_results
from .ordering import question_asks_for_order, reference_order
from .rewrite import ExactRewrite, rewrite_exact

__all__ = ["ExecutionMatchJudge"]

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

    Args:
        executor: Runs the queries when the input carries no results, and runs the exact
            rewrites. Without one, the input must carry both results.
        rules: The matching rules.
        dialect: The SQL's dialect (which functions are approximate, how to parse the
            ``ORDER BY``); default the executor's, else ClickHouse.

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
    ) -> None:
        self.executor = executor
        self.rules = rules or MatchRules()
        if dialect is None:
            dialect = executor.dialect if executor is not None else "clickhouse"
        self.dialect = Dialect.get(dialect)

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
        if reference is None or predicted is None:
            if self.executor is None:
                return self._verdict(
                    None, "no results to compare and no executor to run the queries", details
                )
            if reference is None:
                reference, error = await self._run(case.reference_sql)
                if reference is None:
                    return self._verdict(None, f"the reference query failed: {error}", details)
            if predicted is None:
                predicted, error = await self._run(case.predicted_sql)
                if predicted is None:
                    return self._verdict(False, f"the predicted query failed: {error}", details)
        if use_tolerance:
            details["approximate"] = "tolerance"
            details["approximate_rel_tol"] = self.rules.approximate_rel_tol
        return self._decide(case, reference, predicted, use_tolerance, details)

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

    def _decide(
        self,
        case: JudgeInput,
        reference: QueryResult,
        predicted: QueryResult,
        approximate: bool,
        details: dict[str, Any],
    ) -> Verdict:
        orders, order_key = reference_order(case.reference_sql, reference.columns, self.dialect)
        if self.rules.row_order == "ignore":
            ordered = False
        elif self.rules.row_order == "strict":
            ordered = orders
        else:
            ordered = orders and question_asks_for_order(case.question)
        comparison = compare_results(
            reference,
            predicted,
            self.rules,
            ordered=ordered,
            order_key=order_key,
            approximate=approximate,
        )
        details.update(comparison.details)
        if comparison.equal is False and approximate:
            loose = self.rules.model_copy(update={"approximate_rel_tol": _NO_LIMIT_ON_STRUCTURE})
            structure = compare_results(
                reference, predicted, loose, ordered=ordered, order_key=order_key, approximate=True
            )
            if structure.equal is not False:
                return self._verdict(
                    None,
                    "approximate functions were compared with tolerance and the values differ "
                    f"beyond {self.rules.approximate_rel_tol:.0%}: {comparison.reason}",
                    details,
                )
        reason = comparison.reason
        if comparison.equal and details.get("approximate") == "rewrite":
            reason += " (approximate functions rewritten to exact variants)"
        elif comparison.equal and approximate:
            reason += f" (approximate functions: {self.rules.approximate_rel_tol:.0%} tolerance)"
        return self._verdict(comparison.equal, reason, details)

    def _verdict(self, correct: bool | None, reason: str, details: dict[str, Any]) -> Verdict:
        return Verdict(correct=correct, reason=reason, judge=self.name, details=details)
