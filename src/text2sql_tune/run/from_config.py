"""Build a :class:`~text2sql_tune.run.pipeline.Pipeline` from a :class:`PipelineConfig` and run it.

The configuration names components (``generator = "openai"``, ``tuner = "lamini"``, ...); this
module turns the names into objects, resolves the demo defaults (schema, seed examples, golden set)
when the run uses the embedded demo database, and owns the clients it creates so they are closed
when the run ends.

With ``[run] parent`` the run is a next iteration: the parent's kept pairs are analysed against
the golden set (weighted by the parent's evaluation), the analysis is saved as ``analysis.json``
and its targets drive the ``[next]`` generator. A resumed iteration reuses that analysis, so its
targets (and a seeded generator's sequence) do not change under it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from .._sync import run_sync
from ..analysis import Analysis, analyze
from ..config import PipelineConfig
from ..errors import ConfigurationError
from ..interfaces import Judge, QAGenerator, SQLExecutor, Text2SQLModel, Tuner
from ..io.records import read_cases, read_pairs
from ..records import EvalCase, QAPair, TuningJob, TuningStatus
from ..reporting import load_report
from ..schema import DatabaseSchema
from .pipeline import (
    ModelFactory,
    Pipeline,
    PipelineEvent,
    PipelineResult,
    RunPaths,
    save_config_snapshot,
)

__all__ = [
    "abuild_pipeline",
    "arun_config",
    "aschema_and_seeds",
    "next_analysis",
    "run_config",
]


async def aschema_and_seeds(
    executor: SQLExecutor,
    database: str | None,
    schema_notes: Path | None = None,
    seed_examples: Path | None = None,
) -> tuple[DatabaseSchema, list[QAPair], bool]:
    """The annotated schema and few-shot examples of a database.

    The demo database (``database`` is ``None``, or its tables are all there) gets the bundled,
    annotated demo schema and seed examples; any other database gets its introspected schema.

    Args:
        executor: The open database.
        database: The URL it was opened with (``None`` for the demo database).
        schema_notes: Descriptions and example values to add (YAML/TOML/JSON).
        seed_examples: Few-shot examples file; overrides the bundled ones.

    Returns:
        ``(schema, seed examples, is_demo)``.
    """
    from ..demo.database import demo_schema, load_seed_examples

    demo = demo_schema()
    if database is None:
        schema, is_demo = demo, True
    else:
        found = await executor.aget_schema()
        demo_tables = {t.full_name for t in demo.tables}
        # A demo database built elsewhere (demo-db --path) keeps the annotated demo schema.
        is_demo = demo_tables <= {t.full_name for t in found.tables}
        schema = demo if is_demo else found
    if schema_notes is not None:
        schema = schema.annotate_from_file(schema_notes)
    if seed_examples is not None:
        seeds = read_pairs(seed_examples)
    elif is_demo:
        seeds = load_seed_examples()
    else:
        seeds = []
    return schema, seeds, is_demo


def _api_key(env: str) -> str | None:
    key = os.environ.get(env) or None
    if key is None and env != "OPENAI_API_KEY":
        raise ConfigurationError(f"api_key_env = {env!r}: that environment variable is not set")
    return key


class _Builder:
    """Turns one configuration into components, remembering what must be closed afterwards."""

    def __init__(
        self,
        config: PipelineConfig,
        executor: SQLExecutor,
        stack: AsyncExitStack,
        on_event: Callable[[PipelineEvent], None] | None = None,
    ):
        self.config = config
        self.executor = executor
        self.stack = stack
        self.on_event = on_event

    def _on_retry(self, event: Any) -> None:
        # One line per wait worth noticing (shorter ones only show in the log).
        if self.on_event is not None and event.wait_s >= 1.0:
            self.on_event(PipelineEvent("waiting", event.describe()))

    def chat_client(self, model: str, *, concurrency: int = 8) -> Any:
        from ..llm import OpenAIChatClient

        generate = self.config.generate
        client = OpenAIChatClient(
            model,
            api_key=_api_key(generate.api_key_env),
            base_url=generate.base_url,
            concurrency=concurrency,
            on_retry=self._on_retry,
            **self.config.llm.client_options(),
        )
        self.stack.push_async_callback(client.aclose)
        return client

    async def generator(
        self, schema: DatabaseSchema, seeds: Sequence[QAPair], kind: str | None = None
    ) -> QAGenerator | None:
        from ..generators import OpenAIQAGenerator, TemplateQAGenerator

        generate = self.config.generate
        if kind is None:  # the [generate] generator; an explicit kind is built regardless
            kind = generate.generator
            if generate.n == 0:
                return None
        if kind == "none":
            return None
        if kind == "template":
            return await TemplateQAGenerator.afrom_database(
                self.executor, schema, seed=generate.seed
            )
        if not seeds and generate.k > 0:
            raise ConfigurationError(
                "the openai generator needs few-shot examples: set [generate] seed_examples "
                "(JSONL with question and sql) or k = 0"
            )
        client = self.chat_client(generate.model, concurrency=generate.concurrency)
        return OpenAIQAGenerator(
            client,
            schema,
            list(seeds),
            k=generate.k,
            temperature=generate.temperature,
            rng_seed=generate.seed,
            max_consecutive_failures=self.config.llm.max_failures,
        )

    def tuner(self, schema: DatabaseSchema) -> Tuner | None:
        tune = self.config.tune
        if tune.tuner is None:
            return None
        options: dict[str, Any] = {}
        if tune.base_model:
            options["base_model"] = tune.base_model
        if tune.tuner == "local":
            return self.local_tuner(schema)
        if tune.tuner == "lamini":
            from ..tuners import LaminiTuner

            args = dict(tune.extra_args)
            if tune.max_steps is not None:
                args["max_steps"] = tune.max_steps
            if tune.learning_rate is not None:
                args["learning_rate"] = tune.learning_rate
            return LaminiTuner(schema, finetune_args=args, **options)
        if tune.max_steps is not None or tune.learning_rate is not None:
            raise ConfigurationError(
                "[tune] max_steps and learning_rate are Lamini settings; for OpenAI put "
                "n_epochs / batch_size / learning_rate_multiplier in extra_args"
            )
        from ..tuners import OpenAITuner

        return OpenAITuner(schema, hyperparameters=tune.extra_args, **options)

    def local_tuner(self, schema: DatabaseSchema) -> Tuner:
        from ..tuners.local.tuner import LocalLoRATuner

        tune = self.config.tune
        if not tune.base_model:
            raise ConfigurationError(
                '[tune] tuner = "local" needs base_model: a model folder (or a hub id)'
            )
        args = dict(tune.extra_args)
        if tune.max_steps is not None:
            args["max_steps"] = tune.max_steps
        if tune.learning_rate is not None:
            args["learning_rate"] = tune.learning_rate
        return LocalLoRATuner(
            schema,
            base_model=tune.base_model,
            output_dir=tune.output_dir or Path(self.config.run.dir) / "tuning",
            finetune_args=args,
            recipe=tune.recipe,
            device=tune.device,
        )

    def model(
        self, schema: DatabaseSchema, tuner: Tuner | None, seeds: Sequence[QAPair]
    ) -> ModelFactory | None:
        evaluate = self.config.evaluate
        if evaluate.model == "none":
            return None
        if evaluate.model == "retrieval":
            from ..models.retrieval import RetrievalModel

            return lambda kept, _job: RetrievalModel(kept)
        if evaluate.model == "tuned":
            if tuner is None:
                raise ConfigurationError('[evaluate] model = "tuned" needs a [tune] tuner')
            return _tuned_model_factory(tuner)
        from ..models import FewShotModel, ZeroShotModel

        client = self.chat_client(evaluate.llm_model)
        if evaluate.model == "zero-shot":
            zero_shot = ZeroShotModel(client, schema, model=evaluate.llm_model)
            return Pipeline.fixed_model(zero_shot)
        return lambda kept, _job: FewShotModel(
            client, schema, list(kept) or list(seeds), model=evaluate.llm_model
        )

    def judge(self, run_dir: Path) -> Judge:
        from ..evaluate.judges import CascadeJudge, ExecutionMatchJudge, LLMJudge

        deterministic = ExecutionMatchJudge(self.executor)
        evaluate = self.config.evaluate
        if evaluate.judge == "execution":
            return deterministic
        client = self.chat_client(evaluate.judge_model)
        llm = LLMJudge(client, executor=self.executor, cache=run_dir / "judge_cache.jsonl")
        return llm if evaluate.judge == "llm" else CascadeJudge([deterministic, llm])

    def golden(self, is_demo: bool) -> list[EvalCase]:
        golden = self.config.evaluate.golden
        if golden is not None:
            return read_cases(golden)
        if is_demo:
            from ..demo.database import load_golden_set

            return load_golden_set()
        return []


def _tuned_model_factory(tuner: Tuner) -> ModelFactory:
    def build(_kept: Sequence[QAPair], job: TuningJob | None) -> Text2SQLModel | None:
        if job is None or job.status is not TuningStatus.COMPLETED:
            return None
        model_for: Callable[[TuningJob], Text2SQLModel] | None = getattr(tuner, "model_for", None)
        if model_for is None:
            raise ConfigurationError(f"{type(tuner).__name__} cannot build the tuned model")
        return model_for(job)

    return build


def _training_events(on_event: Callable[[PipelineEvent], None]) -> Callable[[Any], None]:
    """Local training progress as pipeline events: a bar of steps, a line per phase change."""
    phases: list[str] = []

    def forward(update: Any) -> None:
        if not phases or phases[-1] != update.phase:
            phases.append(update.phase)
            on_event(PipelineEvent("tune", f"local training: {update.phase}"))
        if update.max_steps:
            loss = "" if update.loss is None else f" (loss {update.loss:.4f})"
            on_event(PipelineEvent("tune", f"step{loss}", update.step, update.max_steps))

    return forward


async def abuild_pipeline(
    config: PipelineConfig,
    executor: SQLExecutor,
    stack: AsyncExitStack,
    *,
    on_event: Callable[[PipelineEvent], None] | None = None,
) -> Pipeline:
    """Build the pipeline a configuration describes, on an open executor.

    Args:
        config: The configuration.
        executor: The database named by ``config.run.database``.
        stack: Clients created for the run are registered here to be closed when it exits.
        on_event: Progress callback.

    Raises:
        ConfigurationError: The configuration asks for something impossible (e.g. a tuned model
            without a tuner), or a key it needs is missing.
    """
    build = _Builder(config, executor, stack, on_event)
    run, clean, export, tune = config.run, config.clean, config.export, config.tune
    schema, seeds, is_demo = await aschema_and_seeds(
        executor, run.database, run.schema_notes, config.generate.seed_examples
    )
    tuner = build.tuner(schema)
    if on_event is not None and tuner is not None and tuner.name == "local":
        tuner.on_progress = _training_events(on_event)  # type: ignore[attr-defined]
    golden = build.golden(is_demo)
    if run.parent is not None:
        generator, n, notes = await _next_generator(build, schema, seeds, golden)
        extra: list[QAPair] = []  # the seed examples are among the parent's kept pairs
    else:
        generator, n, notes = await build.generator(schema, seeds), config.generate.n, {}
        extra = seeds if config.generate.include_seed_examples else []
    return Pipeline(
        run_dir=run.dir,
        executor=executor,
        schema=schema,
        generator=generator,
        n=n,
        seed_pairs=extra,
        min_rows=clean.min_rows,
        max_rows=clean.max_rows,
        near_dup_threshold=clean.near_dup_threshold,
        leakage_cases=read_cases(clean.eval_set) if clean.eval_set else None,
        export_formats=list(export.formats),
        validation_fraction=export.validation_fraction,
        split_seed=export.seed,
        tuner=tuner,
        wait_for_tuning=tune.wait,
        poll_interval_s=tune.poll_interval_s,
        eval_cases=golden,
        model=build.model(schema, tuner, seeds),
        judge=build.judge(Path(run.dir)),
        html_report=config.evaluate.html,
        concurrency=run.concurrency,
        max_consecutive_failures=config.llm.max_failures,
        on_event=on_event,
        parent=run.parent,
        iteration_notes=notes,
    )


async def _next_generator(
    build: _Builder, schema: DatabaseSchema, seeds: Sequence[QAPair], golden: Sequence[EvalCase]
) -> tuple[QAGenerator | None, int, dict[str, object]]:
    """The targeted generator of a next iteration, from the analysis of its parent."""
    config = build.config
    parent = config.run.parent
    assert parent is not None
    analysis = next_analysis(
        parent,
        RunPaths(config.run.dir).analysis,
        golden,
        min_examples=config.next.min_examples,
        max_targets=config.next.max_targets,
    )
    notes: dict[str, object] = {
        "analysis": analysis.summary.model_dump(mode="json"),
        "targets": len(analysis.targets),
        "targeted_pairs": config.next.n,
    }
    if not analysis.targets or config.next.n == 0:
        return None, 0, notes
    kind = config.next.generator or config.generate.generator
    base = await build.generator(schema, seeds, "template" if kind == "none" else kind)
    targeted = getattr(base, "targeted", None)
    if targeted is None:  # pragma: no cover - both built-in generators can target
        raise ConfigurationError(f"the {kind} generator cannot generate for targets")
    generator: QAGenerator = targeted(analysis.targets)
    notes["generator"] = generator.name
    return generator, config.next.n, notes


def next_analysis(
    parent: Path,
    path: Path,
    golden: Sequence[EvalCase],
    *,
    min_examples: int = 3,
    max_targets: int | None = None,
) -> Analysis:
    """The analysis a next iteration generates for: ``path`` when it exists, else made now.

    The parent's kept pairs are analysed against ``golden``, weighted by the parent's evaluation
    report when there is one, and saved to ``path``.

    Raises:
        ConfigurationError: The parent has not finished cleaning.
    """
    if path.exists():
        return Analysis.load(path)
    paths = RunPaths(parent)
    if not paths.clean.exists():
        raise ConfigurationError(
            f"{parent} has no clean.jsonl: run it to the end before its next iteration"
        )
    report_path = paths.eval_dir / "report.json"
    report = load_report(report_path) if report_path.exists() else None
    analysis = analyze(
        golden,
        read_pairs(paths.clean, allow_empty=True),
        report=report,
        min_examples=min_examples,
        max_targets=max_targets,
    )
    analysis.save(path)
    return analysis


async def arun_config(
    config: PipelineConfig, *, on_event: Callable[[PipelineEvent], None] | None = None
) -> PipelineResult:
    """Open the configured database, run (or resume) the pipeline and close everything.

    The configuration is saved as ``config.json`` in the run directory (keys are never in it:
    they come from the environment).

    Args:
        config: The configuration, e.g. from :func:`~text2sql_tune.config.load_config`.
        on_event: Progress callback.
    """
    from ..executors import open_executor

    url = config.run.database
    if url is None:
        from ..demo.database import adefault_database_url

        # Built (or found) here, in the running loop: the sync path would wait on this loop.
        url = await adefault_database_url()
    config = config.resolve_paths(Path.cwd())  # the snapshot must not depend on the cwd
    async with AsyncExitStack() as stack:
        executor = open_executor(url, concurrency=config.run.concurrency)
        stack.push_async_callback(executor.aclose)
        pipeline = await abuild_pipeline(config, executor, stack, on_event=on_event)
        save_config_snapshot(pipeline.paths.config, config)
        return await pipeline.arun()


def run_config(
    config: PipelineConfig, *, on_event: Callable[[PipelineEvent], None] | None = None
) -> PipelineResult:
    """Sync twin of :func:`arun_config`."""
    return run_sync(arun_config(config, on_event=on_event))
