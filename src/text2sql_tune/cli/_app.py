"""The Typer application object and options shared by every subcommand."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = [
    "DatabaseOption",
    "JsonOption",
    "SchemaFileOption",
    "SchemaNotesOption",
    "app",
    "console",
    "err_console",
    "print_json",
]

app = typer.Typer(
    name="text2sql-tune",
    help="Turn your own database into an accurate text-to-SQL model: "
    "generate, validate, clean, export, tune and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="chdb:///path (embedded), clickhouse://user:pw@host:8123/db or clickhouses://... "
        "Default: the demo database in your cache folder.",
        envvar="TEXT2SQL_TUNE_DATABASE",
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

SchemaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--schema",
        help="Schema file (YAML/TOML/JSON) for the answering prompt; default: --database's "
        "tables, else the demo schema.",
    ),
]

SchemaNotesOption = Annotated[
    Path | None,
    typer.Option(
        "--schema-notes",
        "--annotations",
        help="YAML/JSON/TOML descriptions and example values for the schema.",
    ),
]


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (no colour, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log one line per external call.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
