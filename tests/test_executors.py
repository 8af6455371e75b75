"""ChDBExecutor and ClickHouseExecutor on real chDB (the shared test path) and a fake server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_clickhouse import FakeClickHouse
from fresh_process import run_python
from text2sql_tune import (
    ChDBExecutor,
    ClickHouseExecutor,
    ConfigurationError,
    ExecutionLimits,
    OutcomeStatus,
    SQLExecutionError,
    SQLGuard,
    SQLSyntaxError,
    SQLTimeoutError,
    TooManyRowsError,
    UnsafeSQLError,
    open_executor,
)
from text2sql_tune.cli import app
from text2sql_tune.evaluate.evaluator import Evaluator, categorize_error
from text2sql_tune.filters.validation import validate_pairs
from text2sql_tune.interfaces import SQLExecutor
from text2sql_tune.records import EvalCase, Prediction, QAPair, QueryResult
from text2sql_tune.safety import strip_format_clause

DB = "t2s_test_exec"


@pytest.fixture(scope="module")
def shop(chdb_executor: ChDBExecutor) -> ChDBExecutor:
    """A small table ``t2s_test_exec.orders`` (30 rows, 3 countries) on the shared path."""
    chdb_executor.execute_admin(f"CREATE DATABASE IF NOT EXISTS {DB}")
    chdb_executor.execute_admin(
        f"CREATE OR REPLACE TABLE {DB}.orders (id UInt64, country String, amount Float64, "
        "day Date, note Nullable(String)) ENGINE = MergeTree ORDER BY id"
    )
    chdb_executor.execute_admin(
        f"INSERT INTO {DB}.orders SELECT number, ['UK', 'DE', 'FR'][number % 3 + 1], "
        "number * 1.5, toDate('2024-01-01') + number, if(number % 2 = 0, NULL, 'x') "
        "FROM numbers(30)"
    )
    return chdb_executor


def test_typed_result_with_totals_and_format_clause_stripped(shop: ChDBExecutor) -> None:
    result = shop.execute(
        f"SELECT country, count() AS n, sum(amount) AS total FROM {DB}.orders "
        "GROUP BY country WITH TOTALS ORDER BY country format TabSeparatedWithNames;"
    )
    assert result.sql.endswith("ORDER BY country")
    assert result.columns == ["country", "n", "total"]
    assert result.types == ["String", "UInt64", "Float64"]
    assert result.rows == [["DE", 10, 217.5], ["FR", 10, 232.5], ["UK", 10, 202.5]]
    assert result.totals is not None and result.totals[1:] == [30, 652.5]
    assert result.row_count == 3
    assert result.elapsed_s > 0
    assert result.truncated is False


def test_nullable_and_date_values(shop: ChDBExecutor) -> None:
    result = shop.execute(f"SELECT id, day, note FROM {DB}.orders ORDER BY id LIMIT 2")
    assert result.types == ["UInt64", "Date", "Nullable(String)"]
    assert result.rows == [[0, "2024-01-01", None], [1, "2024-01-02", "x"]]
    assert result.totals is None


class PassThroughGuard(SQLGuard):
    """A guard that lets everything through (after stripping FORMAT): only the engine decides."""

    def check(self, sql: str) -> str:
        return strip_format_clause(sql)


class IdentityGuard(SQLGuard):
    """A guard that changes nothing at all, not even a FORMAT clause."""

    def check(self, sql: str) -> str:
        return sql


@pytest.mark.parametrize(
    ("sql", "code", "name", "category"),
    [
        (f"SELECT nope FROM {DB}.orders", 47, "UNKNOWN_IDENTIFIER", "unknown_column"),
        (f"SELECT nofunc(id) FROM {DB}.orders", 46, "UNKNOWN_FUNCTION", "unknown_function"),
        (f"SELECT * FROM {DB}.missing", 60, "UNKNOWN_TABLE", "unknown_table"),
        (f"SELECT country + 1 FROM {DB}.orders", 43, "ILLEGAL_TYPE_OF_ARGUMENT", "type_error"),
    ],
)
def test_engine_errors_are_mapped(
    shop: ChDBExecutor, chdb_path: Path, sql: str, code: int, name: str, category: str
) -> None:
    engine_only = ChDBExecutor(chdb_path, guard=PassThroughGuard())
    with pytest.raises(SQLExecutionError) as info:
        engine_only.execute(sql)
    assert (info.value.code, info.value.name) == (code, name)
    assert info.value.category == category
    assert info.value.sql == sql
    assert "DB::Exception" not in info.value.message
    outcome = engine_only.try_execute(sql)
    assert (outcome.error_code, outcome.error_name, outcome.error_category) == (
        code,
        name,
        category,
    )
    # With the guard the outcome is the same (an unknown function never reaches the engine).
    outcome = shop.try_execute(sql)
    assert outcome.status is OutcomeStatus.ERROR
    assert outcome.error_code == code


@pytest.mark.parametrize("sql", ["SELECT 1 +", "SELEC x", "SELECT 'open", "SELECT (1"])
def test_syntax_errors(chdb_path: Path, sql: str) -> None:
    guarded = ChDBExecutor(chdb_path)
    with pytest.raises(SQLSyntaxError):
        guarded.execute(sql)
    outcome = guarded.try_execute(sql)
    assert (outcome.status, outcome.error_name) == (OutcomeStatus.ERROR, "SYNTAX_ERROR")
    assert outcome.error is not None and outcome.error.startswith("invalid SQL: ")
    assert categorize_error(outcome) == "syntax_error"


def test_engine_syntax_errors(chdb_path: Path) -> None:
    engine_only = ChDBExecutor(chdb_path, guard=PassThroughGuard())
    with pytest.raises(SQLExecutionError) as info:
        engine_only.execute("SELECT )")
    assert (info.value.code, info.value.name) == (62, "SYNTAX_ERROR")


def test_timeout_stops_an_endless_query_and_the_session_stays_clean(chdb_path: Path) -> None:
    executor = ChDBExecutor(
        chdb_path, limits=ExecutionLimits(max_execution_time_s=1), concurrency=1
    )
    with pytest.raises(SQLTimeoutError) as info:
        executor.execute("SELECT count() FROM numbers(1000000000000000)")
    assert (info.value.code, info.value.name, info.value.category) == (
        159,
        "TIMEOUT_EXCEEDED",
        "timeout",
    )
    # chDB 4.4 leaks a failed query's partial output into the next one; the executor drains it.
    assert executor.execute("SELECT 'next' AS x").rows == [["next"]]


def test_row_cap_refuses_large_results(chdb_path: Path) -> None:
    executor = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_result_rows=10), concurrency=1)
    with pytest.raises(TooManyRowsError) as info:
        executor.execute("SELECT number FROM numbers(100000)")
    assert info.value.code == 396
    assert executor.execute("SELECT 'next' AS x").rows == [["next"]]
    outcome = executor.try_execute("SELECT number FROM numbers(100000)")
    assert outcome.status is OutcomeStatus.TOO_MANY_ROWS
    assert executor.execute("SELECT number FROM numbers(10)").row_count == 10


async def test_execute_many_keeps_input_order(shop: ChDBExecutor) -> None:
    sqls = [
        f"SELECT {i} AS i, sleepy FROM {DB}.orders" if i == 3 else f"SELECT {i} AS i"
        for i in range(12)
    ]
    sqls[5] = "DROP TABLE t2s_test_exec.orders"
    done: list[int] = []
    outcomes = await shop.aexecute_many(sqls, on_done=lambda i, _: done.append(i))
    assert sorted(done) == list(range(12))
    for i, outcome in enumerate(outcomes):
        if i == 3:
            assert outcome.status is OutcomeStatus.ERROR
        elif i == 5:
            assert outcome.status is OutcomeStatus.UNSAFE
        else:
            assert outcome.result is not None and outcome.result.rows == [[i]]
    assert (await shop.aexecute(f"SELECT count() FROM {DB}.orders")).rows == [[30]]


def test_guard_runs_before_the_engine_and_admin_bypasses_it(shop: ChDBExecutor) -> None:
    with pytest.raises(UnsafeSQLError):
        shop.execute(f"CREATE TABLE {DB}.other (x UInt8) ENGINE = Memory")
    shop.execute_admin(f"CREATE TABLE IF NOT EXISTS {DB}.other (x UInt8) ENGINE = Memory")
    schema = shop.get_schema([DB])
    assert {t.name for t in schema.tables} >= {"orders", "other"}
    orders = next(t for t in schema.tables if t.name == "orders")
    assert [(c.name, c.type) for c in orders.columns][:2] == [
        ("id", "UInt64"),
        ("country", "String"),
    ]


def test_one_path_per_process(chdb_path: Path, tmp_path: Path) -> None:
    same = ChDBExecutor(str(chdb_path) + "/")
    assert same.path == chdb_path.resolve()
    assert same.url == f"chdb://{chdb_path.resolve()}"
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ConfigurationError, match="one data path per process"):
        ChDBExecutor(tmp_path / "elsewhere")
    with pytest.raises(ConfigurationError, match="one data path per process"):
        ChDBExecutor(tmp_path / "new", create=True)
    assert not (tmp_path / "new").exists()
    with pytest.raises(ConfigurationError, match="one data path per process"):
        ChDBExecutor()


def test_temporary_database_is_removed_at_exit() -> None:
    code = (
        "from text2sql_tune import ChDBExecutor\n"
        "ex = ChDBExecutor()\n"
        "print(ex.path)\n"
        "print(ex.execute('SELECT 40 + 2 AS x').rows[0][0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    path, answer = done.stdout.split()
    assert answer == "42"
    assert not Path(path).exists()


def test_open_executor_urls(chdb_path: Path) -> None:
    executor = open_executor(f"chdb://{chdb_path}")
    assert isinstance(executor, ChDBExecutor) and executor.path == chdb_path.resolve()
    remote = open_executor("clickhouses://bob:hunter2@db.example.com/sales", concurrency=2)
    assert isinstance(remote, ClickHouseExecutor)
    assert remote.name == "clickhouses://bob@db.example.com:8443/sales"
    assert remote.concurrency == 2
    plain = open_executor("clickhouse://db.example.com")
    assert plain.name == "clickhouse://db.example.com:8123/"
    with pytest.raises(ConfigurationError, match="chdb://, clickhouse://, clickhouses://"):
        open_executor("postgres://u:topsecret@h/db")
    try:
        open_executor("mysql://u:topsecret@h/db")
    except ConfigurationError as exc:
        assert "topsecret" not in str(exc)


def test_relative_chdb_url_resolves_against_the_working_directory(
    chdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(chdb_path.parent)
    executor = open_executor(f"chdb://{chdb_path.name}")
    assert isinstance(executor, ChDBExecutor) and executor.path == chdb_path.resolve()


# --- ClickHouseExecutor through clickhouse-connect's chdb backend (chDB in this process) ---


@pytest.fixture(scope="module")
def inprocess_shop(inprocess_chdb_path: Path) -> Path:
    """The ``orders`` table of ``shop``, written through a writable clickhouse-connect client."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{inprocess_chdb_path}")
    client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
    client.command(
        f"CREATE OR REPLACE TABLE {DB}.orders (id UInt64, country String, amount Float64, "
        "day Date, note Nullable(String)) ENGINE = MergeTree ORDER BY id"
    )
    client.command(
        f"INSERT INTO {DB}.orders SELECT number, ['UK', 'DE', 'FR'][number % 3 + 1], "
        "number * 1.5, toDate('2024-01-01') + number, if(number % 2 = 0, NULL, 'x') "
        "FROM numbers(30)"
    )
    return inprocess_chdb_path


@pytest.fixture(scope="module")
def ch_chdb(inprocess_shop: Path) -> Iterator[ClickHouseExecutor]:
    executor = ClickHouseExecutor(
        f"chdb://{inprocess_shop}",
        limits=ExecutionLimits(max_execution_time_s=1, max_result_rows=50),
    )
    yield executor
    executor.close()


def test_clickhouse_connect_chdb_backend_results(ch_chdb: ClickHouseExecutor) -> None:
    result = ch_chdb.execute(
        f"SELECT country, count() AS n FROM {DB}.orders GROUP BY country WITH TOTALS "
        "ORDER BY country FORMAT TabSeparatedWithNames"
    )
    assert result.columns == ["country", "n"]
    assert result.types == ["String", "UInt64"]
    assert result.rows == [["DE", 10], ["FR", 10], ["UK", 10]]
    assert result.totals == ["", 30]


def test_clickhouse_connect_chdb_backend_limits_and_errors(ch_chdb: ClickHouseExecutor) -> None:
    with pytest.raises(TooManyRowsError):
        ch_chdb.execute("SELECT number FROM numbers(100000)")
    with pytest.raises(SQLTimeoutError):
        ch_chdb.execute("SELECT count() FROM numbers(1000000000000000)")
    with pytest.raises(SQLExecutionError) as info:
        ch_chdb.execute(f"SELECT nope FROM {DB}.orders")
    assert (info.value.code, info.value.name) == (47, "UNKNOWN_IDENTIFIER")
    assert ch_chdb.execute("SELECT 'still fine' AS x").rows == [["still fine"]]


def test_clickhouse_executor_accepts_a_client(inprocess_shop: Path) -> None:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{inprocess_shop}")
    # The caller's own client is not locked by the executor: a writable session is refused...
    with pytest.raises(ConfigurationError, match=r"not read-only \(readonly = 0\)"):
        ClickHouseExecutor(client).execute("SELECT 1")
    # ...unless the caller says so, and then readonly=1 goes with every query.
    executor = ClickHouseExecutor(client, allow_writable_user=True)
    assert executor.execute(f"SELECT count() AS n FROM {DB}.orders").rows == [[30]]
    assert executor.readonly == 0
    executor.close()  # the caller's client stays open
    assert client.query("SELECT 1").result_rows == [(1,)]


# --- ClickHouseExecutor over HTTP against a fake server ---


@pytest.fixture
def fake() -> Iterator[FakeClickHouse]:
    server = FakeClickHouse().start()
    yield server
    server.stop()


def test_a_server_that_does_not_answer_times_out(fake: FakeClickHouse) -> None:
    """One long function call keeps a server busy past its limit: the executor stops waiting."""
    fake.readonly = 2
    fake.delay_s = 30
    limits = ExecutionLimits(max_execution_time_s=1)
    executor = ClickHouseExecutor(f"clickhouse://127.0.0.1:{fake.port}", limits=limits)
    executor.client()  # connect first: the probes answer at once
    started = time.perf_counter()
    with pytest.raises(SQLTimeoutError, match="no answer from the server"):
        executor.execute("SELECT arrayLevenshteinDistance(range(100000), range(1, 100001))")
    assert time.perf_counter() - started < 1.5 * 2  # the HTTP read timeout is whole seconds
    outcome = executor.try_execute("SELECT 1")
    assert outcome.status is OutcomeStatus.TIMEOUT
    executor.close()


def test_http_sends_limits_and_auth_and_parses_json_compact(fake: FakeClickHouse) -> None:
    fake.readonly = 2  # read-only, settings may change: the limits go with every query
    limits = ExecutionLimits(
        max_execution_time_s=7, max_result_rows=100, max_memory_usage_bytes=10**9
    )
    executor = ClickHouseExecutor(
        f"clickhouse://alice:s3cr%40t@127.0.0.1:{fake.port}/shop", limits=limits
    )
    assert executor.name == f"clickhouse://alice@127.0.0.1:{fake.port}/shop"
    assert "s3cr" not in repr(executor)
    result = executor.execute("SELECT k, count() AS c FROM t GROUP BY k WITH TOTALS FORMAT JSON")
    assert result.columns == ["k", "c"] and result.types == ["UInt8", "UInt64"]
    assert result.rows == [[0, 3], [1, 2]] and result.totals == [0, 5]
    (request,) = fake.queries()
    assert request.query.startswith("SELECT k, count() AS c FROM t GROUP BY k WITH TOTALS")
    assert "FORMAT JSON\n" not in request.query and request.query.rstrip().endswith("JSONCompact")
    assert "readonly" not in request.params  # a readonly = 2 session cannot change it
    assert request.params["max_execution_time"] == "7"
    assert request.params["max_result_rows"] == "100"
    assert request.params["result_overflow_mode"] == "throw"
    assert request.params["max_memory_usage"] == str(10**9)
    assert request.params["database"] == "shop"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
    executor.close()


def test_http_errors_are_mapped_without_the_password(fake: FakeClickHouse) -> None:
    executor = ClickHouseExecutor(f"clickhouse://alice:hunter2@127.0.0.1:{fake.port}/shop")
    with pytest.raises(SQLExecutionError) as info:
        executor.execute("SELECT boom FROM t")
    assert (info.value.code, info.value.name) == (47, "UNKNOWN_IDENTIFIER")
    assert info.value.message == "Unknown expression identifier `boom`"
    assert "hunter2" not in str(info.value)


def test_http_row_cap_is_enforced_on_the_client_too(fake: FakeClickHouse) -> None:
    fake.rows = [[i, 1] for i in range(9)]
    executor = ClickHouseExecutor(
        f"clickhouse://127.0.0.1:{fake.port}", limits=ExecutionLimits(max_result_rows=5)
    )
    outcome = executor.try_execute("SELECT k, c FROM t")
    assert outcome.status is OutcomeStatus.TOO_MANY_ROWS
    assert outcome.error_code == 396


def test_http_unreachable_server_is_a_configuration_error() -> None:
    executor = ClickHouseExecutor("clickhouse://u:pw-secret@127.0.0.1:9/db?connect_timeout=1")
    with pytest.raises(ConfigurationError, match="cannot connect") as info:
        executor.execute("SELECT 1")
    assert "pw-secret" not in str(info.value)


@pytest.mark.live
def test_live_clickhouse_server() -> None:
    import os

    url = os.environ.get("TEXT2SQL_TUNE_CLICKHOUSE_URL")
    if not url:
        pytest.skip("set TEXT2SQL_TUNE_CLICKHOUSE_URL to a clickhouse:// URL")
    executor = open_executor(url, limits=ExecutionLimits(max_execution_time_s=1))
    assert executor.execute("SELECT 1 AS one").rows == [[1]]
    with pytest.raises(SQLTimeoutError):
        executor.execute("SELECT count() FROM numbers(1000000000000000)")


def test_http_session_must_be_read_only(
    fake: FakeClickHouse, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"clickhouse://alice:pw@127.0.0.1:{fake.port}/shop"
    fake.readonly = 0
    with pytest.raises(ConfigurationError, match="not read-only") as info:
        ClickHouseExecutor(url).execute("SELECT 1")
    assert "docs/safety.md" in str(info.value) and "pw" not in str(info.value)
    assert fake.queries() == []  # refused before any model SQL was sent
    unsafe = ClickHouseExecutor(url, allow_writable_user=True)
    unsafe.execute("SELECT k, c FROM t")
    assert fake.queries()[-1].params["readonly"] == "1"
    fake.readonly = 1  # nothing may be sent: the profile's limits apply, looser ones are named
    with caplog.at_level("WARNING", logger="text2sql_tune"):
        strict = ClickHouseExecutor(url, limits=ExecutionLimits(max_result_rows=100))
        assert strict.execute("SELECT k, c FROM t").rows == [[0, 3], [1, 2]]
    assert strict.readonly == 1
    request = fake.queries()[-1]
    assert not {"readonly", "max_result_rows", "max_execution_time"} & set(request.params)
    assert "max_result_rows = 10000 (wanted 100)" in caplog.text


@pytest.mark.parametrize(
    ("body", "status", "name"),
    [
        (b"this is not JSON", OutcomeStatus.ERROR, "BAD_OUTPUT"),
        (b'{"meta": 5, "data": "x"}', OutcomeStatus.ERROR, "BAD_OUTPUT"),
        (
            b'{"meta": [{"name": "k", "type": "UInt8"}], "data": [[1]\n'
            b"Code: 396. DB::Exception: Limit for result exceeded, max rows: 5. "
            b"(TOO_MANY_ROWS_OR_BYTES) (version 26.9.1.1)",
            OutcomeStatus.TOO_MANY_ROWS,
            "TOO_MANY_ROWS_OR_BYTES",
        ),
        (
            b'{"meta": [], "data": [], "exception": "Code: 241. DB::Exception: Memory limit '
            b'exceeded. (MEMORY_LIMIT_EXCEEDED)"}',
            OutcomeStatus.ERROR,
            "MEMORY_LIMIT_EXCEEDED",
        ),
        (b"x" * (2 * 1024**2), OutcomeStatus.TOO_MANY_ROWS, "TOO_MANY_ROWS_OR_BYTES"),
    ],
)
def test_http_bad_or_huge_output_is_one_failed_query(
    fake: FakeClickHouse, body: bytes, status: OutcomeStatus, name: str
) -> None:
    fake.body = body
    limits = ExecutionLimits(max_result_bytes=1024**2)
    executor = ClickHouseExecutor(f"clickhouse://127.0.0.1:{fake.port}", limits=limits)
    outcome = executor.try_execute("SELECT k FROM t")
    assert (outcome.status, outcome.error_name) == (status, name)


def test_a_forged_format_never_replaces_the_executors(shop: ChDBExecutor, chdb_path: Path) -> None:
    forged = '{"meta":[{"name":"ok","type":"UInt8"}],"data":[[1]]}'
    # Even a guard that strips nothing cannot change the output: the executor appends its own
    # FORMAT clause, and a second one is a syntax error.
    naked = ChDBExecutor(chdb_path, guard=IdentityGuard())
    with pytest.raises(SQLExecutionError) as info:
        naked.execute(f"SELECT '{forged}' FORMAT RawBLOB SETTINGS join_use_nulls = 0")
    assert info.value.name == "SYNTAX_ERROR"
    result = shop.execute(f"SELECT '{forged}' AS s FORMAT RawBLOB SETTINGS join_use_nulls = 0")
    assert result.rows == [[forged]]


def test_result_bytes_are_capped_before_decoding(chdb_path: Path) -> None:
    executor = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_result_bytes=1024**2))
    # A constant result (no FROM) goes through a subquery, where the engine's own cap sees it.
    outcome = executor.try_execute("SELECT arrayMap(x -> repeat('a', 100000), range(100)) AS a")
    assert outcome.status is OutcomeStatus.TOO_MANY_ROWS
    assert outcome.error is not None and "max bytes: 1.00 MiB, current bytes: 9.54" in outcome.error
    # 0.7 MB in the engine, 1.4 MB of JSON (every quote escaped): the executor's cap refuses it.
    outcome = executor.try_execute("SELECT repeat('\"', 700000) AS q FROM numbers(1)")
    assert outcome.status is OutcomeStatus.TOO_MANY_ROWS
    assert outcome.error is not None and "max bytes: 1048576" in outcome.error
    assert executor.execute("SELECT 'next' AS x").rows == [["next"]]


def test_break_mode_returns_the_first_rows(chdb_path: Path) -> None:
    executor = ChDBExecutor(chdb_path, limits=ExecutionLimits(max_result_rows=3, overflow="break"))
    result = executor.execute("SELECT number FROM numbers(1000000) ORDER BY number")
    assert result.rows == [[0], [1], [2]] and result.truncated
    small = executor.execute("SELECT number FROM numbers(3)")
    assert small.row_count == 3 and not small.truncated


class _Breaking(SQLExecutor):
    """An executor whose backend fails in every way a driver can."""

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        if "json" in sql:
            json.loads("{not json")
        if "memory" in sql:
            raise MemoryError
        if "recursion" in sql:
            raise RecursionError("maximum recursion depth exceeded")
        if "config" in sql:
            raise ConfigurationError("cannot connect to the server")
        return QueryResult(sql=sql, columns=["x"], rows=[[1]])


def test_one_failing_query_never_kills_a_run() -> None:
    executor = _Breaking()
    outcomes = executor.execute_many(
        ["SELECT 'json'", "SELECT 'memory'", "SELECT 'recursion'", "SELECT 1", "SELEC 1"]
    )
    assert [o.status for o in outcomes] == [
        OutcomeStatus.ERROR,
        OutcomeStatus.TOO_MANY_ROWS,
        OutcomeStatus.ERROR,
        OutcomeStatus.OK,
        OutcomeStatus.ERROR,
    ]
    assert [o.error_name for o in outcomes] == [
        "JSONDecodeError",
        "RESULT_TOO_LARGE",
        "RecursionError",
        None,
        "SYNTAX_ERROR",
    ]
    assert [o.error_category for o in outcomes] == [
        "execution_error",
        "too_many_rows",
        "execution_error",
        None,
        "syntax_error",
    ]
    with pytest.raises(SQLExecutionError):
        executor.execute("SELECT 'json'")
    pairs = [QAPair(question=f"q{i}", sql=s) for i, s in enumerate(["SELECT 'json'", "SELECT 1"])]
    validated = validate_pairs(pairs, executor)
    assert [p.validation.status for p in validated if p.validation] == [
        OutcomeStatus.ERROR,
        OutcomeStatus.OK,
    ]
    # A database that cannot be reached is no problem of one query: it stops the run.
    with pytest.raises(ConfigurationError):
        executor.try_execute("SELECT 'config'")


def test_missing_chdb_folder_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    for opener in (
        lambda: ChDBExecutor(missing),
        lambda: open_executor(f"chdb://{missing}"),
        lambda: ClickHouseExecutor(f"chdb://{missing}"),
    ):
        with pytest.raises(ConfigurationError) as info:
            opener()
        assert str(missing) in str(info.value)
        assert f"text2sql-tune demo-db --path {missing}" in str(info.value)
    assert not missing.exists()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        ChDBExecutor(tmp_path / "file")


def test_unsupported_scheme_is_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_executor("postgres://localhost/db")
    message = str(info.value)
    assert "scheme 'postgres://'" in message
    assert "chdb://, clickhouse://, clickhouses://" in message
    with pytest.raises(ConfigurationError, match="has no scheme"):
        open_executor("localhost/db")


def test_a_second_process_on_the_same_path_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from chdb.session import Session\n"
            f"s = Session({str(path)!r}); s.query('SELECT 1')\n"
            "print('ready', flush=True); time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        done = run_python(
            "from text2sql_tune import ChDBExecutor, ResourceBusyError\n"
            "try:\n"
            f"    ChDBExecutor({str(path)!r})\n"
            "except ResourceBusyError as exc:\n"
            "    print('BUSY', exc)\n",
            home=tmp_path / "home",
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.stdout.startswith("BUSY"), done.stdout + done.stderr
    assert f"the chDB data path {path.resolve()} is locked by process {holder.pid}" in done.stdout


def test_evaluation_files_guard_errors_like_the_engines(shop: ChDBExecutor) -> None:
    reference = f"SELECT count() FROM {DB}.orders"
    answers = {
        "syntax": ("SELEC count() FROM orders", "syntax_error"),
        "unknown": (f"SELECT date_part('year', day) FROM {DB}.orders", "unknown_function"),
        "unsafe": ("SELECT file('/etc/hostname')", "unsafe"),
        "nested": ("SELECT " + "(" * 40 + "1" + ")" * 40, "unsafe"),
        "right": (reference, "correct"),
    }
    cases = [EvalCase(question=q, sql=reference) for q in answers]
    predictions = [Prediction(question=q, sql=sql) for q, (sql, _) in answers.items()]
    report = Evaluator(shop).evaluate_predictions(cases, predictions)
    assert {r.question: r.category for r in report.results} == {
        q: category for q, (_, category) in answers.items()
    }
    unknown = shop.try_execute(answers["unknown"][0])
    assert (unknown.error_code, unknown.error_name, unknown.error_category) == (
        46,
        "UNKNOWN_FUNCTION",
        "unknown_function",
    )


def test_sql_command_shows_the_first_rows(demo_db_url: str) -> None:
    runner = CliRunner()
    sql = "SELECT session_id FROM ecommerce.sessions ORDER BY session_id"
    shown = runner.invoke(app, ["sql", sql, "--max-rows", "3", "--database", demo_db_url])
    assert shown.exit_code == 0, shown.output
    assert "first 3 rows" in shown.output and "raise --max-rows to see more" in shown.output
    data = runner.invoke(app, ["sql", sql, "--max-rows", "3", "-d", demo_db_url, "--json"])
    result = json.loads(data.stdout)
    assert result["truncated"] is True and result["row_count"] == 3
    assert [row[0] for row in result["rows"]] == sorted(row[0] for row in result["rows"])
    small = runner.invoke(app, ["sql", "SELECT 1 AS one", "-d", demo_db_url, "--json"])
    assert json.loads(small.stdout)["truncated"] is False
