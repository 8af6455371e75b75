"""Comparisons rendered: markdown for two reports or a series, and the iteration HTML page.

The iteration page shows, for a series of runs on one golden set (baseline, tune 1, tune 2...):
accuracy and validity per run with the accuracy's Wilson 95% interval, a chart per run, and for
each step the fixed / broken / still-failing / still-correct cases with an exact McNemar test,
so a gain on a small golden set is not oversold.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import partial

from ..records import EvalReport
from ._render import MARK, md, page, pct, prose
from .charts import bar_chart_png, categories_chart_png, html_bars, html_chart, report_bars
from .compare import CaseChange, IterationReport, ReportComparison, RunSummary

__all__ = ["comparison_markdown", "iteration_html", "iteration_markdown"]

_READING = (
    "Accuracy intervals are Wilson 95% intervals: where the accuracy on many more questions "
    "like these would likely fall. Each step's p-value is an exact McNemar test: it looks only "
    "at the questions whose verdict changed (fixed vs broken) and asks how likely so lopsided "
    "a split is by chance. Undecided cases count as not correct."
)


def _step_markdown(c: ReportComparison, level: str) -> list[str]:
    lines = [f"{prose(c.headline)}.", ""] if c.headline else []
    lines += [
        f"| | {md(c.a)} | {md(c.b)} |",
        "|---|---|---|",
        f"| Valid SQL | {pct(c.validity_a)} | {pct(c.validity_b)} |",
        f"| Correct | {pct(c.accuracy_a)} | {pct(c.accuracy_b)} |",
        "",
    ]
    groups: list[tuple[str, list[CaseChange]]] = [
        ("Fixed (now correct)", c.fixed),
        ("Broken (no longer correct)", c.broken),
        ("Other changes", c.other_changes),
    ]
    for title, changes in groups:
        lines += [f"{level} {title}: {len(changes)}", ""]
        if changes:
            lines += [
                prose(
                    f"- {ch.question} ({ch.category_before} → {ch.category_after}): "
                    f"{ch.reason_after}"
                )
                for ch in changes
            ]
            lines.append("")
    lines.append(
        f"Still failing: {len(c.still_failing)}; still correct: {len(c.still_correct)} "
        f"(of {c.paired} questions in both)."
    )
    if c.only_in_a or c.only_in_b:
        lines.append(
            prose(f"Only in {c.a}: {len(c.only_in_a)}; only in {c.b}: {len(c.only_in_b)}.")
        )
    return lines


def comparison_markdown(comparison: ReportComparison) -> str:
    """A comparison of two reports as markdown: headline with its test, then the flipped cases."""
    title = prose(f"{comparison.a} vs {comparison.b}")
    lines = [f"# {title}", "", *_step_markdown(comparison, "##")]
    return "\n".join(lines).rstrip() + "\n"


def _verdict_text(verdict: bool | None, category: str | None) -> str:
    if category is None:
        return "-"
    return "correct" if verdict else category


def iteration_markdown(iteration: IterationReport) -> str:
    """A series of runs as markdown: the runs, each step, then every case across the runs."""
    names = [run.label for run in iteration.runs]
    lines = [f"# Iteration report: {prose(' → '.join(names))}", ""]
    lines += [
        "| Run | Model | Cases | Valid SQL | Correct | 95% interval |",
        "|---|---|---|---|---|---|",
    ]
    for run in iteration.runs:
        lines.append(
            f"| {md(run.label)} | {md(run.model or '-')} | {run.total} | {pct(run.validity_rate)} "
            f"| {run.correct} ({pct(run.accuracy)}) | {pct(run.accuracy_low)} to "
            f"{pct(run.accuracy_high)} |"
        )
    lines += ["", _READING, ""]
    for step in iteration.steps:
        lines += [f"## {prose(step.a)} → {prose(step.b)}", "", *_step_markdown(step, "###"), ""]
    if len(iteration.runs) > 1:
        lines += ["## Cases", "", "| Question | " + " | ".join(md(n) for n in names) + " |"]
        lines.append("|---|" + "---|" * len(names))
        for case in iteration.cases:
            cells = [
                _verdict_text(v, c) for v, c in zip(case.verdicts, case.categories, strict=True)
            ]
            lines.append(f"| {md(case.question)} | " + " | ".join(cells) + " |")
    return "\n".join(lines).rstrip() + "\n"


# --- the HTML page -----------------------------------------------------------------------------


def _runs_table(runs: Sequence[RunSummary]) -> str:
    esc = html.escape
    rows = [
        "<table><tr><th>Run</th><th>Model</th><th>Judge</th><th>Cases</th><th>Valid SQL</th>"
        "<th>Correct</th><th>Accuracy, 95% interval</th></tr>"
    ]
    for run in runs:
        rows.append(
            f"<tr><td>{esc(run.label)}</td><td>{esc(run.model or '-')}</td>"
            f"<td>{esc(run.judge or '-')}</td><td class='num'>{run.total}</td>"
            f"<td class='num'>{run.valid} ({pct(run.validity_rate)})</td>"
            f"<td class='num'>{run.correct} ({pct(run.accuracy)})</td>"
            f"<td class='num'>{pct(run.accuracy_low)} to {pct(run.accuracy_high)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _accuracy_bars(runs: Sequence[RunSummary]) -> str:
    return html_bars(
        [
            (
                run.label,
                run.accuracy,
                f"{run.correct}/{run.total} ({pct(run.accuracy_low)} to {pct(run.accuracy_high)})",
                "#2f6b3a",
            )
            for run in runs
        ]
    )


def _changes_html(title: str, changes: Sequence[CaseChange]) -> str:
    esc = html.escape
    if not changes:
        return f"<h4>{esc(title)}: 0</h4>"
    items = "".join(
        f"<li>{esc(ch.question)} <span class='note'>({esc(ch.category_before)} → "
        f"{esc(ch.category_after)}): {esc(ch.reason_after)}</span></li>"
        for ch in changes
    )
    return f"<h4>{esc(title)}: {len(changes)}</h4><ul>{items}</ul>"


def _questions_html(title: str, questions: Sequence[str]) -> str:
    esc = html.escape
    items = "".join(f"<li>{esc(q)}</li>" for q in questions)
    return f"<details><summary>{esc(title)}: {len(questions)}</summary><ul>{items}</ul></details>"


def _step_html(step: ReportComparison) -> str:
    esc = html.escape
    css = "yes" if step.significance and step.significance.significant else "note"
    table = (
        f"<table><tr><th></th><th>correct in {esc(step.b)}</th><th>not correct in {esc(step.b)}"
        f"</th></tr><tr><th>correct in {esc(step.a)}</th>"
        f"<td class='num'>{len(step.still_correct)} still correct</td>"
        f"<td class='num no'>{len(step.broken)} broken</td></tr>"
        f"<tr><th>not correct in {esc(step.a)}</th><td class='num yes'>{len(step.fixed)} fixed</td>"
        f"<td class='num'>{len(step.still_failing)} still failing</td></tr></table>"
    )
    parts = [
        f"<h2>{esc(step.a)} → {esc(step.b)}</h2>",
        f"<p class='{css}'>{esc(step.headline)}.</p>",
        table,
        _changes_html("Fixed (now correct)", step.fixed),
        _changes_html("Broken (no longer correct)", step.broken),
        _changes_html("Other changes (not correct in either)", step.other_changes),
        _questions_html("Still failing", step.still_failing),
        _questions_html("Still correct", step.still_correct),
    ]
    if step.only_in_a or step.only_in_b:
        parts.append(
            f"<p class='note'>Not paired: {len(step.only_in_a)} question(s) only in "
            f"{esc(step.a)}, {len(step.only_in_b)} only in {esc(step.b)}.</p>"
        )
    return "\n".join(parts)


def _cases_html(iteration: IterationReport) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(run.label)}</th>" for run in iteration.runs)
    rows = [f"<table><tr><th>Question</th>{head}</tr>"]
    for case in iteration.cases:
        cells = []
        previous: bool | None = None
        for index, (verdict, category) in enumerate(
            zip(case.verdicts, case.categories, strict=True)
        ):
            if category is None:
                cells.append("<td class='note'>-</td>")
                continue
            flip = ""
            if index and case.categories[index - 1] is not None:
                if verdict is True and previous is not True:
                    flip = " ▲ fixed"
                elif verdict is not True and previous is True:
                    flip = " ▼ broken"
            css = MARK[verdict]
            cells.append(f"<td class='{css}'>{esc(_verdict_text(verdict, category))}{flip}</td>")
            previous = verdict
        rows.append(f"<tr><td>{esc(case.question)}</td>{''.join(cells)}</tr>")
    rows.append("</table>")
    return "".join(rows)


def iteration_html(
    iteration: IterationReport,
    reports: Sequence[EvalReport],
    *,
    chart: bool | None = None,
) -> str:
    """The iteration report as one self-contained HTML page.

    Args:
        iteration: From :func:`~text2sql_tune.reporting.compare_runs`.
        reports: The same reports, in the same order (for the per-run charts).
        chart: ``None``: PNG charts when matplotlib is installed, else CSS bars; ``True``:
            require matplotlib; ``False``: CSS bars only.

    Raises:
        MissingExtraError: ``chart`` is true and matplotlib is not installed.
    """
    esc = html.escape
    labels = [run.label for run in iteration.runs]
    title = f"Iteration report: {' → '.join(labels)}"
    body = [
        f"<h1>{esc(title)}</h1>",
        _runs_table(iteration.runs),
        f"<p class='note'>{_READING}</p>",
    ]
    required = chart is True
    overview = _accuracy_bars(iteration.runs)
    if chart is not False:
        overview = html_chart(
            lambda: bar_chart_png(reports, labels=labels, intervals=True),
            "validity and accuracy per run, with 95% intervals",
            overview,
            required=required,
        )
    body += ["<h2>Accuracy per run</h2>", overview, "<h2>Outcomes per run</h2><div class='sbs'>"]
    for run, report in zip(iteration.runs, reports, strict=True):
        fallback = f"<b>{esc(run.label)}</b>" + report_bars(report)
        picture = fallback
        if chart is not False:
            picture = html_chart(
                partial(categories_chart_png, report, title=run.label),
                f"outcomes of {run.label}",
                fallback,
                required=required,
            )
        body.append(f"<div>{picture}</div>")
    body.append("</div>")
    body += [_step_html(step) for step in iteration.steps]
    if len(iteration.runs) > 1:
        body += ["<h2>Case by case</h2>", _cases_html(iteration)]
    return page(title, body)
