"""``analyze``: concept coverage of a golden set by a training set, and inconsistent definitions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigurationError
from ._app import JsonOption, app, console, print_json

if TYPE_CHECKING:
    from ..records import EvalCase, EvalReport, QAPair

__all__ = ["analyze"]


def _run_golden(run: Path) -> list[EvalCase]:
    """The dev part of the golden set a run was evaluated on (its config's, else the demo's)."""
    from ..config import load_config
    from ..demo.database import load_golden_set
    from ..run.from_config import golden_split
    from ..run.paths import RunPaths

    snapshot = RunPaths(run).config
    if not snapshot.exists():
        return load_golden_set("dev")
    config = load_config(snapshot)
    return golden_split(config, is_demo=config.run.database is None).dev


def _check_dev_only(cases: list[EvalCase], run: Path | None) -> None:
    """Refuse golden cases that are the run's test cases (``golden_split.json``)."""
    from ..evaluate.splits import SplitRecord
    from ..run.paths import RunPaths

    record = RunPaths(run).golden_split if run is not None else None
    if record is not None and record.exists():
        SplitRecord.load(record).held_out().check(cases, f"analyze (of {run})")


def _inputs(
    golden: Path | None, training: Path | None, report: Path | None, run: Path | None
) -> tuple[list[EvalCase], list[QAPair], EvalReport | None]:
    from ..demo.database import load_golden_set
    from ..io.records import read_cases, read_pairs
    from ..reporting import load_report
    from ..run.paths import RunPaths

    files = RunPaths(run) if run is not None else None
    if training is not None:
        source = training
    elif files is not None:
        source = files.clean
        if not source.exists():
            raise ConfigurationError(f"{run} has no clean.jsonl: is it a finished run directory?")
    else:
        raise ConfigurationError("give --training FILE (the kept pairs) or --run DIR")
    pairs = read_pairs(source)
    if report is None and files is not None and files.report.exists():
        report = files.report
    if golden is not None:
        cases = read_cases(golden)
    else:
        cases = _run_golden(run) if run is not None else load_golden_set("dev")
    _check_dev_only(cases, run)
    return cases, pairs, load_report(report) if report is not None else None


@app.command()
def analyze(
    golden: Annotated[
        Path | None,
        typer.Option(
            "--golden",
            "-g",
            help="Golden set, its dev part (question + sql). Default: the --run's dev set, "
            "else the bundled demo dev set. The run's test cases are refused.",
        ),
    ] = None,
    training: Annotated[
        Path | None,
        typer.Option("--training", "-t", help="Training pairs, e.g. a run's clean.jsonl."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", "-r", help="Evaluation report on the golden set: failing cases first."
        ),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="A run directory: its clean.jsonl, eval/report.json and golden set are the "
            "defaults of the three options above.",
        ),
    ] = None,
    min_examples: Annotated[
        int,
        typer.Option("--min-examples", min=1, help="Training pairs a concept needs to be covered."),
    ] = 3,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most rows per table.")] = 20,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the analysis as JSON.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Which concepts of the golden set the training data lacks, and where it disagrees.

    Maps every golden case and training pair to concepts (tables, columns, functions,
    aggregates, filters, periods, group keys, clause features, measures, question terms), lists
    the golden concepts with fewer than --min-examples training pairs (failing cases first when
    an evaluation report is given), and the training questions that share words while their SQL
    computes different things (the "fraud rate" that is a share of sessions here and a share of
    customers there). The JSON (--output) also holds the generation targets a next iteration
    (run --next-from) generates for. Golden questions are shown to you, never to a generator.

    Only the dev part of a golden set may be analysed: with --run, cases of the run's test set
    (golden_split.json) are refused (exit 7), since what you learn from them would shape the
    training data and the test score would stop measuring anything.
    """
    from ..analysis import analyze as run_analysis

    cases, pairs, evaluation = _inputs(golden, training, report, run)
    analysis = run_analysis(cases, pairs, report=evaluation, min_examples=min_examples)
    if output is not None:
        analysis.save(output)
    if as_json:
        print_json(analysis.model_dump(mode="json"))
        return
    for table in analysis.tables(limit=limit):
        console.print(table)
    for found in analysis.inconsistencies[:limit]:
        console.print(f"[bold]{found.term}[/]: {found.hint}", highlight=False)
    if output is not None:
        console.print(f"Analysis written to [bold]{output}[/] ({len(analysis.targets)} targets).")
