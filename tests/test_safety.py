"""The SQL guard and the locked sessions, driven by the table in ``data/unsafe_queries.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from text2sql_tune import (
    ChDBExecutor,
    ClickHouseExecutor,
    ExecutionLimits,
    SQLExecutionError,
    SQLGuard,
    SQLTimeoutError,
    TooManyRowsError,
    UnsafeSQLError,
    strip_format_clause,
)
from text2sql_tune.safety import DEFAULT_ALLOWED_TABLE_FUNCTIONS

DB = "t2s_test_safety"
SECRET = "SECRET-SENTINEL-7f3a"
CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "unsafe_queries.yaml").read_text(encoding="utf-8")
)


class PassThroughGuard(SQLGuard):
    """Lets everything through: whatever is refused now is refused by the locked session."""

    def check(self, sql: str) -> str:
        return strip_format_clause(sql)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A secret file and an empty folder, both outside the database."""
    root = tmp_path_factory.mktemp("outside")
    sentinel = root / "secret.txt"
    sentinel.write_text(SECRET + "\n", encoding="utf-8")
    folder = root / "drop"
    folder.mkdir()
    return {"sentinel": sentinel, "outside": folder}


def fill(sql: str, outside: dict[str, Path]) -> str:
    return (
        sql.replace("{sentinel}", str(outside["sentinel"]))
        .replace("{outside}", str(outside["outside"]))
        .replace("{db}", DB)
    )


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["sql"][:60] for c in cases]


def test_the_table_is_big_enough() -> None:
    assert len(CASES["refused"]) + len(CASES["stopped"]) >= 40


@pytest.mark.parametrize("case", CASES["refused"], ids=ids(CASES["refused"]))
def test_guard_refuses(case: dict[str, Any], outside: dict[str, Path]) -> None:
    sql = fill(case["sql"], outside)
    with pytest.raises(UnsafeSQLError) as info:
        SQLGuard().check(sql)
    assert case["reason"] in info.value.reason
    assert info.value.sql == sql


@pytest.mark.parametrize("case", CASES["allowed"], ids=ids(CASES["allowed"]))
def test_guard_accepts_tricky_but_harmless(case: dict[str, Any], outside: dict[str, Path]) -> None:
    assert SQLGuard().check(fill(case["sql"], outside)) == fill(case["expect"], outside)


@pytest.fixture(scope="module")
def safety_db(chdb_executor: ChDBExecutor) -> ChDBExecutor:
    chdb_executor.execute_admin(f"CREATE DATABASE IF NOT EXISTS {DB}")
    chdb_executor.execute_admin(
        f"CREATE OR REPLACE TABLE {DB}.t (x UInt8) ENGINE = MergeTree ORDER BY x"
    )
    chdb_executor.execute_admin(f"INSERT INTO {DB}.t VALUES (1), (2), (3)")
    return chdb_executor


ENGINE_REFUSED = [c for c in CASES["refused"] if c.get("engine") == "refused"]


@pytest.mark.parametrize("case", ENGINE_REFUSED, ids=ids(ENGINE_REFUSED))
def test_locked_session_refuses_without_the_guard(
    case: dict[str, Any], outside: dict[str, Path], safety_db: ChDBExecutor, chdb_path: Path
) -> None:
    executor = ChDBExecutor(
        chdb_path, guard=PassThroughGuard(), limits=ExecutionLimits(max_execution_time_s=2)
    )
    with pytest.raises(SQLExecutionError) as info:
        executor.execute(fill(case["sql"], outside))
    assert not isinstance(info.value, SQLTimeoutError)
    assert SECRET not in str(info.value)


def test_nothing_was_read_or_written_outside(
    outside: dict[str, Path], safety_db: ChDBExecutor, chdb_path: Path
) -> None:
    guarded = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_execution_time_s=2))
    naked = ChDBExecutor(
        chdb_path, guard=PassThroughGuard(), limits=ExecutionLimits(max_execution_time_s=2)
    )
    for case in CASES["refused"]:
        sql = fill(case["sql"], outside)
        for executor in (guarded, naked):
            if executor is naked and case.get("engine") != "refused":
                continue
            outcome = executor.try_execute(sql)
            assert not outcome.ok, sql
            assert outcome.result is None or SECRET not in outcome.result.to_text()
    assert outside["sentinel"].read_text(encoding="utf-8") == SECRET + "\n"
    assert list(outside["outside"].iterdir()) == []
    assert sorted(r[0] for r in safety_db.execute_admin(f"SELECT x FROM {DB}.t").rows) == [1, 2, 3]
    tables = safety_db.execute_admin(f"SELECT name FROM system.tables WHERE database = '{DB}'")
    assert tables.rows == [["t"]]


@pytest.mark.parametrize("case", CASES["stopped"], ids=ids(CASES["stopped"]))
def test_limits_stop_what_the_guard_accepts(
    case: dict[str, Any], outside: dict[str, Path], safety_db: ChDBExecutor, chdb_path: Path
) -> None:
    executor = ChDBExecutor(
        chdb_path, limits=ExecutionLimits(max_execution_time_s=1, max_result_rows=1000)
    )
    expected = {"timeout": SQLTimeoutError, "too_many_rows": TooManyRowsError}[case["expect"]]
    with pytest.raises(expected):
        executor.execute(fill(case["sql"], outside))


def test_locked_session_keeps_its_limits(safety_db: ChDBExecutor, chdb_path: Path) -> None:
    executor = ChDBExecutor(
        chdb_path,
        guard=PassThroughGuard(),
        limits=ExecutionLimits(max_result_rows=5),
        concurrency=1,
    )
    for attempt in ("SET readonly = 0", "SET max_result_rows = 0", "SET readonly = 2"):
        with pytest.raises(SQLExecutionError) as info:
            executor.execute(attempt)
        assert info.value.name == "READONLY"
    with pytest.raises(TooManyRowsError):
        executor.execute("SELECT number FROM numbers(100000)")


def test_clickhouse_connect_path_is_locked_too(
    outside: dict[str, Path], safety_db: ChDBExecutor, chdb_path: Path
) -> None:
    executor = ClickHouseExecutor(f"chdb://{chdb_path}", guard=PassThroughGuard())
    read = f"SELECT * FROM file('{outside['sentinel']}', 'LineAsString')"
    write = f"INSERT INTO FUNCTION file('{outside['outside']}/x.csv', 'CSV') SELECT 1"
    for sql in (read, write, "SELECT 1 SETTINGS readonly = 0", f"DROP TABLE {DB}.t"):
        with pytest.raises(SQLExecutionError) as info:
            executor.execute(sql)
        assert info.value.name == "READONLY"
    assert list(outside["outside"].iterdir()) == []
    assert executor.execute("SELECT 1 AS one").rows == [[1]]


# --- the guard's options ---


def test_allowed_databases() -> None:
    guard = SQLGuard(allowed_databases={"shop"})
    assert guard.check("SELECT * FROM shop.orders") == "SELECT * FROM shop.orders"
    assert guard.check("SELECT * FROM orders") == "SELECT * FROM orders"
    with pytest.raises(UnsafeSQLError, match=r"database 'hr' is not allowed \(allowed: shop\)"):
        guard.check("SELECT * FROM shop.orders JOIN hr.salaries USING (id)")
    with pytest.raises(UnsafeSQLError, match="database 'system'"):
        guard.check("SELECT * FROM system.one")
    assert SQLGuard(allowed_databases={"system"}).check("SELECT * FROM system.one")


def test_extending_the_table_function_allow_list() -> None:
    with pytest.raises(UnsafeSQLError, match="not on the allow-list"):
        SQLGuard().check("SELECT * FROM generateRandom('a UInt8') LIMIT 3")
    guard = SQLGuard(allowed_table_functions={*DEFAULT_ALLOWED_TABLE_FUNCTIONS, "generateRandom"})
    assert guard.check("SELECT * FROM generateRandom('a UInt8') LIMIT 3")
    # Denied functions stay denied in expressions whatever the table-function allow-list says.
    with pytest.raises(UnsafeSQLError, match="function 'file'"):
        SQLGuard(allowed_table_functions={"file"}).check("SELECT file('x')")


def test_explain_opt_in() -> None:
    guard = SQLGuard(allow_explain=True)
    assert guard.check("EXPLAIN PLAN SELECT 1 FORMAT JSON") == "EXPLAIN PLAN SELECT 1"
    with pytest.raises(UnsafeSQLError, match="only SELECT"):
        guard.check("EXPLAIN INSERT INTO t VALUES (1)")
    with pytest.raises(UnsafeSQLError, match="table function 'file'"):
        guard.check("EXPLAIN SELECT * FROM file('x')")


def test_settings_allow_list_and_length_limit() -> None:
    assert SQLGuard(allowed_settings={"max_threads"}).check("SELECT 1 SETTINGS max_threads = 2")
    with pytest.raises(UnsafeSQLError, match="SETTINGS max_threads"):
        SQLGuard().check("SELECT 1 SETTINGS max_threads = 2")
    with pytest.raises(UnsafeSQLError, match="longer than 20 characters"):
        SQLGuard(max_sql_length=20).check("SELECT 1 AS a_rather_long_alias")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 format TabSeparatedWithNames", "SELECT 1"),
        ("SELECT 1 FORMAT JSON;", "SELECT 1"),
        ("  SELECT 1 ;; ", "SELECT 1"),
        ("SELECT 1 -- note\nFORMAT CSV -- end", "SELECT 1"),
        ("SELECT a FROM t ORDER BY format", "SELECT a FROM t ORDER BY format"),
        ("SELECT a FROM t ORDER BY format DESC", "SELECT a FROM t ORDER BY format DESC"),
        ("SELECT 'x FORMAT JSON'", "SELECT 'x FORMAT JSON'"),
        ("SELECT format('{}', 'a') AS f", "SELECT format('{}', 'a') AS f"),
    ],
)
def test_strip_format_clause(sql: str, expected: str) -> None:
    assert strip_format_clause(sql) == expected


def test_article_style_queries_pass() -> None:
    sql = (
        "select toStartOfMonth(action_date) as month, uniqExact(user_id) as users\n"
        "from ecommerce.sessions\nwhere action_date >= '2023-01-01' and os = 'Android'\n"
        "group by month\norder by month\nformat TabSeparatedWithNames"
    )
    checked = SQLGuard().check(sql)
    assert checked.endswith("order by month")
    assert "format" not in checked.splitlines()[-1]
