"""Foundation commands: ``demo-db`` (build the demo database) and ``sql`` (run one query)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import ConfigurationError
from ._app import DatabaseOption, JsonOption, app, console, err_console, print_json

__all__ = ["demo_db", "sql"]


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"--end-date must be YYYY-MM-DD, got {value!r}") from exc


@app.command("demo-db")
def demo_db(
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            help="Folder of the chDB database (default: the demo database in your cache folder).",
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option("--scale", help="Size: 1.0 is about 1,000,000 sessions.")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the data.")] = 42,
    end_date: Annotated[
        str | None,
        typer.Option("--end-date", help="Last day with sessions, YYYY-MM-DD (default: today)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Rebuild even when up to date; replace an `ecommerce` database not built here.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Build the e-commerce demo database with chDB and print its chdb:// URL.

    Nothing is rebuilt when the folder already holds the demo database built with the same
    parameters. Pass the URL to --database, or to open_executor() in Python.
    """
    from .._sync import run_sync
    from ..demo.database import _abuild, default_database_path

    build = run_sync(
        _abuild(
            path if path is not None else default_database_path(),
            scale,
            seed,
            _parse_date(end_date),
            overwrite,
            "ecommerce",
        )
    )
    if json_output:
        print_json(build.to_dict())
        return
    typer.echo(build.url)
    what = "built" if build.built else "up to date"
    err_console.print(
        f"[dim]{what}: {build.users:,} users, {build.sessions:,} sessions until "
        f"{build.end_date} (scale {build.scale:g}, seed {build.seed}) in "
        f"{build.elapsed_s:.1f} s[/]",
        highlight=False,
    )


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only statement (SELECT / WITH).")],
    database: DatabaseOption = None,
    max_rows: Annotated[
        int,
        typer.Option(
            "--max-rows",
            min=1,
            help="Show at most this many rows; the engine stops reading after them, so a query "
            "returning millions of rows shows its first ones (with a note that more exist).",
        ),
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """Run one query through the safety guard and limits and print the result."""
    from ..executors import open_executor
    from ..interfaces import ExecutionLimits

    limits = ExecutionLimits(max_result_rows=max_rows, overflow="break")
    with open_executor(database, limits=limits) as executor:
        result = executor.execute(query)
    if json_output:
        print_json(result.model_dump(mode="json"))
        return
    shown = f"first {result.row_count} rows" if result.truncated else f"{result.row_count} rows"
    caption = f"{shown} in {result.elapsed_s:.3f} s"
    table = Table(*result.columns, caption=caption)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    if result.totals is not None:
        table.add_row(*(str(v) for v in result.totals), style="bold")
    console.print(table)
    if result.truncated:
        err_console.print(
            f"[dim]the query returns more than {max_rows} rows; raise --max-rows to see more[/]",
            highlight=False,
        )
