"""Shared fixtures.

chDB allows one data path per process, so the whole test run shares ONE path: ``chdb_path``.
Tests that need a database use ``chdb_executor`` (an empty executor on that path) or the demo
database fixtures; extra test tables go in their own database on the same path, created through
the executor's trusted ``execute_admin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune.executors import ChDBExecutor


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single chDB data folder of this test run."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_executor(chdb_path: Path) -> Iterator[ChDBExecutor]:
    """A ChDBExecutor on the shared path (default limits and guard)."""
    executor = ChDBExecutor(chdb_path)
    yield executor
    executor.close()
