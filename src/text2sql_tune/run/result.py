"""What a pipeline run reports: its progress events and its result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..evaluate.splits import SplitRecord
from ..filters import FilterReport
from ..records import EvalReport, TuningJob, Usage

__all__ = ["PipelineEvent", "PipelineResult"]


class PipelineResult(BaseModel):
    """What a pipeline run produced.

    Attributes:
        run_dir: The run directory.
        generated: Generation records in the checkpoint (usable and rejected).
        rejected: Records the generator could not use.
        seed_pairs: Seed pairs added to the training data.
        validated: Pairs validated.
        kept: Pairs kept after cleaning.
        exports: Export format -> training file.
        tuning_job: The tuning job, when tuning ran.
        filter_report: What cleaning kept and dropped, and why.
        report: The evaluation report on the golden set's dev part, when evaluation ran.
        report_files: Report format -> file.
        test_report: The evaluation report on its test part (the honest score), when there is
            a test set.
        test_report_files: Report format -> file, for the test report.
        golden: How the golden set was split (``golden_split.json``).
        usage: Tokens and cost spent on generation.
        parent: The run this iteration continues from (``None`` for a first run).
        iteration: 1 for a first run, the parent's plus one for a next iteration.
        parent_pairs: Kept pairs taken over from the parent.
        parent_report: The parent's evaluation report, when it has one.
        parent_test_report: The parent's test report, when it has one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_dir: Path
    generated: int = 0
    rejected: int = 0
    seed_pairs: int = 0
    validated: int = 0
    kept: int = 0
    exports: dict[str, Path] = {}
    tuning_job: TuningJob | None = None
    filter_report: FilterReport | None = None
    report: EvalReport | None = None
    report_files: dict[str, Path] = {}
    test_report: EvalReport | None = None
    test_report_files: dict[str, Path] = {}
    golden: SplitRecord | None = None
    usage: Usage = Usage()
    parent: Path | None = None
    iteration: int = 1
    parent_pairs: int = 0
    parent_report: EvalReport | None = None
    parent_test_report: EvalReport | None = None


@dataclass
class PipelineEvent:
    """A progress event: ``step`` started or finished, or advanced ``done`` of ``total``."""

    step: str
    message: str
    done: int | None = None
    total: int | None = None
