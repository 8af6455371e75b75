"""Run the ``text2sql-tune`` console entry point in process and see what a user sees.

Typer's ``CliRunner`` calls the app, which lets library errors escape as exceptions; the console
script's ``main`` turns them into one ``error:`` line and an exit status. These helpers go through
``main`` so tests check that status and line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from text2sql_tune.cli import main


@dataclass
class Outcome:
    """What one command line gave: exit status, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The ``error: ...`` line (the last one on stderr)."""
        lines = [line for line in self.err.splitlines() if line.startswith("error:")]
        assert lines, f"no error line in stderr: {self.err!r}"
        return lines[-1]


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Outcome:
    """Run ``text2sql-tune ARGS`` through the console-script entry point."""
    monkeypatch.setattr(sys, "argv", ["text2sql-tune", *args])
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)
