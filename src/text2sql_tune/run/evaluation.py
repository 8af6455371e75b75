"""A run's evaluation step: one model scored on the dev part and on the test part of the golden set.

Each part has its own report files and answers checkpoint (``eval/`` for dev, ``eval/test/`` for
test). The dev report carries every case's evidence and the nearest training pairs: it is the
one to read. The test report's JSON keeps every case (for comparisons) plus the training overlap
of each test case (``metadata["training_overlap"]``); its markdown and HTML pages show the score
and the overlap only (:mod:`~text2sql_tune.reporting.overlap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..errors import MissingExtraError
from ..evaluate.evaluator import Evaluator
from ..interfaces import Judge, SQLExecutor, Text2SQLModel
from ..io.files import atomic_write_text
from ..models.checkpoint import CheckpointedModel
from ..records import EvalCase, EvalReport, QAPair
from ..reporting import TrainingIndex, load_report, report_html, report_markdown, save_report
from ..reporting.overlap import scored_report_html, scored_report_markdown, training_overlap
from .paths import RunPaths
from .state import StepState

__all__ = ["EvalPart", "RunEvaluation"]


class Emit(Protocol):
    """The pipeline's progress callback."""

    def __call__(
        self, step: str, message: str, done: int | None = None, total: int | None = None
    ) -> None:
        """Report ``message`` for ``step`` (``done`` of ``total`` for a progress bar)."""


@dataclass(frozen=True)
class EvalPart:
    """One part of the golden set and where its evaluation goes.

    Attributes:
        name: ``dev`` or ``test``.
        cases: The cases.
        files: Report format -> file (``json``, ``markdown``, ``html``).
        answers: The answers checkpoint.
    """

    name: Literal["dev", "test"]
    cases: Sequence[EvalCase]
    files: dict[str, Path]
    answers: Path

    @classmethod
    def dev(cls, paths: RunPaths, cases: Sequence[EvalCase]) -> EvalPart:
        """The dev part: ``eval/report.json`` and its pages, ``eval/answers.jsonl``."""
        return cls("dev", cases, paths.report_files, paths.answers)

    @classmethod
    def test(cls, paths: RunPaths, cases: Sequence[EvalCase]) -> EvalPart:
        """The test part: ``eval/test/report.json`` and its pages, ``eval/test/answers.jsonl``."""
        return cls("test", cases, paths.test_report_files, paths.test_answers)

    @property
    def step(self) -> str:
        """The step's name in ``state.json``."""
        return "evaluate" if self.name == "dev" else "evaluate:test"


@dataclass
class RunEvaluation:
    """Evaluates a run's model on one golden part at a time (see the module docstring).

    Attributes:
        executor: Runs the SQL.
        judge: The judge (``None``: the execution judge on ``executor``).
        state: The run's step state.
        clean: The kept pairs' file (an evaluation older than it is redone).
        kept: The kept pairs (the reports' nearest training pairs, the test overlap).
        answers_key: What the model's answers depend on.
        concurrency: Cases evaluated at once.
        max_failures: Model calls in a row without an answer before evaluation stops.
        html: Also write the HTML page.
        emit: Progress callback ``(step, message, done, total)``.
        metadata: Added to every report's metadata (e.g. the parent run).
    """

    executor: SQLExecutor
    judge: Judge | None
    state: StepState
    clean: Path
    kept: Sequence[QAPair]
    answers_key: str
    concurrency: int
    max_failures: int
    html: bool
    emit: Emit
    metadata: dict[str, object]

    async def arun(
        self, model: Text2SQLModel, part: EvalPart, settings: dict[str, object]
    ) -> tuple[EvalReport, dict[str, Path]]:
        """Evaluate ``model`` on ``part`` (or reuse a fresh report) and write its files."""
        settings = {**settings, "cases": [(c.question, c.sql) for c in part.cases]}
        report_path = part.files["json"]
        label = f"{part.name} set ({len(part.cases)} questions)"
        if self.state.is_fresh(part.step, settings, report_path, self.clean):
            # Asking the model again would repeat paid calls for the same answers.
            self.emit("evaluate", f"evaluation of {model.name} is up to date ({label})")
            written = {k: p for k, p in part.files.items() if p.exists()}
            return load_report(report_path), written
        self.emit("evaluate", f"evaluating {model.name} on the {label}")
        total, done = len(part.cases), 0

        def advance(_index: int, _result: object) -> None:
            nonlocal done
            done += 1
            self.emit("evaluate", "case judged", done, total)

        evaluator = Evaluator(
            self.executor,
            self.judge,
            concurrency=self.concurrency,
            max_consecutive_failures=self.max_failures,
        )
        with CheckpointedModel(model, part.answers, key=self.answers_key) as answers:
            report = await evaluator.aevaluate(answers, part.cases, on_done=advance)
        if answers.reused:
            self.emit("evaluate", f"{answers.reused} answers were reused from {answers.path}")
        tuning_record = getattr(model, "training", None)  # a local model: loss curve and recall
        if tuning_record:
            report.metadata["training"] = tuning_record
        report.metadata["golden_part"] = part.name
        for key, value in self.metadata.items():
            report.metadata.setdefault(key, value)
        training = TrainingIndex(self.kept)
        if part.name == "test":
            overlap = training_overlap(part.cases, training)
            report.metadata["training_overlap"] = overlap.model_dump(mode="json")
        files = self._write(report, part, training)
        self.state.record(part.step, settings)
        summary = report.summary
        self.emit(
            "evaluate",
            f"{part.name}: valid {summary.valid}/{summary.total}, correct "
            f"{summary.correct}/{summary.total}",
        )
        return report, files

    def _write(
        self, report: EvalReport, part: EvalPart, training: TrainingIndex
    ) -> dict[str, Path]:
        part.files["json"].parent.mkdir(parents=True, exist_ok=True)
        files = {"json": save_report(report, part.files["json"])}
        scored_only = part.name == "test"
        markdown = (
            scored_report_markdown(report)
            if scored_only
            else report_markdown(report, training=training)
        )
        atomic_write_text(part.files["markdown"], markdown)
        files["markdown"] = part.files["markdown"]
        if self.html:
            if scored_only:
                page = scored_report_html(report)
            else:
                try:
                    page = report_html(report, training=training)
                except MissingExtraError:
                    page = report_html(report, chart=False, training=training)
                    self.emit(
                        "evaluate", "no chart in the HTML report: install text2sql-tune[report]"
                    )
            atomic_write_text(part.files["html"], page)
            files["html"] = part.files["html"]
        return files
