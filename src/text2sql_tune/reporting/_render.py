"""Pieces shared by the markdown and HTML renderings: cell text, the page style, case evidence."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Collection
from typing import Any

from ..records import EvalReport, EvalSummary
from .evidence import CaseEvidence, Neighbour, RowsComparison
from .significance import wilson_interval
from .sqldiff import DiffSegment, split_lead

__all__ = [
    "CSS",
    "MARK",
    "case_html",
    "case_markdown",
    "cell",
    "code_block",
    "code_span",
    "failure_categories",
    "lint_findings",
    "md",
    "page",
    "pct",
    "prose",
    "summary_rows",
    "value_text",
]

MARK = {True: "yes", False: "no", None: "undecided"}

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.6rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.yes{color:#2f6b3a}.no{color:#b22}
.undecided{color:#a60}pre{white-space:pre-wrap;margin:.2rem 0;font-size:.85em;background:#f8f8f8;
padding:.4rem;border-radius:4px}del{background:#fdd;color:#900;text-decoration:none}
ins{background:#dfd;color:#060;text-decoration:none}.sbs{display:flex;gap:1rem;flex-wrap:wrap}
.sbs>div{flex:1 1 28rem;min-width:0;overflow-x:auto}td.diff{background:#fdd;font-weight:600}
td.extra{color:#777}tr.missing td{background:#fee}.note{color:#555;font-size:.9em}
section.case{border-top:1px solid #ddd;margin-top:1rem;padding-top:.5rem}
h4{margin:.6rem 0 .2rem}.num{text-align:right;font-variant-numeric:tabular-nums}
.bars td{border:none;padding:.15rem .4rem}.bar{background:#eee;width:16rem;height:.9rem}
.bar span{display:block;height:100%}.error{color:#b22;font-weight:600}.warning{color:#a60}
"""

_MAX_CELL = 80


def pct(value: float) -> str:
    """A rate as a percentage with one decimal."""
    return f"{value:.1%}"


def md(text: object) -> str:
    """Text safe inside a markdown table cell (no raw HTML, pipes escaped, one line)."""
    return prose(text).replace("|", "\\|").replace("\n", " ")


def prose(text: object) -> str:
    """Text safe as markdown prose: ``&`` and ``<`` as entities, so it holds no raw HTML.

    ``>`` cannot open a tag and stays as it is, so ``revenue > 0`` reads well as plain text.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;")


def code_block(text: str, language: str = "") -> list[str]:
    """A fenced code block whose fence is longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text, fence]


def code_span(text: str) -> str:
    """Inline code that survives backticks in ``text`` (ClickHouse quotes names with them)."""
    one_line = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", one_line)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{ticks}{pad}{one_line}{pad}{ticks}"


def value_text(value: Any) -> str:
    """A result cell as short text: NULL, numbers as the engine gave them, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def cell(value: Any) -> str:
    """A result cell, HTML-escaped."""
    return html.escape(value_text(value))


def page(title: str, body: list[str]) -> str:
    """A complete self-contained HTML page (inline style, nothing loaded from elsewhere)."""
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
    )
    return "\n".join([head, *body, "</body></html>"])


def summary_rows(summary: EvalSummary) -> list[tuple[str, str]]:
    """(metric, value) rows of a summary, with the accuracy's Wilson interval."""
    low, high = wilson_interval(summary.correct, summary.total)
    rows = [
        ("Cases", str(summary.total)),
        ("Valid SQL", f"{summary.valid} ({pct(summary.validity_rate)})"),
        ("Correct", f"{summary.correct} ({pct(summary.accuracy)})"),
        ("Accuracy, 95% interval", f"{pct(low)} to {pct(high)} (Wilson, {summary.total} cases)"),
        ("Wrong", str(summary.wrong)),
        ("Undecided", str(summary.undecided)),
        ("Mean latency", f"{summary.mean_latency_s:.2f} s"),
    ]
    if summary.usage is not None:
        rows.append(("Tokens", f"{summary.usage.total_tokens:,} in {summary.usage.calls} calls"))
        if summary.usage.cost_usd is not None:
            rows.append(("Cost", f"${summary.usage.cost_usd:.4f}"))
    return rows


def failure_categories(summary: EvalSummary) -> list[tuple[str, int]]:
    """Failure categories, most cases first; ``correct`` is not a failure."""
    failing = [(name, n) for name, n in summary.by_category.items() if name != "correct" and n]
    return sorted(failing, key=lambda kv: (-kv[1], kv[0]))


def lint_findings(report: EvalReport) -> list[dict[str, Any]]:
    """The golden-set lint findings ``evaluate`` stored in the report's metadata."""
    found = report.metadata.get("golden_lint") or []
    return [f for f in found if isinstance(f, dict)]


# --- markdown evidence -------------------------------------------------------------------------


def _rows_markdown(rows: RowsComparison) -> list[str]:
    ref = rows.reference
    if rows.predicted is None:
        header = [md(c) for c in ref.columns]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += [
            "| " + " | ".join(md(value_text(v)) for v in r) + " |" for r in rows.reference_rows
        ]
        return lines
    pred = rows.predicted
    header = []
    for i, name in enumerate(ref.columns):
        j = rows.column_map[i] if i < len(rows.column_map) else None
        other = pred.columns[j] if j is not None else None
        header.append(md(name if other in (None, name) else f"{name} / {other}"))
    header += [md(f"+ {pred.columns[j]}") for j in rows.extra_columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, differing in enumerate(rows.differing):
        ref_row = rows.reference_rows[index] if index < len(rows.reference_rows) else None
        pred_row = rows.predicted_rows[index] if index < len(rows.predicted_rows) else None
        cells = []
        for i, j in enumerate(rows.column_map):
            left = "(no row)" if ref_row is None else value_text(ref_row[i])
            if pred_row is None:
                right = "(no row)"
            else:
                right = "(no column)" if j is None else value_text(pred_row[j])
            cells.append(md(f"{left} → **{right}**" if i in differing else left))
        cells += [
            md("" if pred_row is None else value_text(pred_row[j])) for j in rows.extra_columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if ref.totals is not None:
        cells = []
        for i, j in enumerate(rows.column_map):
            left = value_text(ref.totals[i])
            right = "(none)" if pred.totals is None or j is None else value_text(pred.totals[j])
            cells.append(md(f"{left} → **{right}**" if i in rows.totals_differing else left))
        cells[0] = f"totals: {cells[0]}"
        cells += [""] * len(rows.extra_columns)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _neighbours_markdown(title: str, found: list[Neighbour]) -> list[str]:
    if not found:
        return []
    lines = [f"{title}:", ""]
    for n in found:
        same = " (the model answered with this SQL)" if n.same_sql_as_prediction else ""
        lines.append(f"- {n.similarity:.2f} {prose(n.question)}{same}: {code_span(n.sql)}")
    return [*lines, ""]


def case_markdown(evidence: CaseEvidence) -> list[str]:
    """One case as markdown lines: verdict, SQL diff, rows, neighbours."""
    r = evidence.result
    lines = [f"### {evidence.number}. {md(r.question)}", ""]
    judge = f" (judge: {prose(r.judge)})" if r.judge else ""
    lines += [f"**{r.category}**{judge}: {prose(r.reason)}", ""]
    lines += [f"> golden set {prose(message)}" for message in evidence.lint]
    if evidence.lint:
        lines.append("")
    if not r.predicted_sql.strip():
        lines += ["Reference SQL:", "", *code_block(r.reference_sql.strip(), "sql"), ""]
    elif evidence.sql_diff.identical:
        same = code_block(r.predicted_sql.strip(), "sql")
        lines += ["SQL (same as the reference):", "", *same, ""]
    else:
        text = evidence.sql_diff.inline()
        lines += ["SQL, `[-reference only-]` `{+prediction only+}`:", ""]
        lines += [*code_block(text.strip()), ""]
    if evidence.rows is not None:
        how = (
            "; `reference → **prediction**` where they differ"
            if evidence.rows.any_difference
            else ""
        )
        lines += [f"Rows ({evidence.rows.note}{how}):", "", *_rows_markdown(evidence.rows), ""]
    lines += _neighbours_markdown("Nearest training pairs by question", evidence.similar_questions)
    lines += _neighbours_markdown("Nearest training pairs by SQL", evidence.similar_sql)
    return lines


# --- HTML evidence -----------------------------------------------------------------------------


def _segments_html(segments: list[DiffSegment], tag: str) -> str:
    parts = []
    for segment in segments:
        if segment.changed:
            lead, body = split_lead(segment.text)
            parts.append(f"{lead}<{tag}>{html.escape(body)}</{tag}>")
        else:
            parts.append(html.escape(segment.text))
    return "".join(parts)


def _table_html(
    columns: list[str],
    rows: list[list[Any] | None],
    marks: list[set[int]],
    extra: Collection[int] = (),
    *,
    totals: bool = False,
) -> str:
    """A result table; with ``totals`` its last row is the WITH TOTALS row."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for number, (row, marked) in enumerate(zip(rows, marks, strict=True)):
        if totals and number == len(rows) - 1:
            body.append(f"<tr><th colspan='{len(columns)}'>totals</th></tr>")
        if row is None:
            body.append(f"<tr class='missing'><td colspan='{len(columns)}'>(no row)</td></tr>")
            continue
        cells = []
        for k, value in enumerate(row):
            css = " class='diff'" if k in marked else " class='extra'" if k in extra else ""
            cells.append(f"<td{css}>{cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>" + "".join(body) + "</table>"


def _rows_html(rows: RowsComparison) -> str:
    ref = rows.reference
    n = len(rows.differing) if rows.predicted is not None else len(rows.reference_rows)
    ref_rows: list[list[Any] | None] = [
        rows.reference_rows[i] if i < len(rows.reference_rows) else None for i in range(n)
    ]
    ref_marks = [set(rows.differing[i]) if rows.predicted is not None else set() for i in range(n)]
    if ref.totals is not None:
        ref_rows.append(ref.totals)
        ref_marks.append(set(rows.totals_differing))
    left = _table_html(ref.columns, ref_rows, ref_marks, totals=ref.totals is not None)
    if rows.predicted is None:
        right = "<p class='note'>no result</p>"
    else:
        pred = rows.predicted
        order = [j for j in rows.column_map if j is not None] + rows.extra_columns
        back = {j: i for i, j in enumerate(rows.column_map) if j is not None}
        pred_rows: list[list[Any] | None] = []
        pred_marks: list[set[int]] = []
        for i in range(n):
            row = rows.predicted_rows[i] if i < len(rows.predicted_rows) else None
            pred_rows.append(None if row is None else [row[j] for j in order])
            differing = set(rows.differing[i])
            pred_marks.append({k for k, j in enumerate(order) if back.get(j) in differing})
        if pred.totals is not None:
            pred_rows.append([pred.totals[j] for j in order])
            pred_marks.append(
                {k for k, j in enumerate(order) if back.get(j) in rows.totals_differing}
            )
        extra = set(range(len(order) - len(rows.extra_columns), len(order)))
        right = _table_html(
            [pred.columns[j] for j in order],
            pred_rows,
            pred_marks,
            extra,
            totals=pred.totals is not None,
        )
    return (
        f"<h4>Rows</h4><p class='note'>{html.escape(rows.note or '')}</p>"
        f"<div class='sbs'><div><b>reference</b>{left}</div>"
        f"<div><b>prediction</b>{right}</div></div>"
    )


def _neighbours_html(title: str, found: list[Neighbour]) -> str:
    if not found:
        return ""
    items = []
    for n in found:
        same = " <b>(the model answered with this SQL)</b>" if n.same_sql_as_prediction else ""
        items.append(
            f"<li>{n.similarity:.2f} {html.escape(n.question)}{same}"
            f"<pre>{html.escape(n.sql.strip())}</pre></li>"
        )
    return f"<div><h4>{html.escape(title)}</h4><ul>{''.join(items)}</ul></div>"


def case_html(evidence: CaseEvidence) -> str:
    """One case as an HTML section (open when the case is not correct)."""
    r = evidence.result
    esc = html.escape
    verdict = MARK[r.correct]
    judge = f" (judge: {esc(r.judge)})" if r.judge else ""
    parts = [
        f"<section class='case' id='case-{evidence.number}'>",
        f"<details{'' if r.correct else ' open'}><summary><b>{evidence.number}.</b> "
        f"{esc(r.question)} <span class='{verdict}'>{esc(r.category)}</span></summary>",
        f"<p><span class='{verdict}'>{esc(r.category)}</span>{judge}: {esc(r.reason)}</p>",
    ]
    parts += [f"<p class='warning'>golden set {esc(m)}</p>" for m in evidence.lint]
    predicted = (
        _segments_html(evidence.sql_diff.predicted, "ins")
        if r.predicted_sql.strip()
        else "(no SQL)"
    )
    parts.append(
        "<div class='sbs'>"
        f"<div><h4>Reference SQL</h4><pre>{_segments_html(evidence.sql_diff.reference, 'del')}"
        f"</pre></div><div><h4>Predicted SQL</h4><pre>{predicted}</pre></div></div>"
    )
    if evidence.rows is not None:
        parts.append(_rows_html(evidence.rows))
    neighbours = _neighbours_html(
        "Nearest training pairs by question", evidence.similar_questions
    ) + _neighbours_html("Nearest training pairs by SQL", evidence.similar_sql)
    if neighbours:
        parts.append(f"<div class='sbs'>{neighbours}</div>")
    parts.append("</details></section>")
    return "\n".join(parts)
