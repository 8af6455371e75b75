"""Reports: markdown, self-contained HTML with charts and per-case evidence, saving/loading."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from text2sql_tune import DataError, EvalReport, EvalResult, MissingExtraError, QAPair
from text2sql_tune.evaluate.evaluator import summarize
from text2sql_tune.records import ResultPreview
from text2sql_tune.reporting import (
    bar_chart_png,
    categories_chart_png,
    find_report,
    load_report,
    report_evidence,
    report_html,
    report_markdown,
    run_label,
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


def _report(name: str, results: list[EvalResult], **metadata: Any) -> EvalReport:
    return EvalReport(
        summary=summarize(results),
        results=results,
        model=name,
        judge="execution",
        metadata=metadata,
    )


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


def _preview(columns: list[str], rows: list[list[Any]], **extra: Any) -> ResultPreview:
    return ResultPreview(
        columns=columns, rows=rows, row_count=extra.pop("count", len(rows)), **extra
    )


WRONG = EvalResult(
    question="Sessions per OS in 2024?",
    reference_sql="SELECT os, count() AS n FROM ecommerce.sessions\nGROUP BY os",
    predicted_sql="select os, uniq(user_id) as users from ecommerce.sessions group by os",
    valid=True,
    correct=False,
    category="wrong_result",
    reason="no predicted column holds the values of reference column 'n'",
    judge="execution",
    details={"ordered": False},
    reference_preview=_preview(["os", "n"], [["iOS", 30], ["Android", 50], ["Windows", 20]]),
    predicted_preview=_preview(["os", "users"], [["Windows", 20], ["Android", 49], ["iOS", 30]]),
)
RIGHT = EvalResult(
    question="How many users?",
    reference_sql="SELECT count() FROM ecommerce.users",
    predicted_sql="SELECT count(*) AS users FROM ecommerce.users",
    valid=True,
    correct=True,
    category="correct",
    reason="same values in 1 row(s) x 1 column(s), compared as a multiset",
    judge="execution",
    reference_preview=_preview(["count()"], [[1200]]),
    predicted_preview=_preview(["users"], [[1200]]),
)
TRAINING = [
    QAPair(question="How many sessions per OS?", sql="SELECT os, count() FROM s GROUP BY os"),
    QAPair(
        question="Distinct users per OS in 2024",
        sql="select os, uniq(user_id) as users from ecommerce.sessions group by os",
    ),
    QAPair(question="Revenue by country", sql="SELECT country, sum(revenue) FROM x GROUP BY 1"),
]
EVIDENCE = _report("tuned", [WRONG, RIGHT])
HOSTILE = EvalResult(
    question="<img src=x onerror=alert(1)> users?",
    reference_sql="SELECT count() FROM ecommerce.users",
    predicted_sql="SELECT 1 ``` </pre><script>alert(1)</script> `a``b`",
    valid=True,
    correct=False,
    category="wrong_result",
    reason="different value: <b>",
    reference_preview=_preview(["<th>"], [["</td><script>x</script>"]]),
    predicted_preview=_preview(["c"], [["<i>"]]),
)


def test_markdown_has_summary_categories_and_cases() -> None:
    text = report_markdown(BASE)
    assert "# Evaluation of base" in text
    assert "| Valid SQL | 4 (80.0%) |" in text
    assert "| Correct | 2 (40.0%) |" in text
    assert "| Accuracy, 95% interval | 11.8% to 76.9% (Wilson, 5 cases) |" in text
    assert "| syntax_error | 1 |" in text
    assert "because \\| wrong_result" in text  # table cells are escaped
    assert text.count("\n| ") >= 5 + 5


def test_where_it_fails_does_not_list_correct() -> None:
    for text in (report_markdown(BASE), report_html(BASE, chart=False)):
        section = re.split("## Cases|<h2>Cases", text.split("Where it fails", 1)[1])[0]
        assert "syntax_error" in section and "wrong_result" in section
        assert "correct" not in section.replace("undecided", "")
    perfect = _report("perfect", [_result("Q", True, "correct")])
    assert "Every case is correct." in report_markdown(perfect)
    assert "Every case is correct." in report_html(perfect, chart=False)


def test_html_is_self_contained_with_embedded_pngs() -> None:
    page = report_html(BASE)
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 2  # validity/accuracy and the outcomes per category
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in images)
    assert "SELECT 1<ins> &lt;b&gt;</ins>" in page.replace(" <ins>", "<ins> ")  # escaped
    assert "http" not in page.replace("charset", "")  # nothing loaded from elsewhere
    assert "<img" not in report_html(BASE, chart=False)


def test_charts_for_several_reports_and_categories() -> None:
    assert bar_chart_png([BASE, EVIDENCE], labels=["Llama", "tuned"]).startswith(b"\x89PNG")
    assert bar_chart_png([BASE, EVIDENCE], intervals=True).startswith(b"\x89PNG")
    assert categories_chart_png(BASE).startswith(b"\x89PNG")


def test_missing_matplotlib_names_the_extra_or_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtraError, match=r"text2sql-tune\[report\]"):
        bar_chart_png(BASE)
    with pytest.raises(MissingExtraError):
        report_html(BASE)
    fallback = report_html(BASE, chart=None)
    assert "<img" not in fallback
    assert "class='bars'" in fallback and "width:40.0%" in fallback  # 2 of 5 correct


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = save_report(EVIDENCE, tmp_path / "out" / "report.json")
    assert load_report(path) == EVIDENCE
    with pytest.raises(DataError, match="no such file"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"summary": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="not an evaluation report"):
        load_report(tmp_path / "bad.json")


def test_a_run_directory_stands_for_its_report(tmp_path: Path) -> None:
    run = tmp_path / "tune2"
    save_report(EVIDENCE, run / "eval" / "report.json")
    assert find_report(run) == run / "eval" / "report.json"
    assert load_report(run).model == "tuned"
    assert run_label(run) == "tune2"
    assert run_label(run / "eval" / "report.json") == "tune2"
    assert run_label(tmp_path / "base.json") == "base"
    with pytest.raises(DataError, match="no evaluation report"):
        load_report(tmp_path)


def test_markdown_evidence_diff_rows_and_neighbours() -> None:
    text = report_markdown(EVIDENCE, training=TRAINING)
    case = text.split("### 1. Sessions per OS in 2024?", 1)[1].split("### 2.", 1)[0]
    # The SQL diff, wdiff style, keeps the prediction's own text for unchanged runs.
    assert "select os, [-count-]{+uniq+}({+user_id+}) as [-n-]{+users+} from" in case
    # Rows were sorted to line up (the judge did not compare order) and only the 50/49 differs.
    assert "rows sorted to line up" in case
    assert "| Android | 50 → **49** |" in case
    assert "| iOS | 30 |" in case and "| Windows | 20 |" in case
    assert "| os | n / users |" in case
    # The nearest training pair by question, and the one whose SQL the model answered with.
    assert "Nearest training pairs by question:" in case
    assert "Distinct users per OS in 2024 (the model answered with this SQL)" in case
    assert "Nearest training pairs by SQL:" in case
    # A correct case: no diff marks, its rows without arrows.
    right = text.split("### 2. How many users?", 1)[1]
    assert "→" not in right.split("Nearest", 1)[0]


def test_hostile_sql_questions_and_values_are_escaped() -> None:
    hostile = _report("x", [HOSTILE])
    page = report_html(hostile, chart=False)
    assert "<script>" not in page and "<img src=x" not in page and "<i>" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<th>&lt;th&gt;</th>" in page
    text = report_markdown(hostile)
    # Raw HTML only inside code blocks, which markdown shows as text. The SQL holds a run of
    # three backticks, so its block needs a longer fence to stay one block.
    outside = re.sub(r"\n````\n.*?\n````\n", "\n", text, flags=re.DOTALL)
    assert outside != text
    assert "<script>" not in outside and "<img" not in outside and "<i>" not in outside
    assert "&lt;img src=x onerror=alert(1)> users?" in text
    assert "| &lt;th> / c |" in text


def test_html_evidence_marks_differing_cells() -> None:
    page = report_html(EVIDENCE, chart=False, training=TRAINING)
    case = page.split("id='case-1'", 1)[1].split("id='case-2'", 1)[0]
    assert "<details open>" in case  # failing cases are open
    assert "<del>count</del>" in case and "<ins>uniq</ins>" in case
    assert "<td class='diff'>50</td>" in case and "<td class='diff'>49</td>" in case
    assert "<td>30</td>" in case  # equal cells are not marked
    assert case.count("class='diff'") == 2
    assert "(the model answered with this SQL)" in case
    assert "<details>" in page.split("id='case-2'", 1)[1]  # correct cases start closed


def test_failures_only_and_no_training() -> None:
    text = report_markdown(EVIDENCE, failures_only=True)
    assert "### 1. Sessions per OS in 2024?" in text and "### 2." not in text
    assert "| 2 | How many users? |" in text  # the case table still lists every case
    assert "Nearest training pairs" not in text
    page = report_html(EVIDENCE, chart=False, failures_only=True)
    assert "id='case-1'" in page and "id='case-2'" not in page


def test_totals_missing_columns_and_rows_are_shown() -> None:
    result = EvalResult(
        question="Users per country, with the total?",
        reference_sql="SELECT country, count() FROM u GROUP BY country WITH TOTALS",
        predicted_sql="SELECT country FROM u GROUP BY country ORDER BY country LIMIT 1",
        valid=True,
        correct=False,
        category="wrong_result",
        reason="the reference includes a totals row (WITH TOTALS) that the prediction lacks",
        details={"ordered": True},
        reference_preview=_preview(
            ["country", "count()"], [["France", 3], ["Germany", 4]], totals=["", 7]
        ),
        predicted_preview=_preview(["country"], [["France"]]),
    )
    (evidence,) = report_evidence(_report("m", [result]))
    rows = evidence.rows
    assert rows is not None
    assert rows.column_map == [0, None]
    assert rows.differing == [[1], [0, 1]]  # missing column; missing second row
    assert rows.totals_differing == [0, 1]
    assert "the prediction has no totals row" in (rows.note or "")
    text = report_markdown(_report("m", [result]))
    assert "| France | 3 → **(no column)** |" in text
    assert "| Germany → **(no row)** | 4 → **(no row)** |" in text
    assert "| totals:  → **(none)** | 7 → **(none)** |" in text


def test_old_reports_without_previews_still_render() -> None:
    (evidence,) = report_evidence(_report("old", [_result("Q", False, "wrong_result")]))
    assert evidence.rows is None
    assert not evidence.sql_diff.identical
    assert "Rows (" not in report_markdown(_report("old", [_result("Q", False, "wrong_result")]))


def test_golden_lint_findings_show_in_reports() -> None:
    finding = {
        "case": 1,
        "question": "Sessions per OS in 2024?",
        "check": "order_tie",
        "severity": "error",
        "message": "row 3 and row 4 tie on the ORDER BY keys",
        "hint": "add a tie-breaker",
    }
    report = _report("tuned", [WRONG, RIGHT], golden_lint=[finding])
    text = report_markdown(report)
    assert "## Golden-set findings" in text
    assert "> golden set error: row 3 and row 4 tie on the ORDER BY keys" in text
    page = report_html(report, chart=False)
    assert "Golden-set findings" in page and "add a tie-breaker" in page
