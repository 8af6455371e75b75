"""What evaluate is given: empty or mismatched predictions, bad golden sets, fenced SQL, and
failing references, on the demo database."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cli_main import run_main
from text2sql_tune import (
    DataError,
    EvalCase,
    EvaluationError,
    FunctionModel,
    Prediction,
    SQLExecutor,
)
from text2sql_tune.evaluate.evaluator import Evaluator, read_predictions

USERS = "SELECT count() FROM ecommerce.users"
ACTIVE = "SELECT countIf(is_active = 1) FROM ecommerce.users"
GOLDEN = [
    {"question": "How many users are there?", "sql": USERS},
    {"question": "How many active users?", "sql": ACTIVE},
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_sql_in_a_markdown_fence_is_extracted_not_called_unsafe(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "p.jsonl",
        [
            {"question": "a", "sql": f"Here you go:\n```sql\n{USERS};\n```\nIt counts users."},
            {"question": "b", "sql": "", "raw_output": f"```\n{ACTIVE}\n```"},
            {"question": "c", "sql": "```\nno query here\n```"},
            {"question": "d", "sql": USERS},
        ],
    )
    fenced, from_raw, nothing, plain = read_predictions(path)
    assert (fenced.sql, from_raw.sql, nothing.sql, plain.sql) == (USERS, ACTIVE, "", USERS)
    assert fenced.raw_output is not None and fenced.raw_output.startswith("Here you go:")
    assert nothing.error == "no SELECT or WITH statement in the answer"
    assert plain.raw_output is None


async def test_fenced_predictions_are_scored_on_their_sql(
    tmp_path: Path, demo_executor: SQLExecutor
) -> None:
    path = _jsonl(
        tmp_path / "p.jsonl",
        [{"question": GOLDEN[0]["question"], "sql": f"```sql\n{USERS}\n```"}],
    )
    cases = [EvalCase(**GOLDEN[0])]
    report = await Evaluator(demo_executor).aevaluate_predictions(cases, read_predictions(path))
    assert report.results[0].category == "correct"


async def test_predictions_matching_no_question_are_named_in_a_warning(
    demo_executor: SQLExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    cases = [EvalCase(**case) for case in GOLDEN]
    predictions = [
        Prediction(question="How many users are there", sql=USERS),
        Prediction(question="how many USERS are there?", sql="SELECT 1"),
        Prediction(question="What is the revenue?", sql="SELECT 1"),
        Prediction(question="Who churned?", sql="SELECT 1"),
    ]
    with caplog.at_level(logging.WARNING, logger="text2sql_tune"):
        report = await Evaluator(demo_executor).aevaluate_predictions(cases, predictions)
    assert [r.category for r in report.results] == ["correct", "no_sql"]
    assert report.metadata["unmatched_predictions"] == 2
    assert report.metadata["unmatched_questions"] == ["What is the revenue?", "Who churned?"]
    messages = caplog.messages
    assert any(
        m.startswith("2 prediction(s) match no golden question: 'What is the revenue?', "
                     "'Who churned?'") for m in messages
    ), messages  # fmt: skip
    assert any("predicted more than once" in m and "'how many USERS" in m for m in messages)
    with pytest.raises(EvaluationError, match=r"2 prediction.*strict mode: nothing was scored"):
        await Evaluator(demo_executor).aevaluate_predictions(cases, predictions, strict=True)


async def test_a_golden_set_asking_a_question_twice_is_refused(
    demo_executor: SQLExecutor,
) -> None:
    cases = [
        EvalCase(question="How many users?", sql=USERS),
        EvalCase(question="How many active users?", sql=ACTIVE),
        EvalCase(question="how many  users", sql="SELECT uniqExact(user_id) FROM ecommerce.users"),
    ]
    predictions = [Prediction(question="How many users?", sql=USERS)]
    message = r"asks 1 question\(s\) more than once.*'How many users\?' \(cases 1, 3\)"
    with pytest.raises(EvaluationError, match=message):
        await Evaluator(demo_executor).aevaluate_predictions(cases, predictions)

    def model(question: str) -> str:
        return USERS

    with pytest.raises(EvaluationError, match=message):
        await Evaluator(demo_executor).aevaluate(FunctionModel(model), cases)


async def test_no_predictions_at_all_is_an_error(demo_executor: SQLExecutor) -> None:
    with pytest.raises(EvaluationError, match="no predictions"):
        await Evaluator(demo_executor).aevaluate_predictions([EvalCase(**GOLDEN[0])], [])


async def test_a_failing_reference_is_reference_failed_whatever_the_prediction_did(
    demo_executor: SQLExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    cases = [
        EvalCase(question="Orders?", sql="SELECT count() FROM ecommerce.orders"),
        EvalCase(question="Refunds?", sql="SELECT sum(refund) FROM ecommerce.sessions"),
    ]
    predictions = [
        Prediction(question="Orders?", sql="SELECT count() FROM ecommerce.order_lines"),
        Prediction(question="Refunds?", sql=USERS),
    ]
    with caplog.at_level(logging.WARNING, logger="text2sql_tune"):
        report = await Evaluator(demo_executor).aevaluate_predictions(cases, predictions)
    first, second = report.results
    assert (first.category, first.correct, first.valid) == ("reference_failed", None, False)
    assert (second.category, second.correct, second.valid) == ("reference_failed", None, True)
    assert "ecommerce.orders" in (first.error or "") and first.status is not None
    assert any("the reference query failed for all 2 cases" in m for m in caplog.messages)


def test_cli_exit_codes_for_bad_evaluation_inputs(
    tmp_path: Path,
    demo_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    extra = _jsonl(
        tmp_path / "extra.jsonl",
        [{"question": "How many users are there?", "sql": USERS}, {"question": "Huh?", "sql": "x"}],
    )
    twice = _jsonl(tmp_path / "twice.jsonl", [GOLDEN[0], GOLDEN[1], GOLDEN[0]])
    blank_sql = _jsonl(tmp_path / "blank.jsonl", [GOLDEN[0], {"question": "q", "sql": " "}])
    db = ["-d", demo_db_url]

    def evaluate(*args: str) -> tuple[int, str]:
        outcome = run_main(["evaluate", *args, *db], monkeypatch, capsys)
        return outcome.code, outcome.err

    code, err = evaluate("-g", str(golden), "-p", str(empty))
    assert code == 3 and f"{empty}: no predictions in it: the file is empty" in err
    code, err = evaluate("-g", str(twice), "-p", str(extra))
    assert code == 7 and "more than once" in err and "(cases 1, 3)" in err
    code, err = evaluate("-g", str(blank_sql), "-p", str(extra))
    assert code == 3 and f"{blank_sql}:2: not a valid golden case: field 'sql'" in err
    code, err = evaluate("-g", str(golden), "-p", str(extra), "--strict")
    assert code == 7 and "'Huh?'" in err and "strict mode" in err
    report = tmp_path / "report.json"
    with caplog.at_level(logging.WARNING, logger="text2sql_tune"):  # stderr outside pytest
        code, err = evaluate("-g", str(golden), "-p", str(extra), "-o", str(report))
    assert code == 0
    assert any("1 prediction(s) match no golden question: 'Huh?'" in m for m in caplog.messages)
    assert json.loads(report.read_text(encoding="utf-8"))["metadata"]["unmatched_questions"] == [
        "Huh?"
    ]


def test_reading_a_prediction_without_a_question_names_the_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "p.jsonl", [{"question": "a", "sql": USERS}, {"sql": USERS}])
    with pytest.raises(DataError) as caught:
        read_predictions(path)
    assert str(caught.value) == (
        f"{path}:2: not a valid prediction: field 'question': is missing (required)"
    )
