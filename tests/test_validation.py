"""Validation on the demo database (real SQL through chDB), the SQL cache, and SQL normalisation."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.errors import TokenError

from text2sql_tune import (
    ChDBExecutor,
    FunctionExecutor,
    OutcomeStatus,
    QAPair,
    QueryResult,
    TemplateQAGenerator,
    demo_schema,
    load_golden_set,
    load_seed_examples,
    validate_pairs,
)
from text2sql_tune.filters import avalidate_pairs
from text2sql_tune.sql import normalize_sql
from text2sql_tune.sql.profile import CASE_INSENSITIVE_FUNCTIONS, profile_sql
from text2sql_tune.sql.tokens import statement_tokens, tokenize


class CountingExecutor(ChDBExecutor):
    """A ChDBExecutor on the test path that records every statement it really runs."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.ran: list[str] = []

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        self.ran.append(sql)
        return await super()._aexecute_checked(sql)


@pytest.fixture
def counting(demo_db_url: str, chdb_path: Path) -> CountingExecutor:
    return CountingExecutor(chdb_path)


def pair(question: str, sql: str) -> QAPair:
    return QAPair(question=question, sql=sql, source="test")


def test_each_outcome_is_recorded_on_the_pair(demo_executor: ChDBExecutor) -> None:
    pairs = [
        pair(
            "Customers per country?",
            "SELECT country, count() AS n FROM ecommerce.users GROUP BY country ORDER BY country",
        ),
        pair("Broken", "SELECT nope FROM ecommerce.users"),
        pair("Customers older than 200?", "SELECT user_id FROM ecommerce.users WHERE age > 200"),
        pair("Every customer id?", "SELECT user_id FROM ecommerce.users"),
        pair("Drop it", "DROP TABLE ecommerce.users"),
        QAPair(rejected="the model answered without a tool call", source="test"),
    ]
    validated = validate_pairs(pairs, demo_executor, min_rows=1, max_rows=100, preview_rows=2)

    assert len(validated) == len(pairs)
    ok, error, empty, many, unsafe, rejected = validated
    assert ok.validation is not None and ok.validation.status is OutcomeStatus.OK
    assert ok.validation.row_count == 4
    assert ok.validation.columns == ["country", "n"]
    assert [row[0] for row in ok.validation.preview] == ["France", "Germany"]
    assert ok.question == pairs[0].question and ok.sql == pairs[0].sql and ok.source == "test"

    assert error.validation is not None and error.validation.status is OutcomeStatus.ERROR
    assert error.validation.error_name == "UNKNOWN_IDENTIFIER"
    assert error.validation.error_code == 47
    assert error.validation.row_count is None

    assert empty.validation is not None and empty.validation.status is OutcomeStatus.EMPTY
    assert empty.validation.row_count == 0  # only a header, no data rows

    assert many.validation is not None and many.validation.status is OutcomeStatus.TOO_MANY_ROWS
    assert many.validation.row_count is not None and many.validation.row_count >= 1000
    assert len(many.validation.preview) == 2

    assert unsafe.validation is not None and unsafe.validation.status is OutcomeStatus.UNSAFE
    assert unsafe.validation.error is not None and "DROP" in unsafe.validation.error

    assert rejected is pairs[5]  # untouched, not executed
    assert rejected.validation is None
    assert pairs[0].validation is None  # inputs are not modified


def test_the_same_sql_written_differently_runs_once(counting: CountingExecutor) -> None:
    pairs = [
        pair("How many customers?", "SELECT count() FROM ecommerce.users"),
        pair("Number of customers?", "select   COUNT()\nfrom ecommerce.users -- again"),
        pair("Customer count?", "SELECT count() FROM ecommerce.users;"),
        pair("German customers?", "SELECT count() FROM ecommerce.users WHERE country = 'Germany'"),
        pair("French customers?", "SELECT count() FROM ecommerce.users WHERE country = 'France'"),
    ]
    validated = validate_pairs(pairs, counting)

    assert len(counting.ran) == 3  # literals are kept: Germany and France run separately
    counts = [p.validation.preview[0][0] for p in validated if p.validation is not None]
    assert len(counts) == 5
    assert counts[0] == counts[1] == counts[2]
    assert counts[3] != counts[4]
    assert counts[3] + counts[4] < counts[0]


async def test_on_done_is_called_once_per_pair(demo_executor: ChDBExecutor) -> None:
    pairs = [
        pair("A?", "SELECT count() FROM ecommerce.users"),
        QAPair(rejected="bad JSON"),
        pair("B?", "SELECT count() FROM ecommerce.users "),
        pair("C?", "SELECT max(age) FROM ecommerce.users"),
    ]
    seen: dict[int, QAPair] = {}

    def on_done(index: int, done: QAPair) -> None:
        assert index not in seen
        seen[index] = done

    validated = await avalidate_pairs(pairs, demo_executor, on_done=on_done)

    assert sorted(seen) == [0, 1, 2, 3]
    assert [seen[i] for i in range(4)] == validated
    assert seen[1] is pairs[1]
    assert all(seen[i].validation is not None for i in (0, 2, 3))


async def test_concurrency_bounds_queries_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def slow(sql: str) -> QueryResult:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return QueryResult(sql=sql, columns=["x"], rows=[[1]])

    executor = FunctionExecutor(slow, concurrency=8)
    pairs = [pair(f"Q{i}?", f"SELECT {i}") for i in range(10)]

    validated = await avalidate_pairs(pairs, executor, concurrency=2)
    assert peak == 2
    assert all(
        p.validation is not None and p.validation.status is OutcomeStatus.OK for p in validated
    )

    peak = 0
    await avalidate_pairs(pairs, executor)  # default: the executor's own limit
    assert peak == 8

    with pytest.raises(ValueError, match="concurrency"):
        await avalidate_pairs(pairs, executor, concurrency=0)


def test_sync_twin_refuses_a_running_loop(demo_executor: ChDBExecutor) -> None:
    async def inside() -> None:
        validate_pairs([pair("A?", "SELECT 1")], demo_executor)

    with pytest.raises(RuntimeError, match="async twin"):
        asyncio.run(inside())


# SQL normalisation: (a, b, same?) as data.
NORMALISATION_CASES = [
    ("SELECT count() FROM ecommerce.users", "select  count()\n\tfrom ecommerce.users", True),
    ("SELECT count() FROM t -- c", "/* c */ SELECT count() FROM t;", True),
    ("SELECT COUNT(*) FROM t", "select count(*) from t", True),
    ("SELECT x FROM t FORMAT TabSeparatedWithNames", "SELECT x FROM t", True),
    ("SELECT `os` FROM t", 'SELECT "os" FROM t', True),
    ("SELECT os FROM t", "SELECT `os` FROM t", True),
    ("SELECT 1 WHERE a <> 2", "SELECT 1 WHERE a != 2", True),
    ("SELECT 'it''s'", "SELECT 'it\\'s'", True),
    ("SELECT x FROM t GROUP  BY x", "SELECT x FROM t group\nby x", True),
    ("SELECT today() - INTERVAL 7 DAY", "select today() - interval 7 day", True),
    ("SELECT 1 FROM t WHERE os = 'iOS'", "SELECT 1 FROM t WHERE os = 'Android'", False),
    ("SELECT 1 FROM t WHERE os = 'iOS'", "SELECT 1 FROM t WHERE os = 'ios'", False),
    ("SELECT 1 LIMIT 10", "SELECT 1 LIMIT 100", False),
    ("SELECT Os FROM t", "SELECT os FROM t", False),  # ClickHouse identifiers are case-sensitive
    ("SELECT uniqExact(x) FROM t", "SELECT UNIQEXACT(x) FROM t", False),  # so is uniqExact
    ("SELECT x::String", "SELECT x::STRING", False),  # and type names
    ("SELECT 1.0", "SELECT 1", False),
]


@pytest.mark.parametrize(("a", "b", "same"), NORMALISATION_CASES)
def test_normalize_sql(a: str, b: str, same: bool) -> None:
    assert (normalize_sql(a) == normalize_sql(b)) is same


def test_normalize_sql_falls_back_to_collapsed_whitespace() -> None:
    assert normalize_sql("SELECT 'unterminated\n   FROM t") == "SELECT 'unterminated FROM t"
    assert profile_sql("SELECT 'unterminated").parsed is False


@pytest.mark.parametrize(
    "call",
    ["count()", "sum(1)", "avg(2)", "min(3)", "max(4)", "if(1, 2, 3)", "lower('A')", "round(1.5)"],
)
def test_functions_folded_to_lower_case_are_case_insensitive_in_clickhouse(
    demo_executor: ChDBExecutor, call: str
) -> None:
    name = call.split("(")[0]
    assert name in CASE_INSENSITIVE_FUNCTIONS
    shouted = name.upper() + call[len(name) :]
    assert normalize_sql(f"SELECT {call}") == normalize_sql(f"SELECT {shouted}")
    assert demo_executor.execute(f"SELECT {call}").rows == (
        demo_executor.execute(f"SELECT {shouted}").rows
    )


def test_statement_tokens_are_sqlglots_clickhouse_tokens() -> None:
    generated = TemplateQAGenerator(demo_schema(), seed=3).generate(150)
    corpus = [p.sql for p in load_seed_examples()] + [c.sql for c in load_golden_set()]
    corpus += [p.sql for p in generated if p.ok]
    corpus += [sql for a, b, _ in NORMALISATION_CASES for sql in (a, b)]
    corpus += [
        "SELECT a.x FROM db.t AS a LEFT JOIN db.u b ON a.id = b.id ARRAY JOIN arr AS el",
        "WITH c AS (SELECT 1) SELECT * FROM (SELECT 2) UNION ALL SELECT sum(x) OVER (PARTITION "
        "BY y) FROM c SETTINGS max_threads = 1",
        "SELECT arrayMap(x -> x * 2, [1, 2]), {p:UInt8}, x || 'a', a <=> b, 1e5, 1E+5, 5.",
        "SELECT x # hash comment\n FROM t #! shebang\n WHERE y >= 1 AND NOT z",
        "SELECT 0x1F, 1_000, x.1, 'é' || é, $$x$$, `a\\`b` FROM t /* a /* b */ */",
    ]
    for sql in corpus:
        expected = ClickHouse().tokenize(sql)
        tokens = statement_tokens(sql)
        kept = len(tokens.kinds)
        assert tokens.kinds == tuple(t.token_type for t in expected[:kept]), sql
        assert tokens.texts == tuple(t.text for t in expected[:kept]), sql
        assert " ".join(t.text for t in expected[kept:]) in ("", ";", "FORMAT " + sql.split()[-1])


def test_statement_tokens_drop_the_trailing_semicolon_and_format_clause() -> None:
    tokens = statement_tokens("SELECT 1 FORMAT JSONEachRow;;")
    assert tokens.texts == ("SELECT", "1")
    assert statement_tokens("SELECT 1", dialect="duckdb").texts == ("SELECT", "1")
    with pytest.raises(TokenError):
        statement_tokens("SELECT 'open")


def test_tokenize_is_safe_from_several_threads() -> None:
    queries = [c.sql for c in load_golden_set()]
    expected = [[t.text for t in tokenize(sql)] for sql in queries]

    def texts(sql: str) -> list[str]:
        return [t.text for t in tokenize(sql)]

    with ThreadPoolExecutor(4) as pool:
        for _ in range(20):
            assert list(pool.map(texts, queries)) == expected


def test_profile_facts() -> None:
    profile = profile_sql(
        "WITH top AS (SELECT user_id FROM ecommerce.sessions GROUP BY user_id "
        "ORDER BY sum(revenue) DESC LIMIT 10) "
        "SELECT u.country, uniqExactIf(s.user_id, s.is_fraud = 1) AS fraudsters, "
        "count() OVER (PARTITION BY u.country) AS w "
        "FROM ecommerce.sessions AS s JOIN ecommerce.users AS u ON s.user_id = u.user_id "
        "WHERE s.user_id IN (SELECT user_id FROM top) AND toStartOfMonth(s.action_date) = "
        "'2024-01-01' GROUP BY u.country WITH TOTALS"
    )
    assert profile.tables == ("ecommerce.sessions", "ecommerce.users")
    assert set(profile.columns) == {"user_id", "revenue", "country", "is_fraud", "action_date"}
    assert profile.features == {
        "cte", "group_by", "order_by", "limit", "aggregate", "window", "join", "where",
        "subquery", "date_function",
    }  # fmt: skip
    assert profile.aggregates == ("count", "sum", "uniq")
