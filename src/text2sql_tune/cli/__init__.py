"""The ``text2sql-tune`` command line. Each subcommand lives in its own module."""

from __future__ import annotations

import sys

from ..errors import Text2SQLTuneError
from ._app import app, err_console

# Importing a command module registers its commands on ``app``.
from . import commands_run  # noqa: F401  isort: skip
from . import commands_foundation  # noqa: F401  isort: skip
from . import commands_generate  # noqa: F401  isort: skip
from . import commands_clean  # noqa: F401  isort: skip
from . import commands_evaluate  # noqa: F401  isort: skip
from . import commands_tune  # noqa: F401  isort: skip
from . import commands_export  # noqa: F401  isort: skip

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the CLI, turning library errors into one clear line."""
    try:
        app()
    except Text2SQLTuneError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
