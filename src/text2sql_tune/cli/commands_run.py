"""``run`` (a pipeline from a TOML file) and ``demo`` (the whole loop on the demo database)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from ..errors import ConfigurationError
from . import _llm_options as llm_options
from ._app import (
    DatabaseOption,
    JsonOption,
    app,
    console,
    err_console,
    name_option,
    print_json,
)

if TYPE_CHECKING:  # the pipeline imports every step; load it only when a command runs
    from ..config import EvaluateConfig, PipelineConfig
    from ..records import EvalReport, EvalSummary
    from ..run.pipeline import PipelineEvent, PipelineResult

__all__ = ["demo", "run"]


class _ProgressView:
    """Draws pipeline events: a bar per step that reports counts, a line for everything else."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
            disable=quiet,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, event: PipelineEvent) -> None:
        if self.quiet:
            return
        if event.done is not None and event.total is not None:
            task = self.tasks.get(event.step)
            if task is None:
                task = self.progress.add_task(event.step, total=event.total)
                self.tasks[event.step] = task
            self.progress.update(task, completed=event.done, total=event.total)
            return
        self.progress.console.print(f"[cyan]{event.step}[/]: {event.message}", highlight=False)


def _saved(run_dir: Path) -> str:
    from ..run.paths import RunPaths

    # Locks, the configuration copy, the golden split and empty files are there from the start.
    files = RunPaths(run_dir)
    bookkeeping = {files.config, files.state, files.golden_split}
    progress = run_dir.is_dir() and any(
        p.is_file() and not p.name.endswith(".lock") and p not in bookkeeping and p.stat().st_size
        for p in run_dir.rglob("*")
    )
    if not progress:
        return "nothing was saved yet"
    return f"everything finished so far is saved in {run_dir}"


def _run(config: PipelineConfig, quiet: bool) -> PipelineResult:
    from .._sync import run_sync
    from ..run.from_config import arun_config
    from ._llm_options import reporting_stops

    view = _ProgressView(quiet)
    with view.progress, reporting_stops(view.progress, err_console, lambda: _saved(config.run.dir)):
        return run_sync(arun_config(config, on_event=view))


_REPORTS = {
    "report": "evaluation",
    "test_report": "test_evaluation",
    "parent_report": "parent_evaluation",
    "parent_test_report": "parent_test_evaluation",
}


def _result_json(result: PipelineResult) -> dict[str, Any]:
    data = result.model_dump(mode="json", exclude={*_REPORTS, "filter_report", "golden"})
    for field, key in _REPORTS.items():
        report: EvalReport | None = getattr(result, field)
        if report is not None:
            data[key] = report.summary.model_dump(mode="json")
    if result.golden is not None:
        data["golden"] = result.golden.model_dump(mode="json", exclude={"test_fingerprints"})
    if result.filter_report is not None:
        data["dropped"] = result.filter_report.by_reason
    return data


def _score(summary: EvalSummary) -> str:
    from ._headline import scored

    return f"correct {scored(summary.correct, summary.total)}"


def _show(result: PipelineResult) -> None:
    if result.filter_report is not None:
        console.print(result.filter_report.to_table())
    table = Table(title=f"Run {result.run_dir}", show_header=False)
    table.add_column("step", style="bold")
    table.add_column("result")
    if result.parent is not None:
        table.add_row(
            "iteration",
            f"{result.iteration}, continuing {result.parent} ({result.parent_pairs} kept pairs)",
        )
    generated = f"{result.generated} records ({result.rejected} rejected by the generator)"
    table.add_row("generated", generated)
    table.add_row("seed examples", str(result.seed_pairs))
    table.add_row("validated", f"{result.validated} queries run")
    dropped = ""
    if result.filter_report is not None:
        counts = result.filter_report.by_reason
        dropped = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    table.add_row("kept", f"{result.kept} pairs" + (f" (dropped: {dropped})" if dropped else ""))
    for fmt, path in result.exports.items():
        table.add_row(f"export {fmt}", str(path))
    if result.tuning_job is not None:
        job = result.tuning_job
        table.add_row("tuning job", f"{job.job_id}: {job.status.value}")
    parts = (
        ("test", result.test_report, result.parent_test_report),
        ("dev", result.report, result.parent_report),
    )
    for name, report, before in parts:  # the test score first: it is the honest one
        if report is None:
            continue
        summary = report.summary
        table.add_row(
            f"evaluation ({name})",
            f"{report.model}: valid {summary.valid}/{summary.total} "
            f"({summary.validity_rate:.0%}), {_score(summary)}",
        )
        if before is not None:
            table.add_row(f"before ({name})", f"{before.model}: {_score(before.summary)}")
    if result.report is not None and result.test_report is None:
        table.add_row("test set", "none: the dev score is on questions the loop reads")
    for kind, path in result.report_files.items():
        table.add_row(f"report {kind}", str(path))
    for kind, path in result.test_report_files.items():
        table.add_row(f"test report {kind}", str(path))
    if result.usage.calls:
        cost = f", ${result.usage.cost_usd:.4f}" if result.usage.cost_usd is not None else ""
        table.add_row("LLM usage", f"{result.usage.total_tokens:,} tokens{cost}")
    console.print(table)


RunDirOption = Annotated[
    Path | None,
    typer.Option("--run-dir", help="Run directory (overrides the config's \\[run] dir)."),
]


def next_config(
    config: PipelineConfig | None, parent: Path, run_dir: Path | None
) -> PipelineConfig:
    """The configuration of the next iteration of ``parent``.

    Without a configuration, the parent's own (its ``config.json``) is reused. The run directory
    is ``run_dir``, else the configuration's own when that is not the parent's, else the next
    sibling name (``runs/iter1`` -> ``runs/iter2``).

    Raises:
        ConfigurationError: ``parent`` is not a run directory, or is the new run directory.
    """
    from ..config import load_config
    from ..run.iteration import next_run_dir
    from ..run.paths import RunPaths

    files = RunPaths(parent)
    if not files.clean.exists():
        raise ConfigurationError(f"--next-from {parent}: no clean.jsonl there (not a finished run)")
    if config is None:
        snapshot = files.config
        if not snapshot.exists():
            raise ConfigurationError(
                f"--next-from {parent}: it has no config.json; pass the configuration file too"
            )
        config = load_config(snapshot)
    config.run.parent = parent.resolve()
    if run_dir is not None:
        config.run.dir = run_dir
    elif Path(config.run.dir).resolve() == parent.resolve():
        config.run.dir = next_run_dir(parent)
    if Path(config.run.dir).resolve() == parent.resolve():
        raise ConfigurationError("--run-dir must differ from --next-from")
    return config


def _golden_options(
    evaluate: EvaluateConfig, dev: Path | None, test: Path | None, test_fraction: float | None
) -> EvaluateConfig:
    """``[evaluate]`` with the golden-set options of the command line applied."""
    from ..config import EvaluateConfig

    changes: dict[str, Any] = {}
    if dev is not None:
        changes |= {"dev": dev, "golden": None}
    if test is not None:
        changes |= {"test": test, "test_fraction": None}
    if test_fraction is not None:
        changes |= {"test_fraction": test_fraction, "test": None}
    if not changes:
        return evaluate
    try:
        return EvaluateConfig.model_validate(evaluate.model_dump() | changes)
    except ValueError as exc:
        raise ConfigurationError(f"--dev/--test/--test-fraction: {exc}") from None


@app.command()
@llm_options.with_llm_overrides
def run(
    config_file: Annotated[
        Path | None,
        typer.Argument(
            help="Pipeline configuration (TOML, or a run's config.json). Optional with "
            "--next-from: the parent's configuration is reused."
        ),
    ] = None,
    run_dir: RunDirOption = None,
    llm: dict[str, Any] = llm_options.FROM_OPTIONS,
    next_from: Annotated[
        Path | None,
        typer.Option(
            "--next-from",
            help="Run the next iteration of this run directory: its kept pairs plus pairs "
            "targeted at the gaps and inconsistencies its analysis finds, cleaned and evaluated "
            "again (default run directory: the configuration's, else runs/iter1 -> runs/iter2).",
        ),
    ] = None,
    next_n: Annotated[
        int | None,
        typer.Option("--next-n", min=0, help="Targeted pairs to generate (\\[next] n)."),
    ] = None,
    dev: Annotated[
        Path | None,
        typer.Option(
            "--dev",
            help="Golden set the loop may read: analysis, targets, error analysis "
            "(\\[evaluate] dev).",
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test", help="Golden set that is only scored, never read (\\[evaluate] test)."
        ),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            "--test-fraction",
            min=0.0,
            max=1.0,
            help="Split the golden set: this share becomes test, stratified and seeded "
            "(\\[evaluate] test_fraction, split_seed).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline described by a TOML file; run it again to resume.

    Every step writes into the run directory; a step whose output is up to date is skipped, a
    stopped generation continues from its checkpoint and a started tuning job is followed, never
    started twice. When the LLM provider stops answering, the run stops with exit code 4 and
    resumes from where it stopped. See the configuration page of the docs for every key.

    With --next-from DIR it runs the next iteration of DIR in a new run directory that records
    its parent (iteration.json): the analysis of DIR's kept pairs against the golden set's dev
    part (saved as analysis.json) drives a targeted generator, and everything is validated,
    cleaned (the leakage filter included), exported, tuned and evaluated again.

    The golden set's dev part (--dev, [evaluate] dev) is what the loop may read; its test part
    (--test, or --test-fraction to split one file) is only scored, and its score is printed
    first. Seed examples or a dev set holding a test case are refused (exit 7).
    """
    from ..config import load_config

    if config_file is None and next_from is None:
        raise ConfigurationError("give a configuration file, or --next-from DIR")
    config = load_config(config_file) if config_file is not None else None
    if next_from is not None:
        config = next_config(config, next_from, run_dir)
    else:
        assert config is not None
        if run_dir is not None:
            config.run.dir = run_dir
    if next_n is not None:
        config.next.n = next_n
    config.evaluate = _golden_options(config.evaluate, dev, test, test_fraction)
    for name, value in llm.items():
        setattr(config.llm, name, value)
    result = _run(config, quiet=as_json)
    if as_json:
        print_json(_result_json(result))
    else:
        _show(result)


@app.command()
def demo(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Where the run's files go.")] = Path(
        "text2sql-tune-demo"
    ),
    database: DatabaseOption = None,
    n: Annotated[int, typer.Option("--n", help="Pairs to generate.")] = 300,
    generator: Annotated[
        str,
        name_option(
            "generator",
            "--generator",
            help="template: offline, from the schema; openai: an LLM (needs OPENAI_API_KEY).",
        ),
    ] = "template",
    model: Annotated[
        str, typer.Option("--model", help="Chat model of the openai generator.")
    ] = "gpt-4o",
    tuner: Annotated[
        str,
        name_option(
            "tuner",
            "--tuner",
            help="Also tune: lamini (LAMINI_API_KEY), openai (OPENAI_API_KEY), or local (LoRA "
            "on this machine with --base-model; the tuned model is evaluated in the same run).",
            also=("none",),
        ),
    ] = "none",
    base_model: Annotated[
        str | None,
        typer.Option("--base-model", help="Model to tune (a model folder for --tuner local)."),
    ] = None,
    recipe: Annotated[
        str, typer.Option("--recipe", help="Local: standard or memory (train to near-zero loss).")
    ] = "standard",
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the tuning job, then evaluate the tuned model."),
    ] = False,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Lamini / local max_steps (the article used 50)."),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="First wait between job status checks (s).")
    ] = 30.0,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete the run directory first (no resume).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generator.")] = 0,
    iterations: Annotated[
        int,
        typer.Option(
            "--iterations",
            min=1,
            help="1: the baseline only; 2 or more: then analyse, add targeted pairs and "
            "evaluate again, once per further iteration (each one in <run-dir>/iteration-N).",
        ),
    ] = 2,
    next_n: Annotated[
        int, typer.Option("--next-n", min=0, help="Targeted pairs per further iteration.")
    ] = 150,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop on the embedded demo database, offline by default.

    Builds the e-commerce demo database (once, in your cache folder), generates question/SQL pairs
    with the template generator plus the bundled seed examples, validates and cleans them (with a
    filter report), writes the Lamini and OpenAI training files, and evaluates a retrieval baseline
    (it answers with the SQL of the most similar training question, so its score shows how well
    the training set covers the golden set) with the execution judge, on the golden set's dev
    part (10 questions the loop reads) and its test part (36 questions it never reads). No key,
    no network.

    Then the article's loop: the analysis of what the dev questions need and the training data
    lacks (saved as analysis.json), pairs targeted at those gaps (the template generator picks
    the templates that use the missing concepts; the leakage filter still runs, against dev and
    test), and a second evaluation in <run-dir>/iteration-2, with a summary of what changed: the
    test score first, with its 95% interval, and whether the loop improved it.

    With --generator openai and --tuner lamini|openai it uses the real services instead (each
    iteration then tunes its own model); --tuner local --base-model DIR tunes a LoRA adapter on
    this machine and evaluates it.
    """
    from ..config import PipelineConfig

    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    config = PipelineConfig()
    config.run.dir = run_dir
    config.run.database = database
    config.generate.generator = generator
    config.generate.n = n
    config.generate.model = model
    config.generate.seed = seed
    if tuner != "none":
        config.tune.tuner = tuner
        config.tune.wait = wait
        config.tune.poll_interval_s = poll_interval
        if max_steps is not None:
            config.tune.max_steps = max_steps
        config.tune.base_model = base_model
        if tuner == "local":
            if recipe not in ("standard", "memory"):
                raise ConfigurationError(f"--recipe must be standard or memory, not {recipe!r}")
            config.tune.recipe = "memory" if recipe == "memory" else "standard"
        if wait or tuner == "local":
            config.evaluate.model = "tuned"
    results = [_run(config, quiet=as_json)]
    for number in range(2, iterations + 1):
        if not as_json:
            _show(results[-1])
        child = next_config(config.model_copy(deep=True), results[-1].run_dir, None)
        child.run.dir = run_dir / f"iteration-{number}"
        child.next.n = next_n
        results.append(_run(child, quiet=as_json))
    _finish_demo(results, run_dir, as_json)


def _finish_demo(results: list[PipelineResult], run_dir: Path, as_json: bool) -> None:
    from ..demo.database import load_golden_set
    from ._headline import compare_test_scores, headline_lines, headline_table, iteration_lines

    lines = iteration_lines(results, load_golden_set("dev")) if len(results) > 1 else []
    headline = headline_lines(lines, compare_test_scores(results)) if lines else []
    if as_json:
        data = _result_json(results[0])
        if lines:
            data["iterations"] = [_result_json(r) for r in results[1:]]
            data["loop"] = [line.to_dict() for line in lines]
            data["headline"] = headline
        print_json(data)
        return
    _show(results[-1])
    console.print(
        f"Everything is in [bold]{run_dir}[/]: clean.jsonl (training pairs), dropped.jsonl and "
        "filter_report.json (what was removed and why), export/ (training files), eval/ (the dev "
        "report, to read) and eval/test/ (the test score and the training overlap)"
        + (
            "; each further iteration in iteration-N/ with analysis.json (the gaps it targeted) "
            "and iteration.json (its parent)."
            if len(results) > 1
            else "."
        )
    )
    if lines:
        console.print(headline_table(lines))
        for sentence in headline:
            console.print(sentence, highlight=False)
