"""Run Python code in a fresh interpreter, as a new user would: its own process and home folder.

chDB allows one data folder per process, so code that opens the default demo database (or any
database other than the test run's) must run in a process of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_python(
    code: str,
    *,
    home: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``python -c`` in a new process with ``TEXT2SQL_TUNE_HOME=home``."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "TEXT2SQL_TUNE_HOME": str(home), **(env or {})},
        cwd=cwd,
        check=False,
    )
