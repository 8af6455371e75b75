"""The test set's training overlap, its scored-only report pages, and the honest headline."""

from __future__ import annotations

import json

from text2sql_tune import EvalCase, EvalReport, EvalResult, QAPair
from text2sql_tune.analysis import AnalysisSummary
from text2sql_tune.cli._headline import NO_TEST_NOTE, IterationLine, headline_lines, scored
from text2sql_tune.evaluate.evaluator import summarize
from text2sql_tune.reporting import compare_reports
from text2sql_tune.reporting.overlap import (
    scored_report_html,
    scored_report_markdown,
    training_overlap,
)

TEST = [
    EvalCase(
        id="t1",
        question="Which country had the highest revenue in 2025?",
        sql="select country, sum(revenue) as revenue from s group by country "
        "order by revenue desc limit 1",
    ),
    EvalCase(id="t2", question="How old is the oldest customer?", sql="select max(age) from u"),
]
TRAINING = [
    QAPair(  # the first test query, its alias renamed: a near copy
        question="Which nation generated the most revenue in 2025?",
        sql="select country, sum(revenue) as total from s group by country "
        "order by total desc limit 1",
    ),
    QAPair(question="How many sessions were there in 2024?", sql="select count() from s"),
]


def report_of(verdicts: dict[str, bool]) -> EvalReport:
    results = [
        EvalResult(
            question=q,
            reference_sql="select 1",
            predicted_sql="select 1",
            valid=True,
            correct=v,
            category="correct" if v else "wrong_result",
            reason="-",
        )
        for q, v in verdicts.items()
    ]
    return EvalReport(summary=summarize(results), results=results, model="retrieval")


def test_each_test_case_gets_its_nearest_training_pairs_and_near_copies_are_marked() -> None:
    overlap = training_overlap(TEST, TRAINING)
    first, second = overlap.cases
    assert (first.case, second.case) == ("t1", "t2")
    assert first.by_sql is not None and first.by_sql.sql == TRAINING[0].sql
    assert first.same_query and first.near_copy and first.paraphrase == 1.0
    assert not second.near_copy and not second.same_query
    assert overlap.near_copies == 1 and overlap.training_pairs == 2
    assert "1 of 2 test cases" in overlap.sentence()
    assert training_overlap(TEST, []).cases[0].by_question is None


def test_the_test_report_pages_show_the_score_and_the_overlap_not_the_cases() -> None:
    report = report_of({c.question: i == 0 for i, c in enumerate(TEST)})
    report.metadata["training_overlap"] = training_overlap(TEST, TRAINING).model_dump(mode="json")
    report = EvalReport.model_validate_json(report.model_dump_json())  # as read from report.json
    markdown = scored_report_markdown(report)
    assert "## Training overlap" in markdown and "| t1 ⚠ |" in markdown
    assert "95% interval" in markdown and "## Evidence" not in markdown
    page = scored_report_html(report)
    assert "<h2>Training overlap</h2>" in page and "nearly copies" in page
    assert json.loads(report.model_dump_json())["metadata"]["training_overlap"]["near_copies"] == 1


def summary(covered: int) -> AnalysisSummary:
    return AnalysisSummary(
        golden_cases=10,
        training_pairs=100,
        evaluated=True,
        failing_cases=10,
        golden_concepts=72,
        covered=covered,
        rare=0,
        missing=72 - covered,
        cases_with_gaps=3,
        inconsistencies=0,
    )


def line(iteration: int, dev: int, test: int | None) -> IterationLine:
    return IterationLine(
        iteration=iteration,
        run_dir=f"run{iteration}",
        kept=100,
        new_pairs=50,
        model="retrieval",
        correct=dev,
        total=10,
        test_correct=test,
        test_total=None if test is None else 36,
        coverage=summary(50 + iteration),
    )


def test_the_headline_is_the_test_score_and_says_when_it_did_not_move() -> None:
    questions = [f"Q{i}?" for i in range(36)]
    before = report_of({q: i < 2 for i, q in enumerate(questions)})
    comparison = compare_reports(before, before)
    sentences = headline_lines([line(1, 0, 2), line(2, 3, 2)], comparison)
    assert sentences[0].startswith("Test score (36 questions the loop never read)")
    assert "did not improve the test score (no case changed its verdict)" in sentences[0]
    assert sentences[1].startswith("Dev score (10 questions")
    assert "not evidence of progress" in sentences[1]


def test_a_test_gain_is_reported_with_its_significance() -> None:
    questions = [f"Q{i}?" for i in range(36)]
    before = report_of({q: i < 2 for i, q in enumerate(questions)})
    after = report_of({q: i < 9 for i, q in enumerate(questions)})
    sentences = headline_lines([line(1, 0, 2), line(2, 3, 9)], compare_reports(before, after))
    assert "7 fixed, 0 broken, p=0.016: significant" in sentences[0]


def test_without_a_test_set_the_headline_says_so() -> None:
    sentences = headline_lines([line(1, 0, None), line(2, 3, None)])
    assert sentences[0].startswith("Dev score") and NO_TEST_NOTE in sentences


def test_scores_carry_their_wilson_interval() -> None:
    assert scored(3, 10) == "3/10 (30%; 95% interval 11%-60%)"
    assert scored(0, 10, short=True) == "0/10 (0%, 0%-28%)"
    assert scored(None, None) == "not evaluated"
