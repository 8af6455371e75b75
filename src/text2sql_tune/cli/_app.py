"""The Typer application object and options shared by every subcommand."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .. import registry
from ..errors import ConfigurationError

__all__ = [
    "DatabaseOption",
    "GoldenOption",
    "JsonOption",
    "SchemaFileOption",
    "SchemaNotesOption",
    "app",
    "console",
    "err_console",
    "name_option",
    "print_json",
    "registered",
    "registered_names",
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

GoldenOption = Annotated[
    Path, typer.Option("--golden", "-g", help="Golden set: question + sql (or sql_query).")
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


def registered(kind: registry.Kind, *also: str) -> Callable[[str | None], str | None]:
    """An option callback: the value must be a ``kind`` name of the registry (or in ``also``).

    The check runs when the command runs (``--help`` loads no plugin); an unknown name is a
    usage error that lists the names there are.
    """

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return registry.check(kind, value, also=also)
        except ConfigurationError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check


def registered_names(kind: registry.Kind, *also: str) -> str:
    """The built-in names of ``kind`` for a help text, e.g. ``template, openai``."""
    return ", ".join([*registry.builtin_names(kind), *also])


def name_option(kind: registry.Kind, *flags: str, help: str, also: tuple[str, ...] = ()) -> Any:
    """A ``typer.Option`` taking a ``kind`` name of the registry; the help lists the built-ins."""
    names = registered_names(kind, *also)
    return typer.Option(
        *flags,
        help=f"{help} Built in: {names}; plugins add more.",
        callback=registered(kind, *also),
    )


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
