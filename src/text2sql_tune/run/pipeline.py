"""Compose the six steps into one resumable run that lives in a run directory.

Every step writes its output into the run directory before the next one starts::

    run_dir/
      config.json            what the run was started with (when built from a config)
      raw.jsonl              generated pairs, appended as they arrive (the checkpoint)
      validated.jsonl        pairs with their execution outcome
      clean.jsonl            the pairs kept by the filters
      dropped.jsonl          the pairs dropped, each with its filter and reason
      filter_report.json     counts per filter and reason, dataset stats
      export/<format>.jsonl  training files (lamini, openai, hf, jsonl)
      tuning_job.json        the tuning job, saved the moment it is created
      eval/answers.jsonl     the model's answers, appended as they arrive (the checkpoint)
      eval/report.json       the evaluation report (+ report.md, report.html)
      iteration.json         a next iteration only: its parent run and iteration number
      analysis.json          a next iteration only: the analysis its targeted pairs came from
      state.json             the settings each step's output was made with

A step whose output is newer than its input is not run again, so a stopped run resumes where it
stopped: generation continues from its checkpoint (paid calls are never repeated), validation
from ``validated.checkpoint.jsonl`` (present only while it runs), evaluation asks only the
questions without a saved answer, and a tuning job that was already started is followed, never
started twice. Whole files are written to a temporary file and renamed into place, so a crash
leaves the old file or the new one. A damaged ``state.json`` is set aside and rebuilt: every step
re-derives its output from the append-only files above, without repeating a paid call. One
process at a time runs in a run directory (``.lock``); a second one gets ``ResourceBusyError``.

A *next iteration* (``parent=``) starts from its parent run's kept pairs, reusing their
validations, adds new (targeted) pairs, cleans everything again with the same filters (leakage
included) and evaluates again; ``iteration.json`` records the parent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .._sync import run_sync
from ..errors import ConfigurationError, MissingExtraError
from ..evaluate.evaluator import Evaluator
from ..exports import export_pairs, split_train_validation
from ..filters import FilterChain, FilterReport, default_filters
from ..filters.validation import avalidate_pairs
from ..generators import agenerate_to_file, read_checkpoint_state
from ..interfaces import DatasetFilter, Judge, QAGenerator, SQLExecutor, Text2SQLModel, Tuner
from ..io.files import FileLock, atomic_write_json, atomic_write_text
from ..io.records import read_pairs, write_jsonl
from ..models.checkpoint import CheckpointedModel, answers_key
from ..prompts import answering_system_prompt
from ..records import EvalCase, EvalReport, QAPair, TuningJob, Usage, ValidationInfo
from ..reporting import TrainingIndex, load_report, report_html, report_markdown, save_report
from ..schema import DatabaseSchema
from ..sql.normalize import normalize_sql
from .iteration import inherit
from .paths import RunPaths
from .state import StepState

__all__ = ["Pipeline", "PipelineEvent", "PipelineResult", "RunPaths"]

logger = logging.getLogger("text2sql_tune")

ModelFactory = Callable[[Sequence[QAPair], TuningJob | None], Text2SQLModel | None]


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
        report: The evaluation report, when evaluation ran.
        report_files: Report format -> file.
        usage: Tokens and cost spent on generation.
        parent: The run this iteration continues from (``None`` for a first run).
        iteration: 1 for a first run, the parent's plus one for a next iteration.
        parent_pairs: Kept pairs taken over from the parent.
        parent_report: The parent's evaluation report, when it has one.
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
    usage: Usage = Usage()
    parent: Path | None = None
    iteration: int = 1
    parent_pairs: int = 0
    parent_report: EvalReport | None = None


@dataclass
class PipelineEvent:
    """A progress event: ``step`` started or finished, or advanced ``done`` of ``total``."""

    step: str
    message: str
    done: int | None = None
    total: int | None = None


def _pairs_digest(pairs: Sequence[QAPair]) -> str:
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(f"{pair.question}\x00{pair.sql}\x00{pair.rejected}\x01".encode())
    return digest.hexdigest()[:16]


@dataclass
class Pipeline:
    """Generate → validate → clean → export → tune → evaluate, resumable in ``run_dir``.

    Any implementation of the interfaces plugs in. Steps with nothing to do are skipped: no
    generator means only ``seed_pairs`` are used, no tuner means no tuning, no golden set or no
    model means no evaluation.

    Args:
        run_dir: The run directory (created).
        executor: Runs the SQL (validation and evaluation).
        schema: The annotated schema, for the answering prompt in exports and LLM models.
        generator: Produces new pairs (``None``: use only ``seed_pairs``).
        n: Generation attempts (counting those already in the checkpoint).
        seed_pairs: Known-good pairs added to the training data (validated and filtered too).
        filters: The cleaning chain; ``None`` builds the standard one (validity, row bounds,
            duplicates, near duplicates, safety and leakage against ``eval_cases``).
        min_rows: Fewest result rows a kept pair may return.
        max_rows: Most result rows a kept pair may return.
        near_dup_threshold: Near-duplicate question similarity threshold.
        leakage_cases: Cases that must not leak into training data (default ``eval_cases``).
        export_formats: Training files to write.
        validation_fraction: Share held out as validation files (and passed to the tuner).
        split_seed: Split seed.
        tuner: Starts the tuning job (``None``: no tuning).
        wait_for_tuning: Wait until the job finishes.
        poll_interval_s: First polling interval while waiting.
        eval_cases: The golden set.
        model: Builds the model to evaluate from the kept pairs and the finished tuning job
            (``None`` from the factory: skip evaluation). Use :meth:`fixed_model` for a model
            that needs neither.
        judge: The judge (default: the execution-match judge on ``executor``).
        html_report: Also write the HTML report.
        concurrency: Queries run at once during validation and evaluation.
        max_consecutive_failures: Model calls in a row without an answer from the provider
            before evaluation stops with ``ProviderOutageError`` (generators have their own).
        on_event: Called with progress events (the CLI draws progress bars from them).
        parent: Make this run the next iteration of that run directory: its kept pairs come
            first in the training data (their validations are reused when the row bounds are
            the same), and ``iteration.json`` records it. Usually with a targeted generator.
        iteration_notes: More facts for ``iteration.json`` (e.g. the analysis summary).
    """

    run_dir: Path
    executor: SQLExecutor
    schema: DatabaseSchema
    generator: QAGenerator | None = None
    n: int = 0
    seed_pairs: Sequence[QAPair] = ()
    filters: Sequence[DatasetFilter] | None = None
    min_rows: int = 1
    max_rows: int = 100
    near_dup_threshold: float = 0.9
    leakage_cases: Sequence[EvalCase] | None = None
    export_formats: Sequence[str] = ("lamini", "openai")
    validation_fraction: float = 0.0
    split_seed: int = 0
    tuner: Tuner | None = None
    wait_for_tuning: bool = False
    poll_interval_s: float = 30.0
    eval_cases: Sequence[EvalCase] = ()
    model: ModelFactory | None = None
    judge: Judge | None = None
    html_report: bool = True
    concurrency: int = 4
    max_consecutive_failures: int | None = 5
    on_event: Callable[[PipelineEvent], None] | None = None
    parent: Path | None = None
    iteration_notes: Mapping[str, object] = field(default_factory=dict)
    paths: RunPaths = field(init=False)
    _state: StepState = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.paths = RunPaths(self.run_dir)
        self._state = StepState(self.paths.state)
        if self.parent is not None:
            self.parent = Path(self.parent)
            if self.parent.resolve() == self.run_dir.resolve():
                raise ConfigurationError("a next iteration needs its own run directory")

    @staticmethod
    def fixed_model(model: Text2SQLModel) -> ModelFactory:
        """A model factory that always returns ``model``."""
        return lambda _pairs, _job: model

    def _emit(
        self, step: str, message: str, done: int | None = None, total: int | None = None
    ) -> None:
        logger.info("%s: %s", step, message)
        if self.on_event is not None:
            self.on_event(PipelineEvent(step, message, done, total))

    async def arun(self) -> PipelineResult:
        """Run (or resume) every step and return what was produced.

        Raises:
            ResourceBusyError: Another process is running in the same run directory.
            ProviderOutageError: The provider stopped answering (everything completed is
                saved; running again resumes).
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.paths.lock, f"run directory {self.run_dir}"):
            return await self._arun()

    async def _arun(self) -> PipelineResult:
        self._state = StepState(self.paths.state)
        result = PipelineResult(run_dir=self.run_dir)
        inherited = self._start_iteration(result)
        raw = inherited + await self._agenerate(result)
        validated = await self._avalidate(raw, result)
        kept = self._clean(validated, result)
        self._export(kept, result)
        job = await self._atune(kept, result)
        await self._aevaluate(kept, job, result)
        return result

    def run(self) -> PipelineResult:
        """Sync twin of :meth:`arun`."""
        return run_sync(self.arun())

    def _start_iteration(self, result: PipelineResult) -> list[QAPair]:
        """A next iteration: record the parent, return its kept pairs (else nothing)."""
        if self.parent is None:
            return []
        found = inherit(self.parent, self.run_dir, self.iteration_notes)
        result.parent, result.iteration = self.parent, found.record.iteration
        result.parent_pairs, result.parent_report = len(found.pairs), found.parent_report
        self._emit(
            "iterate",
            f"iteration {result.iteration}: starting from the {len(found.pairs)} pairs kept in "
            f"{self.parent}",
        )
        return found.pairs

    async def _agenerate(self, result: PipelineResult) -> list[QAPair]:
        if self.generator is not None and self.n > 0:
            done = min(read_checkpoint_state(self.paths.raw).records, self.n)
            if done >= self.n:
                self._emit("generate", f"generation is complete ({done} records saved)")
            else:
                self._emit(
                    "generate", f"generating {self.n - done} pairs with {self.generator.name}"
                )
                self._emit("generate", "resuming" if done else "starting", done, self.n)

                def advance(_pair: QAPair) -> None:
                    nonlocal done
                    done += 1
                    self._emit("generate", "pair saved", done, self.n)

                # The run directory owns raw.jsonl: whatever it holds is this run's checkpoint.
                await agenerate_to_file(
                    self.generator, self.n, self.paths.raw, on_record=advance, if_exists="append"
                )
        records = read_pairs(self.paths.raw, allow_empty=True) if self.paths.raw.exists() else []
        result.generated = len(records)
        result.rejected = sum(1 for r in records if not r.ok)
        usage = Usage()
        for record in records:
            if record.usage is not None:
                usage = usage + record.usage
        result.usage = usage
        seeds = [p.model_copy(update={"source": p.source or "seed"}) for p in self.seed_pairs]
        result.seed_pairs = len(seeds)
        return records + seeds

    def _validation_settings(self, pairs: Sequence[QAPair]) -> dict[str, object]:
        # The pairs are part of the key: new pairs in the checkpoint mean validation runs again
        # (only for the queries it has not seen with these bounds).
        return {
            "min_rows": self.min_rows,
            "max_rows": self.max_rows,
            "pairs": _pairs_digest(pairs),
        }

    def _earlier_validations(self, bounds: dict[str, object]) -> dict[str, ValidationInfo]:
        """Outcomes already in ``validated.jsonl`` when they were made with the same row bounds.

        A next iteration also reuses its parent's when the parent validated with these bounds.
        """
        earlier: dict[str, ValidationInfo] = {}
        sources = []
        if self.parent is not None and StepState(RunPaths(self.parent).state).same(
            "validate:bounds", bounds
        ):
            sources.append(RunPaths(self.parent).validated)
        if self._state.same("validate:bounds", bounds):
            sources.append(self.paths.validated)
        for source in sources:
            if source.exists():
                for p in read_pairs(source, allow_empty=True):
                    if p.ok and p.validation is not None:
                        earlier[normalize_sql(p.sql)] = p.validation
        return earlier

    async def _avalidate(self, pairs: list[QAPair], result: PipelineResult) -> list[QAPair]:
        settings = self._validation_settings(pairs)
        if self._state.is_fresh("validate", settings, self.paths.validated, self.paths.raw):
            validated = read_pairs(self.paths.validated, allow_empty=True)
            self._emit("validate", "validation is up to date")
            result.validated = sum(1 for p in validated if p.validation is not None)
            return validated
        bounds: dict[str, object] = {"min_rows": self.min_rows, "max_rows": self.max_rows}
        earlier = self._earlier_validations(bounds)
        validated = list(pairs)
        todo: list[int] = []
        for index, pair in enumerate(pairs):
            known = earlier.get(normalize_sql(pair.sql)) if pair.ok else None
            if known is not None:
                validated[index] = pair.model_copy(update={"validation": known})
            else:
                todo.append(index)
        usable = sum(1 for p in pairs if p.ok)
        self._emit("validate", f"running {sum(1 for i in todo if pairs[i].ok)} queries")
        done = len(pairs) - len(todo)

        def advance(_index: int, _pair: QAPair) -> None:
            nonlocal done
            done += 1
            self._emit("validate", "pair validated", done, len(pairs))

        fresh = await avalidate_pairs(
            [pairs[i] for i in todo],
            self.executor,
            min_rows=self.min_rows,
            max_rows=self.max_rows,
            concurrency=self.concurrency,
            on_done=advance,
            checkpoint=self.paths.validation_checkpoint,
        )
        for index, pair in zip(todo, fresh, strict=True):
            validated[index] = pair
        write_jsonl(self.paths.validated, validated)
        self._state.record("validate", settings)
        self._state.record("validate:bounds", bounds)
        self.paths.validation_checkpoint.unlink(missing_ok=True)
        result.validated = usable
        return validated

    def _filters(self) -> Sequence[DatasetFilter]:
        if self.filters is not None:
            return self.filters
        leakage = self.leakage_cases if self.leakage_cases is not None else self.eval_cases
        return default_filters(
            min_rows=self.min_rows,
            max_rows=self.max_rows,
            near_dup_threshold=self.near_dup_threshold,
            eval_cases=list(leakage),
        )

    def _clean_settings(self) -> dict[str, object]:
        leakage = self.leakage_cases if self.leakage_cases is not None else self.eval_cases
        return {
            "filters": None
            if self.filters is None
            else [f"{type(f).__module__}.{type(f).__qualname__}:{f.name}" for f in self.filters],
            "min_rows": self.min_rows,
            "max_rows": self.max_rows,
            "near_dup_threshold": self.near_dup_threshold,
            "leakage": sorted((c.question, c.sql) for c in leakage),
        }

    def _clean(self, validated: list[QAPair], result: PipelineResult) -> list[QAPair]:
        settings = self._clean_settings()
        paths = self.paths
        if self._state.is_fresh("clean", settings, paths.clean, paths.validated) and (
            paths.filter_report.exists()
        ):
            kept = read_pairs(paths.clean, allow_empty=True)
            result.filter_report = FilterReport.load(paths.filter_report)
            self._emit("clean", f"cleaning is up to date ({len(kept)} pairs kept)")
            result.kept = len(kept)
            return kept
        kept, report = FilterChain(self._filters()).apply(validated)
        write_jsonl(paths.clean, kept)
        report.save(paths.filter_report, dropped_path=paths.dropped)
        self._state.record("clean", settings)
        result.filter_report = report
        self._emit("clean", f"kept {len(kept)} of {len(validated)} pairs")
        result.kept = len(kept)
        return kept

    def _export(self, kept: list[QAPair], result: PipelineResult) -> None:
        system_prompt = answering_system_prompt(self.schema)
        for fmt in self.export_formats:
            path = self.paths.export(fmt)
            settings = {
                "system_prompt": system_prompt,
                "validation_fraction": self.validation_fraction,
                "seed": self.split_seed,
            }
            if not self._state.is_fresh(f"export:{fmt}", settings, path, self.paths.clean):
                export_pairs(
                    kept,
                    path,
                    fmt,
                    system_prompt=system_prompt,
                    validation_fraction=self.validation_fraction,
                    seed=self.split_seed,
                )
                self._state.record(f"export:{fmt}", settings)
            result.exports[fmt] = path
        if result.exports:
            self._emit("export", ", ".join(f"{k}: {v}" for k, v in result.exports.items()))

    async def _atune(self, kept: list[QAPair], result: PipelineResult) -> TuningJob | None:
        if self.tuner is None:
            return None
        if self.paths.tuning_job.exists():
            job = TuningJob.model_validate_json(self.paths.tuning_job.read_text(encoding="utf-8"))
            self._emit("tune", f"following the job started earlier: {job.job_id}")
        else:
            train, held_out = split_train_validation(
                kept, self.validation_fraction, seed=self.split_seed
            )
            job = await self.tuner.astart(train, validation=held_out or None)
            self._save_job(job)
            self._emit("tune", f"started tuning job {job.job_id} ({job.status.value})")
        if self.wait_for_tuning and not job.status.terminal:
            job = await self.tuner.await_until_done(
                job.job_id,
                poll_interval_s=self.poll_interval_s,
                on_update=self._on_job_update,
            )
        elif not job.status.terminal:
            job = await self.tuner.astatus(job.job_id)
        self._save_job(job)
        result.tuning_job = job
        return job

    def _on_job_update(self, job: TuningJob) -> None:
        self._save_job(job)
        self._emit("tune", f"job {job.job_id}: {job.status.value}")

    def _save_job(self, job: TuningJob) -> None:
        atomic_write_text(self.paths.tuning_job, job.model_dump_json(indent=2))

    async def _aevaluate(
        self, kept: list[QAPair], job: TuningJob | None, result: PipelineResult
    ) -> None:
        if not self.eval_cases or self.model is None:
            return
        model = self.model(kept, job)
        if model is None:
            self._emit("evaluate", "no model to evaluate yet (tuning has not finished)")
            return
        eval_dir = self.paths.eval_dir
        settings = {
            "model": model.name,
            "judge": None
            if self.judge is None
            else f"{type(self.judge).__qualname__}:{self.judge.name}",
            "cases": [(c.question, c.sql) for c in self.eval_cases],
            "html": self.html_report,
        }
        report_path = eval_dir / "report.json"
        if self._state.is_fresh("evaluate", settings, report_path, self.paths.clean):
            # Asking the model again would repeat paid calls for the same answers.
            result.report = load_report(report_path)
            names = {"json": "report.json", "markdown": "report.md", "html": "report.html"}
            result.report_files = {
                kind: eval_dir / name for kind, name in names.items() if (eval_dir / name).exists()
            }
            self._emit("evaluate", f"evaluation of {model.name} is up to date")
            return
        self._emit("evaluate", f"evaluating {model.name} on {len(self.eval_cases)} questions")
        total = len(self.eval_cases)
        done = 0

        def advance(_index: int, _result: object) -> None:
            nonlocal done
            done += 1
            self._emit("evaluate", "case judged", done, total)

        evaluator = Evaluator(
            self.executor,
            self.judge,
            concurrency=self.concurrency,
            max_consecutive_failures=self.max_consecutive_failures,
        )
        # Answers depend on the model, its prompt and (few-shot, retrieval) the kept pairs.
        key = answers_key(model.name, answering_system_prompt(self.schema), _pairs_digest(kept))
        with CheckpointedModel(model, self.paths.answers, key=key) as answers:
            report = await evaluator.aevaluate(answers, self.eval_cases, on_done=advance)
        if answers.reused:
            self._emit("evaluate", f"{answers.reused} answers were reused from {answers.path}")
        tuning_record = getattr(model, "training", None)  # a local model: loss curve and recall
        if tuning_record:
            report.metadata["training"] = tuning_record
        if self.parent is not None:
            report.metadata.setdefault("parent", str(self.parent.resolve()))
        eval_dir.mkdir(parents=True, exist_ok=True)
        files = {"json": save_report(report, report_path)}
        files["markdown"] = eval_dir / "report.md"
        training = TrainingIndex(kept)  # the reports list each case's nearest kept pairs
        atomic_write_text(files["markdown"], report_markdown(report, training=training))
        if self.html_report:
            try:
                html = report_html(report, training=training)
            except MissingExtraError:
                html = report_html(report, chart=False, training=training)
                self._emit("evaluate", "no chart in the HTML report: install text2sql-tune[report]")
            files["html"] = eval_dir / "report.html"
            atomic_write_text(files["html"], html)
        self._state.record("evaluate", settings)
        result.report = report
        result.report_files = files
        summary = report.summary
        self._emit(
            "evaluate",
            f"valid {summary.valid}/{summary.total}, correct {summary.correct}/{summary.total}",
        )


def save_config_snapshot(path: Path, config: BaseModel) -> None:
    """Write the configuration a run was started with (for reproducibility)."""
    atomic_write_json(path, config.model_dump(mode="json"))
