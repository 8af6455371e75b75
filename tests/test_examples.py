"""The examples run as documented, and the SQLite executor honours the executor contract."""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fresh_process import run_python
from text2sql_tune import (
    ExecutionLimits,
    OutcomeStatus,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLTimeoutError,
    TooManyRowsError,
    UnsafeSQLError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


def run_example(name: str) -> str:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sqlite_executor", EXAMPLES / "sqlite_executor.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def db(example: ModuleType, tmp_path: Path) -> Path:
    path: Path = example.build_shop_database(tmp_path / "shop.db")
    return path


@pytest.fixture()
def executor(example: ModuleType, db: Path) -> Iterator[Any]:
    with example.SQLiteExecutor(db, limits=ExecutionLimits(max_execution_time_s=5)) as ex:
        yield ex


# -- the scripts -------------------------------------------------------------------------------


def test_sqlite_example_script() -> None:
    out = run_example("sqlite_executor.py")
    assert "Table: main.customers" in out
    assert "- amount (real)" in out
    assert "United Kingdom\t4\t497.5" in out
    assert "customer in France: Chloe" in out
    assert "refused by the guard: only SELECT queries are allowed" in out
    assert "engine error: Code: 1 (UNKNOWN_IDENTIFIER): no such column: revenue" in out
    assert "outcome of a query with no rows: empty" in out


def test_custom_components_script() -> None:
    out = run_example("custom_components.py")
    assert "filter: drop (question_too_short)  Orders?" in out
    assert "filter: drop (select_star)" in out
    assert "kept 2 of 4 pairs" in out
    assert "wrong_result     How many orders in March?  (got [[2]], expected [[3]])" in out
    assert "unknown_column   Average order value?" in out
    assert "no_sql           Who ordered last?" in out
    assert "valid 4/6 (67%), correct 3/6 (50%)" in out


# -- the SQLite executor through the public API ------------------------------------------------


def test_typed_results(executor: Any) -> None:
    assert isinstance(executor, SQLExecutor)
    result = executor.execute(
        "SELECT country, COUNT(*) AS n, MAX(customer_id) * 1.5 AS x FROM customers "
        "GROUP BY country ORDER BY country FORMAT TabSeparated;"
    )
    assert isinstance(result, QueryResult)
    assert result.sql.endswith("ORDER BY country")  # the guard stripped FORMAT and ';'
    assert result.columns == ["country", "n", "x"]
    assert result.types == ["TEXT", "INTEGER", "REAL"]
    assert result.rows[0] == ["France", 1, 4.5]
    assert result.row_count == 4
    assert result.as_dicts()[-1] == {"country": "United Kingdom", "n": 2, "x": 7.5}


async def test_async_and_many(executor: Any) -> None:
    result = await executor.aexecute("SELECT SUM(amount) FROM orders")
    assert result.rows == [[589.75]]
    outcomes = await executor.aexecute_many(
        ["SELECT 1", "SELECT nope FROM orders", "DELETE FROM orders", "SELECT 1 WHERE 0"]
    )
    assert [o.status for o in outcomes] == [
        OutcomeStatus.OK,
        OutcomeStatus.ERROR,
        OutcomeStatus.UNSAFE,
        OutcomeStatus.EMPTY,
    ]
    assert outcomes[1].error_name == "UNKNOWN_IDENTIFIER"


@pytest.mark.parametrize(
    ("sql", "name", "text"),
    [
        ("SELECT total FROM orders", "UNKNOWN_IDENTIFIER", "no such column: total"),
        ("SELECT * FROM invoices", "UNKNOWN_TABLE", "no such table: invoices"),
        ("SELECT median(amount) FROM orders", "UNKNOWN_FUNCTION", "no such function"),
    ],
)
def test_engine_errors_map_to_sql_execution_error(
    executor: Any, sql: str, name: str, text: str
) -> None:
    with pytest.raises(SQLExecutionError) as info:
        executor.execute(sql)
    assert type(info.value) is SQLExecutionError
    assert info.value.name == name
    assert text in info.value.message
    assert info.value.sql == sql


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (9, 'x', 'y')",
        "UPDATE orders SET amount = 0",
        "DROP TABLE orders",
        "SELECT 1; DELETE FROM orders",
        "ATTACH DATABASE '/tmp/x.db' AS x",
    ],
)
def test_writes_are_refused_by_the_guard(executor: Any, db: Path, sql: str) -> None:
    with pytest.raises(UnsafeSQLError):
        executor.execute(sql)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (6,)


def test_engine_fences_hold_without_the_guard(executor: Any) -> None:
    # The read-only connection and the authorizer stop what a guard bug might let through.
    for sql in (
        "INSERT INTO customers VALUES (9, 'x', 'y')",
        "SELECT load_extension('libnothing')",
    ):
        with pytest.raises(SQLExecutionError, match="not authorized"):
            executor._run(sql)


def test_long_query_is_stopped_by_the_time_limit(example: ModuleType, db: Path) -> None:
    limits = ExecutionLimits(max_execution_time_s=0.3)
    with example.SQLiteExecutor(db, limits=limits) as ex:
        with pytest.raises(SQLTimeoutError) as info:
            ex.execute(ENDLESS)
        assert info.value.name == "TIMEOUT_EXCEEDED"
        assert ex.try_execute(ENDLESS).status is OutcomeStatus.TIMEOUT
        assert ex.execute("SELECT 1").rows == [[1]]  # the executor still works


def test_row_cap(example: ModuleType, db: Path) -> None:
    with example.SQLiteExecutor(db, limits=ExecutionLimits(max_result_rows=3)) as ex:
        assert ex.execute("SELECT * FROM orders LIMIT 3").row_count == 3
        with pytest.raises(TooManyRowsError):
            ex.execute("SELECT * FROM orders")
        assert ex.try_execute("SELECT * FROM orders").status is OutcomeStatus.TOO_MANY_ROWS


def test_schema_is_introspected(executor: Any) -> None:
    schema = executor.get_schema()
    assert [t.full_name for t in schema.tables] == ["main.customers", "main.orders"]
    orders = schema.table("main.orders")
    assert [(c.name, c.type) for c in orders.columns] == [
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("order_date", "TEXT"),
        ("amount", "REAL"),
    ]
    assert "- amount (real)" in schema.to_prompt()


def test_missing_file_is_refused(example: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        example.SQLiteExecutor(tmp_path / "absent.db")


# -- the code on the docs pages ----------------------------------------------------------------

DOCS = EXAMPLES.parent / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page: str) -> list[str]:
    """The page's Python blocks, except those titled as excerpts."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [code for info, code in FENCE.findall(text) if "excerpt" not in info]


def test_interfaces_page_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_interfaces"}
    blocks = python_blocks("interfaces.md")
    assert len(blocks) >= 6
    for code in blocks:
        exec(compile(code, "interfaces.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "['How many users are there per country?', 'How many sessions are there per os?'] "
        "no more targets"
    )
    assert out[1] == "3 -> 1"  # one pair per source survives
    assert out[2] == "completed"
    assert "correct=True" in out[3] and "expected 50.3, got 50.1" in out[3]
    assert out[4] == "SELECT country, count() FROM ecommerce.users GROUP BY country"
    assert out[5] == "3 SELECT 1 + 1"
    assert "correct=True" in out[6]
    assert out[7] == "[['SELECT 42']]"
    assert out[8] == "only SELECT queries are allowed, got DROP"


def test_concepts_record_example_runs() -> None:
    (code,) = [c for c in python_blocks("concepts.md") if "QAPair" in c]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["pair"].sql == "SELECT count() FROM ecommerce.users"


@pytest.mark.slow
def test_getting_started_examples_run(tmp_path: Path) -> None:
    # The page's snippets, in order, in a fresh process (chDB allows one data folder per process),
    # on the demo database built in a temporary home.
    code = "\n".join(python_blocks("getting-started.md"))
    done = run_python(code, home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("['country', 'users'] ['String', 'UInt64'] [[")
    assert lines[1] == "only SELECT queries are allowed, got DROP"
    assert lines[2] == "error UNKNOWN_IDENTIFIER"
    assert (tmp_path / "runs" / "first" / "clean.jsonl").exists()
    assert "accuracy=1.0" in lines[-1]
