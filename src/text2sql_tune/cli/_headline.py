"""The demo's closing summary: what each iteration changed, and what the numbers mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from ..analysis import AnalysisSummary
    from ..records import EvalCase
    from ..run.pipeline import PipelineResult

__all__ = ["IterationLine", "headline_lines", "headline_table", "iteration_lines"]

RETRIEVAL_NOTE = (
    "The retrieval baseline answers each golden question with the SQL of the most similar "
    "training question, so its score measures how much of the golden set the training data "
    "already answers, values included: coverage, not a model. A tuned model generalises "
    "beyond it; tune on the export/ files (--tuner lamini --wait) to measure one."
)

_COVERAGE_COUNTS = {"golden_concepts", "covered", "rare", "missing", "inconsistencies"}


@dataclass(frozen=True)
class IterationLine:
    """One iteration in numbers."""

    iteration: int
    run_dir: str
    kept: int
    new_pairs: int
    model: str | None
    correct: int | None
    total: int | None
    coverage: AnalysisSummary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the numbers, then the coverage's counts of golden concepts."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "coverage"}
        return data | self.coverage.model_dump(include=_COVERAGE_COUNTS)


def iteration_lines(
    results: Sequence[PipelineResult], golden: Sequence[EvalCase], min_examples: int = 3
) -> list[IterationLine]:
    """Each run's kept pairs, score and concept coverage of ``golden`` (an analysis per run)."""
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
        summary = result.report.summary if result.report is not None else None
        lines.append(
            IterationLine(
                iteration=result.iteration,
                run_dir=str(result.run_dir),
                kept=result.kept,
                new_pairs=result.generated - result.rejected,
                model=result.report.model if result.report is not None else None,
                correct=summary.correct if summary is not None else None,
                total=summary.total if summary is not None else None,
                coverage=coverage,
            )
        )
    return lines


def _score(line: IterationLine) -> str:
    if line.correct is None or line.total is None:
        return "not evaluated"
    return f"{line.model} {line.correct}/{line.total} correct"


def headline_table(lines: Sequence[IterationLine]) -> Table:
    """One row per iteration: pairs, concept coverage, score."""
    table = Table(title="The loop: baseline -> analysis -> targeted data -> evaluation again")
    table.add_column("iteration")
    table.add_column("training pairs", justify="right")
    table.add_column("golden SQL concepts covered")
    table.add_column("inconsistent terms", justify="right")
    table.add_column("evaluation")
    for line in lines:
        c = line.coverage
        added = "" if line.iteration == 1 else f" (+{line.new_pairs} targeted)"
        table.add_row(
            f"{line.iteration}" + (" (baseline)" if line.iteration == 1 else ""),
            f"{line.kept}{added}",
            f"{c.covered}/{c.golden_concepts} ({c.coverage:.0%}); {c.missing} missing, "
            f"{c.rare} rare",
            str(c.inconsistencies),
            _score(line),
        )
    return table


def headline_lines(lines: Sequence[IterationLine]) -> list[str]:
    """The sentences under the table: the change, then what the score means."""
    out = []
    if len(lines) >= 2:
        first, last = lines[0], lines[-1]
        out.append(
            f"From iteration {first.iteration} to {last.iteration}: golden concepts covered "
            f"{first.coverage.covered} -> {last.coverage.covered} of "
            f"{last.coverage.golden_concepts}; evaluation {_score(first)} -> {_score(last)}."
        )
    if any(line.model == "retrieval" for line in lines):
        out.append(RETRIEVAL_NOTE)
    return out
