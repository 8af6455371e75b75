"""Leakage by meaning: rewritten evaluation queries are dropped, template neighbours are kept.

Every check runs in both directions: the evaluation case against the training pair, and the
training pair (as an evaluation case) against the evaluation case (as a training pair).
"""

from __future__ import annotations

import pytest

from text2sql_tune import EvalCase, QAPair
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.filters import FilterChain, LeakageFilter, default_filters, validate_pairs

G08 = EvalCase(
    id="g08",
    question="Which country brought the highest total revenue in 2025?",
    sql="select u.country as country, sum(s.revenue) as revenue from ecommerce.sessions as s "
    "inner join ecommerce.users as u on s.user_id = u.user_id "
    "where toStartOfYear(s.action_date) = '2025-01-01' group by country "
    "order by revenue desc limit 1",
)
G01 = EvalCase(
    id="g01",
    question="How many distinct customers bought something in March 2024?",
    sql="select uniqExact(user_id) as customers from ecommerce.sessions "
    "where (toStartOfMonth(action_date) = '2024-03-01') and (revenue > 0)",
)
TOP_OS = EvalCase(
    id="top-os",
    question="Which operating system had the highest revenue in 2024?",
    sql="select os from ecommerce.sessions where toStartOfYear(action_date) = '2024-01-01' "
    "group by os order by sum(revenue) desc limit 1",
)

# The same query in other spelling: another alias, operands in another order, JOIN for INNER
# JOIN, count() for uniqExact's alias, FORMAT. Whatever the question says, it leaks.
SPELLED_OTHERWISE = [
    (
        G08,
        QAPair(
            question="Which country had the highest total revenue in 2025?",
            sql="select u.country as country, sum(s.revenue) as total_revenue "
            "from ecommerce.sessions as s inner join ecommerce.users as u "
            "on s.user_id = u.user_id where toStartOfYear(s.action_date) = '2025-01-01' "
            "group by country order by total_revenue desc limit 1",
        ),
    ),
    (
        G01,
        QAPair(
            question="Count the buyers of March 2024.",
            sql="SELECT uniqExact(user_id) FROM ecommerce.sessions WHERE revenue > 0 "
            "AND '2024-03-01' = toStartOfMonth(action_date) FORMAT JSON",
        ),
    ),
]

# Another query with the same result, for a paraphrased question: it leaks the answer.
SAME_RESULT = [
    (
        G01,
        QAPair(
            question="How many unique users made a purchase in March 2024?",
            sql="select count(distinct user_id) from ecommerce.sessions where revenue > 0 and "
            "action_date >= '2024-03-01' and action_date < '2024-04-01'",
        ),
    ),
]

# Template neighbours: another month, another country, another measure. Kept.
NEIGHBOURS = [
    (
        G01,
        QAPair(
            question="How many distinct customers bought something in April 2024?",
            sql="select uniqExact(user_id) as customers from ecommerce.sessions "
            "where (toStartOfMonth(action_date) = '2024-04-01') and (revenue > 0)",
        ),
    ),
    (
        G08,
        QAPair(
            question="Which country brought the highest total revenue in 2024?",
            sql="select u.country as country, sum(s.revenue) as revenue "
            "from ecommerce.sessions as s inner join ecommerce.users as u "
            "on s.user_id = u.user_id where toStartOfYear(s.action_date) = '2024-01-01' "
            "group by country order by revenue desc limit 1",
        ),
    ),
    (
        G08,
        QAPair(
            question="Which country had the most sessions in 2025?",
            sql="select u.country as country, count() as sessions from ecommerce.sessions as s "
            "inner join ecommerce.users as u on s.user_id = u.user_id "
            "where toStartOfYear(s.action_date) = '2025-01-01' group by country "
            "order by sessions desc limit 1",
        ),
    ),
    (
        TOP_OS,  # the same answer ("Windows") to another question: not a leak
        QAPair(
            question="Which operating system had the most sessions in 2024?",
            sql="select os from ecommerce.sessions where toStartOfYear(action_date) = "
            "'2024-01-01' group by os order by count() desc limit 1",
        ),
    ),
]


def both_ways(case: EvalCase, pair: QAPair) -> list[tuple[EvalCase, QAPair]]:
    """The pair against the case, and the case (as a pair) against the pair (as a case)."""
    swapped_case = EvalCase(id="swapped", question=pair.question, sql=pair.sql)
    return [(case, pair), (swapped_case, QAPair(question=case.question, sql=case.sql))]


def decide(case: EvalCase, pair: QAPair, executor: ChDBExecutor | None) -> tuple[str, str]:
    (decision,) = LeakageFilter([case], executor=executor).decide([pair])
    return decision.reason or "kept", decision.detail or ""


@pytest.mark.parametrize(("case", "pair"), SPELLED_OTHERWISE, ids=["alias", "reordered"])
def test_the_same_query_in_other_spelling_is_dropped_without_a_database(
    case: EvalCase, pair: QAPair
) -> None:
    for golden, training in both_ways(case, pair):
        reason, detail = decide(golden, training, None)
        assert reason == "leaks_eval_sql_equivalent"
        assert golden.id in detail and golden.question in detail


@pytest.mark.parametrize(("case", "pair"), SAME_RESULT, ids=["count-distinct"])
def test_a_paraphrase_with_the_same_result_is_dropped(
    case: EvalCase, pair: QAPair, demo_executor: ChDBExecutor
) -> None:
    for golden, training in both_ways(case, pair):
        assert decide(golden, training, None)[0] == "kept"  # no text check can tell
        reason, detail = decide(golden, training, demo_executor)
        assert reason == "leaks_eval_result"
        assert f"golden case {golden.id}" in detail


@pytest.mark.parametrize(
    ("case", "pair"), NEIGHBOURS, ids=["month", "year", "measure", "same-answer"]
)
def test_template_neighbours_are_kept(
    case: EvalCase, pair: QAPair, demo_executor: ChDBExecutor
) -> None:
    for golden, training in both_ways(case, pair):
        assert decide(golden, training, demo_executor) == ("kept", "")


def test_the_same_answer_case_really_has_the_same_result(demo_executor: ChDBExecutor) -> None:
    # What makes the last neighbour a fair test: only the question tells the two apart.
    _, pair = NEIGHBOURS[-1]
    assert demo_executor.execute(TOP_OS.sql).rows == demo_executor.execute(pair.sql).rows


def test_results_are_run_once_and_only_for_paraphrases(demo_executor: ChDBExecutor) -> None:
    ran: list[str] = []

    class Counting(ChDBExecutor):
        async def aexecute(self, sql: str, **kwargs: object) -> object:  # type: ignore[override]
            ran.append(sql)
            return await demo_executor.aexecute(sql)

    counting = Counting(demo_executor.path)
    leakage = LeakageFilter([G01, G08], executor=counting)
    unrelated = QAPair(question="How old is the average customer?", sql="select avg(age) from u")
    _, pair = SAME_RESULT[0]
    first = leakage.decide([unrelated, pair])
    again = leakage.decide([pair])
    counting.close()
    assert [d.reason for d in first] == [None, "leaks_eval_result"]
    assert again[0].reason == "leaks_eval_result"
    assert "select avg(age) from u" not in ran  # no paraphrase of an evaluation question
    assert sorted(ran) == sorted({G01.sql, pair.sql})  # each query once, only those compared


def test_the_default_chain_compares_results_on_the_given_database(
    demo_executor: ChDBExecutor,
) -> None:
    _, pair = SAME_RESULT[0]
    pairs = validate_pairs([pair], demo_executor)
    kept, report = FilterChain(default_filters(eval_cases=[G01], executor=demo_executor)).apply(
        pairs
    )
    assert kept == [] and report.by_reason == {"leaks_eval_result": 1}
    kept, report = FilterChain(default_filters(eval_cases=[G01])).apply(pairs)
    assert len(kept) == 1  # without a database the result check does not run
