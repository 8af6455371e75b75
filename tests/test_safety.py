"""The SQL guard and the locked sessions, driven by the table in ``data/unsafe_queries.yaml``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import text2sql_tune.safety.guard as guard_module
from text2sql_tune import (
    ChDBExecutor,
    ClickHouseExecutor,
    ExecutionLimits,
    OutcomeStatus,
    SQLExecutionError,
    SQLGuard,
    SQLSyntaxError,
    SQLTimeoutError,
    TooManyRowsError,
    UnsafeSQLError,
)
from text2sql_tune.errors import UnknownFunctionError
from text2sql_tune.evaluate.evaluator import categorize_error
from text2sql_tune.safety import (
    ALLOWED_FUNCTIONS,
    DEFAULT_ALLOWED_TABLE_FUNCTIONS,
    split_settings_clause,
    strip_format_clause,
)

DB = "t2s_test_safety"
SECRET = "SECRET-SENTINEL-7f3a"
CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "unsafe_queries.yaml").read_text(encoding="utf-8")
)
_REPEAT = re.compile(r"\{repeat:(\d+):([^}]*)\}")


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
    sql = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), sql)
    return (
        sql.replace("{sentinel}", str(outside["sentinel"]))
        .replace("{outside}", str(outside["outside"]))
        .replace("{db}", DB)
    )


def guard_for(case: dict[str, Any]) -> SQLGuard:
    return SQLGuard(**case.get("guard", {}))


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [_REPEAT.sub(r"<\2 x\1>", c["sql"])[:60] for c in cases]


def test_the_table_is_big_enough() -> None:
    assert len(CASES["refused"]) >= 150
    assert sum(1 for c in CASES["refused"] if "APPLY" in c["sql"] or "array" in c["sql"]) >= 10


@pytest.mark.parametrize("case", CASES["refused"], ids=ids(CASES["refused"]))
def test_guard_refuses(case: dict[str, Any], outside: dict[str, Path]) -> None:
    sql = fill(case["sql"], outside)
    with pytest.raises(UnsafeSQLError) as info:
        guard_for(case).check(sql)
    assert not isinstance(info.value, UnknownFunctionError)
    assert case["reason"] in info.value.reason
    assert info.value.sql == sql


@pytest.mark.parametrize("case", CASES["syntax"], ids=ids(CASES["syntax"]))
def test_guard_refuses_invalid_sql_as_a_syntax_error(
    case: dict[str, Any], outside: dict[str, Path]
) -> None:
    expected = UnsafeSQLError if case.get("unsafe") else SQLSyntaxError
    with pytest.raises(expected) as info:
        guard_for(case).check(fill(case["sql"], outside))
    assert case["reason"] in info.value.reason


@pytest.mark.parametrize("case", CASES["unknown"], ids=ids(CASES["unknown"]))
def test_unknown_functions_are_refused_and_filed_as_unknown_function(
    case: dict[str, Any], chdb_executor: ChDBExecutor
) -> None:
    with pytest.raises(UnknownFunctionError) as info:
        SQLGuard().check(case["sql"])
    assert info.value.function == case["function"]
    assert "not on the allow-list of pure ClickHouse functions" in info.value.reason
    outcome = chdb_executor.try_execute(case["sql"])
    assert (outcome.status, outcome.error_code) == (OutcomeStatus.ERROR, 46)
    assert categorize_error(outcome) == "unknown_function"


@pytest.mark.parametrize("case", CASES["allowed"], ids=ids(CASES["allowed"]))
def test_guard_accepts_tricky_but_harmless(case: dict[str, Any], outside: dict[str, Path]) -> None:
    assert guard_for(case).check(fill(case["sql"], outside)) == fill(case["expect"], outside)


@pytest.fixture(scope="module")
def safety_db(chdb_executor: ChDBExecutor) -> ChDBExecutor:
    chdb_executor.execute_admin(f"CREATE DATABASE IF NOT EXISTS {DB}")
    chdb_executor.execute_admin(
        f"CREATE OR REPLACE TABLE {DB}.t (x UInt8) ENGINE = MergeTree ORDER BY x"
    )
    chdb_executor.execute_admin(f"INSERT INTO {DB}.t VALUES (1), (2), (3)")
    return chdb_executor


@pytest.fixture(scope="module")
def inprocess_db(inprocess_chdb_path: Path) -> Path:
    """``{DB}.t`` in the folder clickhouse-connect's chdb backend opens in this process."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{inprocess_chdb_path}")
    client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
    client.command(f"CREATE OR REPLACE TABLE {DB}.t (x UInt8) ENGINE = MergeTree ORDER BY x")
    client.command(f"INSERT INTO {DB}.t VALUES (1), (2), (3)")
    return inprocess_chdb_path


RUNNABLE = [c for c in CASES["allowed"] if "guard" not in c]


@pytest.mark.parametrize("case", RUNNABLE, ids=ids(RUNNABLE))
def test_harmless_queries_also_run(
    case: dict[str, Any], outside: dict[str, Path], safety_db: ChDBExecutor
) -> None:
    result = safety_db.execute(fill(case["sql"], outside))
    assert result.columns


def test_a_forged_result_stays_data(safety_db: ChDBExecutor) -> None:
    forged = '{"meta":[{"name":"correct","type":"UInt8"}],"data":[[1]]}'
    result = safety_db.execute(f"SELECT '{forged}' AS s FORMAT RawBLOB SETTINGS join_use_nulls = 0")
    assert result.columns == ["s"] and result.rows == [[forged]]


ENGINE_REFUSED = [c for c in CASES["refused"] if c.get("engine") == "refused"]
ENGINE_RUNS = [c for c in CASES["refused"] if c.get("engine") == "runs"]


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


@pytest.mark.parametrize("case", ENGINE_RUNS, ids=ids(ENGINE_RUNS))
def test_what_the_engine_alone_does_not_stop(
    case: dict[str, Any],
    safety_db: ChDBExecutor,
    chdb_path: Path,
    tmp_path: Path,
) -> None:
    """Measures the gap docs/safety.md describes: on chDB, a locked session (readonly=1) still
    runs scalar file(), functions passed by name and INTO OUTFILE, so the guard is the only fence
    against them. If chDB starts refusing one of these, this test fails: update the docs."""
    sentinel = tmp_path / "secret.txt"
    sentinel.write_text(SECRET, encoding="utf-8")
    place = {"sentinel": sentinel, "outside": tmp_path / "drop"}
    place["outside"].mkdir()
    executor = ChDBExecutor(chdb_path, guard=PassThroughGuard())
    result = executor.execute(fill(case["sql"], place))
    wrote = list(place["outside"].iterdir())
    assert SECRET in result.to_text() or wrote


def test_nothing_was_read_or_written_outside(
    outside: dict[str, Path], safety_db: ChDBExecutor, chdb_path: Path
) -> None:
    limits = ExecutionLimits(max_execution_time_s=2)
    naked = ChDBExecutor(chdb_path, guard=PassThroughGuard(), limits=limits)
    for case in CASES["refused"]:
        sql = fill(case["sql"], outside)
        guarded = ChDBExecutor(chdb_path, guard=guard_for(case), limits=limits)
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
    limits = ExecutionLimits(max_execution_time_s=1, max_result_rows=1000, max_result_bytes=1024**2)
    executor = ChDBExecutor(chdb_path, limits=limits)
    expected = {"timeout": SQLTimeoutError, "too_many_rows": TooManyRowsError}[case["expect"]]
    with pytest.raises(expected):
        executor.execute(fill(case["sql"], outside))
    outcome = executor.try_execute(fill(case["sql"], outside))
    assert outcome.status.value == case["expect"]


def test_locked_session_keeps_its_limits(safety_db: ChDBExecutor, chdb_path: Path) -> None:
    executor = ChDBExecutor(
        chdb_path,
        guard=PassThroughGuard(),
        limits=ExecutionLimits(max_result_rows=5),
        concurrency=1,
    )
    for setting in ("readonly = 0", "max_result_rows = 0", "readonly = 2"):
        with pytest.raises(SQLExecutionError) as info:
            executor.execute(f"SELECT 1 SETTINGS {setting}")
        assert info.value.name == "READONLY"
        # As a statement it does not even parse: the executor appends its own FORMAT clause.
        with pytest.raises(SQLExecutionError):
            executor.execute(f"SET {setting}")
    # A query's own SETTINGS clause is applied before locking only for settings the guard allows.
    with pytest.raises(SQLExecutionError) as info:
        executor.execute("SELECT number FROM numbers(100) SETTINGS max_result_rows = 1000")
    assert info.value.name == "READONLY"
    with pytest.raises(TooManyRowsError):
        executor.execute("SELECT number FROM numbers(100000)")


def test_allowed_settings_apply_before_the_session_is_locked(safety_db: ChDBExecutor) -> None:
    join = "SELECT b.y FROM (SELECT 1 AS x) AS a LEFT JOIN (SELECT 2 AS x, 5 AS y) AS b USING (x)"
    assert safety_db.execute(join).rows == [[0]]
    result = safety_db.execute(f"{join} SETTINGS join_use_nulls = 1")
    assert result.rows == [[None]]
    assert result.sql.endswith("SETTINGS join_use_nulls = 1")
    assert safety_db.execute(join).rows == [[0]]  # the next query gets a session without it
    with pytest.raises(SQLExecutionError) as info:  # a bad value is the engine's error
        safety_db.execute("SELECT 1 AS x SETTINGS join_use_nulls = 'maybe'")
    assert info.value.name == "CANNOT_PARSE_BOOL"
    assert info.value.sql == "SELECT 1 AS x SETTINGS join_use_nulls = 'maybe'"


def test_clickhouse_connect_path_is_locked_too(
    outside: dict[str, Path], inprocess_db: Path
) -> None:
    executor = ClickHouseExecutor(f"chdb://{inprocess_db}", guard=PassThroughGuard())
    read = f"SELECT * FROM file('{outside['sentinel']}', 'LineAsString')"
    write = f"INSERT INTO FUNCTION file('{outside['outside']}/x.csv', 'CSV') SELECT 1"
    for sql in (read, write, "SELECT 1 SETTINGS readonly = 0", f"DROP TABLE {DB}.t"):
        with pytest.raises(SQLExecutionError) as info:
            executor.execute(sql)
        assert info.value.name == "READONLY"
    assert list(outside["outside"].iterdir()) == []
    assert executor.execute("SELECT 1 AS one").rows == [[1]]
    assert executor.readonly == 1
    executor.close()


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
    with pytest.raises(UnsafeSQLError, match="table function 'generateRandom' is not allowed"):
        SQLGuard().check("SELECT * FROM generateRandom('a UInt8') LIMIT 3")
    guard = SQLGuard(allowed_table_functions={*DEFAULT_ALLOWED_TABLE_FUNCTIONS, "generateRandom"})
    assert guard.check("SELECT * FROM generateRandom('a UInt8') LIMIT 3")
    # A table function allowed as a table is not thereby allowed as an ordinary function.
    with pytest.raises(UnsafeSQLError, match="function 'file'"):
        SQLGuard(allowed_table_functions={"file"}).check("SELECT file('x')")


def test_extending_and_narrowing_the_function_allow_list() -> None:
    with pytest.raises(UnknownFunctionError):
        SQLGuard().check("SELECT myUdf(1)")
    guard = SQLGuard(allowed_functions={*ALLOWED_FUNCTIONS, "myUdf"})
    assert guard.check("SELECT myUdf(1), arrayMap(myUdf, [1])")
    with pytest.raises(UnsafeSQLError, match="function 'lower' is not allowed"):
        SQLGuard(denied_functions={"lower"}).check("SELECT lower('A')")


def test_explain_opt_in() -> None:
    guard = SQLGuard(allow_explain=True)
    assert guard.check("EXPLAIN PLAN SELECT 1 FORMAT JSON") == "EXPLAIN PLAN SELECT 1"
    assert guard.check("EXPLAIN PLAN indexes = 1 SELECT 1") == "EXPLAIN PLAN indexes = 1 SELECT 1"
    with pytest.raises(UnsafeSQLError, match="only SELECT"):
        guard.check("EXPLAIN INSERT INTO t VALUES (1)")
    with pytest.raises(UnsafeSQLError, match="table function 'file'"):
        guard.check("EXPLAIN SELECT * FROM file('x')")


def test_explain_runs_on_both_executors(
    safety_db: ChDBExecutor, chdb_path: Path, inprocess_db: Path
) -> None:
    sql = f"EXPLAIN SELECT x FROM {DB}.t FORMAT RawBLOB"
    chdb = ChDBExecutor(chdb_path, guard=SQLGuard(allow_explain=True))
    assert chdb.execute(sql).columns == ["explain"]
    server = ClickHouseExecutor(f"chdb://{inprocess_db}", guard=SQLGuard(allow_explain=True))
    assert server.execute(sql).columns == ["explain"]
    server.close()


def test_settings_allow_list_and_length_limit() -> None:
    assert SQLGuard(allowed_settings={"max_bytes_to_read"}).check(
        "SELECT 1 SETTINGS max_bytes_to_read = 2"
    )
    with pytest.raises(UnsafeSQLError, match="SETTINGS max_bytes_to_read"):
        SQLGuard().check("SELECT 1 SETTINGS max_bytes_to_read = 2")
    # Bounded settings may go down, not up past the bound.
    assert SQLGuard().check("SELECT 1 SETTINGS max_threads = 2, max_block_size = 100")
    for value in ("17", "0", "1e9", "'2'"):
        with pytest.raises(UnsafeSQLError, match=r"max_threads may only be set to 1\.\.16"):
            SQLGuard().check(f"SELECT 1 SETTINGS max_threads = {value}")
    with pytest.raises(UnsafeSQLError, match="SETTINGS max_threads"):
        SQLGuard(setting_bounds={}).check("SELECT 1 SETTINGS max_threads = 2")
    with pytest.raises(UnsafeSQLError, match="longer than 20 characters"):
        SQLGuard(max_sql_length=20).check("SELECT 1 AS a_rather_long_alias")


def test_the_guard_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise IndexError("a bug in a check")

    monkeypatch.setattr(guard_module, "check_tokens", broken)
    with pytest.raises(UnsafeSQLError, match=r"could not check this query \(IndexError\)"):
        SQLGuard().check("SELECT 1")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 format TabSeparatedWithNames", "SELECT 1"),
        ("SELECT 1 FORMAT JSON;", "SELECT 1"),
        ("  SELECT 1 ;; ", "SELECT 1"),
        ("SELECT 1 -- note\nFORMAT CSV -- end", "SELECT 1"),
        (
            "SELECT 1 FORMAT JSON SETTINGS join_use_nulls = 1",
            "SELECT 1 SETTINGS join_use_nulls = 1",
        ),
        ("SELECT 1 FORMAT `JSON`SETTINGS a = 1", "SELECT 1 SETTINGS a = 1"),
        ("SELECT a FROM t ORDER BY format", "SELECT a FROM t ORDER BY format"),
        ("SELECT a FROM t ORDER BY format DESC", "SELECT a FROM t ORDER BY format DESC"),
        ("SELECT 'x FORMAT JSON'", "SELECT 'x FORMAT JSON'"),
        ("SELECT format('{}', 'a') AS f", "SELECT format('{}', 'a') AS f"),
        ("SELECT 'unterminated;", "SELECT 'unterminated"),
    ],
)
def test_strip_format_clause(sql: str, expected: str) -> None:
    assert strip_format_clause(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 SETTINGS join_use_nulls = 1", ("SELECT 1", {"join_use_nulls": "1"})),
        (
            "SELECT 1 -- c\nSETTINGS a = 'x', b = -2",
            ("SELECT 1", {"a": "'x'", "b": "-2"}),
        ),
        ("SELECT 1", ("SELECT 1", {})),
        ("SELECT 'SETTINGS a = 1'", ("SELECT 'SETTINGS a = 1'", {})),
        ("SELECT 1 SETTINGS a = (SELECT 1)", ("SELECT 1 SETTINGS a = (SELECT 1)", {})),
    ],
)
def test_split_settings_clause(sql: str, expected: tuple[str, dict[str, str]]) -> None:
    assert split_settings_clause(sql) == expected


def test_article_style_queries_pass() -> None:
    sql = (
        "select toStartOfMonth(action_date) as month, uniqExact(user_id) as users\n"
        "from ecommerce.sessions\nwhere action_date >= '2023-01-01' and os = 'Android'\n"
        "group by month\norder by month\nformat TabSeparatedWithNames"
    )
    checked = SQLGuard().check(sql)
    assert checked.endswith("order by month")
    assert "format" not in checked.splitlines()[-1]


def test_validate_clean_and_evaluate_survive_every_hostile_query(
    demo_db_url: str, outside: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from text2sql_tune.cli import app

    cases = [c for key in ("refused", "syntax", "unknown") for c in CASES[key] if "guard" not in c]
    sqls = [fill(c["sql"], outside) for c in cases]
    pairs = [{"question": f"Question {i}?", "sql": s} for i, s in enumerate(sqls) if s.strip()]
    golden = [{"question": p["question"], "sql": "SELECT 1"} for p in pairs]
    for name, records in (("pairs", pairs), ("golden", golden)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
        )
    runner = CliRunner()
    steps = [
        ["validate", "-i", "pairs.jsonl", "-o", "validated.jsonl"],
        ["clean", "-i", "validated.jsonl", "-o", "clean.jsonl", "--report", "report.json"],
        ["evaluate", "-g", "golden.jsonl", "-p", "pairs.jsonl", "-o", "evaluation.json"],
    ]
    for args in steps:
        result = runner.invoke(app, [*(a if "." not in a else str(tmp_path / a) for a in args),
                                     "--database", demo_db_url])  # fmt: skip
        assert result.exit_code == 0, (args[0], result.output)
    validated = [json.loads(line) for line in (tmp_path / "validated.jsonl").open()]
    assert len(validated) == len(pairs)
    assert all(p["validation"]["status"] != "ok" for p in validated)
    assert (tmp_path / "clean.jsonl").read_text(encoding="utf-8") == ""
    report = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert len(report["results"]) == len(pairs)
    assert not any(r["correct"] for r in report["results"])
    assert SECRET not in (tmp_path / "validated.jsonl").read_text(encoding="utf-8")


def test_random_token_soup_gets_a_typed_answer() -> None:
    """Whatever the text, the guard answers with a statement or one of its two typed errors,
    never an internal failure (it would fail closed, but that would be a bug to fix)."""
    import random

    pieces = ["SELECT", " ", "'", '"', "`", "$$", "$a$", "--", "/*", "*/", "\n", "x", "1", ".",
              "(", ")", ",", "FROM", "FORMAT", "JSON", "SETTINGS", "join_use_nulls", "=", "IN",
              "system", "arrayMap", "file", "APPLY", "WITH", "AS", "EXPLAIN", "NOT", "[", "]",
              "->", "dictGet", "'db.d'", "UNION", "ALL", ";", "INTO", "OUTFILE", "\u200b", "é",
              "0x", "_", "\\", "#", "# ", "//", "::", "{", "}", "PARALLEL"]  # fmt: skip
    rng = random.Random(3)
    guard = SQLGuard(allow_explain=True)
    for _ in range(3000):
        sql = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        try:
            guard.check(sql)
        except SQLSyntaxError:
            pass
        except UnsafeSQLError as exc:
            assert "could not check" not in exc.reason, sql
