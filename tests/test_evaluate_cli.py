"""The ``evaluate`` and ``report`` commands, in process on the demo database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_tune import ConfigurationError
from text2sql_tune.cli import app

runner = CliRunner()

GOLDEN = [
    {"question": "How many users are there?", "sql_query": "SELECT count() FROM ecommerce.users"},
    {
        "question": "Sessions per OS, with the total?",
        "sql": "SELECT os, count() FROM ecommerce.sessions GROUP BY os WITH TOTALS",
    },
    {
        "question": "How many active users?",
        "sql": "SELECT countIf(is_active = 1) FROM ecommerce.users",
    },
    {"question": "Not answered", "sql": "SELECT 1"},
]
GOOD = [
    {"question": "how many users are there", "sql": "SELECT count(*) AS n FROM ecommerce.users"},
    {
        "question": "Sessions per OS, with the total?",
        "sql": "SELECT os, count() FROM ecommerce.sessions GROUP BY os "
        "UNION ALL SELECT 'all', count() FROM ecommerce.sessions",
    },
    {"question": "How many active users?", "sql": "SELECT count() FROM ecommerce.users"},
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _evaluate(tmp_path: Path, url: str, predictions: list[dict[str, str]], name: str) -> Path:
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN)
    preds = _jsonl(tmp_path / f"{name}.jsonl", predictions)
    output = tmp_path / f"{name}-report.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--golden",
            str(golden),
            "--predictions",
            str(preds),
            "--database",
            url,
            "--judge",
            "execution",
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    return output


def test_evaluate_writes_the_contracted_report(tmp_path: Path, demo_db_url: str) -> None:
    output = _evaluate(tmp_path, demo_db_url, GOOD, "good")
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["summary"]["total"] == 4
    assert data["summary"]["correct"] == 2
    assert data["summary"]["accuracy"] == pytest.approx(0.5)
    assert data["summary"]["validity_rate"] == pytest.approx(0.75)
    results = data["results"]
    assert [r["correct"] for r in results] == [True, True, False, False]
    assert [r["category"] for r in results] == ["correct", "correct", "wrong_result", "no_sql"]
    assert all(isinstance(r["valid"], bool) and r["reason"] for r in results)


def test_evaluate_json_output(tmp_path: Path, demo_db_url: str) -> None:
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN)
    preds = _jsonl(tmp_path / "p.jsonl", GOOD)
    args = ["evaluate", "-g", str(golden), "-p", str(preds), "-d", demo_db_url, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["correct"] == 2


def test_report_markdown_html_and_compare(tmp_path: Path, demo_db_url: str) -> None:
    good = _evaluate(tmp_path, demo_db_url, GOOD, "good")
    worse = [dict(GOOD[0], sql="SELECT count(nope) FROM ecommerce.users"), *GOOD[1:]]
    bad = _evaluate(tmp_path, demo_db_url, worse, "bad")

    printed = runner.invoke(app, ["report", str(good)])
    assert printed.exit_code == 0, printed.output
    assert "# Evaluation of good.jsonl" in printed.output

    page, markdown = tmp_path / "r.html", tmp_path / "r.md"
    written = runner.invoke(
        app, ["report", str(good), "--html", str(page), "--markdown", str(markdown)]
    )
    assert written.exit_code == 0, written.output
    assert "data:image/png;base64," in page.read_text(encoding="utf-8")
    assert "| Correct | 2 (50.0%) |" in markdown.read_text(encoding="utf-8")

    compared = runner.invoke(app, ["report", "compare", str(good), str(bad)])
    assert compared.exit_code == 0, compared.output
    assert "### Broken (no longer correct): 1" in compared.output
    assert "How many users are there? (correct → unknown_column)" in compared.output
    assert "bad-report 1/4 vs good-report 2/4, p=1: not significant on 4 cases" in compared.output

    as_json = runner.invoke(app, ["report", "compare", str(good), str(bad), "--json"])
    step = json.loads(as_json.output)["steps"][0]
    assert step["broken"][0]["category_after"] == "unknown_column"
    assert step["significance"]["p_value"] == 1.0


def test_report_usage_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "compare", str(tmp_path / "a.json")])
    assert isinstance(result.exception, ConfigurationError)
    labels = ["--label", "only one"]
    result = runner.invoke(app, ["report", "compare", "a.json", "b.json", *labels])
    assert isinstance(result.exception, ConfigurationError)
    assert "one --label per run" in str(result.exception)


def test_evaluate_keeps_rows_and_golden_lint_in_the_report(
    tmp_path: Path, demo_db_url: str
) -> None:
    golden = [
        *GOLDEN[:3],
        {
            "question": "Top OS?",
            "sql": "SELECT os, 1 AS k FROM ecommerce.sessions GROUP BY os ORDER BY k LIMIT 1",
        },
    ]
    path = _jsonl(tmp_path / "golden.jsonl", golden)
    preds = _jsonl(tmp_path / "p.jsonl", GOOD)
    output = tmp_path / "report.json"
    args = ["evaluate", "-g", str(path), "-p", str(preds), "-d", demo_db_url, "-o", str(output)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "order_tie" in result.stderr and "the evaluation goes on" in result.stderr
    data = json.loads(output.read_text(encoding="utf-8"))
    assert [f["check"] for f in data["metadata"]["golden_lint"]] == ["order_tie"]
    first = data["results"][0]
    assert first["reference_preview"]["rows"] == first["predicted_preview"]["rows"]
    assert data["results"][1]["reference_preview"]["totals"] is not None

    quiet = runner.invoke(app, [*args, "--no-lint"])
    assert quiet.exit_code == 0 and "order_tie" not in quiet.stderr
    assert "golden_lint" not in json.loads(output.read_text(encoding="utf-8"))["metadata"]


def test_report_with_training_pairs_and_failures_only(tmp_path: Path, demo_db_url: str) -> None:
    worse = [dict(GOOD[0], sql="SELECT count(nope) FROM ecommerce.users"), *GOOD[1:]]
    bad = _evaluate(tmp_path, demo_db_url, worse, "bad")
    train = _jsonl(
        tmp_path / "kept.jsonl",
        [{"question": "How many active users are there?", "sql": GOLDEN[2]["sql"]}],
    )
    page = tmp_path / "r.html"
    args = ["report", str(bad), "--training", str(train), "--failures-only", "--html", str(page)]
    result = runner.invoke(app, [*args, "--markdown", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "### 1. How many users are there?" in text
    assert "### 2." not in text  # correct: in the table, not detailed
    assert "Nearest training pairs by question:" in text
    html = page.read_text(encoding="utf-8")
    assert "<del>" in html and "id='case-1'" in html and "How many active users are there?" in html


def test_report_compare_runs_as_one_page(tmp_path: Path, demo_db_url: str) -> None:
    base = _evaluate(tmp_path, demo_db_url, [dict(p, sql="SELECT 0") for p in GOOD], "base")
    tune1 = _evaluate(tmp_path, demo_db_url, GOOD[:1], "tune1")
    tune2 = _evaluate(tmp_path, demo_db_url, GOOD, "tune2")
    run = tmp_path / "runs" / "tune2"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "report.json").write_bytes(tune2.read_bytes())
    page = tmp_path / "iteration.html"
    result = runner.invoke(
        app,
        ["report", "compare", str(base), str(tune1), str(run), "--html", str(page), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["label"] for r in data["runs"]] == ["base-report", "tune1-report", "tune2"]
    assert [r["correct"] for r in data["runs"]] == [0, 1, 2]
    assert [len(s["fixed"]) for s in data["steps"]] == [1, 1]
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<pre>" not in html
    assert "Iteration report: base-report → tune1-report → tune2" in html
    assert html.count("data:image/png;base64,") == 4
    labelled = runner.invoke(
        app,
        ["report", "compare", str(base), str(run), "--label", "baseline", "--label", "tuned"],
    )
    assert "# Iteration report: baseline → tuned" in labelled.stdout


def test_evaluate_a_retrieval_model_over_training_pairs(tmp_path: Path, demo_db_url: str) -> None:
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN[:3])
    train = _jsonl(tmp_path / "train.jsonl", GOOD)
    args = ["evaluate", "-g", str(golden), "--model", "retrieval", "--train", str(train)]
    result = runner.invoke(app, [*args, "--database", demo_db_url, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    # The nearest training question answers each golden one: the first two match, the third
    # (count of all users for "active users") is wrong.
    assert (summary["total"], summary["correct"], summary["wrong"]) == (3, 2, 1)


def test_evaluate_a_tuned_lamini_model(tmp_path: Path, demo_db_url: str) -> None:
    from text2sql_tune.testing import FakeLaminiServer

    answers = {"users are there": "SELECT count() FROM ecommerce.users"}

    def respond(prompt: str, model: str) -> str:
        assert model == "tuned-model-1"
        return next((sql for key, sql in answers.items() if key in prompt), "SELECT 0")

    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN[:1] + GOLDEN[2:3])
    with FakeLaminiServer(respond=respond, base_models=("tuned-model-1",)) as server:
        env = {"LAMINI_API_KEY": server.api_key, "LAMINI_API_URL": server.url}
        args = ["evaluate", "-g", str(golden), "-m", "lamini:tuned-model-1", "--json"]
        result = runner.invoke(app, [*args, "--database", demo_db_url], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["correct"] == 1
    assert [r["correct"] for r in report["results"]] == [True, False]
    assert report["model"] == "lamini:tuned-model-1"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "either --predictions FILE or --model SPEC"),
        (["--model", "retrieval"], "needs training pairs"),
        (["--model", "bert"], "unknown model 'bert'"),
        (["--model", "openai:"], "name the model after the colon"),
    ],
)
def test_evaluate_model_usage_errors(
    tmp_path: Path, demo_db_url: str, extra: list[str], message: str
) -> None:
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN)
    result = runner.invoke(app, ["evaluate", "-g", str(golden), "-d", demo_db_url, *extra])
    assert isinstance(result.exception, ConfigurationError)
    assert message in str(result.exception)
