"""The ``report`` command: render one evaluation, or compare runs (``report compare A B C``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigurationError
from ..io.files import atomic_write_text
from ._app import JsonOption, app, console, err_console, print_json

__all__ = ["report"]

_NO_MATPLOTLIB = (
    "matplotlib is not installed: charts are drawn as HTML bars "
    "(pip install 'text2sql-tune[report]' for the PNG charts)"
)


def _chart_mode() -> bool | None:
    """``None`` (charts if possible) after telling the user when the fallback will be used."""
    if importlib.util.find_spec("matplotlib") is None:
        err_console.print(f"[yellow]note:[/] {_NO_MATPLOTLIB}", highlight=False)
    return None


@app.command()
def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="REPORT.json (or a run directory) to render, or: compare A B C... (two or "
            "more reports or run directories, oldest first)",
            metavar="REPORT | compare A B ...",
            show_default=False,
        ),
    ],
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML page (charts embedded) here."),
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write markdown here.")
    ] = None,
    training: Annotated[
        Path | None,
        typer.Option(
            "--training",
            help="Training pairs (e.g. kept.jsonl): list each case's nearest training pairs "
            "by question and by SQL.",
        ),
    ] = None,
    neighbours: Annotated[
        int, typer.Option("--neighbours", min=0, help="Training pairs listed per case.")
    ] = 3,
    failures_only: Annotated[
        bool,
        typer.Option("--failures-only", help="Show the evidence of failing cases only."),
    ] = False,
    labels: Annotated[
        list[str] | None,
        typer.Option("--label", help="Name of each compared run, in order (repeat the option)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render an evaluation report, or compare runs (`report compare A.json B.json C.json`).

    A report shows, for every case, the reference and predicted SQL as a diff, the first rows of
    both results side by side with the differing cells marked, the judge's reason, and with
    --training the nearest training pairs. Without --html/--markdown the markdown is printed.

    `compare` takes two or more reports or run directories, oldest first (baseline, tune 1,
    tune 2...): accuracy per run with its Wilson 95% interval, and for each step the fixed,
    broken, still-failing and still-correct cases with an exact McNemar test. --json prints the
    comparison (runs, steps, cases) or, for one report, its summary.
    """
    from ..io.paths import refuse_overwriting
    from ..io.records import read_pairs
    from ..reporting import (
        TrainingIndex,
        compare_runs,
        iteration_html,
        iteration_markdown,
        load_report,
        report_html,
        report_markdown,
        run_label,
    )

    sources_read = {f"report {i}": p for i, p in enumerate(paths) if str(p) != "compare"}
    refuse_overwriting(
        {"--html": html_out, "--markdown": markdown_out},
        {**sources_read, "--training": training},
    )
    payload: dict[str, Any]
    if paths and str(paths[0]) == "compare":
        sources = paths[1:]
        if len(sources) < 2:
            raise ConfigurationError(
                "usage: text2sql-tune report compare A.json B.json [C.json ...]"
            )
        if labels and len(labels) != len(sources):
            raise ConfigurationError(f"give one --label per run: {len(sources)} runs")
        reports = [load_report(p) for p in sources]
        iteration = compare_runs(reports, labels or [run_label(p) for p in sources])
        text = iteration_markdown(iteration)
        payload = iteration.model_dump(mode="json")
        if html_out is not None:
            page = iteration_html(iteration, reports, chart=_chart_mode())
            atomic_write_text(html_out, page)
    else:
        if len(paths) != 1:
            raise ConfigurationError("give one report, or: report compare A.json B.json")
        loaded = load_report(paths[0])
        # One index serves both renderings: building it is the slow part on large sets.
        index = TrainingIndex(read_pairs(training)) if training is not None else None
        options: dict[str, Any] = {
            "training": index,
            "neighbours": neighbours,
            "failures_only": failures_only,
        }
        text = report_markdown(loaded, **options)
        payload = loaded.summary.model_dump(mode="json")
        if html_out is not None:
            atomic_write_text(html_out, report_html(loaded, chart=_chart_mode(), **options))
    if markdown_out is not None:
        atomic_write_text(markdown_out, text)
    if as_json:
        print_json(payload)
    elif html_out is None and markdown_out is None:
        typer.echo(text, nl=False)
    else:
        for written in (html_out, markdown_out):
            if written is not None:
                console.print(f"wrote {written}")
