"""The ``text2sql-tune`` command line. Each subcommand lives in its own module."""

from __future__ import annotations

import sys

from ..errors import (
    ConfigurationError,
    DataError,
    EvaluationError,
    ProviderError,
    ResourceBusyError,
    SQLError,
    Text2SQLTuneError,
    TuningError,
)
from ._app import app, err_console

# Importing a command module registers its commands on ``app``.
from . import commands_run  # noqa: F401  isort: skip
from . import commands_foundation  # noqa: F401  isort: skip
from . import commands_generate  # noqa: F401  isort: skip
from . import commands_clean  # noqa: F401  isort: skip
from . import commands_evaluate  # noqa: F401  isort: skip
from . import commands_report  # noqa: F401  isort: skip
from . import commands_lint  # noqa: F401  isort: skip
from . import commands_tune  # noqa: F401  isort: skip
from . import commands_tune_local  # noqa: F401  isort: skip
from . import commands_export  # noqa: F401  isort: skip
from . import commands_analyze  # noqa: F401  isort: skip
from . import commands_plugins  # noqa: F401  isort: skip

__all__ = ["EXIT_CODES", "app", "exit_code_for", "main"]

EXIT_CODES: dict[type[Text2SQLTuneError], int] = {
    ConfigurationError: 2,
    DataError: 3,
    ProviderError: 4,
    SQLError: 5,
    TuningError: 6,
    EvaluationError: 7,
    ResourceBusyError: 8,
}
"""Exit status per error family (a subclass takes its family's code); see ``docs/exit-codes.md``.

``0`` is success, ``1`` any other library error, ``2`` also covers bad command-line usage (Click's
own convention) and ``130`` an interrupt (Ctrl-C) after the work done so far was saved.
"""


def exit_code_for(exc: Text2SQLTuneError) -> int:
    """Return the process exit status the CLI uses for ``exc`` (its nearest family in the MRO)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def main() -> None:
    """Console-script entry point: run the CLI, turning library errors into one clear line."""
    try:
        app()
    except Text2SQLTuneError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))
