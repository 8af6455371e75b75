"""One evaluation as markdown or as a self-contained HTML page, with the evidence of every case."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..records import EvalReport, QAPair
from ._render import (
    MARK,
    case_html,
    case_markdown,
    failure_categories,
    lint_findings,
    md,
    page,
    prose,
    summary_rows,
)
from .charts import bar_chart_png, categories_chart_png, html_chart, report_bars
from .evidence import TrainingIndex, report_evidence
from .loss_curve import loss_curve_svg, training_rows

__all__ = ["report_html", "report_markdown"]


def _selected(report: EvalReport, failures_only: bool) -> list[int]:
    return [i for i, r in enumerate(report.results) if not failures_only or r.correct is not True]


def report_markdown(
    report: EvalReport,
    *,
    training: TrainingIndex | Sequence[QAPair] | None = None,
    neighbours: int = 3,
    failures_only: bool = False,
) -> str:
    """The report as markdown: summary, failure categories, a table of cases, then each case.

    Each case shows its verdict and reason, the SQL diff (``[-reference only-]``,
    ``{+prediction only+}``), the first rows of both results with differing cells written
    ``reference → **prediction**``, and the nearest training pairs.

    Args:
        report: The report.
        training: The training pairs (or a :class:`~text2sql_tune.reporting.TrainingIndex` of
            them), for the nearest pairs by question and by SQL.
        neighbours: Training pairs listed per case, by question and by SQL.
        failures_only: Detail only the cases that are not correct (the table lists all).
    """
    lines = [f"# Evaluation of {prose(report.model or 'a model')}", ""]
    judge = prose(report.judge or "-")
    lines.append(f"Judge: {judge}; finished {report.created_at:%Y-%m-%d %H:%M} UTC.")
    lines += ["", "| Metric | Value |", "|---|---|"]
    lines += [f"| {name} | {md(value)} |" for name, value in summary_rows(report.summary)]
    training_record = report.metadata.get("training")  # a local model: its loss curve and recall
    if isinstance(training_record, dict):
        lines += [f"| {name} | {md(value)} |" for name, value in training_rows(training_record)]
    lines += ["", "## Where it fails", ""]
    failing = failure_categories(report.summary)
    if failing:
        lines += ["| Category | Cases |", "|---|---|"]
        lines += [f"| {md(name)} | {count} |" for name, count in failing]
    else:
        lines.append("Every case is correct.")
    findings = lint_findings(report)
    if findings:
        lines += ["", "## Golden-set findings", ""]
        lines += [
            prose(
                f"- {f.get('severity')}: {f.get('question')}: {f.get('message')} ({f.get('hint')})"
            )
            for f in findings
        ]
    lines += ["", "## Cases", "", "| # | Question | Valid | Correct | Category | Reason |"]
    lines.append("|---|---|---|---|---|---|")
    for number, result in enumerate(report.results, start=1):
        lines.append(
            f"| {number} | {md(result.question)} | {MARK[result.valid]} | "
            f"{MARK[result.correct]} | {md(result.category)} | {md(result.reason)} |"
        )
    evidence = report_evidence(report, training=training, neighbours=neighbours)
    wanted = _selected(report, failures_only)
    if wanted:
        lines += ["", "## Evidence", ""]
        for index in wanted:
            lines += case_markdown(evidence[index])
    return "\n".join(lines).rstrip() + "\n"


def report_html(
    report: EvalReport,
    *,
    chart: bool | None = True,
    training: TrainingIndex | Sequence[QAPair] | None = None,
    neighbours: int = 3,
    failures_only: bool = False,
) -> str:
    """A self-contained HTML page: summary, chart, categories, and the evidence of each case.

    Every case gets a section (open when it is not correct) with the reference and predicted SQL
    side by side (removed tokens red, added ones green), the first rows of both results side by
    side with differing cells marked, the judge's reason and the nearest training pairs.

    Args:
        report: The report.
        chart: ``True``: embed the validity/accuracy chart (needs matplotlib); ``None``: embed
            it when matplotlib is installed, else draw CSS bars; ``False``: no chart.
        training: The training pairs (or a :class:`~text2sql_tune.reporting.TrainingIndex` of
            them), for the nearest pairs by question and by SQL.
        neighbours: Training pairs listed per case, by question and by SQL.
        failures_only: Detail only the cases that are not correct (the table lists all).

    Raises:
        MissingExtraError: ``chart`` is true and matplotlib is not installed.
    """
    esc = html.escape
    title = f"Evaluation of {report.model or 'a model'}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>Judge: {esc(report.judge or '-')}; finished "
        f"{report.created_at:%Y-%m-%d %H:%M} UTC.</p>",
    ]
    if chart is not False:
        required = chart is True
        body.append(
            "<div class='sbs'><div>"
            + html_chart(
                lambda: bar_chart_png(report), "validity and accuracy", "", required=required
            )
            + "</div><div>"
            + html_chart(
                lambda: categories_chart_png(report),
                "outcomes",
                report_bars(report),
                required=required,
            )
            + "</div></div>"
        )
    body.append("<table>")
    body += [
        f"<tr><th>{esc(n)}</th><td>{esc(v)}</td></tr>" for n, v in summary_rows(report.summary)
    ]
    training_record = report.metadata.get("training")
    if isinstance(training_record, dict):
        body += [
            f"<tr><th>{esc(n)}</th><td>{esc(str(v))}</td></tr>"
            for n, v in training_rows(training_record)
        ]
        body.append("</table><h2>Training loss</h2>")
        body.append(loss_curve_svg(training_record.get("losses") or []))
        body.append("<table>")
    body.append("</table><h2>Where it fails</h2>")
    failing = failure_categories(report.summary)
    if failing:
        body.append("<table><tr><th>Category</th><th>Cases</th></tr>")
        body += [f"<tr><td>{esc(n)}</td><td class='num'>{c}</td></tr>" for n, c in failing]
        body.append("</table>")
    else:
        body.append("<p>Every case is correct.</p>")
    findings = lint_findings(report)
    if findings:
        body.append("<h2>Golden-set findings</h2><ul>")
        body += [
            f"<li><span class='{esc(str(f.get('severity')))}'>{esc(str(f.get('severity')))}"
            f"</span> {esc(str(f.get('question')))}: {esc(str(f.get('message')))} "
            f"<span class='note'>{esc(str(f.get('hint')))}</span></li>"
            for f in findings
        ]
        body.append("</ul>")
    body.append(
        "<h2>Cases</h2><table><tr><th>#</th><th>Question</th><th>Valid</th><th>Correct</th>"
        "<th>Category</th><th>Reason</th></tr>"
    )
    for number, r in enumerate(report.results, start=1):
        body.append(
            f"<tr><td>{number}</td><td><a href='#case-{number}'>{esc(r.question)}</a></td>"
            f"<td class='{MARK[r.valid]}'>{MARK[r.valid]}</td>"
            f"<td class='{MARK[r.correct]}'>{MARK[r.correct]}</td><td>{esc(r.category)}</td>"
            f"<td>{esc(r.reason)}</td></tr>"
        )
    body.append("</table>")
    evidence = report_evidence(report, training=training, neighbours=neighbours)
    wanted = _selected(report, failures_only)
    if wanted:
        body.append("<h2>Evidence</h2>")
        body += [case_html(evidence[i]) for i in wanted]
    return page(title, body)
