"""The demo database: deterministic build, data shape, bundled data, the ``demo-db`` command."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import DEMO_TEST_SCALE, DEMO_TEST_SEED
from fresh_process import run_python
from text2sql_tune import (
    ChDBExecutor,
    ConfigurationError,
    EvalCase,
    QAPair,
    build_demo_database,
    demo_schema,
    load_golden_set,
    load_seed_examples,
)
from text2sql_tune.cli import app
from text2sql_tune.demo import DEMO_DATABASE, abuild_demo_database, default_database_path

TODAY = dt.datetime.now(dt.timezone.utc).date()

# One row that changes when any value of any row changes (order-independent).
FINGERPRINT = (
    "SELECT (SELECT count() FROM {db}.sessions) AS sessions, "
    "(SELECT round(sum(revenue), 2) FROM {db}.sessions) AS revenue, "
    "(SELECT groupBitXor(cityHash64(user_id, session_id, action_date, session_duration, os, "
    "browser, is_fraud, revenue)) FROM {db}.sessions) AS sessions_hash, "
    "(SELECT groupBitXor(cityHash64(user_id, country, is_active, age)) FROM {db}.users) "
    "AS users_hash"
)

_CLI = [sys.executable, "-c", "from text2sql_tune.cli import main; main()"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _one(executor: ChDBExecutor, sql: str) -> list[Any]:
    return executor.execute(sql).rows[0]


@pytest.fixture
def scratch_databases(demo_executor: ChDBExecutor) -> Iterator[list[str]]:
    """Names of extra databases a test creates on the shared path; dropped afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        demo_executor.execute_admin(f"DROP DATABASE IF EXISTS {name} SYNC")


# --- building -----------------------------------------------------------------------------------


def test_url_points_at_the_shared_path(demo_db_url: str, demo_executor: ChDBExecutor) -> None:
    assert demo_db_url == demo_executor.url
    assert demo_db_url.startswith("chdb:///")


def test_same_parameters_skip_the_rebuild(demo_db_url: str, chdb_path: Path) -> None:
    executor = ChDBExecutor(chdb_path)
    tables = "SELECT name, uuid FROM system.tables WHERE database = 'ecommerce' ORDER BY name"
    before = executor.execute_admin(tables).rows
    url = build_demo_database(chdb_path, scale=DEMO_TEST_SCALE, seed=DEMO_TEST_SEED, end_date=TODAY)
    assert url == demo_db_url
    assert executor.execute_admin(tables).rows == before  # same tables: nothing was rebuilt


def test_same_seed_same_data_other_seed_other_data(
    demo_executor: ChDBExecutor, chdb_path: Path, scratch_databases: list[str]
) -> None:
    scratch_databases += ["demo_same_seed", "demo_other_seed"]
    build_demo_database(
        chdb_path,
        scale=DEMO_TEST_SCALE,
        seed=DEMO_TEST_SEED,
        end_date=TODAY,
        database="demo_same_seed",
    )
    build_demo_database(
        chdb_path, scale=DEMO_TEST_SCALE, seed=7, end_date=TODAY, database="demo_other_seed"
    )
    original = _one(demo_executor, FINGERPRINT.format(db=DEMO_DATABASE))
    same = _one(demo_executor, FINGERPRINT.format(db="demo_same_seed"))
    other = _one(demo_executor, FINGERPRINT.format(db="demo_other_seed"))
    assert same == original
    assert other[2:] != original[2:]


def test_changed_parameters_rebuild_and_overwrite_forces_it(
    demo_executor: ChDBExecutor, chdb_path: Path, scratch_databases: list[str]
) -> None:
    scratch_databases.append("demo_rebuilt")
    build_demo_database(chdb_path, scale=0.005, end_date=TODAY, database="demo_rebuilt")
    count = "SELECT count() FROM demo_rebuilt.sessions"
    assert _one(demo_executor, count) == [pytest.approx(5000, rel=0.1)]
    build_demo_database(chdb_path, scale=0.01, end_date=TODAY, database="demo_rebuilt")
    assert _one(demo_executor, count) == [pytest.approx(10000, rel=0.1)]
    uuid = "SELECT uuid FROM system.tables WHERE database = 'demo_rebuilt' AND name = 'users'"
    before = demo_executor.execute_admin(uuid).rows
    build_demo_database(
        chdb_path, scale=0.01, end_date=TODAY, database="demo_rebuilt", overwrite=True
    )
    assert demo_executor.execute_admin(uuid).rows != before


def test_a_database_not_built_here_is_only_replaced_with_overwrite(
    demo_executor: ChDBExecutor, chdb_path: Path, scratch_databases: list[str]
) -> None:
    scratch_databases.append("demo_foreign")
    demo_executor.execute_admin("CREATE DATABASE demo_foreign")
    demo_executor.execute_admin(
        "CREATE TABLE demo_foreign.keep (x UInt8) ENGINE = MergeTree ORDER BY x"
    )
    with pytest.raises(ConfigurationError, match="not built by text2sql_tune"):
        build_demo_database(chdb_path, scale=0.001, database="demo_foreign")
    assert demo_executor.execute("SELECT count() FROM demo_foreign.keep").rows == [[0]]
    build_demo_database(chdb_path, scale=0.001, database="demo_foreign", overwrite=True)
    assert _one(demo_executor, "SELECT count() FROM demo_foreign.users") == [60]


async def test_async_build_and_sync_build_inside_a_running_loop(
    demo_db_url: str, chdb_path: Path
) -> None:
    url = await abuild_demo_database(
        chdb_path, scale=DEMO_TEST_SCALE, seed=DEMO_TEST_SEED, end_date=TODAY
    )
    assert url == demo_db_url
    # The sync twin is usable from async code too (open_executor(None) calls it).
    again = build_demo_database(
        chdb_path, scale=DEMO_TEST_SCALE, seed=DEMO_TEST_SEED, end_date=TODAY
    )
    assert again == demo_db_url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale must be a positive number"),
        ({"scale": float("nan")}, "scale must be a positive number"),
        ({"end_date": dt.date(2020, 12, 31)}, "end_date must be on or after 2021-01-01"),
        ({"database": "shop; DROP"}, "plain identifier"),
    ],
)
def test_bad_parameters(chdb_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_demo_database(chdb_path, **kwargs)


def test_another_path_in_the_same_process_is_refused(demo_db_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="one data path per process"):
        build_demo_database(tmp_path / "other", scale=0.001)


# --- the data -----------------------------------------------------------------------------------


def _shares(executor: ChDBExecutor, column: str) -> dict[str, float]:
    rows = executor.execute(
        f"SELECT {column}, count() / (SELECT count() FROM ecommerce.sessions) "
        f"FROM ecommerce.sessions GROUP BY {column}"
    ).rows
    return {str(k): float(v) for k, v in rows}


def test_sizes_ids_and_dates(demo_executor: ChDBExecutor) -> None:
    sessions, unique_ids, first, last, orphans = _one(
        demo_executor,
        "SELECT count(), uniqExact(session_id), min(action_date), max(action_date), "
        "countIf(user_id NOT IN (SELECT user_id FROM ecommerce.users)) FROM ecommerce.sessions",
    )
    assert sessions == pytest.approx(1_000_000 * DEMO_TEST_SCALE, rel=0.05)
    assert unique_ids == sessions
    assert first >= "2021-01-01"
    assert last == TODAY.isoformat()
    assert orphans == 0
    users, unique_users, min_id = _one(
        demo_executor, "SELECT count(), uniqExact(user_id), min(user_id) FROM ecommerce.users"
    )
    assert users == unique_users == round(60_000 * DEMO_TEST_SCALE)
    assert min_id >= 1_000_000
    yesterday = _one(
        demo_executor, "SELECT count() FROM ecommerce.sessions WHERE action_date = today() - 1"
    )
    assert yesterday[0] > 0


def test_session_distributions(demo_executor: ChDBExecutor) -> None:
    os_share = _shares(demo_executor, "os")
    assert set(os_share) == {"Windows", "iOS", "Android"}
    assert os_share["Windows"] == pytest.approx(0.5, abs=0.05)
    browser = _shares(demo_executor, "browser")
    assert browser == pytest.approx({"Chrome": 0.6, "Safari": 0.3, "Firefox": 0.1}, abs=0.04)
    fraud, paid, low, high, duration = _one(
        demo_executor,
        "SELECT avg(is_fraud), avg(revenue > 0), min(revenue), max(revenue), "
        "min(session_duration) FROM ecommerce.sessions",
    )
    assert 0.003 < fraud < 0.02
    assert paid == pytest.approx(0.3, abs=0.03)
    assert low >= 0 and high <= 10_000
    assert duration >= 1


def test_customer_distributions(demo_executor: ChDBExecutor) -> None:
    countries = dict(
        demo_executor.execute("SELECT country, count() FROM ecommerce.users GROUP BY country").rows
    )
    assert set(countries) == {"United Kingdom", "Germany", "France", "Netherlands"}
    active, youngest, oldest = _one(
        demo_executor, "SELECT avg(is_active), min(age), max(age) FROM ecommerce.users"
    )
    assert active == pytest.approx(0.95, abs=0.03)
    assert 18 <= youngest < 25 and 80 < oldest <= 89


def test_retention_older_cohorts_fade(demo_executor: ChDBExecutor) -> None:
    # Customers who signed up in 2021 are active in 2021 far more than in the last year.
    early, late = _one(
        demo_executor,
        "SELECT uniqExactIf(user_id, toYear(action_date) = 2021), "
        "uniqExactIf(user_id, action_date > today() - 365) FROM ecommerce.sessions "
        "WHERE user_id IN (SELECT user_id FROM ecommerce.sessions GROUP BY user_id "
        "HAVING toYear(min(action_date)) = 2021)",
    )
    assert early > 2 * late


def test_schema_matches_the_database(demo_executor: ChDBExecutor) -> None:
    introspected = demo_executor.get_schema(["ecommerce"])
    annotated = demo_schema()
    for table in annotated.tables:
        found = introspected.table(table.full_name)
        assert [(c.name, c.type) for c in found.columns] == [
            (c.name, c.type) for c in table.columns
        ]
        assert [c.comment for c in found.columns] == [c.description for c in table.columns]
        assert found.description == table.description


# --- bundled data -------------------------------------------------------------------------------

SEEDS = load_seed_examples()
GOLDEN = load_golden_set()
GOLDEN_TEST = load_golden_set("test")


def _normal(question: str) -> str:
    return re.sub(r"\W+", " ", question.lower()).strip()


def test_bundled_files_load_as_records() -> None:
    assert len(SEEDS) >= 30 and all(isinstance(p, QAPair) for p in SEEDS)
    assert len(GOLDEN) == 10 and all(isinstance(c, EvalCase) for c in GOLDEN)
    assert len({c.id for c in GOLDEN}) == 10
    seed_questions = {_normal(p.question) for p in SEEDS}
    assert len(seed_questions) == len(SEEDS)
    assert not seed_questions & {_normal(c.question) for c in GOLDEN}
    assert len({p.sql for p in SEEDS} | {c.sql for c in GOLDEN}) == len(SEEDS) + len(GOLDEN)
    assert len(GOLDEN_TEST) == 36 and not seed_questions & {
        _normal(c.question) for c in GOLDEN_TEST
    }


@pytest.mark.parametrize(
    "sql",
    [p.sql for p in SEEDS] + [c.sql for c in GOLDEN + GOLDEN_TEST],
    ids=[f"seed{i:02d}" for i in range(len(SEEDS))] + [c.id or "" for c in GOLDEN + GOLDEN_TEST],
)
async def test_bundled_query_runs_through_the_guard(sql: str, demo_executor: ChDBExecutor) -> None:
    outcome = await demo_executor.atry_execute(sql, min_rows=1, max_rows=100)
    assert outcome.ok, outcome.error or outcome.status
    assert 1 <= (outcome.row_count or 0) <= 100


# --- paths and the command line -------------------------------------------------------------------


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXT2SQL_TUNE_HOME", "/data/t2s")
    assert default_database_path() == Path("/data/t2s/demo")
    monkeypatch.delenv("TEXT2SQL_TUNE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert default_database_path() == Path("/xdg/text2sql_tune/demo")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert default_database_path() == Path("/home/someone/.cache/text2sql_tune/demo")


def test_the_test_session_keeps_out_of_the_user_cache() -> None:
    home = os.environ["TEXT2SQL_TUNE_HOME"]
    assert default_database_path().is_relative_to(home)


def test_demo_db_command_builds_and_prints_the_url(demo_db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "shop"
    args = ["demo-db", "--path", str(path), "--scale", str(DEMO_TEST_SCALE)]
    args += ["--seed", str(DEMO_TEST_SEED), "--end-date", TODAY.isoformat()]
    built = _cli(*args)
    assert built.returncode == 0, built.stderr
    url = built.stdout.strip()
    assert url == f"chdb://{os.path.realpath(path)}"
    assert "built" in built.stderr

    again = _cli(*args, "--json")
    assert again.returncode == 0, again.stderr
    info = json.loads(again.stdout)
    assert info["built"] is False and info["url"] == url
    assert info["end_date"] == TODAY.isoformat()

    # Another process, same parameters: the same data as the test database built here.
    fingerprint = FINGERPRINT.format(db="ecommerce")
    queried = _cli("sql", fingerprint, "--database", url, "--json")
    assert queried.returncode == 0, queried.stderr
    ours = ChDBExecutor(demo_db_url.removeprefix("chdb://")).execute(fingerprint).rows
    assert json.loads(queried.stdout)["rows"] == ours


def test_demo_db_command_reports_bad_input(tmp_path: Path) -> None:
    result = _cli("demo-db", "--path", str(tmp_path / "x"), "--end-date", "yesterday")
    assert result.returncode == 2  # a configuration error (docs/exit-codes.md)
    assert "--end-date must be YYYY-MM-DD" in result.stderr


@pytest.mark.slow
def test_default_database_is_built_in_the_cache_on_first_use(tmp_path: Path) -> None:
    code = (
        "from text2sql_tune import default_database_url, open_executor\n"
        "url = default_database_url()\n"
        "print(url)\n"
        "print(open_executor(None).execute('SELECT count() FROM ecommerce.sessions').rows[0][0])\n"
    )
    result = run_python(code, home=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    url, sessions = result.stdout.split()
    assert url == f"chdb://{os.path.realpath(tmp_path / 'demo')}"
    assert int(sessions) == pytest.approx(1_000_000, rel=0.02)


def test_sql_command_in_process(demo_db_url: str) -> None:
    runner = CliRunner()
    sql = "SELECT os, count() AS n FROM ecommerce.sessions GROUP BY os ORDER BY os"
    result = runner.invoke(app, ["sql", sql, "--database", demo_db_url, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["columns"] == ["os", "n"]
    assert [row[0] for row in payload["rows"]] == ["Android", "Windows", "iOS"]
    table = runner.invoke(app, ["sql", sql, "--database", demo_db_url])
    assert table.exit_code == 0 and "Windows" in table.output
    refused = runner.invoke(app, ["sql", "DROP TABLE ecommerce.users", "-d", demo_db_url])
    assert refused.exit_code != 0
