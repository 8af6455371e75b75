"""Evaluation reports: markdown, a self-contained HTML page with a bar chart, and comparisons.

The bar chart (validity and accuracy, as in the article) needs matplotlib, from the ``report``
extra: ``pip install 'text2sql-tune[report]'``. It is imported only when a chart is drawn.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._files import atomic_write_json
from .errors import DataError, MissingExtraError
from .evaluation import normalize_question
from .models import EvalReport, EvalResult, EvalSummary

__all__ = [
    "CaseChange",
    "ReportComparison",
    "bar_chart_png",
    "compare_reports",
    "comparison_markdown",
    "load_report",
    "report_html",
    "report_markdown",
    "save_report",
]

_MARK = {True: "yes", False: "no", None: "undecided"}


def load_report(path: str | Path) -> EvalReport:
    """Read a report written by ``evaluate --output`` or :func:`save_report`.

    Raises:
        DataError: The file is missing or is not a report.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise DataError(f"{path}: not an evaluation report: {exc}") from exc


def save_report(report: EvalReport, path: str | Path) -> Path:
    """Write a report as JSON (``summary`` + ``results``), atomically, and return the path."""
    path = Path(path)
    atomic_write_json(path, report.model_dump(mode="json"))
    return path


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _summary_rows(summary: EvalSummary) -> list[tuple[str, str]]:
    rows = [
        ("Cases", str(summary.total)),
        ("Valid SQL", f"{summary.valid} ({_pct(summary.validity_rate)})"),
        ("Correct", f"{summary.correct} ({_pct(summary.accuracy)})"),
        ("Wrong", str(summary.wrong)),
        ("Undecided", str(summary.undecided)),
        ("Mean latency", f"{summary.mean_latency_s:.2f} s"),
    ]
    if summary.usage is not None:
        rows.append(("Tokens", f"{summary.usage.total_tokens:,} in {summary.usage.calls} calls"))
        if summary.usage.cost_usd is not None:
            rows.append(("Cost", f"${summary.usage.cost_usd:.4f}"))
    return rows


def report_markdown(report: EvalReport) -> str:
    """The report as markdown: summary, failure categories and one row per case."""
    lines = [f"# Evaluation of {report.model or 'a model'}", ""]
    lines.append(f"Judge: {report.judge or '-'}; finished {report.created_at:%Y-%m-%d %H:%M} UTC.")
    lines += ["", "| Metric | Value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in _summary_rows(report.summary)]
    lines += ["", "## Where it fails", "", "| Category | Cases |", "|---|---|"]
    categories = sorted(report.summary.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    lines += [f"| {name} | {count} |" for name, count in categories]
    lines += ["", "## Cases", "", "| # | Question | Valid | Correct | Category | Reason |"]
    lines.append("|---|---|---|---|---|---|")
    for number, result in enumerate(report.results, start=1):
        lines.append(
            f"| {number} | {_cell(result.question)} | {_MARK[result.valid]} | "
            f"{_MARK[result.correct]} | {result.category} | {_cell(result.reason)} |"
        )
    return "\n".join(lines) + "\n"


def bar_chart_png(
    reports: EvalReport | Sequence[EvalReport], *, labels: Sequence[str] = ()
) -> bytes:
    """A PNG bar chart of validity and accuracy, one pair of bars per report.

    Args:
        reports: One report or several (e.g. base model vs tuned model).
        labels: Names under each pair of bars; default the reports' model names.

    Raises:
        MissingExtraError: matplotlib is not installed (``text2sql-tune[report]``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "report") from exc
    items = [reports] if isinstance(reports, EvalReport) else list(reports)
    names = list(labels) or [r.model or f"report {i + 1}" for i, r in enumerate(items)]
    figure = Figure(figsize=(max(4.0, 2.2 * len(items) + 1.5), 3.2), dpi=110)
    axes = figure.subplots()
    width = 0.38
    positions = list(range(len(items)))
    validity = [r.summary.validity_rate * 100 for r in items]
    accuracy = [r.summary.accuracy * 100 for r in items]
    for offset, values, label, color in (
        (-width / 2, validity, "valid SQL", "#8fb3d9"),
        (width / 2, accuracy, "correct", "#2f6b3a"),
    ):
        bars = axes.bar([p + offset for p in positions], values, width, label=label, color=color)
        axes.bar_label(bars, labels=[f"{v:.0f}%" for v in values], fontsize=8)
    axes.set_xticks(positions, names)
    axes.set_ylim(0, 110)
    axes.set_ylabel("% of golden cases")
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.yes{color:#2f6b3a}.no{color:#b22}
.undecided{color:#a60}pre{white-space:pre-wrap;margin:.2rem 0;font-size:.85em}
"""


def _case_row(number: int, result: EvalResult) -> str:
    esc = html.escape
    correct = _MARK[result.correct]
    sql = (
        f"<details><summary>SQL</summary><b>reference</b><pre>{esc(result.reference_sql)}</pre>"
        f"<b>predicted</b><pre>{esc(result.predicted_sql or '(none)')}</pre></details>"
    )
    return (
        f"<tr><td>{number}</td><td>{esc(result.question)}{sql}</td>"
        f"<td class='{_MARK[result.valid]}'>{_MARK[result.valid]}</td>"
        f"<td class='{correct}'>{correct}</td><td>{esc(result.category)}</td>"
        f"<td>{esc(result.reason)}</td></tr>"
    )


def report_html(report: EvalReport, *, chart: bool = True) -> str:
    """A self-contained HTML page: summary, an embedded bar chart, categories and cases.

    Args:
        report: The report.
        chart: Embed the validity/accuracy bar chart (needs matplotlib).

    Raises:
        MissingExtraError: ``chart`` is true and matplotlib is not installed.
    """
    esc = html.escape
    title = f"Evaluation of {report.model or 'a model'}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Judge: {esc(report.judge or '-')}; finished "
        f"{report.created_at:%Y-%m-%d %H:%M} UTC.</p>",
    ]
    if chart:
        png = base64.b64encode(bar_chart_png(report)).decode("ascii")
        parts.append(f"<img alt='validity and accuracy' src='data:image/png;base64,{png}'>")
    parts.append("<table>")
    parts += [
        f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>"
        for name, value in _summary_rows(report.summary)
    ]
    parts += ["</table><h2>Where it fails</h2><table><tr><th>Category</th><th>Cases</th></tr>"]
    categories = sorted(report.summary.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    parts += [f"<tr><td>{esc(name)}</td><td>{count}</td></tr>" for name, count in categories]
    parts += [
        "</table><h2>Cases</h2><table><tr><th>#</th><th>Question</th><th>Valid</th>"
        "<th>Correct</th><th>Category</th><th>Reason</th></tr>"
    ]
    parts += [_case_row(i, r) for i, r in enumerate(report.results, start=1)]
    parts.append("</table></body></html>")
    return "\n".join(parts)


class CaseChange(BaseModel):
    """One golden question whose outcome differs between two reports."""

    model_config = ConfigDict(extra="forbid")

    question: str
    before: bool | None
    after: bool | None
    category_before: str
    category_after: str
    reason_after: str


class ReportComparison(BaseModel):
    """What changed from report ``a`` (before) to report ``b`` (after).

    Attributes:
        a: Name of the first report's model.
        b: Name of the second report's model.
        accuracy_a: Accuracy of ``a``.
        accuracy_b: Accuracy of ``b``.
        validity_a: Validity rate of ``a``.
        validity_b: Validity rate of ``b``.
        fixed: Cases wrong (or undecided) in ``a`` and correct in ``b``.
        broken: Cases correct in ``a`` and wrong (or undecided) in ``b``.
        other_changes: Cases whose verdict or category changed otherwise.
        only_in_a: Questions only ``a`` evaluated.
        only_in_b: Questions only ``b`` evaluated.
    """

    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    accuracy_a: float
    accuracy_b: float
    validity_a: float
    validity_b: float
    fixed: list[CaseChange] = Field(default_factory=list)
    broken: list[CaseChange] = Field(default_factory=list)
    other_changes: list[CaseChange] = Field(default_factory=list)
    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)


def compare_reports(a: EvalReport, b: EvalReport) -> ReportComparison:
    """Which cases flipped between two evaluations of the same golden set.

    Cases are matched by normalised question.
    """
    before = {normalize_question(r.question): r for r in a.results}
    after = {normalize_question(r.question): r for r in b.results}
    comparison = ReportComparison(
        a=a.model or "a",
        b=b.model or "b",
        accuracy_a=a.summary.accuracy,
        accuracy_b=b.summary.accuracy,
        validity_a=a.summary.validity_rate,
        validity_b=b.summary.validity_rate,
        only_in_a=[r.question for k, r in before.items() if k not in after],
        only_in_b=[r.question for k, r in after.items() if k not in before],
    )
    for key, old in before.items():
        new = after.get(key)
        if new is None or (old.correct == new.correct and old.category == new.category):
            continue
        change = CaseChange(
            question=old.question,
            before=old.correct,
            after=new.correct,
            category_before=old.category,
            category_after=new.category,
            reason_after=new.reason,
        )
        if new.correct is True and old.correct is not True:
            comparison.fixed.append(change)
        elif old.correct is True and new.correct is not True:
            comparison.broken.append(change)
        else:
            comparison.other_changes.append(change)
    return comparison


def comparison_markdown(comparison: ReportComparison) -> str:
    """A comparison as markdown: headline numbers, then the flipped cases."""
    c = comparison
    lines = [
        f"# {c.a} vs {c.b}",
        "",
        f"| | {_cell(c.a)} | {_cell(c.b)} |",
        "|---|---|---|",
        f"| Valid SQL | {_pct(c.validity_a)} | {_pct(c.validity_b)} |",
        f"| Correct | {_pct(c.accuracy_a)} | {_pct(c.accuracy_b)} |",
        "",
    ]
    for title, changes in (
        ("Fixed (now correct)", c.fixed),
        ("Broken (no longer correct)", c.broken),
        ("Other changes", c.other_changes),
    ):
        lines += [f"## {title}: {len(changes)}", ""]
        if changes:
            lines += [
                f"- {ch.question} ({ch.category_before} -> {ch.category_after}): {ch.reason_after}"
                for ch in changes
            ]
            lines.append("")
    if c.only_in_a or c.only_in_b:
        lines.append(f"Only in {c.a}: {len(c.only_in_a)}; only in {c.b}: {len(c.only_in_b)}.")
    return "\n".join(lines).rstrip() + "\n"
