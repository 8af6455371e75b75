"""ChDBExecutor's hard limits: deadlines that hold inside one function call, memory per executor.

ClickHouse checks ``max_execution_time`` between blocks, so these queries used to run many times
past their limit (measured before the engine moved to a child process: the edit distance below
ran 14.7 s under a 2 s limit). The bounds asserted here are the contract (a typed timeout within
about 1.5 times the limit) with slack for a busy machine; speed is measured in
``benchmarks/chdb_limits.py``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from text2sql_tune import ChDBExecutor, ExecutionLimits, OutcomeStatus, SQLTimeoutError
from text2sql_tune.errors import SQLExecutionError

LIMIT_S = 1.0
SLACK_S = 2.0  # a loaded machine may answer late; without the fix these run 10-40 s

RUNAWAYS = [
    "SELECT arrayLevenshteinDistance(range(100000), range(1, 100001)) AS d",
    "SELECT editDistance(repeat('ab', 32000), repeat('ba', 32000)) AS d",
    "SELECT arrayLevenshteinDistance(range(50000 + number), range(1, 50001 + number)) AS d "
    "FROM numbers(3)",
    "SELECT length(arrayFold((acc, x) -> arrayPushBack(acc, x), range(200000), "
    "emptyArrayUInt64())) AS n",
]


@pytest.fixture(scope="module")
def strict(chdb_executor: ChDBExecutor, chdb_path: Path) -> ChDBExecutor:
    return ChDBExecutor(chdb_path, limits=ExecutionLimits(max_execution_time_s=LIMIT_S))


@pytest.mark.parametrize("sql", RUNAWAYS)
def test_one_long_function_call_stops_at_the_deadline(strict: ChDBExecutor, sql: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SQLTimeoutError) as info:
        strict.execute(sql)
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT_S * 1.5 + SLACK_S
    assert info.value.code == 159 and info.value.name == "TIMEOUT_EXCEEDED"
    outcome = strict.try_execute(sql)
    assert outcome.status is OutcomeStatus.TIMEOUT
    assert strict.execute("SELECT 'alive' AS s").rows == [["alive"]]


def test_queries_beside_the_runaway_run_again(
    strict: ChDBExecutor, chdb_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    patient = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_execution_time_s=60))
    long_but_fine = "SELECT sum(number % 7) AS s FROM numbers(4000000000)"

    async def both() -> tuple[object, object]:
        slow = asyncio.create_task(patient.atry_execute(long_but_fine))
        await asyncio.sleep(0.2)
        runaway = asyncio.create_task(strict.atry_execute(RUNAWAYS[0]))
        return await slow, await runaway

    with caplog.at_level(logging.INFO, logger="text2sql_tune"):
        slow, runaway = asyncio.run(both())
    assert runaway.status is OutcomeStatus.TIMEOUT  # type: ignore[attr-defined]
    assert slow.ok, slow  # type: ignore[attr-defined]
    assert "running the query again" in caplog.text


def test_admin_statements_have_no_deadline_and_survive_restarts(
    strict: ChDBExecutor, chdb_executor: ChDBExecutor
) -> None:
    with pytest.raises(SQLTimeoutError):
        strict.execute(RUNAWAYS[1])
    chdb_executor.execute_admin("CREATE DATABASE IF NOT EXISTS t2s_limits")
    chdb_executor.execute_admin(
        "CREATE OR REPLACE TABLE t2s_limits.t ENGINE = MergeTree ORDER BY x "
        "AS SELECT number AS x FROM numbers(1000)"
    )
    assert strict.execute("SELECT count() AS n FROM t2s_limits.t").rows == [[1000]]


def test_memory_is_bounded_per_executor_not_per_query(chdb_path: Path) -> None:
    """A query that fits its own 2 GiB limit is refused when the executor's budget is smaller."""
    heavy = "SELECT length(groupArray(repeat(toString(number), 50))) AS n FROM numbers(20000000)"
    budget = 256 * 1024**2
    small = ChDBExecutor(chdb_path, memory_budget_bytes=budget)
    assert small.memory_budget_bytes == budget
    with pytest.raises(SQLExecutionError) as info:
        small.execute(heavy)
    assert info.value.code == 241 and "memory limit exceeded" in info.value.message
    assert small.execute("SELECT 'still fine' AS s").rows == [["still fine"]]


def test_huge_constant_results_stop_in_the_engine(chdb_path: Path) -> None:
    """300 MB of strings in one constant row: refused by the engine's result cap, not after."""
    executor = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_result_bytes=32 * 1024**2))
    sql = "SELECT arrayMap(x -> repeat('a', 1000000), range(300)) AS big"
    outcome = executor.try_execute(sql)
    assert outcome.status is OutcomeStatus.TOO_MANY_ROWS
    assert outcome.error is not None and "current bytes: 286.10 MiB" in outcome.error


def test_the_engine_process_ends_with_its_parent(tmp_path: Path) -> None:
    """kill -9 of a process in the middle of a long query frees the database folder."""
    folder = tmp_path / "db"
    code = (
        "import sys, threading\n"
        "from text2sql_tune import ChDBExecutor\n"
        f"ex = ChDBExecutor({str(folder)!r}, create=True)\n"
        "sql = 'SELECT arrayLevenshteinDistance(range(100000), range(1, 100001)) AS d'\n"
        "threading.Thread(target=ex.try_execute, args=(sql,), daemon=True).start()\n"
        "print(ex._engine.process.pid, flush=True)\n"
        "threading.Event().wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    engine_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{engine_pid}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{engine_pid}").exists()
    reopen = f"from text2sql_tune import ChDBExecutor; ChDBExecutor({str(folder)!r})"
    reopened = subprocess.run(
        [sys.executable, "-c", reopen],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert reopened.returncode == 0, reopened.stderr


_SLOW_ORPHAN = """
import sys, time
from chdb.session import Session
session = Session(sys.argv[1])  # holds the folder's lock, like a real engine process
session.query("SELECT 1")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))  # an engine process of a killed run, slow to go on a busy machine
"""

_LAUNCH = """
import subprocess, sys
child = subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2], sys.argv[3]],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, start_new_session=True)
print(child.stdout.readline().decode().strip(), flush=True)  # then exit: the child is orphaned
"""

_OPEN = """
import sys
from text2sql_tune import ChDBExecutor
with ChDBExecutor(sys.argv[1]) as db:
    print(db.execute("SELECT 41 + 1 AS n").rows[0][0])
"""


def test_a_new_run_waits_for_the_engine_process_a_killed_run_left_behind(tmp_path: Path) -> None:
    # A run killed with its engine process still closing: the next run (the user pressing the
    # up arrow at once) waits for the folder instead of failing with "locked by process N".
    folder = tmp_path / "db"
    folder.mkdir()
    worker = tmp_path / "fake_chdb_worker.py"  # the name the executor knows its engines by
    worker.write_text(_SLOW_ORPHAN)
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCH, str(worker), str(folder), "6"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert launched.stdout.strip() == "holding"
    opened = subprocess.run(
        [sys.executable, "-c", _OPEN, str(folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "42"


def test_a_folder_held_by_a_live_process_is_still_refused_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    holder = tmp_path / "fake_chdb_worker.py"
    holder.write_text(_SLOW_ORPHAN)
    live = subprocess.Popen(
        [sys.executable, str(holder), str(folder), "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "holding"
        opened = subprocess.run(
            [sys.executable, "-c", _OPEN, str(folder)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert opened.returncode != 0
        assert f"locked by process {live.pid}" in opened.stderr
    finally:
        live.kill()
        live.wait()
