"""The Evaluator on the demo database: validity, categories, matching, usage, concurrency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from text2sql_tune import (
    EvalCase,
    EvaluationError,
    FunctionJudge,
    FunctionModel,
    Prediction,
    SQLExecutor,
    Verdict,
)
from text2sql_tune.evaluate.evaluator import (
    Evaluator,
    aevaluate_predictions,
    categorize_error,
    evaluate_predictions,
    match_predictions,
    normalize_question,
    read_predictions,
)
from text2sql_tune.records import ExecutionOutcome, OutcomeStatus, Usage

USERS = "SELECT count() FROM ecommerce.users"
BY_OS = "SELECT os, count() FROM ecommerce.sessions GROUP BY os"

CASES = [
    EvalCase(question="How many users are there?", sql=USERS),
    EvalCase(question="Sessions per OS?", sql=BY_OS),
    EvalCase(question="Typo in a column", sql=USERS),
    EvalCase(question="Made-up function", sql=USERS),
    EvalCase(question="Broken syntax", sql=USERS),
    EvalCase(question="Missing group by", sql=BY_OS),
    EvalCase(question="Unknown table", sql=USERS),
    EvalCase(question="Wrong number", sql=USERS),
    EvalCase(question="Nothing found", sql=BY_OS),
    EvalCase(question="Writes a file", sql=USERS),
    EvalCase(question="Type clash", sql=USERS),
]

ANSWERS = {
    "How many users are there?": "SELECT count(user_id) AS users FROM ecommerce.users",
    "Sessions per OS?": "SELECT count() AS n, os FROM ecommerce.sessions GROUP BY os",
    "Typo in a column": "SELECT count(usr_id) FROM ecommerce.users",
    "Made-up function": "SELECT countDistinctish(user_id) FROM ecommerce.users",
    "Broken syntax": "SELECT count( FROM ecommerce.users",
    "Missing group by": "SELECT os, count() FROM ecommerce.sessions",
    "Unknown table": "SELECT count() FROM ecommerce.customers",
    "Wrong number": "SELECT count() FROM ecommerce.users WHERE is_active = 1",
    "Nothing found": "SELECT os, count() FROM ecommerce.sessions WHERE revenue < 0 GROUP BY os",
    "Writes a file": "INSERT INTO FUNCTION file('x.csv') SELECT 1",
    "Type clash": "SELECT count() FROM ecommerce.users WHERE country = 5 + 'a'",
}

EXPECTED = {
    "How many users are there?": ("correct", True, True),
    "Sessions per OS?": ("correct", True, True),
    "Typo in a column": ("unknown_column", False, False),
    "Made-up function": ("unknown_function", False, False),
    "Broken syntax": ("syntax_error", False, False),
    "Missing group by": ("aggregation_error", False, False),
    "Unknown table": ("unknown_table", False, False),
    "Wrong number": ("wrong_result", True, False),
    "Nothing found": ("empty_result", True, False),
    "Writes a file": ("unsafe", False, False),
    "Type clash": ("type_error", False, False),
}


def _model() -> FunctionModel:
    return FunctionModel(lambda question: ANSWERS[question], name="scripted")


async def test_model_evaluation_categorises_every_case(demo_executor: SQLExecutor) -> None:
    report = await Evaluator(demo_executor).aevaluate(_model(), CASES)
    assert [r.question for r in report.results] == [c.question for c in CASES]
    for result in report.results:
        category, valid, correct = EXPECTED[result.question]
        assert (result.category, result.valid, result.correct) == (category, valid, correct), (
            result.question,
            result.reason,
        )
        assert result.reason
    s = report.summary
    assert (s.total, s.valid, s.correct, s.wrong, s.undecided) == (11, 4, 2, 9, 0)
    assert s.validity_rate == pytest.approx(4 / 11)
    assert s.accuracy == pytest.approx(2 / 11)
    assert s.by_category["unknown_column"] == 1
    assert s.by_status["ok"] == 3
    assert report.model == "scripted"
    assert report.judge == "execution"
    assert report.metadata["database"].startswith("chdb://")


async def test_report_json_has_the_cli_contract(demo_executor: SQLExecutor) -> None:
    report = await Evaluator(demo_executor).aevaluate(_model(), CASES[:2])
    data = report.model_dump(mode="json")
    assert {"total", "valid", "correct", "validity_rate", "accuracy"} <= set(data["summary"])
    for result in data["results"]:
        assert {"question", "valid", "correct", "category", "reason"} <= set(result)


async def test_model_errors_and_empty_answers_are_no_sql(demo_executor: SQLExecutor) -> None:
    def answer(question: str) -> Prediction | str:
        if question.startswith("How many"):
            raise RuntimeError("provider down")
        return Prediction(question=question, sql="", error="no SQL in the answer")

    report = await Evaluator(demo_executor).aevaluate(FunctionModel(answer), CASES[:2])
    assert [r.category for r in report.results] == ["no_sql", "no_sql"]
    assert "provider down" in report.results[0].reason
    assert "no SQL in the answer" in report.results[1].reason
    assert report.summary.valid == 0


async def test_predictions_matched_by_normalised_question(demo_executor: SQLExecutor) -> None:
    predictions = [
        Prediction(question="  how many USERS are there ", sql=ANSWERS[CASES[0].question]),
        Prediction(question="Sessions per OS", sql=ANSWERS[CASES[1].question]),
        Prediction(question="Something else entirely", sql="SELECT 1"),
    ]
    cases = [*CASES[:2], EvalCase(question="Not predicted", sql=USERS)]
    report = await Evaluator(demo_executor).aevaluate_predictions(cases, predictions)
    assert [r.category for r in report.results] == ["correct", "correct", "no_sql"]
    assert "no prediction for this question" in report.results[2].reason
    assert report.metadata["unmatched_predictions"] == 1


async def test_no_matching_prediction_at_all_is_an_error(demo_executor: SQLExecutor) -> None:
    with pytest.raises(EvaluationError, match="none of the 1 predictions"):
        await Evaluator(demo_executor).aevaluate_predictions(
            CASES[:1], [Prediction(question="unrelated", sql="SELECT 1")]
        )
    with pytest.raises(EvaluationError, match="empty"):
        await Evaluator(demo_executor).aevaluate(_model(), [])


async def test_reference_failure_is_undecided(demo_executor: SQLExecutor) -> None:
    case = EvalCase(question="q", sql="SELECT nope FROM ecommerce.users")
    report = await Evaluator(demo_executor).aevaluate_predictions(
        [case], [Prediction(question="q", sql=USERS)]
    )
    result = report.results[0]
    assert (result.category, result.correct, result.valid) == ("reference_failed", None, True)


async def test_too_many_rows(demo_executor: SQLExecutor) -> None:
    case = EvalCase(question="q", sql=BY_OS)
    prediction = Prediction(question="q", sql="SELECT session_id FROM ecommerce.sessions LIMIT 50")
    report = await Evaluator(demo_executor, max_rows=10).aevaluate_predictions([case], [prediction])
    assert report.results[0].category == "too_many_rows"
    assert report.results[0].correct is False


async def test_a_query_stopped_at_the_engine_row_cap_is_too_many_rows(
    demo_executor: SQLExecutor,
) -> None:
    # Without LIMIT the engine itself refuses the result (over the executor's row cap), so the
    # outcome carries no rows to count.
    case = EvalCase(question="q", sql=BY_OS)
    prediction = Prediction(question="q", sql="SELECT session_id FROM ecommerce.sessions")
    report = await Evaluator(demo_executor).aevaluate_predictions([case], [prediction])
    result = report.results[0]
    assert (result.category, result.correct, result.valid) == ("too_many_rows", False, True)
    assert "over the row cap" in result.reason


async def test_judge_usage_and_latency_are_added_up(demo_executor: SQLExecutor) -> None:
    usage = Usage(calls=1, prompt_tokens=10, completion_tokens=5, cost_usd=0.001)

    def judge(case: object) -> Verdict:
        return Verdict(
            correct=None, reason="cannot tell", judge="fake", details={"usage": usage.model_dump()}
        )

    def answer(question: str) -> Prediction:
        return Prediction(question=question, sql=USERS, latency_s=0.5, usage=usage)

    report = await Evaluator(demo_executor, FunctionJudge(judge)).aevaluate(
        FunctionModel(answer), CASES[:2]
    )
    assert [r.category for r in report.results] == ["undecided", "undecided"]
    assert report.results[0].usage is not None
    assert report.results[0].usage.prompt_tokens == 20
    assert report.summary.usage is not None
    assert report.summary.usage.calls == 4
    assert report.summary.usage.cost_usd == pytest.approx(0.004)
    assert report.summary.mean_latency_s == pytest.approx(0.5)
    assert report.summary.undecided == 2


async def test_a_crashing_judge_is_one_undecided_case(demo_executor: SQLExecutor) -> None:
    def judge(case: object) -> bool:
        raise RuntimeError("boom")

    report = await Evaluator(demo_executor, FunctionJudge(judge)).aevaluate(_model(), CASES[:1])
    assert report.results[0].category == "undecided"
    assert "boom" in report.results[0].reason


async def test_cases_run_concurrently(demo_executor: SQLExecutor) -> None:
    running = 0
    peak = 0

    async def answer(question: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return USERS

    cases = [EvalCase(question=f"q{i}", sql=USERS) for i in range(12)]
    seen: list[int] = []
    report = await Evaluator(demo_executor, concurrency=4).aevaluate(
        FunctionModel(answer), cases, on_done=lambda index, result: seen.append(index)
    )
    assert report.summary.correct == 12
    assert 1 < peak <= 4
    assert sorted(seen) == list(range(12))


def test_files_and_sync_twins(tmp_path: Path, demo_executor: SQLExecutor) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "\n".join(json.dumps({"question": c.question, "sql_query": c.sql}) for c in CASES[:2]),
        encoding="utf-8",
    )
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        json.dumps({"question": CASES[0].question, "sql_query": ANSWERS[CASES[0].question]})
        + "\n"
        + json.dumps({"question": CASES[1].question, "sql": None, "comments": "gave up"})
        + "\n",
        encoding="utf-8",
    )
    assert [p.sql for p in read_predictions(predictions)][1] == ""
    report = evaluate_predictions(golden, predictions, demo_executor)
    assert [r.category for r in report.results] == ["correct", "no_sql"]
    assert report.model == "predictions.jsonl"
    assert report.metadata["golden"] == str(golden)
    sync = Evaluator(demo_executor).evaluate(_model(), CASES[:1])
    assert sync.summary.correct == 1


async def test_async_file_api(tmp_path: Path, demo_executor: SQLExecutor) -> None:
    golden = tmp_path / "g.json"
    golden.write_text(json.dumps([{"question": "q", "sql": USERS}]), encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"question": "Q?", "sql": USERS}) + "\n", encoding="utf-8")
    report = await aevaluate_predictions(golden, predictions, demo_executor)
    assert report.summary.correct == 1


def test_helpers() -> None:
    assert normalize_question("  What is   X? ") == "what is x"
    matched, unmatched = match_predictions(
        [EvalCase(question="A?", sql="s"), EvalCase(question="B", sql="s")],
        [Prediction(question="a", sql="1"), Prediction(question="a", sql="2")],
    )
    assert matched[0] is not None and matched[0].sql == "1"
    assert matched[1] is None and unmatched == []
    by_code = ExecutionOutcome(status=OutcomeStatus.ERROR, error="x", error_code=62)
    assert categorize_error(by_code) == "syntax_error"
    by_text = ExecutionOutcome(
        status=OutcomeStatus.ERROR, error="Code: 46. DB::Exception: ... (UNKNOWN_FUNCTION)"
    )
    assert categorize_error(by_text) == "unknown_function"
    assert categorize_error(ExecutionOutcome(status=OutcomeStatus.TIMEOUT)) == "timeout"
    assert categorize_error(ExecutionOutcome(status=OutcomeStatus.ERROR)) == "execution_error"


async def test_results_keep_the_first_rows_of_both_answers(demo_executor: SQLExecutor) -> None:
    monthly = (
        "SELECT toStartOfMonth(action_date) AS m, count() AS n FROM ecommerce.sessions "
        "WHERE action_date < '2024-01-01' GROUP BY m ORDER BY m"
    )
    cases = [
        EvalCase(question="Sessions per month before 2024?", sql=monthly),
        EvalCase(question="How many users are there?", sql=USERS),
        EvalCase(question="Typo in a column", sql=USERS),
    ]
    answers = {
        cases[0].question: monthly.replace("count()", "uniqExact(user_id)"),
        cases[1].question: USERS,
        cases[2].question: ANSWERS["Typo in a column"],
    }
    model = FunctionModel(lambda question: answers[question])
    report = await Evaluator(demo_executor, preview_rows=4).aevaluate(model, cases)
    months, users, typo = report.results
    assert months.reference_preview is not None and months.predicted_preview is not None
    assert months.reference_preview.columns == ["m", "n"]
    assert len(months.reference_preview.rows) == 4  # bounded ...
    assert months.reference_preview.row_count == 36  # ... but the full count is kept
    assert not months.reference_preview.complete
    assert months.reference_preview.rows[0][0] == "2021-01-01"
    assert months.predicted_preview.rows[0][1] < months.reference_preview.rows[0][1]
    assert users.predicted_preview is not None and users.predicted_preview.complete
    # A failed prediction has no rows, but the reference's are there to show what was expected.
    assert typo.predicted_preview is None and typo.reference_preview is not None
    off = await Evaluator(demo_executor, preview_rows=0).aevaluate(model, cases[1:2])
    assert off.results[0].reference_preview is None
    with pytest.raises(ValueError, match="preview_rows"):
        Evaluator(demo_executor, preview_rows=-1)
