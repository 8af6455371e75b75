"""The files of a run directory, named in one place (the pipeline, the CLI and the tests use it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ITERATION_FILE", "RunPaths"]

ITERATION_FILE = "iteration.json"


@dataclass(frozen=True)
class RunPaths:
    """The files of a run directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a str is welcome too

    @property
    def config(self) -> Path:
        """The configuration the run was started with."""
        return self.root / "config.json"

    @property
    def raw(self) -> Path:
        """Generated pairs (append-only checkpoint)."""
        return self.root / "raw.jsonl"

    @property
    def validated(self) -> Path:
        """Pairs with their execution outcome."""
        return self.root / "validated.jsonl"

    @property
    def clean(self) -> Path:
        """Pairs kept by the filters."""
        return self.root / "clean.jsonl"

    @property
    def dropped(self) -> Path:
        """Pairs dropped by the filters, with reasons."""
        return self.root / "dropped.jsonl"

    @property
    def filter_report(self) -> Path:
        """Filter counts and dataset stats."""
        return self.root / "filter_report.json"

    def export(self, fmt: str) -> Path:
        """The training file for one export format."""
        return self.root / "export" / f"{fmt}.jsonl"

    @property
    def state(self) -> Path:
        """Settings each step's output was made with."""
        return self.root / "state.json"

    @property
    def tuning_job(self) -> Path:
        """The tuning job, saved as soon as it exists."""
        return self.root / "tuning_job.json"

    @property
    def tuning(self) -> Path:
        """Local tuning: the job folders, unless ``[tune] output_dir`` says otherwise."""
        return self.root / "tuning"

    @property
    def eval_dir(self) -> Path:
        """Evaluation reports."""
        return self.root / "eval"

    @property
    def report(self) -> Path:
        """The evaluation report (JSON)."""
        return self.eval_dir / "report.json"

    @property
    def report_markdown(self) -> Path:
        """The evaluation report as markdown."""
        return self.eval_dir / "report.md"

    @property
    def report_html(self) -> Path:
        """The evaluation report as HTML (with the chart when matplotlib is there)."""
        return self.eval_dir / "report.html"

    @property
    def report_files(self) -> dict[str, Path]:
        """Report format (``json``, ``markdown``, ``html``) -> file, whether it exists or not."""
        return {"json": self.report, "markdown": self.report_markdown, "html": self.report_html}

    @property
    def test_eval_dir(self) -> Path:
        """The test set's evaluation (scored only: summary and training overlap)."""
        return self.eval_dir / "test"

    @property
    def test_report(self) -> Path:
        """The test set's evaluation report (JSON)."""
        return self.test_eval_dir / "report.json"

    @property
    def test_report_files(self) -> dict[str, Path]:
        """The test report's files by format (``json``, ``markdown``, ``html``)."""
        folder = self.test_eval_dir
        return {
            "json": self.test_report,
            "markdown": folder / "report.md",
            "html": folder / "report.html",
        }

    @property
    def test_answers(self) -> Path:
        """The evaluated model's answers to the test questions (append-only checkpoint)."""
        return self.test_eval_dir / "answers.jsonl"

    @property
    def golden_split(self) -> Path:
        """How the golden set was split into dev and test, with the test set's hash."""
        return self.root / "golden_split.json"

    @property
    def judge_cache(self) -> Path:
        """LLM judge verdicts, cached across runs of the directory."""
        return self.root / "judge_cache.jsonl"

    @property
    def validation_checkpoint(self) -> Path:
        """Validation outcomes while validation runs (removed once ``validated.jsonl`` is)."""
        return self.root / "validated.checkpoint.jsonl"

    @property
    def answers(self) -> Path:
        """The evaluated model's answers (append-only checkpoint)."""
        return self.eval_dir / "answers.jsonl"

    @property
    def lock(self) -> Path:
        """Held by the process running in this directory."""
        return self.root / ".lock"

    @property
    def iteration(self) -> Path:
        """A next iteration's parent and number."""
        return self.root / ITERATION_FILE

    @property
    def analysis(self) -> Path:
        """The analysis a next iteration's targeted pairs came from."""
        return self.root / "analysis.json"
