"""Concept coverage and consistency analysis: SQL concepts, gaps, inconsistencies, targets."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from text2sql_tune import (
    DataError,
    EvalCase,
    EvalReport,
    EvalResult,
    QAPair,
    load_golden_set,
    load_seed_examples,
)
from text2sql_tune.analysis import Analysis, analyze, question_terms, sql_concepts
from text2sql_tune.evaluate.evaluator import summarize

DATA = Path(__file__).parent / "data"
SQL_CASES: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "sql_concepts.yaml").read_text(encoding="utf-8")
)["cases"]
SCENARIOS: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "inconsistent_pairs.yaml").read_text(encoding="utf-8")
)["scenarios"]
BY_NAME = {case["name"]: case for case in SQL_CASES}


# -- what one statement uses ----------------------------------------------------------------------


@pytest.mark.parametrize("case", SQL_CASES, ids=[c["name"] for c in SQL_CASES])
def test_sql_concepts_read_from_the_fixture(case: dict[str, Any]) -> None:
    found = sql_concepts(case["sql"])
    assert found.parsed
    for field in ("filters", "periods", "groups", "measures"):
        if field in case:
            assert list(getattr(found, field)) == case[field], field
    assert set(case.get("features_include", ())) <= found.features
    if "definition_equals" in case:
        other = sql_concepts(BY_NAME[case["definition_equals"]]["sql"])
        assert found.definition == other.definition
    # every part is also a concept key
    for value in found.filters:
        assert f"filter:{value}" in found.concepts
    for value in found.periods:
        assert f"period:{value}" in found.concepts


def test_different_computations_have_different_definitions() -> None:
    sessions = sql_concepts(BY_NAME["fraud rate over sessions"]["sql"])
    customers = sql_concepts(BY_NAME["fraud rate over customers"]["sql"])
    assert sessions.definition != customers.definition
    assert sessions.measure_text == "100 * countIf(is_fraud = 1) / count()"


def test_values_never_reach_the_measure_text_or_filters() -> None:
    found = sql_concepts(
        "select 100 * uniqExactIf(user_id, browser = 'Chrome') / uniqExact(user_id) "
        "from ecommerce.sessions where revenue > 1234"
    )
    shown = " ".join([found.measure_text, *found.filters, *found.measures])
    assert "Chrome" not in shown and "1234" not in shown
    assert found.values == ("Chrome",)


def test_text_that_cannot_be_read_has_no_concepts() -> None:
    assert not sql_concepts("select 'unterminated").parsed
    assert sql_concepts("select 'unterminated").concepts == frozenset()
    assert sql_concepts("select broken ((( from").measures == ()


def test_question_terms_mask_values_and_calendar_words() -> None:
    terms = question_terms(
        "What was the fraud rate of Android customers in March 2024, yesterday and on Monday?",
        ["Android"],
    )
    assert {"fraud", "rate", "fraud rate", "customer"} <= terms
    assert not {"android", "march", "2024", "yesterday", "monday"} & terms
    # period words and ordinals say what is asked: they stay
    assert {"first", "session", "month"} <= question_terms(
        "How many days between the first session and each month?"
    )


# -- gaps -----------------------------------------------------------------------------------------

GOLDEN = [
    EvalCase(
        id="paying",
        question="How many paying customers were there in 2024?",
        sql="select uniqExactIf(user_id, revenue > 0) from ecommerce.sessions "
        "where toStartOfYear(action_date) = '2024-01-01'",
    ),
    EvalCase(
        id="sessions",
        question="How many sessions were there in May 2023?",
        sql="select count() from ecommerce.sessions "
        "where toStartOfMonth(action_date) = '2023-05-01'",
    ),
]
TRAINING = [
    QAPair(
        question=f"How many sessions were there in {month} 2022?",
        sql="select count() from ecommerce.sessions "
        f"where toStartOfMonth(action_date) = '2022-{number:02d}-01'",
    )
    for number, month in enumerate(["January", "February", "March"], start=1)
] + [
    QAPair(
        question="How many customers made a purchase in 2021?",
        sql="select uniqExact(user_id) from ecommerce.sessions "
        "where (revenue > 0) and (toStartOfYear(action_date) = '2021-01-01')",
    ),
    QAPair(question="broken", sql="", rejected="the model answered without SQL"),
]


def report_for(cases: list[EvalCase], correct: dict[str, bool | None]) -> EvalReport:
    results = [
        EvalResult(
            question=case.question,
            reference_sql=case.sql,
            predicted_sql="select 1",
            valid=True,
            correct=correct[case.id or ""],
            category="correct" if correct[case.id or ""] else "wrong_result",
            reason="test",
        )
        for case in cases
    ]
    return EvalReport(summary=summarize(results), results=results, model="fake")


def test_gaps_list_missing_and_rare_concepts_with_their_cases() -> None:
    result = analyze(GOLDEN, TRAINING, min_examples=2)
    gaps = {gap.concept: gap for gap in result.gaps}
    assert gaps["function:uniqExactIf"].status == "missing"
    assert gaps["function:uniqExactIf"].golden_cases == ["paying"]
    rare = gaps["filter:revenue > 0"]
    assert (rare.status, rare.training_count) == ("rare", 1)
    assert rare.examples == ["How many customers made a purchase in 2021?"]
    assert "period:month" not in gaps  # three training pairs filter on a month
    assert result.summary.training_pairs == 4  # the rejected record is not training data
    assert result.summary.golden_cases == 2 and not result.summary.evaluated
    assert result.summary.missing + result.summary.rare + result.summary.covered == (
        result.summary.golden_concepts
    )


def test_min_examples_moves_concepts_between_covered_and_rare() -> None:
    strict = analyze(GOLDEN, TRAINING, min_examples=4)
    loose = analyze(GOLDEN, TRAINING, min_examples=1)
    assert strict.summary.covered < loose.summary.covered
    assert "period:month" in {g.concept for g in strict.gaps}
    assert all(g.status == "missing" for g in loose.gaps)
    with pytest.raises(ValueError, match="min_examples"):
        analyze(GOLDEN, TRAINING, min_examples=0)


def test_a_report_puts_failing_cases_and_their_gaps_first() -> None:
    golden = [
        *GOLDEN,
        EvalCase(
            id="median",
            question="What is the median session duration?",
            sql="select median(session_duration) from ecommerce.sessions",
        ),
    ]
    unweighted = analyze(golden, TRAINING)
    report = report_for(golden, {"paying": True, "sessions": True, "median": False})
    weighted = analyze(golden, TRAINING, report=report)
    assert weighted.summary.evaluated and weighted.summary.failing_cases == 1
    assert weighted.cases[0].case == "median" and weighted.cases[0].verdict == "wrong"
    first = next(g for g in weighted.gaps if g.kind != "term")
    assert first.failing_cases == ["median"]
    before = {g.concept: g.priority for g in unweighted.gaps}
    after = {g.concept: g.priority for g in weighted.gaps}
    assert after["function:median"] > before["function:median"]
    assert after["function:uniqExactIf"] < before["function:uniqExactIf"]  # a correct case


def test_cases_match_the_report_by_question_and_undecided_counts_as_failing() -> None:
    report = report_for(GOLDEN, {"paying": None, "sessions": True})
    result = analyze(list(reversed(GOLDEN)), TRAINING, report=report)
    verdicts = {case.case: case.verdict for case in result.cases}
    assert verdicts == {"paying": "undecided", "sessions": "correct"}
    assert result.cases[0].failing


# -- inconsistencies ------------------------------------------------------------------------------


def pairs_of(rows: list[list[str]]) -> list[QAPair]:
    return [QAPair(question=q, sql=s) for q, s in rows]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_inconsistencies_from_the_fixture(scenario: dict[str, Any]) -> None:
    golden = [EvalCase(question=q, sql=s) for q, s in scenario.get("golden", [])]
    result = analyze(golden, pairs_of(scenario["training"]))
    found = [
        {
            "term": i.term,
            "axis": i.axis,
            "counts": [v.count for v in i.variants],
            "chosen_by": i.chosen_by,
        }
        for i in result.inconsistencies
    ]
    assert found == scenario["expect"]
    assert result.summary.inconsistencies == len(scenario["expect"])


def test_an_inconsistency_names_its_variants_and_what_to_do() -> None:
    scenario = SCENARIOS[0]
    (found,) = analyze([], pairs_of(scenario["training"])).inconsistencies
    assert found.difference == "sessions vs distinct user_id"
    recommended, other = found.variants
    assert recommended.measure == "100 * countIf(is_fraud = 1) / count()"
    assert other.examples[0].question == "What was the fraud rate for Safari users in 2024?"
    assert found.minority == other.examples
    assert "fraud rate" in found.hint and recommended.measure in found.hint
    assert {"fraud", "rate"} <= set(found.other_terms)


# -- targets --------------------------------------------------------------------------------------


def test_targets_carry_patterns_never_golden_text_or_values() -> None:
    golden = load_golden_set()
    report = report_for(golden, {case.id or "": False for case in golden})
    result = analyze(golden, load_seed_examples()[:5], report=report)
    assert result.targets
    assert all(t.weight > 0 for t in result.targets)
    literals = {v for case in golden for v in re.findall(r"'([^']*)'", case.sql)}
    for target in result.targets:
        text = target.describe() + " ".join(target.concepts)
        for case in golden:
            assert case.question not in text
        for value in literals:
            assert f"'{value}'" not in text and value not in target.pattern.filters
        assert not [c for c in target.concepts if c.startswith("term:")]
    assert [t.weight for t in result.targets] == sorted(
        (t.weight for t in result.targets), reverse=True
    )


def test_an_inconsistency_becomes_a_target_with_its_definition() -> None:
    result = analyze([], pairs_of(SCENARIOS[0]["training"]))
    (target,) = [t for t in result.targets if t.reason == "inconsistent"]
    assert target.term == "fraud rate"
    assert target.definition == "100 * countIf(is_fraud = 1) / count()"
    assert "term:fraud rate" in target.concepts and "function:countIf" in target.concepts
    assert "compute it exactly as: 100 * countIf(is_fraud = 1) / count()" in target.describe()
    tie = analyze([], pairs_of(SCENARIOS[3]["training"]))
    assert tie.inconsistencies and not [t for t in tie.targets if t.reason == "inconsistent"]


def test_max_targets_caps_the_list() -> None:
    golden = load_golden_set()
    assert len(analyze(golden, load_seed_examples()[:3], max_targets=2).targets) == 2


# -- output ---------------------------------------------------------------------------------------


def test_the_analysis_round_trips_through_json(tmp_path: Path) -> None:
    result = analyze(load_golden_set(), load_seed_examples())
    path = result.save(tmp_path / "deep" / "analysis.json")
    assert Analysis.load(path) == result
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match="not a readable analysis"):
        Analysis.load(tmp_path / "bad.json")
    with pytest.raises(DataError):
        Analysis.load(tmp_path / "missing.json")


def test_the_tables_show_the_gaps_and_the_inconsistencies() -> None:
    rows = SCENARIOS[0]["training"]
    result = analyze(GOLDEN, [*TRAINING, *pairs_of(rows)], min_examples=2)
    out = io.StringIO()
    console = Console(file=out, width=200)
    for table in result.tables():
        console.print(table)
    text = out.getvalue()
    assert "function uniqExactIf" in text
    assert "fraud rate" in text and "sessions vs distinct user_id" in text
    assert f"{result.summary.covered} covered" in text


# -- the documentation ----------------------------------------------------------------------------

DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "analysis.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_analysis_page_prints_what_it_shows(capsys: pytest.CaptureFixture[str]) -> None:
    fences = FENCE.findall(DOCS_PAGE.read_text(encoding="utf-8"))
    runnable = [
        (i, code) for i, (lang, info, code) in enumerate(fences)
        if lang == "python" and "excerpt" not in info
    ]  # fmt: skip
    assert len(runnable) == 2
    (_, concepts), (second, fraud) = runnable
    exec(compile(concepts, "analysis.md", "exec"), {})
    shown = [line[2:] for line in concepts.splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines() == shown
    exec(compile(fraud, "analysis.md", "exec"), {})
    lang, _, expected = fences[second + 1]
    assert lang == "text"
    assert capsys.readouterr().out.splitlines() == expected.splitlines()
