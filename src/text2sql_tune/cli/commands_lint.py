"""The ``lint-golden`` command: check a golden set on the database before evaluating with it."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import DatabaseOption, GoldenOption, JsonOption, app, console, print_json

__all__ = ["lint_golden"]


@app.command("lint-golden")
def lint_golden(
    golden: GoldenOption,
    database: DatabaseOption = None,
    max_rows: Annotated[
        int | None,
        typer.Option(
            "--max-rows",
            min=1,
            help="Rows the judge compares (default: the execution judge's 50,000; the llm judge "
            "shows the model 20).",
        ),
    ] = None,
    rerun: Annotated[
        bool,
        typer.Option("--rerun/--no-rerun", help="Run each reference twice to catch changes."),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Check a golden set before evaluating with it; exit status 7 if anything is an error.

    Every reference query runs on --database (twice, to catch answers that change). Errors:
    a reference that fails, returns more rows than the judge compares, gives different answers
    on two runs, ties at its ORDER BY ... LIMIT boundary, or a question asked twice (exactly or
    after normalisation). Warnings: no rows, approximate functions (median, quantile, uniq...),
    LIMIT without ORDER BY, any()/rand()/groupArray(). Each finding comes with a fix hint.
    """
    from .._sync import run_sync
    from ..evaluate.golden_lint import alint_golden
    from ..executors import open_executor
    from ..io.records import read_cases

    cases = read_cases(golden)
    with open_executor(database) as executor:
        found = run_sync(alint_golden(cases, executor, max_rows=max_rows, rerun=rerun))
    if as_json:
        print_json(
            {
                "cases": found.cases,
                "errors": len(found.errors),
                "warnings": len(found.warnings),
                "judge_max_rows": found.judge_max_rows,
                "findings": [f.model_dump(mode="json") for f in found.findings],
            }
        )
    elif found.findings:
        console.print(found.to_table())
    else:
        console.print(f"golden set OK: {found.summary()}")
    found.raise_for_errors()
