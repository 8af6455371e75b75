"""The execution judge on the harder labelled set (issue 21), and the rules and suite behind it.

The cases run on the small ``judgelab`` database that ``tests/data/judge_cases_hard.yaml`` builds;
each label is checked by running both queries through the judge, with test-suite checking on.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from text2sql_tune import ConfigurationError, JudgeInput, SQLExecutor, Verdict
from text2sql_tune.evaluate.judges import (
    ExecutionMatchJudge,
    MatchRules,
    TestSuite,
    compare_results,
)
from text2sql_tune.evaluate.judges.labels import contradiction
from text2sql_tune.evaluate.judges.question import read_question
from text2sql_tune.evaluate.judges.suite.mutants import constants, mutants
from text2sql_tune.evaluate.judges.suite.retarget import retarget
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.records import QueryResult

HARD: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "data" / "judge_cases_hard.yaml").read_text(encoding="utf-8")
)
CASES: list[dict[str, Any]] = HARD["cases"]
LABEL = {True: "correct", False: "wrong", None: "undecided"}


@pytest.fixture(scope="session")
def lab(chdb_executor: ChDBExecutor) -> ChDBExecutor:
    """The chDB executor with the ``judgelab`` database built."""
    for statement in HARD["setup"]:
        chdb_executor.execute_admin(statement)
    return chdb_executor


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory) -> TestSuite:
    """One test suite for the session, so references share their copies."""
    return TestSuite(cache_path=tmp_path_factory.mktemp("suite") / "suites.jsonl")


def _input(case: dict[str, Any]) -> JudgeInput:
    return JudgeInput(
        question=case["question"], reference_sql=case["reference"], predicted_sql=case["predicted"]
    )


async def _judge(case: dict[str, Any], executor: SQLExecutor, suite: TestSuite | bool) -> Verdict:
    rules = MatchRules(**case.get("rules", {}))
    return await ExecutionMatchJudge(executor, rules, test_suite=suite).ajudge(_input(case))


def test_the_set_is_big_and_covers_each_class_both_ways() -> None:
    assert len(CASES) >= 80
    assert len({c["id"] for c in CASES}) == len(CASES)
    verdicts: dict[str, set[str]] = {}
    for case in CASES:
        verdicts.setdefault(case["class"], set()).add(case["expected"])
    one_way = {"coincidence": {"wrong"}, "equivalent": {"correct"}}
    for name, seen in verdicts.items():
        assert seen >= one_way.get(name, {"correct", "wrong"}), name
    assert Counter(c["expected"] for c in CASES)["wrong"] >= 40


async def test_every_query_runs_on_the_lab_database(lab: ChDBExecutor) -> None:
    for case in CASES:
        reference = await lab.atry_execute(case["reference"], min_rows=0)
        assert reference.executed, (case["id"], reference.error)
        predicted = await lab.atry_execute(case["predicted"], min_rows=0)
        assert predicted.executed is case.get("runs", True), (case["id"], predicted.error)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_hard_case(case: dict[str, Any], lab: ChDBExecutor, suite: TestSuite) -> None:
    verdict = await _judge(case, lab, suite)
    assert LABEL[verdict.correct] == case["expected"], verdict.reason
    assert verdict.reason


COINCIDENCES = [c for c in CASES if c.get("coincidence")]


@pytest.mark.parametrize("case", COINCIDENCES, ids=[c["id"] for c in COINCIDENCES])
async def test_a_coincidence_matches_on_the_database_and_breaks_on_a_copy(
    case: dict[str, Any], lab: ChDBExecutor, suite: TestSuite
) -> None:
    plain = await _judge(case, lab, False)
    assert plain.correct is True, plain.reason
    checked = await _judge(case, lab, suite)
    assert checked.correct is False
    assert "test-suite copy" in checked.reason
    broken = checked.details["test_suite"]["broken"]
    assert broken["reason"] and broken["rows"]
    assert broken["reference_rows"] != broken["predicted_rows"] or broken["reason"]
    assert 1 <= broken["copy"] <= checked.details["test_suite"]["copies"]


# --- the Python API runs a prediction as written -------------------------------------------------


async def test_a_prediction_the_guard_refuses_is_wrong_even_if_its_rewrite_runs(
    lab: ChDBExecutor,
) -> None:
    judge = ExecutionMatchJudge(lab, test_suite=False)
    verdict = await judge.ajudge(
        JudgeInput(
            question="How many customers placed an order?",
            reference_sql="SELECT uniqExact(customer) FROM judgelab.orders",
            predicted_sql="SELECT uniqTheta(customer) FROM judgelab.orders",
        )
    )
    assert verdict.correct is False
    assert "predicted query failed" in verdict.reason
    assert "uniqTheta" in verdict.reason


# --- test-suite checking ------------------------------------------------------------------------


async def test_a_correct_prediction_records_the_copies_it_matched(
    lab: ChDBExecutor, suite: TestSuite
) -> None:
    verdict = await ExecutionMatchJudge(lab, test_suite=suite).ajudge(
        JudgeInput(
            question="How many orders were placed in 2024?",
            reference_sql="SELECT count() FROM judgelab.orders WHERE toYear(placed) = 2024",
            predicted_sql="SELECT count() FROM judgelab.orders WHERE toStartOfYear(placed) = "
            "'2024-01-01'",
        )
    )
    assert verdict.correct is True
    report = verdict.details["test_suite"]
    assert report["copies"] == 4
    assert report["matched"] + len(report.get("skipped", [])) == 4


async def test_the_suite_is_on_by_default_for_chdb_only(lab: ChDBExecutor) -> None:
    assert isinstance(ExecutionMatchJudge(lab).test_suite, TestSuite)
    assert ExecutionMatchJudge(lab, test_suite=False).test_suite is None
    assert ExecutionMatchJudge(_ServerLike(lab)).test_suite is None
    with pytest.raises(ConfigurationError, match="admin"):
        ExecutionMatchJudge(_ServerLike(lab), test_suite=True)


async def test_opt_in_on_a_server_with_an_admin_connection(lab: ChDBExecutor) -> None:
    case = next(c for c in CASES if c["id"] == "unit-minutes-as-seconds")
    server = _ServerLike(lab)
    assert (await _judge(case, server, False)).correct is True
    opted_in = TestSuite(admin=lab.aexecute_admin, cache_path=None)
    assert (await _judge(case, server, opted_in)).correct is False


async def test_copies_never_read_the_real_data_nor_loosen_the_guard(
    lab: ChDBExecutor, suite: TestSuite
) -> None:
    await lab.aexecute_admin("CREATE DATABASE IF NOT EXISTS judgeother")
    await lab.aexecute_admin("CREATE TABLE IF NOT EXISTS judgeother.one (x UInt8) ENGINE = Memory")
    await lab.aexecute_admin("INSERT INTO judgeother.one VALUES (1)")
    guard = lab.guard
    # judgeother is not copied: on a copy the prediction still names the real table, which the
    # copies' guard refuses, so each copy is skipped rather than reading the real data.
    verdict = await ExecutionMatchJudge(lab, test_suite=suite).ajudge(
        JudgeInput(
            question="How many customers are there?",
            reference_sql="SELECT count() FROM judgelab.customers",
            predicted_sql="SELECT count() FROM judgelab.customers "
            "WHERE 1 IN (SELECT x FROM judgeother.one)",
        )
    )
    assert verdict.correct is True
    report = verdict.details["test_suite"]
    assert report["matched"] == 0
    assert report["skipped"] == [f"copy {i}: the prediction fails there" for i in range(1, 5)]
    assert lab.guard is guard
    refused = await lab.atry_execute("SELECT * FROM file('/etc/passwd')")
    assert refused.status.value == "unsafe"


async def test_the_choice_of_copies_is_cached_on_disk(lab: ChDBExecutor, tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == "comparison-strict-amount")
    first = TestSuite(cache_path=tmp_path / "suites.jsonl")
    assert (await _judge(case, lab, first)).correct is False
    lines = [json.loads(line) for line in (tmp_path / "suites.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and len(lines[0]["copies"]) == 4

    second = TestSuite(cache_path=tmp_path / "suites.jsonl")
    verdict = await _judge(case, lab, second)
    assert verdict.correct is False
    assert verdict.details["test_suite"]["broken"]["candidate"] in lines[0]["copies"]
    assert len((tmp_path / "suites.jsonl").read_text().splitlines()) == 1  # chosen from cache


def test_one_suite_serves_several_event_loops(lab: ChDBExecutor) -> None:
    case = next(c for c in CASES if c["id"] == "comparison-strict-date")
    judge = ExecutionMatchJudge(lab, test_suite=TestSuite(cache_path=None))

    async def at_once() -> list[Verdict]:
        return list(await asyncio.gather(*(judge.ajudge(_input(case)) for _ in range(3))))

    verdicts = asyncio.run(at_once()) + asyncio.run(at_once()) + [judge.judge(_input(case))]
    assert [v.correct for v in verdicts] == [False] * 7


def test_suite_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        TestSuite(copies=5, candidates=4)
    with pytest.raises(ValueError):
        TestSuite(rows=(10, 2))


class _ServerLike(SQLExecutor):
    """An executor without an admin connection, like a ClickHouse server's."""

    def __init__(self, inner: ChDBExecutor) -> None:
        super().__init__()
        self.inner = inner

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        return await self.inner._aexecute_checked(sql)


# --- the parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "top_rows", "asks"),
    [
        ("List the orders, newest first.", False, True),
        ("Show customers by spend from highest to lowest.", False, True),
        ("List orders in descending order of amount.", False, True),
        ("Customers with their latest order, latest first.", False, True),
        ("List the customers alphabetically.", False, True),
        ("What is the highest order amount for each country?", False, False),
        ("What is the highest order amount for each country?", True, True),
        ("How many orders per country?", False, False),
        ("How many sessions in the last 7 days per day?", False, False),
        ("Show the first 5 sessions.", False, True),
        ("How many items are there in each order?", False, False),
        ("What was the largest order placed by ann?", False, False),
    ],
)
def test_order_words(question: str, top_rows: bool, asks: bool) -> None:
    assert read_question(question).asks_for_order(top_rows=top_rows) is asks


@pytest.mark.parametrize(
    ("question", "decimals", "unit", "quantity"),
    [
        ("Average amount, to two decimal places?", 2, None, False),
        ("Average amount rounded to 1 decimal", 1, None, False),
        ("Average amount to the nearest whole number", 0, None, False),
        ("What percentage of orders were gifts?", None, "percent", False),
        ("What fraction of orders were gifts?", None, "fraction", False),
        ("Which customer spent the most, and how much?", None, None, True),
        ("Which customer spent the most?", None, None, False),
        ("Which customer has the highest total revenue?", None, None, False),
        ("Which country has the most users, with their number of sessions?", None, None, True),
    ],
)
def test_question_reading(
    question: str, decimals: int | None, unit: str | None, quantity: bool
) -> None:
    reading = read_question(question)
    assert (reading.decimals, reading.unit, reading.asks_quantity) == (decimals, unit, quantity)


def test_labels_contradicting_values() -> None:
    assert contradiction(["orders", "revenue"], ["revenue", "orders"], [0, 1])
    assert contradiction(["count()", "sum(amount)"], ["amount", "n"], [0, 1])
    assert contradiction(["orders", "revenue"], ["n", "total"], [0, 1]) is None
    assert contradiction(["avg_amount", "total"], ["amount", "sum_total"], [0, 1]) is None
    assert contradiction(["sessions"], ["sum(revenue)"], [0]) is None


def _result(columns: list[str], rows: list[list[Any]], sql: str = "") -> QueryResult:
    return QueryResult(sql=sql, columns=columns, rows=rows)


@pytest.mark.parametrize(
    ("question", "reference", "predicted", "equal"),
    [
        ("per month", [["2024-01-01", 3]], [[202401, 3]], True),
        ("per day", [["2024-01-01", 3]], [[202401, 3]], False),
        (
            "How many gift and regular orders?",
            [["gift", 6], ["regular", 16]],
            [[1, 6], [0, 16]],
            True,
        ),
        ("How many orders per type?", [["gift", 6], ["regular", 16]], [[1, 6], [0, 16]], False),
        ("What share were gifts?", [[0.25]], [["25.0%"]], True),
        ("What fraction were gifts?", [[0.25]], [["25.0%"]], False),
        ("Total amount?", [[1234.5]], [["$1,234.50"]], True),
    ],
)
def test_encodings(question: str, reference: Any, predicted: Any, equal: bool) -> None:
    width = len(reference[0])
    names = ["a", "b"][:width]
    verdict = compare_results(
        _result(names, reference), _result(["x", "y"][:width], predicted), question=question
    )
    assert verdict.equal is equal, verdict.reason


def test_null_equals_an_outer_joins_default_only() -> None:
    ref = QueryResult(
        sql="q", columns=["c", "d"], types=["String", "Nullable(Date)"], rows=[["a", None]]
    )
    outer = "SELECT c, max(d) FROM t LEFT JOIN u ON t.c = u.c GROUP BY c"
    pred = QueryResult(
        sql=outer, columns=["c", "d"], types=["String", "Date"], rows=[["a", "1970-01-01"]]
    )
    assert compare_results(ref, pred, question="last date or none").equal is True
    inner = pred.model_copy(update={"sql": outer.replace("LEFT", "INNER")})
    assert compare_results(ref, inner, question="last date or none").equal is False


def test_constants_and_mutants_of_a_reference() -> None:
    sql = "SELECT count() FROM t WHERE d >= '2024-03-01' AND n > 120 AND s = 'x'"
    found = constants(sql)
    assert found.numbers == {120.0}
    assert [d.isoformat() for d in found.dates] == ["2024-03-01"]
    near = mutants(sql, additions=[("flag", 1)])
    assert "SELECT count() FROM t WHERE d >= '2024-03-01' AND n > 120" in near  # dropped
    assert any("n >= 120" in m for m in near)  # flipped
    assert any("n > 2 " in m or m.endswith("n > 2") or "n > 2 AND" in m for m in near)  # unit
    assert any("'2024-02-29'" in m for m in near)  # a day earlier
    assert any("flag = 1" in m for m in near)  # added
    assert sql not in near


def test_retarget_points_tables_at_their_copies() -> None:
    copies = {("shop", "orders"): "c1_orders", ("default", "t"): "c1_t"}
    sql = "SELECT orders.id FROM shop.orders WHERE x IN (SELECT x FROM t AS u)"
    assert retarget(sql, copies, "scratch", "default") == (
        "SELECT orders.id FROM `scratch`.`c1_orders` AS `orders` "
        "WHERE x IN (SELECT x FROM `scratch`.`c1_t` AS u)"
    )
    cte = "WITH t AS (SELECT 1 AS x) SELECT x FROM t"
    assert retarget(cte, copies, "scratch", "default") == cte
    qualified = "SELECT shop.orders.id FROM shop.orders"
    assert retarget(qualified, copies, "scratch", "default") == (
        "SELECT orders.id FROM `scratch`.`c1_orders` AS `orders`"
    )


def test_schema_introspection_leaves_the_scratch_database_out() -> None:
    from text2sql_tune.sql.dialects import Dialect

    assert TestSuite(cache_path=None).scratch_database in Dialect.get("clickhouse").system_schemas
