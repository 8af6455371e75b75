"""Reports: markdown, self-contained HTML with a chart, saving/loading, comparisons."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import pytest

from text2sql_tune import DataError, EvalReport, EvalResult, MissingExtraError
from text2sql_tune.evaluation import summarize
from text2sql_tune.reporting import (
    bar_chart_png,
    compare_reports,
    comparison_markdown,
    load_report,
    report_html,
    report_markdown,
    save_report,
)


def _result(question: str, correct: bool | None, category: str, valid: bool = True) -> EvalResult:
    return EvalResult(
        question=question,
        reference_sql="SELECT 1",
        predicted_sql="SELECT 1 <b>",
        valid=valid,
        correct=correct,
        category=category,
        reason=f"because | {category}",
    )


def _report(name: str, results: list[EvalResult]) -> EvalReport:
    return EvalReport(summary=summarize(results), results=results, model=name, judge="execution")


BASE = _report(
    "base",
    [
        _result("Q1?", False, "syntax_error", valid=False),
        _result("Q2", False, "wrong_result"),
        _result("Q3", True, "correct"),
        _result("Q4", None, "undecided"),
        _result("only in base", True, "correct"),
    ],
)
TUNED = _report(
    "tuned",
    [
        _result("q1", True, "correct"),
        _result("Q2", False, "unknown_column", valid=False),
        _result("Q3", False, "wrong_result"),
        _result("Q4", None, "undecided"),
        _result("only in tuned", True, "correct"),
    ],
)


def test_markdown_has_summary_categories_and_cases() -> None:
    text = report_markdown(BASE)
    assert "# Evaluation of base" in text
    assert "| Valid SQL | 4 (80.0%) |" in text
    assert "| Correct | 2 (40.0%) |" in text
    assert "| syntax_error | 1 |" in text
    assert "because \\| wrong_result" in text  # table cells are escaped
    assert text.count("\n| ") >= 5 + 5


def test_html_is_self_contained_with_an_embedded_png() -> None:
    page = report_html(BASE)
    assert page.startswith("<!DOCTYPE html>")
    found = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert found is not None
    assert base64.b64decode(found.group(1)).startswith(b"\x89PNG")
    assert "SELECT 1 &lt;b&gt;" in page  # SQL is escaped
    assert "http" not in page.replace("charset", "")  # nothing loaded from elsewhere
    assert "<img" not in report_html(BASE, chart=False)


def test_chart_for_several_reports() -> None:
    assert bar_chart_png([BASE, TUNED], labels=["Llama", "tuned"]).startswith(b"\x89PNG")


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtraError, match=r"text2sql-tune\[report\]"):
        bar_chart_png(BASE)
    assert "<img" not in report_html(BASE, chart=False)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = save_report(BASE, tmp_path / "out" / "report.json")
    assert load_report(path) == BASE
    with pytest.raises(DataError, match="no such file"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"summary": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="not an evaluation report"):
        load_report(tmp_path / "bad.json")


def test_compare_lists_flipped_cases() -> None:
    comparison = compare_reports(BASE, TUNED)
    assert [c.question for c in comparison.fixed] == ["Q1?"]
    assert [c.question for c in comparison.broken] == ["Q3"]
    assert [(c.question, c.category_after) for c in comparison.other_changes] == [
        ("Q2", "unknown_column")
    ]
    assert comparison.only_in_a == ["only in base"]
    assert comparison.only_in_b == ["only in tuned"]
    assert comparison.accuracy_a == pytest.approx(0.4)
    text = comparison_markdown(comparison)
    assert "# base vs tuned" in text
    assert "## Fixed (now correct): 1" in text
    assert "## Broken (no longer correct): 1" in text
    assert "Q3 (correct -> wrong_result)" in text
