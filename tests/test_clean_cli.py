"""The ``validate`` and ``clean`` commands, in process on the demo database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from text2sql_tune import read_pairs
from text2sql_tune.cli import app
from text2sql_tune.filters import FilterReport

runner = CliRunner()

GOLDEN = [
    {
        "question": "How many active customers are there?",
        "sql": "SELECT countIf(is_active = 1) FROM ecommerce.users",
    },
    {
        "question": "Which country has the most customers registered in the shop?",
        "sql": "select country from ecommerce.users group by country order by count() desc limit 1",
    },
]

# (record, expected outcome): "kept" or the reason it is dropped for.
PAIRS: list[tuple[dict[str, Any], str]] = [
    ({"question": "How many customers are there?",
      "sql": "SELECT count() FROM ecommerce.users"}, "kept"),
    ({"question": "how many customers are there",
      "sql_query": "SELECT uniqExact(user_id) FROM ecommerce.users"}, "duplicate_question"),
    ({"question": "List every session.",
      "sql": "SELECT session_id FROM ecommerce.sessions"}, "too_many_rows"),
    ({"question": "Which customers are older than 200?",
      "sql": "SELECT user_id FROM ecommerce.users WHERE age > 200"}, "no_rows"),
    ({"question": "What is the revenue per operating system?",
      "sql": "SELECT os, sum(revenue) FROM ecommerce.sessions GROUP BY os"}, "kept"),
    ({"question": "Broken?", "sql": "SELECT nope FROM ecommerce.users"}, "invalid_sql"),
    ({"question": "", "sql": "", "rejected": "no tool call"}, "rejected_by_generator"),
    ({"question": "How many active customers are there?",
      "sql": "SELECT count() FROM ecommerce.users WHERE is_active = 1"}, "leaks_eval_question"),
    ({"question": "What number of users are active?",
      "sql": "select countIf(is_active = 1)\nfrom ecommerce.users"}, "leaks_eval_sql"),
    ({"question": "Which country has the most customers registered in our shop?",
      "sql": "SELECT country, count() AS n FROM ecommerce.users GROUP BY country ORDER BY n DESC "
      "LIMIT 1"}, "leaks_eval_question"),
    ({"question": "Total revenue by OS?",
      "sql": "select os,  SUM(revenue)\nfrom ecommerce.sessions group by os -- again"},
     "duplicate_sql"),
    ({"question": "How many sessions in total used the Firefox browser on Windows?",
      "sql": "SELECT count() FROM ecommerce.sessions WHERE browser = 'Firefox' AND "
      "os = 'Windows'"}, "kept"),
    ({"question": "How many sessions in total used the Firefox web browser on Windows?",
      "sql": "SELECT countIf(browser = 'Firefox' AND os = 'Windows') FROM ecommerce.sessions"},
     "near_duplicate_question"),
    ({"question": "Remove the customers", "sql": "DROP TABLE ecommerce.users"}, "unsafe_sql"),
]  # fmt: skip


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_clean_writes_kept_pairs_report_and_dropped_pairs(tmp_path: Path, demo_db_url: str) -> None:
    pairs = _jsonl(tmp_path / "raw.jsonl", [record for record, _ in PAIRS])
    golden = _jsonl(tmp_path / "golden.jsonl", GOLDEN)
    output = tmp_path / "clean.jsonl"
    result = runner.invoke(
        app,
        ["clean", "-i", str(pairs), "-o", str(output), "--database", demo_db_url,
         "--eval-set", str(golden)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    expected_kept = [r["question"] for r, outcome in PAIRS if outcome == "kept"]
    kept = read_pairs(output)
    assert [p.question for p in kept] == expected_kept
    assert all(p.validation is not None and p.validation.row_count for p in kept)

    dropped = _lines(tmp_path / "clean.dropped.jsonl")
    expected = {i: outcome for i, (_, outcome) in enumerate(PAIRS) if outcome != "kept"}
    assert {d["index"]: d["reason"] for d in dropped} == expected
    assert all(d["filter"] for d in dropped)
    leak = next(d for d in dropped if d["reason"] == "leaks_eval_sql")
    assert GOLDEN[0]["question"] in leak["detail"]

    report = FilterReport.load(tmp_path / "clean.report.json")
    assert (report.input_count, report.kept_count, report.dropped_count) == (14, 3, 11)
    assert len(report.dropped) == 11
    assert report.by_reason["leaks_eval_question"] == 2
    assert report.stats.count == 3
    assert report.stats.tables == {"ecommerce.sessions": 2, "ecommerce.users": 1}
    assert "Cleaning: 14 pairs -> 3 kept" in result.output
    assert "Dataset: 3 pairs" in result.output


def test_clean_json_output_and_explicit_paths(tmp_path: Path, demo_db_url: str) -> None:
    pairs = _jsonl(tmp_path / "raw.jsonl", [record for record, _ in PAIRS[:6]])
    report_path, dropped_path = tmp_path / "r" / "report.json", tmp_path / "d" / "dropped.jsonl"
    result = runner.invoke(
        app,
        ["clean", "-i", str(pairs), "-o", str(tmp_path / "kept.jsonl"), "-d", demo_db_url,
         "--report", str(report_path), "--dropped", str(dropped_path), "--max-rows", "5",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # with --max-rows 5, the three-row revenue-per-OS answer still fits; no eval set, no leakage
    assert (data["input"], data["kept"], data["dropped"]) == (6, 2, 4)
    assert data["by_reason"] == {
        "duplicate_question": 1, "too_many_rows": 1, "no_rows": 1, "invalid_sql": 1,
    }  # fmt: skip
    assert [s["name"] for s in data["steps"]][-1] == "near_duplicate"
    assert len(_lines(dropped_path)) == 4
    assert json.loads(report_path.read_text(encoding="utf-8"))["dropped_path"] == (
        "../d/dropped.jsonl"
    )


def test_clean_skip_validation_needs_no_database(tmp_path: Path) -> None:
    pairs = _jsonl(
        tmp_path / "raw.jsonl",
        [
            {"question": "Unchecked?", "sql": "SELECT 1"},
            {"question": "Checked?", "sql": "SELECT 2",
             "validation": {"status": "ok", "row_count": 1}},
        ],
    )  # fmt: skip
    result = runner.invoke(
        app,
        ["clean", "-i", str(pairs), "-o", str(tmp_path / "kept.jsonl"), "--skip-validation",
         "--database", "clickhouse://nobody@127.0.0.1:1/none", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["kept"], data["by_reason"]) == (1, {"not_validated": 1})


def test_validate_records_outcomes_without_dropping(tmp_path: Path, demo_db_url: str) -> None:
    records = [record for record, _ in PAIRS]
    pairs = _jsonl(tmp_path / "raw.jsonl", records)
    output = tmp_path / "validated.jsonl"
    result = runner.invoke(
        app, ["validate", "-i", str(pairs), "-o", str(output), "-d", demo_db_url, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["input"] == len(records) and data["validated"] == len(records) - 1
    assert data["by_status"] == {
        "ok": 9, "too_many_rows": 1, "empty": 1, "error": 1, "unsafe": 1, "rejected": 1,
    }  # fmt: skip
    validated = read_pairs(output)
    assert len(validated) == len(records)
    assert validated[1].sql == records[1]["sql_query"]
    statuses = [p.validation.status.value if p.validation else None for p in validated]
    assert statuses[:7] == ["ok", "ok", "too_many_rows", "empty", "ok", "error", None]

    table = runner.invoke(app, ["validate", "-i", str(pairs), "-o", str(output), "-d", demo_db_url])
    assert table.exit_code == 0, table.output
    assert "too_many_rows" in table.output and f"wrote {len(records)} pairs" in table.output
