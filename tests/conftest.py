"""Shared fixtures.

ChDBExecutor allows one data path per process, so the whole test run shares ONE path:
``chdb_path`` (its engine runs in a child process that holds the folder). Tests that need a
database use ``chdb_executor`` (an empty executor on that path) or the demo database fixtures;
extra test tables go in their own database on the same path, created through the executor's
trusted ``execute_admin``. clickhouse-connect's chdb backend opens chDB inside this process, on a
folder of its own: ``inprocess_chdb_path``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune.demo import build_demo_database
from text2sql_tune.executors import ChDBExecutor

DEMO_TEST_SCALE = 0.02  # about 20,000 sessions and 1,200 customers: builds in well under a second
DEMO_TEST_SEED = 42


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the user's cache folder out of the test run (subprocesses inherit it too)."""
    home = tmp_path_factory.mktemp("text2sql_tune_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXT2SQL_TUNE_HOME", str(home))
        patch.delenv("TEXT2SQL_TUNE_DATABASE", raising=False)
        yield home


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single chDB data folder of this test run."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def inprocess_chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder clickhouse-connect's chdb backend opens inside this process.

    chDB allows one process per folder, and ``chdb_path`` belongs to ChDBExecutor's engine process.
    """
    return tmp_path_factory.mktemp("chdb_inprocess")


@pytest.fixture(scope="session")
def chdb_executor(chdb_path: Path) -> Iterator[ChDBExecutor]:
    """A ChDBExecutor on the shared path (default limits and guard)."""
    executor = ChDBExecutor(chdb_path)
    yield executor
    executor.close()


@pytest.fixture(scope="session")
def demo_db_url(chdb_path: Path) -> str:
    """The demo database built in ``chdb_path`` at a small scale, data up to today (UTC)."""
    return build_demo_database(
        chdb_path,
        scale=DEMO_TEST_SCALE,
        seed=DEMO_TEST_SEED,
        end_date=dt.datetime.now(dt.timezone.utc).date(),
    )


@pytest.fixture(scope="session")
def demo_executor(demo_db_url: str, chdb_path: Path) -> Iterator[ChDBExecutor]:
    """A ChDBExecutor on the demo database (default limits and guard)."""
    executor = ChDBExecutor(chdb_path)
    yield executor
    executor.close()


LOCAL_PAIRS_FILE = Path(__file__).parent / "data" / "local_pairs.jsonl"
LOCAL_SYSTEM = "Answer with one ClickHouse SQL query."
"""The system prompt of the local tuning tests (the tiny model's tokenizer learns it)."""


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the module: on two busy cores, several times faster than two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose tokenizer knows the local pairs, the prompts and the golden set."""
    from text2sql_tune import read_pairs
    from text2sql_tune.demo import demo_schema, load_golden_set
    from text2sql_tune.prompts import answering_system_prompt
    from text2sql_tune.testing import build_tiny_llama

    pairs = read_pairs(LOCAL_PAIRS_FILE)
    corpus = [p.question for p in pairs] + [p.sql for p in pairs] + [LOCAL_SYSTEM]
    corpus += [answering_system_prompt(demo_schema())] + [c.question for c in load_golden_set()]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", corpus=corpus)
