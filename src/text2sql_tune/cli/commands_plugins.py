"""The ``plugins`` command: what the registry holds, and where each name comes from."""

from __future__ import annotations

from rich.table import Table

from .. import registry
from ._app import JsonOption, app, console, print_json

__all__ = ["plugins"]


@app.command()
def plugins(as_json: JsonOption = False) -> None:
    """List the component names configuration files and options accept, and their source.

    Every kind (executor URL schemes, generator, filter, tuner, model, judge) with its built-in
    names and those installed plugins registered (entry-point group text2sql_tune.plugins). A
    plugin that failed to load is named in a warning and left out.
    """
    names = {kind: registry.names(kind) for kind in registry.KINDS}
    sources = registry.default_registry.source
    if as_json:
        print_json(
            {
                "plugins": registry.default_registry.plugins,
                "names": {
                    kind: [{"name": n, "source": sources(kind, n)} for n in listed]
                    for kind, listed in names.items()
                },
            }
        )
        return
    table = Table(title="Registered components")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("source")
    for kind, listed in names.items():
        for name in listed:
            table.add_row(kind, name, sources(kind, name))
    console.print(table)
