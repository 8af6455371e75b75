"""Build a :class:`~text2sql_tune.run.pipeline.Pipeline` from a :class:`PipelineConfig` and run it.

The configuration names components (``generator = "openai"``, ``tuner = "lamini"``, ...); this
module turns the names into objects through the :mod:`~text2sql_tune.registry`, resolves the demo
defaults (schema, seed examples, golden set) when the run uses the embedded demo database, and
owns the clients it creates so they are closed when the run ends.

With ``[run] parent`` the run is a next iteration: the parent's kept pairs are analysed against
the golden set's **dev** part (weighted by the parent's evaluation), the analysis is saved as
``analysis.json`` and its targets drive the ``[next]`` generator. A resumed iteration reuses that
analysis, so its targets (and a seeded generator's sequence) do not change under it. The test
part is never analysed: :func:`golden_split` says which is which, and dev cases or seed examples
that are test cases (of this run or of the parent) are refused with
:class:`~text2sql_tune.errors.HeldOutSetError` before anything is generated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from .._sync import run_sync
from ..analysis import Analysis, analyze
from ..config import PipelineConfig
from ..errors import ConfigurationError
from ..evaluate.splits import GoldenSplit, HeldOutSet, SplitRecord, split_golden
from ..interfaces import QAGenerator, SQLExecutor, Text2SQLModel, Tuner
from ..io.records import read_cases, read_pairs
from ..records import EvalCase, QAPair, TuningJob, TuningStatus
from ..reporting import load_report
from ..schema import DatabaseSchema
from .components import BuildContext, abuild_generator, build_judge, build_tuner
from .paths import RunPaths
from .pipeline import ModelFactory, Pipeline, PipelineEvent, PipelineResult, save_config_snapshot

__all__ = [
    "abuild_pipeline",
    "arun_config",
    "aschema_and_seeds",
    "golden_split",
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


def _on_retry(on_event: Callable[[PipelineEvent], None] | None) -> dict[str, Any]:
    if on_event is None:
        return {}

    def show(event: Any) -> None:
        if event.wait_s >= 1.0:  # one line per wait worth noticing; shorter ones are in the log
            on_event(PipelineEvent("waiting", event.describe()))

    return {"on_retry": show}


def _model_factory(
    context: BuildContext, tuner: Tuner | None, seeds: Sequence[QAPair]
) -> ModelFactory | None:
    """``[evaluate] model``: none, the tuned model, or a registry model spec."""
    evaluate = context.config.evaluate
    if evaluate.model == "none":
        return None
    if evaluate.model == "tuned":
        if tuner is None:
            raise ConfigurationError('[evaluate] model = "tuned" needs a [tune] tuner')
        return _tuned_model_factory(tuner)
    from ..models.spec import model_from_spec

    kind, _, name = evaluate.model.partition(":")
    spec = f"{kind}:{name or evaluate.llm_model}"
    schema = context.need_schema("the evaluated model")

    def build(kept: Sequence[QAPair], _job: TuningJob | None) -> Text2SQLModel:
        train = list(kept) or list(seeds)
        return model_from_spec(spec, schema, train=train, chat_client=context.chat_client)

    return build


def _tuned_model_factory(tuner: Tuner) -> ModelFactory:
    def build(_kept: Sequence[QAPair], job: TuningJob | None) -> Text2SQLModel | None:
        if job is None or job.status is not TuningStatus.COMPLETED:
            return None
        return tuner.model_for(job)

    return build


def golden_split(config: PipelineConfig, is_demo: bool) -> GoldenSplit:
    """The dev and test parts of the golden set ``[evaluate]`` names.

    ``dev`` (or ``golden``) and ``test`` are read as they are; ``golden`` with ``test_fraction``
    is split by :func:`~text2sql_tune.evaluate.splits.split_golden` (``split_seed``); ``golden``
    alone is all dev. Where a part is not given, the demo database gets its bundled one (with
    ``test_fraction``: both bundled parts, split again), any other database none.

    Args:
        config: The configuration.
        is_demo: The run uses the demo database.

    Raises:
        ConfigurationError: ``test_fraction`` without a golden set to split.
        HeldOutSetError: A dev case is also a test case.
    """
    from ..demo.database import load_golden_set

    evaluate = config.evaluate
    given = evaluate.golden or evaluate.dev
    if evaluate.test_fraction is not None:
        if given is not None:
            cases = read_cases(given)
        elif is_demo:
            cases = load_golden_set("all")
        else:
            raise ConfigurationError("[evaluate] test_fraction needs a golden set to split")
        return split_golden(cases, evaluate.test_fraction, seed=evaluate.split_seed)
    bundled = is_demo and given is None  # the demo's own golden set, both parts
    dev = read_cases(given) if given is not None else load_golden_set("dev") if bundled else []
    if evaluate.test is not None:
        test = read_cases(evaluate.test)
    else:
        test = load_golden_set("test") if bundled else []
    return GoldenSplit.of(dev, test)


def _parent_held_out(parent: Path) -> HeldOutSet:
    """The parent run's test set, as recorded in its ``golden_split.json`` (else empty)."""
    record = RunPaths(parent).golden_split
    return SplitRecord.load(record).held_out() if record.exists() else HeldOutSet(())


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

    The generator, tuner, model and judge are built from their names through the
    :mod:`~text2sql_tune.registry` (see :mod:`~text2sql_tune.run.components`).

    Args:
        config: The configuration.
        executor: The database named by ``config.run.database``.
        stack: Clients created for the run are registered here to be closed when it exits.
        on_event: Progress callback.

    Raises:
        ConfigurationError: The configuration asks for something impossible (e.g. a tuned model
            without a tuner), or a key it needs is missing.
    """
    run = config.run
    if config.evaluate.judge_cache is None:
        config = config.model_copy(deep=True)
        config.evaluate.judge_cache = RunPaths(run.dir).judge_cache
    schema, seeds, is_demo = await aschema_and_seeds(
        executor, run.database, run.schema_notes, config.generate.seed_examples
    )
    context = BuildContext(config, executor, schema, seeds, client_options=_on_retry(on_event))
    stack.push_async_callback(context.aclose)
    tuner = build_tuner(context)
    if on_event is not None and tuner is not None and tuner.name == "local":
        tuner.on_progress = _training_events(on_event)  # type: ignore[attr-defined]
    split = golden_split(config, is_demo)
    # The generator shows its seed examples in every prompt: a test case there is read.
    split.held_out().check(seeds, "the seed examples (the generator's few-shot examples)")
    generate = config.generate
    if run.parent is not None:
        generator, n, notes = await _next_generator(context, split)
        extra: list[QAPair] = []  # the seed examples are among the parent's kept pairs
    else:
        generator = await abuild_generator(context) if generate.n else None
        n, notes = generate.n, {}
        extra = seeds if generate.include_seed_examples else []
    clean = config.clean
    return Pipeline.from_config(
        config,
        executor,
        schema,
        generate=generate.model_copy(update={"n": n}),
        generator=generator,
        seed_pairs=extra,
        leakage_cases=read_cases(clean.eval_set) if clean.eval_set else None,
        tuner=tuner,
        split=split,
        model=_model_factory(context, tuner, seeds),
        judge=build_judge(context),
        on_event=on_event,
        iteration_notes=notes,
    )


async def _next_generator(
    context: BuildContext, split: GoldenSplit
) -> tuple[QAGenerator | None, int, dict[str, object]]:
    """The targeted generator of a next iteration, from the analysis of its parent (dev only)."""
    config = context.config
    parent = config.run.parent
    assert parent is not None
    purpose = "the analysis that targets a next iteration's generation"
    _parent_held_out(parent).check(split.dev, purpose)
    analysis = next_analysis(
        parent,
        RunPaths(config.run.dir).analysis,
        split.dev,
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
    base = await abuild_generator(context, "template" if kind == "none" else kind)
    targeted = getattr(base, "targeted", None)
    if targeted is None:
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

    The parent's kept pairs are analysed against ``golden`` (the dev part of the golden set),
    weighted by the parent's evaluation report when there is one, and saved to ``path``.

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
    report = load_report(paths.report) if paths.report.exists() else None
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
