"""The demo's closing summary: what each iteration changed, and what the numbers mean.

The headline is the **test** score: the golden cases the loop never read. The dev score sits
beside it, labelled for what it is (the cases the analysis and the targeted generation read), and
both carry their Wilson interval. When the test score did not move, the summary says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ..reporting.significance import wilson_interval

if TYPE_CHECKING:
    from ..analysis import AnalysisSummary
    from ..records import EvalCase, EvalSummary
    from ..reporting import ReportComparison
    from ..run.pipeline import PipelineResult

__all__ = [
    "IterationLine",
    "compare_test_scores",
    "headline_lines",
    "headline_table",
    "iteration_lines",
    "scored",
]

RETRIEVAL_NOTE = (
    "The retrieval baseline answers each golden question with the SQL of the most similar "
    "training question, so its score measures how much of the golden set the training data "
    "already answers, values included: coverage, not a model. A tuned model generalises "
    "beyond it; tune on the export/ files (--tuner lamini --wait) to measure one."
)
DEV_NOTE = (
    "The dev score is not evidence of progress: the analysis and the targeted generation read "
    "the dev questions, so a dev gain can come from writing training pairs for them."
)
NO_TEST_NOTE = (
    "There is no test set: every score above is on questions the loop read. Give [evaluate] "
    "test (or test_fraction) for a score that measures new questions."
)

_COVERAGE_COUNTS = {"golden_concepts", "covered", "rare", "missing", "inconsistencies"}


def scored(correct: int | None, total: int | None, *, short: bool = False) -> str:
    """``3/10 (30%; 95% interval 11%-60%)`` (``short``: ``3/10 (30%, 11-60%)``)."""
    if correct is None or total is None:
        return "not evaluated"
    if not total:
        return "0/0"
    low, high = wilson_interval(correct, total)
    if short:
        return f"{correct}/{total} ({correct / total:.0%}, {low:.0%}-{high:.0%})"
    return f"{correct}/{total} ({correct / total:.0%}; 95% interval {low:.0%}-{high:.0%})"


@dataclass(frozen=True)
class IterationLine:
    """One iteration in numbers (``correct`` / ``total``: the dev set's)."""

    iteration: int
    run_dir: str
    kept: int
    new_pairs: int
    model: str | None
    correct: int | None
    total: int | None
    test_correct: int | None
    test_total: int | None
    coverage: AnalysisSummary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the numbers, then the coverage's counts of golden concepts."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "coverage"}
        return data | self.coverage.model_dump(include=_COVERAGE_COUNTS)


def _counts(summary: EvalSummary | None) -> tuple[int | None, int | None]:
    return (None, None) if summary is None else (summary.correct, summary.total)


def iteration_lines(
    results: Sequence[PipelineResult], golden: Sequence[EvalCase], min_examples: int = 3
) -> list[IterationLine]:
    """Each run's kept pairs, scores and concept coverage of ``golden`` (the dev set)."""
    from ..analysis import Analysis, analyze
    from ..io.records import read_pairs
    from ..run.paths import RunPaths

    lines = []
    for position, result in enumerate(results):
        # the next iteration analysed this run already (same pairs, report and golden set)
        following = results[position + 1].run_dir if position + 1 < len(results) else None
        saved = RunPaths(following).analysis if following is not None else None
        if saved is not None and saved.exists():
            coverage = Analysis.load(saved).summary
        else:
            kept = read_pairs(RunPaths(result.run_dir).clean, allow_empty=True)
            coverage = analyze(
                golden, kept, report=result.report, min_examples=min_examples
            ).summary
        dev = result.report.summary if result.report is not None else None
        test = result.test_report.summary if result.test_report is not None else None
        model = result.report or result.test_report
        lines.append(
            IterationLine(
                iteration=result.iteration,
                run_dir=str(result.run_dir),
                kept=result.kept,
                new_pairs=result.generated - result.rejected,
                model=model.model if model is not None else None,
                correct=_counts(dev)[0],
                total=_counts(dev)[1],
                test_correct=_counts(test)[0],
                test_total=_counts(test)[1],
                coverage=coverage,
            )
        )
    return lines


def compare_test_scores(results: Sequence[PipelineResult]) -> ReportComparison | None:
    """The first and the last iteration's test reports compared, when both exist."""
    from ..reporting import compare_reports

    first, last = results[0].test_report, results[-1].test_report
    if len(results) < 2 or first is None or last is None:
        return None
    labels = (f"iteration {results[0].iteration}", f"iteration {results[-1].iteration}")
    return compare_reports(first, last, labels=labels)


def headline_table(lines: Sequence[IterationLine]) -> Table:
    """One row per iteration: pairs, concept coverage, dev score, test score."""
    table = Table(title="The loop: baseline -> analysis -> targeted data -> evaluation again")
    table.add_column("iteration")
    table.add_column("training pairs", justify="right")
    table.add_column("dev SQL concepts covered")
    table.add_column("inconsistent terms", justify="right")
    table.add_column("dev score (read by the loop; 95% interval)")
    table.add_column("test score (never read; 95% interval)")
    for line in lines:
        c = line.coverage
        added = "" if line.iteration == 1 else f" (+{line.new_pairs} targeted)"
        table.add_row(
            f"{line.iteration}" + (" (baseline)" if line.iteration == 1 else ""),
            f"{line.kept}{added}",
            f"{c.covered}/{c.golden_concepts} ({c.coverage:.0%}); {c.missing} missing, "
            f"{c.rare} rare",
            str(c.inconsistencies),
            scored(line.correct, line.total, short=True),
            scored(line.test_correct, line.test_total, short=True),
        )
    return table


def _test_sentence(
    first: IterationLine, last: IterationLine, comparison: ReportComparison | None
) -> str:
    head = (
        f"Test score ({last.test_total} questions the loop never read), {last.model}: "
        f"iteration {first.iteration} {scored(first.test_correct, first.test_total)} -> "
        f"iteration {last.iteration} {scored(last.test_correct, last.test_total)}"
    )
    gain = (last.test_correct or 0) - (first.test_correct or 0)
    test = comparison.significance if comparison is not None else None
    if test is None:
        verdict = f"{gain:+d} correct"
    elif test.discordant == 0:
        verdict = "no case changed its verdict"
    else:
        level = "significant" if test.significant else "not significant"
        verdict = f"{test.fixed} fixed, {test.broken} broken, p={test.p_value:.2g}: {level}"
    if gain <= 0:
        return f"{head}. The loop did not improve the test score ({verdict})."
    return f"{head}: {verdict}."


def headline_lines(
    lines: Sequence[IterationLine], comparison: ReportComparison | None = None
) -> list[str]:
    """The sentences under the table: the test score first, then dev, then what it means.

    Args:
        lines: The iterations (see :func:`iteration_lines`).
        comparison: The first and last test reports compared (:func:`compare_test_scores`).
    """
    out = []
    has_test = any(line.test_total for line in lines)
    if len(lines) >= 2:
        first, last = lines[0], lines[-1]
        if has_test:
            out.append(_test_sentence(first, last, comparison))
        out.append(
            f"Dev score ({last.total} questions the analysis and the targeted generation read): "
            f"{scored(first.correct, first.total)} -> {scored(last.correct, last.total)}; dev "
            f"SQL concepts covered {first.coverage.covered} -> {last.coverage.covered} of "
            f"{last.coverage.golden_concepts}. {DEV_NOTE}"
        )
    elif has_test and lines:
        line = lines[0]
        out.append(f"Test score, {line.model}: {scored(line.test_correct, line.test_total)}.")
    if lines and not has_test:
        out.append(NO_TEST_NOTE)
    if any(line.model == "retrieval" for line in lines):
        out.append(RETRIEVAL_NOTE)
    return out
