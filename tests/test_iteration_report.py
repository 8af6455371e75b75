"""Comparing runs: flipped cases, Wilson intervals, McNemar, and the iteration HTML page."""

from __future__ import annotations

import base64
import re
import sys

import pytest

from text2sql_tune import EvalReport, EvalResult, EvaluationError, MissingExtraError
from text2sql_tune.evaluate.evaluator import summarize
from text2sql_tune.reporting import (
    compare_reports,
    compare_runs,
    comparison_markdown,
    iteration_html,
    iteration_markdown,
)

CATEGORY = {True: "correct", False: "wrong_result", None: "undecided"}


def _report(name: str, verdicts: dict[str, bool | None]) -> EvalReport:
    results = [
        EvalResult(
            question=question,
            reference_sql="SELECT 1",
            predicted_sql="SELECT 1",
            valid=True,
            correct=verdict,
            category=CATEGORY[verdict],
            reason=f"{name}: {CATEGORY[verdict]}",
        )
        for question, verdict in verdicts.items()
    ]
    return EvalReport(summary=summarize(results), results=results, model=name, judge="execution")


QUESTIONS = [f"Q{i}?" for i in range(1, 11)]
# Baseline 5/10; tune 1 fixes Q6 and Q7 (7/10); tune 2 fixes Q8-Q10, breaks Q1, Q5 undecided.
BASE = _report("model", {q: i < 5 for i, q in enumerate(QUESTIONS)})
TUNE1 = _report("model", {q: i < 7 for i, q in enumerate(QUESTIONS)})
TUNE2 = _report("model", {q: (None if i == 4 else i != 0) for i, q in enumerate(QUESTIONS)})


def test_two_reports_fixed_broken_still_failing_still_correct() -> None:
    c = compare_reports(BASE, TUNE1, labels=("baseline", "tune 1"))
    assert [ch.question for ch in c.fixed] == ["Q6?", "Q7?"]
    assert c.broken == [] and c.other_changes == []
    assert c.still_correct == QUESTIONS[:5]
    assert c.still_failing == QUESTIONS[7:]
    assert c.paired == 10
    assert c.significance is not None and c.significance.p_value == 0.5
    assert c.headline.startswith("tune 1 7/10 vs baseline 5/10, p=0.5: not significant on 10 cases")
    text = comparison_markdown(c)
    assert "# baseline vs tune 1" in text
    assert "## Fixed (now correct): 2" in text and "## Broken (no longer correct): 0" in text
    assert "Still failing: 3; still correct: 5 (of 10 questions in both)." in text


def test_undecided_counts_as_not_correct_and_unpaired_cases_are_left_out() -> None:
    extra = _report("model", {**{q: True for q in QUESTIONS[:5]}, "New?": True})
    c = compare_reports(TUNE1, TUNE2)
    assert [ch.question for ch in c.broken] == ["Q1?", "Q5?"]  # correct -> wrong / undecided
    assert [ch.question for ch in c.fixed] == ["Q8?", "Q9?", "Q10?"]
    assert c.significance is not None and c.significance.p_value == 1.0  # 3 vs 2
    d = compare_reports(BASE, extra)
    assert d.paired == 5 and d.only_in_a == QUESTIONS[5:] and d.only_in_b == ["New?"]


def test_compare_runs_tracks_every_case_with_intervals() -> None:
    it = compare_runs([BASE, TUNE1, TUNE2], ["baseline", "tune 1", "tune 2"])
    assert [r.label for r in it.runs] == ["baseline", "tune 1", "tune 2"]
    assert [r.correct for r in it.runs] == [5, 7, 8]
    assert it.runs[1].accuracy_low == pytest.approx(0.3968, abs=1e-4)
    assert it.runs[1].accuracy_high == pytest.approx(0.8922, abs=1e-4)
    assert [(s.a, s.b) for s in it.steps] == [("baseline", "tune 1"), ("tune 1", "tune 2")]
    q5 = next(case for case in it.cases if case.question == "Q5?")
    assert q5.verdicts == [True, True, None]
    assert q5.categories == ["correct", "correct", "undecided"]
    # Without labels the model names are used, made unique.
    assert [r.label for r in compare_runs([BASE, TUNE1]).runs] == ["model", "model #2"]
    with pytest.raises(EvaluationError, match="2 labels for 3 reports"):
        compare_runs([BASE, TUNE1, TUNE2], ["a", "b"])
    with pytest.raises(EvaluationError, match="at least one"):
        compare_runs([])


def test_iteration_markdown() -> None:
    text = iteration_markdown(compare_runs([BASE, TUNE1, TUNE2], ["baseline", "tune 1", "tune 2"]))
    assert text.startswith("# Iteration report: baseline → tune 1 → tune 2")
    assert "| tune 1 | model | 10 | 100.0% | 7 (70.0%) | 39.7% to 89.2% |" in text
    assert "## baseline → tune 1" in text and "## tune 1 → tune 2" in text
    assert "### Broken (no longer correct): 2" in text
    assert "| Q5? | correct | correct | undecided |" in text


def test_iteration_page_is_a_real_page_with_a_chart_per_run() -> None:
    reports = [BASE, TUNE1, TUNE2]
    it = compare_runs(reports, ["baseline", "tune 1", "tune 2"])
    page = iteration_html(it, reports)
    assert page.startswith("<!DOCTYPE html>") and "<pre>" not in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 1 + 3  # the overview, then one chart per run
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in images)
    assert "<td class='num'>39.7% to 89.2%</td>" in page
    assert "p=0.5: not significant on 10 cases" in page
    assert "<td class='num yes'>2 fixed</td>" in page
    assert "<td class='num'>3 still failing</td>" in page
    assert "▼ broken" in page and "▲ fixed" in page
    assert "http" not in page.replace("charset", "")


def test_iteration_page_without_matplotlib_draws_html_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    reports = [BASE, TUNE1]
    it = compare_runs(reports, ["baseline", "tune 1"])
    page = iteration_html(it, reports)
    assert "<img" not in page
    assert page.count("class='bars'") == 1 + 2
    assert "width:70.0%" in page  # tune 1's accuracy bar
    with pytest.raises(MissingExtraError):
        iteration_html(it, reports, chart=True)
    assert "<img" not in iteration_html(it, reports, chart=False)
