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
      tuning/                local tuning: job folders (checkpoints, adapter)
      eval/report.json       the evaluation on the golden set's dev part (+ report.md, .html)
      eval/test/report.json  the evaluation on its test part (+ pages: score and training overlap)
      golden_split.json      how the golden set was split, with the test set's hash
      judge_cache.jsonl      LLM judge verdicts (llm and cascade judges)
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

A *next iteration* (``run.parent``) starts from its parent run's kept pairs, reusing their
validations, adds new (targeted) pairs, cleans everything again with the same filters (leakage
included) and evaluates again; ``iteration.json`` records the parent.

The golden set comes in two parts (:mod:`~text2sql_tune.evaluate.splits`): ``eval_cases`` (dev)
and ``test_cases`` (test). Both are kept out of the training data by the leakage filter and both
are scored; the seed examples and a next iteration's dev set are refused
(:class:`~text2sql_tune.errors.HeldOutSetError`) when they hold a test case, of this run or of
its parent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .._defaults import MAX_SQL_LENGTH
from .._sync import run_sync
from ..config import (
    CleanConfig,
    EvaluateConfig,
    ExportConfig,
    GenerateConfig,
    LLMConfig,
    PipelineConfig,
    RunConfig,
    TuneConfig,
)
from ..errors import ConfigurationError
from ..evaluate.splits import GoldenSplit, SplitRecord
from ..exports import export_pairs, split_train_validation
from ..filters import FilterChain, FilterReport, default_filters
from ..filters.validation import avalidate_pairs
from ..generators import agenerate_to_file, read_checkpoint_state
from ..interfaces import DatasetFilter, Judge, QAGenerator, SQLExecutor, Text2SQLModel, Tuner
from ..io.files import FileLock, atomic_write_json, atomic_write_text
from ..io.records import read_pairs, write_jsonl
from ..models.checkpoint import answers_key
from ..prompts import answering_system_prompt
from ..records import EvalCase, QAPair, TuningJob, Usage, ValidationInfo
from ..reporting import load_report
from ..schema import DatabaseSchema
from ..sql.normalize import normalize_sql
from ._legacy import SECTIONS, legacy_config
from .evaluation import EvalPart, RunEvaluation
from .iteration import inherit
from .paths import RunPaths
from .result import PipelineEvent, PipelineResult
from .state import StepState

__all__ = ["Pipeline", "PipelineEvent", "PipelineResult", "RunPaths"]

logger = logging.getLogger("text2sql_tune")

ModelFactory = Callable[[Sequence[QAPair], TuningJob | None], Text2SQLModel | None]


# Bumped when the leakage filter learns to catch more: runs cleaned before clean again.
_LEAKAGE_RULES = "meaning-1"

_DEFAULT_CHAIN: dict[str, object] = {
    "add": [],
    "without": [],
    "options": {},
    "max_sql_length": MAX_SQL_LENGTH,
}


def _described(dataset_filter: DatasetFilter) -> str:
    kind = type(dataset_filter)
    return f"{kind.__module__}.{kind.__qualname__}:{dataset_filter.name}"


def _pairs_digest(pairs: Sequence[QAPair]) -> str:
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(f"{pair.question}\x00{pair.sql}\x00{pair.rejected}\x01".encode())
    return digest.hexdigest()[:16]


class Pipeline:
    """Generate → validate → clean → export → tune → evaluate, resumable in a run directory.

    The settings come as the sections of a :class:`~text2sql_tune.config.PipelineConfig` (or
    all of it through :meth:`from_config`); the components are objects, so any implementation
    of the interfaces plugs in. Steps with nothing to do are skipped: no generator (or
    ``generate.n = 0``) means only ``seed_pairs`` are used, no tuner means no tuning, no golden
    set or no model means no evaluation. The golden set's dev part (``eval_cases``) and test part
    (``test_cases``) are evaluated apart (``eval/`` and ``eval/test/``). The names in the
    sections (``generate.generator``, ``tune.tuner``, ``evaluate.model``, ``evaluate.judge``)
    are not read here: build the components from them with
    :func:`~text2sql_tune.run.from_config.abuild_pipeline`.

    Args:
        executor: Runs the SQL (validation and evaluation).
        schema: The annotated schema, for the answering prompt in exports and LLM models.
        run: ``dir`` (the run directory, created), ``concurrency`` (queries at once during
            validation and evaluation) and ``parent``: make this run the next iteration of that
            run directory (its kept pairs come first in the training data, their validations
            are reused when the row bounds are the same, ``iteration.json`` records it).
        generate: ``n``: generation attempts (counting those already in the checkpoint).
        clean: Row bounds, near-duplicate threshold, SQL length and the cleaning chain
            (``filters`` to add by name, ``without``, ``filter_options``).
        export: Training files to write, the validation share and the split seed.
        tune: ``wait`` for the job to finish, ``poll_interval_s``.
        evaluate: ``html``: also write the HTML report.
        llm: ``max_failures``: model calls in a row without an answer from the provider before
            evaluation stops with ``ProviderOutageError`` (generators have their own).
        generator: Produces new pairs (``None``: use only ``seed_pairs``).
        seed_pairs: Known-good pairs added to the training data (validated and filtered too).
        filters: The whole cleaning chain, replacing the one ``clean`` describes.
        extra_filters: Filter objects run after the chain ``clean`` describes.
        leakage_cases: Cases that must not leak into training data (default: the dev cases);
            the test cases are always added.
        tuner: Starts the tuning job (``None``: no tuning).
        eval_cases: The golden set's dev part: scored, and what a next iteration's analysis
            reads.
        test_cases: Its test part: only scored (no test set: every score is on dev cases).
        split: The golden set as a :class:`~text2sql_tune.evaluate.splits.GoldenSplit` (e.g.
            from ``split_golden``) instead of ``eval_cases`` and ``test_cases``; how it was
            made is recorded in ``golden_split.json``.
        model: Builds the model to evaluate from the kept pairs and the finished tuning job
            (``None`` from the factory: skip evaluation). Use :meth:`fixed_model` for a model
            that needs neither.
        judge: The judge (default: the execution-match judge on ``executor``).
        on_event: Called with progress events (the CLI draws progress bars from them).
        iteration_notes: More facts for ``iteration.json`` (e.g. the analysis summary).
        **settings: The keyword settings of 0.1 (``run_dir``, ``n``, ``min_rows``, ...):
            deprecated, each goes to its section.

    Example:
        >>> pipeline = Pipeline(  # doctest: +SKIP
        ...     executor, schema, run=RunConfig(dir="runs/first"), generate=GenerateConfig(n=50),
        ...     generator=generator, eval_cases=golden, model=Pipeline.fixed_model(model))
    """

    def __init__(
        self,
        executor: SQLExecutor,
        schema: DatabaseSchema,
        *,
        run: RunConfig | None = None,
        generate: GenerateConfig | None = None,
        clean: CleanConfig | None = None,
        export: ExportConfig | None = None,
        tune: TuneConfig | None = None,
        evaluate: EvaluateConfig | None = None,
        llm: LLMConfig | None = None,
        generator: QAGenerator | None = None,
        seed_pairs: Sequence[QAPair] = (),
        filters: Sequence[DatasetFilter] | None = None,
        extra_filters: Sequence[DatasetFilter] = (),
        leakage_cases: Sequence[EvalCase] | None = None,
        tuner: Tuner | None = None,
        eval_cases: Sequence[EvalCase] = (),
        test_cases: Sequence[EvalCase] = (),
        split: GoldenSplit | None = None,
        model: ModelFactory | None = None,
        judge: Judge | None = None,
        on_event: Callable[[PipelineEvent], None] | None = None,
        iteration_notes: Mapping[str, object] | None = None,
        **settings: Any,
    ) -> None:
        given: dict[str, BaseModel | None] = {"run": run, "generate": generate, "clean": clean}
        given |= {"export": export, "tune": tune, "evaluate": evaluate, "llm": llm}
        self.config = PipelineConfig.model_validate(
            {k: v for k, v in given.items() if v is not None}
        )
        if settings:
            self.config = legacy_config(self.config, settings)
        self.executor, self.schema = executor, schema
        self.generator, self.seed_pairs = generator, seed_pairs
        self.filters, self.extra_filters = filters, extra_filters
        if split is not None and (eval_cases or test_cases):
            raise ConfigurationError("give split, or eval_cases and test_cases, not both")
        self.split = split or GoldenSplit.of(eval_cases, test_cases)
        self.eval_cases, self.test_cases = self.split.dev, self.split.test
        self.leakage_cases = leakage_cases
        self.tuner, self.model, self.judge = tuner, model, judge
        self.on_event = on_event
        self.iteration_notes = dict(iteration_notes or {})
        self.run_dir = Path(self.config.run.dir)
        self.paths = RunPaths(self.run_dir)
        self._state = StepState(self.paths.state)
        self.parent = None if self.config.run.parent is None else Path(self.config.run.parent)
        if self.parent is not None and self.parent.resolve() == self.run_dir.resolve():
            raise ConfigurationError("a next iteration needs its own run directory")

    @classmethod
    def from_config(
        cls, config: PipelineConfig, executor: SQLExecutor, schema: DatabaseSchema, **parts: Any
    ) -> Pipeline:
        """A pipeline with every section of ``config``; ``parts`` are the components.

        Args:
            config: The configuration (its sections; the component names in it are not read).
            executor: Runs the SQL.
            schema: The annotated schema.
            **parts: The other arguments of :class:`Pipeline` (``generator``, ``tuner``,
                ``model``, ``judge``, ``eval_cases``, ...), or a section to use instead of the
                configuration's.
        """
        sections = {name: getattr(config, name) for name in SECTIONS}
        return cls(executor, schema, **{**sections, **parts})

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
        self._refuse_test_cases()
        inherited = self._start_iteration(result)
        self._record_split(result)
        raw = inherited + await self._agenerate(result)
        validated = await self._avalidate(raw, result)
        kept = await self._aclean(validated, result)
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
        parent = RunPaths(self.parent)
        if parent.test_report.exists():
            result.parent_test_report = load_report(parent.test_report)
        self._emit(
            "iterate",
            f"iteration {result.iteration}: starting from the {len(found.pairs)} pairs kept in "
            f"{self.parent}",
        )
        return found.pairs

    def _refuse_test_cases(self) -> None:
        """Seed examples, and a next iteration's dev set, must not hold a test case."""
        self.split.held_out().check(self.seed_pairs, "the seed examples")
        record = RunPaths(self.parent).golden_split if self.parent is not None else None
        if record is not None and record.exists():
            SplitRecord.load(record).held_out().check(
                self.eval_cases, f"the dev set of this iteration (continuing {self.parent})"
            )

    def _record_split(self, result: PipelineResult) -> None:
        """Write ``golden_split.json``."""
        if self.eval_cases or self.test_cases:
            result.golden = self.split.record()
            result.golden.save(self.paths.golden_split)

    async def _agenerate(self, result: PipelineResult) -> list[QAPair]:
        n = self.config.generate.n
        if self.generator is not None and n > 0:
            done = min(read_checkpoint_state(self.paths.raw).records, n)
            if done >= n:
                self._emit("generate", f"generation is complete ({done} records saved)")
            else:
                self._emit("generate", f"generating {n - done} pairs with {self.generator.name}")
                self._emit("generate", "resuming" if done else "starting", done, n)

                def advance(_pair: QAPair) -> None:
                    nonlocal done
                    done += 1
                    self._emit("generate", "pair saved", done, n)

                # The run directory owns raw.jsonl: whatever it holds is this run's checkpoint.
                await agenerate_to_file(
                    self.generator, n, self.paths.raw, on_record=advance, if_exists="append"
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
            "min_rows": self.config.clean.min_rows,
            "max_rows": self.config.clean.max_rows,
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
        bounds: dict[str, object] = {
            "min_rows": self.config.clean.min_rows,
            "max_rows": self.config.clean.max_rows,
        }
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
            min_rows=self.config.clean.min_rows,
            max_rows=self.config.clean.max_rows,
            concurrency=self.config.run.concurrency,
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

    def _leakage(self) -> Sequence[EvalCase]:
        if self.leakage_cases is None:
            return self.split.all
        return [*self.leakage_cases, *self.test_cases]  # the test set never trains

    def _filters(self) -> Sequence[DatasetFilter]:
        if self.filters is not None:
            return self.filters
        clean = self.config.clean
        return default_filters(
            min_rows=clean.min_rows,
            max_rows=clean.max_rows,
            near_dup_threshold=clean.near_dup_threshold,
            eval_cases=list(self._leakage()),
            max_sql_length=clean.max_sql_length,
            extra=[*clean.filters, *self.extra_filters],
            without=clean.without,
            options=clean.filter_options,
            guard=self.executor.guard,
            executor=self.executor,
        )

    def _clean_settings(self) -> dict[str, object]:
        clean = self.config.clean
        settings: dict[str, object] = {
            "filters": None if self.filters is None else [_described(f) for f in self.filters],
            "min_rows": clean.min_rows,
            "max_rows": clean.max_rows,
            "near_dup_threshold": clean.near_dup_threshold,
            "leakage": sorted((c.question, c.sql) for c in self._leakage()),
            "leakage_rules": _LEAKAGE_RULES,
        }
        chain = {
            "add": [*clean.filters, *(_described(f) for f in self.extra_filters)],
            "without": clean.without,
            "options": clean.filter_options,
            "max_sql_length": clean.max_sql_length,
        }
        if chain != _DEFAULT_CHAIN:  # only then: runs cleaned with the default chain stay fresh
            settings["chain"] = chain
        return settings

    async def _aclean(self, validated: list[QAPair], result: PipelineResult) -> list[QAPair]:
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
        kept, report = await FilterChain(self._filters()).aapply(validated)
        write_jsonl(paths.clean, kept)
        report.save(paths.filter_report, dropped_path=paths.dropped)
        self._state.record("clean", settings)
        result.filter_report = report
        self._emit("clean", f"kept {len(kept)} of {len(validated)} pairs")
        result.kept = len(kept)
        return kept

    def _export(self, kept: list[QAPair], result: PipelineResult) -> None:
        system_prompt = answering_system_prompt(self.schema)
        for fmt in self.config.export.formats:
            path = self.paths.export(fmt)
            settings = {
                "system_prompt": system_prompt,
                "validation_fraction": self.config.export.validation_fraction,
                "seed": self.config.export.seed,
            }
            if not self._state.is_fresh(f"export:{fmt}", settings, path, self.paths.clean):
                export_pairs(
                    kept,
                    path,
                    fmt,
                    system_prompt=system_prompt,
                    validation_fraction=self.config.export.validation_fraction,
                    seed=self.config.export.seed,
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
                kept, self.config.export.validation_fraction, seed=self.config.export.seed
            )
            job = await self.tuner.astart(train, validation=held_out or None)
            self._save_job(job)
            self._emit("tune", f"started tuning job {job.job_id} ({job.status.value})")
        if self.config.tune.wait and not job.status.terminal:
            job = await self.tuner.await_until_done(
                job.job_id,
                poll_interval_s=self.config.tune.poll_interval_s,
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
        if not (self.eval_cases or self.test_cases) or self.model is None:
            return
        model = self.model(kept, job)
        if model is None:
            self._emit("evaluate", "no model to evaluate yet (tuning has not finished)")
            return
        judge = None if self.judge is None else f"{type(self.judge).__qualname__}:{self.judge.name}"
        settings: dict[str, object] = {
            "model": model.name,
            "judge": judge,
            "html": self.config.evaluate.html,
        }
        evaluation = RunEvaluation(
            executor=self.executor,
            judge=self.judge,
            state=self._state,
            clean=self.paths.clean,
            kept=kept,
            # Answers depend on the model, its prompt and (few-shot, retrieval) the kept pairs.
            answers_key=answers_key(
                model.name, answering_system_prompt(self.schema), _pairs_digest(kept)
            ),
            concurrency=self.config.run.concurrency,
            max_failures=self.config.llm.max_failures,
            html=self.config.evaluate.html,
            emit=self._emit,
            metadata={} if self.parent is None else {"parent": str(self.parent.resolve())},
        )
        if self.eval_cases:
            part = EvalPart.dev(self.paths, self.eval_cases)
            result.report, result.report_files = await evaluation.arun(model, part, settings)
        if self.test_cases:
            part = EvalPart.test(self.paths, self.test_cases)
            found = await evaluation.arun(model, part, settings)
            result.test_report, result.test_report_files = found


def save_config_snapshot(path: Path, config: BaseModel) -> None:
    """Write the configuration a run was started with (for reproducibility)."""
    atomic_write_json(path, config.model_dump(mode="json"))
