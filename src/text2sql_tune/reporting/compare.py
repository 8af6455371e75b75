"""What changed between evaluations of the same golden set: flipped cases and honest statistics.

:func:`compare_reports` pairs two reports' cases by normalised question and sorts each paired
case into fixed, broken, still failing or still correct, with an exact McNemar test on the
paired verdicts. :func:`compare_runs` does the same along a series of runs (baseline, tune 1,
tune 2, ...), adds each run's accuracy with its Wilson 95% interval, and tracks every case
across the runs. "Correct" means the judge said correct; wrong and undecided both count as not
correct, as in the accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from ..errors import EvaluationError
from ..records import EvalReport, EvalResult
from ..sql.normalize import normalize_question
from .significance import McNemarTest, describe_difference, mcnemar_exact, wilson_interval

__all__ = [
    "CaseChange",
    "CaseTrack",
    "IterationReport",
    "ReportComparison",
    "RunSummary",
    "compare_reports",
    "compare_runs",
]


class CaseChange(BaseModel):
    """One golden question whose outcome differs between two reports."""

    model_config = ConfigDict(extra="forbid")

    question: str
    before: bool | None
    after: bool | None
    category_before: str
    category_after: str
    reason_after: str


class ReportComparison(BaseModel):
    """What changed from report ``a`` (before) to report ``b`` (after).

    Attributes:
        a: Name of the first report (its label, else its model's name).
        b: Name of the second report.
        accuracy_a: Accuracy of ``a``.
        accuracy_b: Accuracy of ``b``.
        validity_a: Validity rate of ``a``.
        validity_b: Validity rate of ``b``.
        fixed: Cases wrong (or undecided) in ``a`` and correct in ``b``.
        broken: Cases correct in ``a`` and wrong (or undecided) in ``b``.
        other_changes: Cases not correct in either whose verdict or category changed.
        only_in_a: Questions only ``a`` evaluated.
        only_in_b: Questions only ``b`` evaluated.
        correct_a: Correct cases of ``a``.
        total_a: Cases of ``a``.
        correct_b: Correct cases of ``b``.
        total_b: Cases of ``b``.
        paired: Questions both evaluated (the cases the test uses).
        still_correct: Paired questions correct in both.
        still_failing: Paired questions not correct in either (``other_changes`` among them).
        significance: Exact McNemar test on the paired verdicts (``fixed`` vs ``broken``).
        headline: One honest sentence, e.g. ``"7/10 vs 5/10, p=0.5: not significant on 10
            cases"``.
    """

    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    accuracy_a: float
    accuracy_b: float
    validity_a: float
    validity_b: float
    fixed: list[CaseChange] = Field(default_factory=list)
    broken: list[CaseChange] = Field(default_factory=list)
    other_changes: list[CaseChange] = Field(default_factory=list)
    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)
    correct_a: int = 0
    total_a: int = 0
    correct_b: int = 0
    total_b: int = 0
    paired: int = 0
    still_correct: list[str] = Field(default_factory=list)
    still_failing: list[str] = Field(default_factory=list)
    significance: McNemarTest | None = None
    headline: str = ""


def _by_question(report: EvalReport) -> dict[str, EvalResult]:
    found: dict[str, EvalResult] = {}
    for result in report.results:
        found.setdefault(normalize_question(result.question), result)
    return found


def compare_reports(
    a: EvalReport, b: EvalReport, *, labels: tuple[str, str] | None = None
) -> ReportComparison:
    """Which cases flipped between two evaluations of the same golden set, and does it matter.

    Cases are matched by normalised question; the McNemar test uses the matched cases only.

    Args:
        a: The earlier report.
        b: The later report.
        labels: Names for the two reports; default their model names.
    """
    name_a, name_b = labels or (a.model or "a", b.model or "b")
    before, after = _by_question(a), _by_question(b)
    comparison = ReportComparison(
        a=name_a,
        b=name_b,
        accuracy_a=a.summary.accuracy,
        accuracy_b=b.summary.accuracy,
        validity_a=a.summary.validity_rate,
        validity_b=b.summary.validity_rate,
        only_in_a=[r.question for k, r in before.items() if k not in after],
        only_in_b=[r.question for k, r in after.items() if k not in before],
        correct_a=a.summary.correct,
        total_a=a.summary.total,
        correct_b=b.summary.correct,
        total_b=b.summary.total,
    )
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            continue
        comparison.paired += 1
        was, now = old.correct is True, new.correct is True
        if was and now:
            comparison.still_correct.append(old.question)
            continue
        if not was and not now:
            comparison.still_failing.append(old.question)
        if old.correct == new.correct and old.category == new.category:
            continue
        change = CaseChange(
            question=old.question,
            before=old.correct,
            after=new.correct,
            category_before=old.category,
            category_after=new.category,
            reason_after=new.reason,
        )
        if now:
            comparison.fixed.append(change)
        elif was:
            comparison.broken.append(change)
        else:
            comparison.other_changes.append(change)
    test = mcnemar_exact(len(comparison.fixed), len(comparison.broken))
    comparison.significance = test
    comparison.headline = describe_difference(
        comparison.correct_a,
        comparison.total_a,
        comparison.correct_b,
        comparison.total_b,
        test,
        labels=(name_a, name_b),
    )
    return comparison


class RunSummary(BaseModel):
    """One run of an iteration report.

    Attributes:
        label: Its name in the report (``baseline``, ``tune1``...).
        model: The evaluated model's name.
        judge: The judge's name.
        total: Cases.
        valid: Cases whose SQL ran.
        correct: Cases judged correct.
        accuracy: ``correct / total``.
        validity_rate: ``valid / total``.
        accuracy_low: Lower bound of the accuracy's 95% Wilson interval.
        accuracy_high: Upper bound of that interval.
        by_category: Cases per category.
    """

    model_config = ConfigDict(extra="forbid")

    label: str
    model: str | None = None
    judge: str | None = None
    total: int
    valid: int
    correct: int
    accuracy: float
    validity_rate: float
    accuracy_low: float
    accuracy_high: float
    by_category: dict[str, int] = Field(default_factory=dict)


class CaseTrack(BaseModel):
    """One golden question across the runs.

    Attributes:
        question: The question (as the first run that has it wrote it).
        verdicts: Per run: True / False / ``None`` (undecided or not evaluated).
        categories: Per run: the category, or ``None`` when the run did not evaluate it.
    """

    model_config = ConfigDict(extra="forbid")

    question: str
    verdicts: list[bool | None]
    categories: list[str | None]


class IterationReport(BaseModel):
    """A series of runs on one golden set compared step by step.

    Attributes:
        runs: Each run's numbers, in the order given.
        steps: The comparison of each run with the one before it.
        cases: Every question across the runs, in first-seen order.
    """

    model_config = ConfigDict(extra="forbid")

    runs: list[RunSummary]
    steps: list[ReportComparison] = Field(default_factory=list)
    cases: list[CaseTrack] = Field(default_factory=list)


_SUMMARY_FIELDS = {"total", "valid", "correct", "accuracy", "validity_rate", "by_category"}


def _run_summary(label: str, report: EvalReport) -> RunSummary:
    s = report.summary
    low, high = wilson_interval(s.correct, s.total)
    return RunSummary(
        label=label,
        model=report.model,
        judge=report.judge,
        accuracy_low=low,
        accuracy_high=high,
        **s.model_dump(include=_SUMMARY_FIELDS),
    )


def compare_runs(reports: Sequence[EvalReport], labels: Sequence[str] = ()) -> IterationReport:
    """Compare runs in order (baseline, tune 1, tune 2, ...).

    Args:
        reports: The runs' reports, oldest first (at least one).
        labels: A name per run; default the model names (made unique with ``#2``, ``#3``...).

    Raises:
        EvaluationError: No reports, or not one label per report.
    """
    if not reports:
        raise EvaluationError("compare needs at least one report")
    if labels and len(labels) != len(reports):
        raise EvaluationError(f"{len(labels)} labels for {len(reports)} reports")
    names = list(labels) or [r.model or f"run {i + 1}" for i, r in enumerate(reports)]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[index] = f"{name} #{seen[name]}"
    iteration = IterationReport(
        runs=[_run_summary(n, r) for n, r in zip(names, reports, strict=True)],
        steps=[
            compare_reports(reports[i - 1], reports[i], labels=(names[i - 1], names[i]))
            for i in range(1, len(reports))
        ],
    )
    tables = [_by_question(r) for r in reports]
    order: dict[str, str] = {}
    for table in tables:
        for key, result in table.items():
            order.setdefault(key, result.question)
    for key, question in order.items():
        found = [table.get(key) for table in tables]
        iteration.cases.append(
            CaseTrack(
                question=question,
                verdicts=[None if r is None else r.correct for r in found],
                categories=[None if r is None else r.category for r in found],
            )
        )
    return iteration
