"""The examples run as documented; the SQLite and DuckDB executors honour the executor contract.

The example modules are imported from ``examples/`` (on the test path, see ``pyproject.toml``),
so a broken example fails here rather than being skipped.
"""

from __future__ import annotations

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
from sqlite_executor import SQLiteExecutor, build_shop_database

from fresh_process import run_python
from text2sql_tune import (
    EvalCase,
    Evaluator,
    ExecutionLimits,
    FilterChain,
    OutcomeStatus,
    Prediction,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLTimeoutError,
    TemplateQAGenerator,
    TooManyRowsError,
    UnsafeSQLError,
    default_filters,
)
from text2sql_tune.filters import SafetyFilter, avalidate_pairs
from text2sql_tune.sql.dialects import Dialect

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return build_shop_database(tmp_path / "shop.db")


@pytest.fixture()
def executor(db: Path) -> Iterator[SQLiteExecutor]:
    with SQLiteExecutor(db, limits=ExecutionLimits(max_execution_time_s=5)) as ex:
        yield ex


# -- the scripts -------------------------------------------------------------------------------

# Lines each example prints when run as documented.
SCRIPT_OUTPUT = {
    "sqlite_executor.py": [
        "Table: main.customers",
        "- amount (float)",
        "United Kingdom\t4\t497.5",
        "customer in France: Chloe",
        "refused by the guard: only SELECT queries are allowed",
        "engine error (unknown_column): Code: 1 (SQLITE_ERROR): no such column: revenue",
        "outcome of a query with no rows: empty",
    ],
    "custom_components.py": [
        "filter: drop (question_too_short)  Orders?",
        "filter: drop (select_star)",
        "kept 2 of 4 pairs",
        "wrong_result     How many orders in March?  (got [[2]], expected [[3]])",
        "unknown_column   Average order value?",
        "no_sql           Who ordered last?",
        "valid 4/6 (67%), correct 3/6 (50%)",
    ],
    "duckdb_executor.py": [
        "- amount (decimal) - order total in euros",
        "France\t40\t2755.0",
        "error  unknown_column   SELECT total FROM shop.orders",
        "error  unknown_function SELECT toStartOfMonth(order_date) FROM shop.orders",
        "unsafe -                SELECT * FROM read_csv('/etc/passwd')",
    ],
}


@pytest.mark.parametrize("script", SCRIPT_OUTPUT)
def test_example_script(script: str) -> None:
    if script.startswith("duckdb"):
        pytest.importorskip("duckdb", reason="the DuckDB example needs duckdb (the dev extra)")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    missing = [line for line in SCRIPT_OUTPUT[script] if line not in done.stdout]
    assert not missing, done.stdout


# -- the SQLite executor through the public API ------------------------------------------------


def test_typed_results(executor: SQLiteExecutor) -> None:
    assert isinstance(executor, SQLExecutor)
    assert executor.dialect is Dialect.get("sqlite")
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


async def test_async_and_many(executor: SQLiteExecutor) -> None:
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
    assert (outcomes[1].error_name, outcomes[1].error_category) == (
        "SQLITE_ERROR",
        "unknown_column",
    )


@pytest.mark.parametrize(
    ("sql", "category", "text"),
    [
        ("SELECT total FROM orders", "unknown_column", "no such column: total"),
        ("SELECT * FROM invoices", "unknown_table", "no such table: invoices"),
        ("SELECT median(amount) FROM orders", "unknown_function", "no such function: median"),
        ("SELECT zeroblob(1, 2)", "wrong_arguments", "wrong number of arguments"),
        ("SELECT amount FROM orders GROUP BY SUM(amount)", "aggregation_error", "aggregate"),
    ],
)
def test_engine_errors_keep_sqlites_code_and_get_a_category(
    executor: SQLiteExecutor, sql: str, category: str, text: str
) -> None:
    with pytest.raises(SQLExecutionError) as info:
        executor.execute(sql)
    assert type(info.value) is SQLExecutionError
    assert (info.value.code, info.value.name) == (
        1,
        "SQLITE_ERROR",
    )  # SQLite's own, not ClickHouse's
    assert info.value.category == category
    assert text in info.value.message
    assert info.value.sql == sql


def test_an_evaluation_on_sqlite_reports_engine_neutral_categories(
    executor: SQLiteExecutor,
) -> None:
    reference = "SELECT COUNT(*) FROM orders"
    answers = {
        "right": (reference, "correct"),
        "column": ("SELECT COUNT(total) FROM orders", "unknown_column"),
        "table": ("SELECT COUNT(*) FROM invoices", "unknown_table"),
        "function": ("SELECT countIf(amount > 0) FROM orders", "unknown_function"),
        "syntax": ("SELECT COUNT(* FROM orders", "syntax_error"),
        "write": ("DELETE FROM orders", "unsafe"),
    }
    cases = [EvalCase(question=q, sql=reference) for q in answers]
    predictions = [Prediction(question=q, sql=sql) for q, (sql, _) in answers.items()]
    report = Evaluator(executor).evaluate_predictions(cases, predictions)
    assert {r.question: r.category for r in report.results} == {
        q: category for q, (_, category) in answers.items()
    }


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
def test_writes_are_refused_by_the_guard(executor: SQLiteExecutor, db: Path, sql: str) -> None:
    with pytest.raises(UnsafeSQLError):
        executor.execute(sql)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (6,)


def test_engine_fences_hold_without_the_guard(executor: SQLiteExecutor) -> None:
    # The read-only connection and the authorizer stop what a guard bug might let through.
    for sql in (
        "INSERT INTO customers VALUES (9, 'x', 'y')",
        "SELECT load_extension('libnothing')",
        "SELECT * FROM pragma_table_info('orders')",
    ):
        with pytest.raises(SQLExecutionError, match="not authorized"):
            executor._run(sql)


def test_long_query_is_stopped_by_the_time_limit(db: Path) -> None:
    limits = ExecutionLimits(max_execution_time_s=0.3)
    with SQLiteExecutor(db, limits=limits) as ex:
        with pytest.raises(SQLTimeoutError) as info:
            ex.execute(ENDLESS)
        assert (info.value.name, info.value.category) == ("SQLITE_INTERRUPT", "timeout")
        assert ex.try_execute(ENDLESS).status is OutcomeStatus.TIMEOUT
        assert ex.execute("SELECT 1").rows == [[1]]  # the executor still works


def test_row_cap(db: Path) -> None:
    with SQLiteExecutor(db, limits=ExecutionLimits(max_result_rows=3)) as ex:
        assert ex.execute("SELECT * FROM orders LIMIT 3").row_count == 3
        with pytest.raises(TooManyRowsError):
            ex.execute("SELECT * FROM orders")
        assert ex.try_execute("SELECT * FROM orders").status is OutcomeStatus.TOO_MANY_ROWS


def test_schema_is_introspected_by_the_dialect(executor: SQLiteExecutor) -> None:
    schema = executor.get_schema()
    assert [t.full_name for t in schema.tables] == ["main.customers", "main.orders"]
    orders = schema.table("main.orders")
    assert [(c.name, c.type) for c in orders.columns] == [
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("order_date", "TEXT"),
        ("amount", "REAL"),
    ]
    assert "- amount (float)" in schema.to_prompt()
    assert executor.get_schema(["temp"]).tables == []


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SQLiteExecutor(tmp_path / "absent.db")


# -- DuckDB: one executor file plus one dialect file -------------------------------------------


@pytest.fixture(scope="module")
def duck() -> ModuleType:
    pytest.importorskip("duckdb", reason="the DuckDB example needs duckdb (the dev extra)")
    import duckdb_executor

    return duckdb_executor


@pytest.fixture()
def duck_executor(duck: ModuleType, tmp_path: Path) -> Iterator[Any]:
    path = duck.build_shop_database(tmp_path / "store.duckdb")
    with duck.DuckDBExecutor(path, limits=ExecutionLimits(max_execution_time_s=10)) as ex:
        yield ex


def test_duckdb_dialect_registers_itself(duck: ModuleType, duck_executor: Any) -> None:
    dialect = Dialect.get("duckdb")
    assert type(dialect).__module__ == "duckdb_dialect"
    assert duck_executor.dialect.name == "duckdb"
    assert repr(duck_executor.guard) == "SQLGuard(dialect='duckdb', allowed_databases=None)"


def test_duckdb_schema_results_and_fences(duck_executor: Any) -> None:
    schema = duck_executor.get_schema()
    assert [t.full_name for t in schema.tables] == ["shop.customers", "shop.orders"]
    orders = schema.table("shop.orders")
    assert orders.description == "orders placed in the shop"
    assert [(c.name, c.type) for c in orders.columns][2:] == [
        ("order_date", "DATE"),
        ("status", "VARCHAR"),
        ("amount", "DECIMAL(10,2)"),
    ]
    result = duck_executor.execute(
        "SELECT order_date, amount, status = 'paid' AS paid FROM shop.orders ORDER BY order_id "
        "LIMIT 1"
    )
    assert result.types == ["DATE", "DECIMAL(10,2)", "BOOLEAN"]
    assert result.rows == [["2024-01-04", 9.25, False]]
    # DuckDB's own fences behind the guard: no files, no settings, no writes.
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET threads = 1",
        "CREATE TABLE x (a INT)",
    ):
        with pytest.raises(SQLExecutionError):
            duck_executor._run(sql)


def test_duckdb_limits(duck: ModuleType, tmp_path: Path) -> None:
    path = duck.build_shop_database(tmp_path / "limits.duckdb")
    limits = ExecutionLimits(max_execution_time_s=0.5, max_result_rows=5)
    with duck.DuckDBExecutor(path, limits=limits) as ex:
        endless = "SELECT count(*) FROM " + ", ".join(f"shop.orders AS t{i}" for i in range(6))
        outcome = ex.try_execute(endless)
        assert (outcome.status, outcome.error_category) == (OutcomeStatus.TIMEOUT, "timeout")
        assert ex.try_execute("SELECT * FROM shop.orders").status is OutcomeStatus.TOO_MANY_ROWS
        assert ex.execute("SELECT 1 AS one").rows == [[1]]  # the executor still works


@pytest.mark.parametrize(
    ("sql", "category"),
    [
        ("SELECT total FROM shop.orders", "unknown_column"),
        ("SELECT o.total FROM shop.orders AS o", "unknown_column"),
        ("SELECT * FROM shop.invoices", "unknown_table"),
        ("SELECT uniqExact(customer_id) FROM shop.orders", "unknown_function"),
        ("SELECT substr(1)", "wrong_arguments"),
        ("SELECT status, amount FROM shop.orders GROUP BY status", "aggregation_error"),
        ("SELECT 'abc'::INTEGER", "type_error"),
        ("SELECT 1 +", "syntax_error"),
    ],
)
def test_duckdb_errors_are_categorised(duck_executor: Any, sql: str, category: str) -> None:
    outcome = duck_executor.try_execute(sql)
    assert outcome.status is OutcomeStatus.ERROR, outcome
    assert outcome.error_category == category, outcome.error


async def test_generate_validate_clean_and_evaluate_on_duckdb(duck_executor: Any) -> None:
    # The template generator writes ClickHouse SQL: what DuckDB lacks (toStartOfMonth...) fails
    # validation as unknown_function and cleaning drops it; the rest is training data.
    generator = await TemplateQAGenerator.afrom_database(duck_executor, seed=3)
    assert generator.values["shop.orders.status"] == ["paid", "returned", "shipped"]
    pairs = await avalidate_pairs([p async for p in generator.agenerate(40)], duck_executor)
    statuses = [p.validation.status for p in pairs if p.validation]
    assert len(statuses) == 40 and set(statuses) == {OutcomeStatus.OK, OutcomeStatus.ERROR}
    failed = [p for p in pairs if p.validation and p.validation.status is OutcomeStatus.ERROR]
    outcomes = await duck_executor.aexecute_many([p.sql for p in failed])
    assert {o.error_category for o in outcomes} == {"unknown_function"}
    filters = [
        SafetyFilter(duck_executor.guard) if isinstance(f, SafetyFilter) else f
        for f in default_filters()
    ]
    kept, report = await FilterChain(filters).aapply(pairs)
    assert kept and all(p.validation and p.validation.status is OutcomeStatus.OK for p in kept)
    invalid = [d for d in report.dropped if d.decision.filter == "valid_sql"]
    assert len(invalid) == len(failed)

    # question: (reference, prediction, category); the approximate median is rewritten to exact.
    orders = "FROM shop.orders"
    golden = {
        "How many orders?": (f"SELECT count(*) {orders}", f"SELECT count() {orders}", "correct"),
        "Median order amount?": (
            f"SELECT quantile_cont(amount, 0.5) {orders}",
            f"SELECT approx_quantile(amount, 0.5) {orders}",
            "correct",
        ),
        "Orders per status?": (
            f"SELECT status, count(*) {orders} GROUP BY status",
            f"SELECT state, count(*) {orders} GROUP BY state",
            "unknown_column",
        ),
        "Largest order?": (
            f"SELECT max(amount) {orders}",
            f"SELECT min(amount) {orders}",
            "wrong_result",
        ),
    }
    evaluation = await Evaluator(duck_executor).aevaluate_predictions(
        [EvalCase(question=q, sql=ref) for q, (ref, _, _) in golden.items()],
        [Prediction(question=q, sql=pred) for q, (_, pred, _) in golden.items()],
    )
    results = {r.question: r for r in evaluation.results}
    assert {q: r.category for q, r in results.items()} == {q: c for q, (*_, c) in golden.items()}
    rewritten = results["Median order amount?"].details["rewritten"]
    assert rewritten["replaced"] == ["approx_quantile->quantile_cont"]


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
