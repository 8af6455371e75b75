"""Charts for reports: PNG images drawn with matplotlib, or plain HTML bars without it.

matplotlib comes with the ``report`` extra (``pip install 'text2sql-tune[report]'``) and is
imported only when a chart is drawn. The HTML pages embed a PNG as a ``data:`` URI so they can be
mailed as one file; without matplotlib they draw the same numbers as CSS bars instead.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MissingExtraError
from ..records import EvalReport
from .significance import wilson_interval

__all__ = ["bar_chart_png", "categories_chart_png", "html_bars", "html_chart", "report_bars"]

_VALID = "#8fb3d9"
_CORRECT = "#2f6b3a"
_FAILED = "#c0504d"


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "report") from exc
    return Figure(figsize=(width, height), dpi=110)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def bar_chart_png(
    reports: EvalReport | Sequence[EvalReport],
    *,
    labels: Sequence[str] = (),
    intervals: bool = False,
) -> bytes:
    """A PNG bar chart of validity and accuracy, one pair of bars per report.

    The legend sits above the plot, clear of the bars and their value labels.

    Args:
        reports: One report or several (e.g. base model vs tuned model).
        labels: Names under each pair of bars; default the reports' model names.
        intervals: Draw the 95% Wilson interval of each accuracy as an error bar.

    Raises:
        MissingExtraError: matplotlib is not installed (``text2sql-tune[report]``).
    """
    items = [reports] if isinstance(reports, EvalReport) else list(reports)
    names = list(labels) or [r.model or f"report {i + 1}" for i, r in enumerate(items)]
    figure = _figure(max(4.0, 2.2 * len(items) + 1.5), 3.4)
    axes = figure.subplots()
    width = 0.38
    positions = list(range(len(items)))
    validity = [r.summary.validity_rate * 100 for r in items]
    accuracy = [r.summary.accuracy * 100 for r in items]
    bars = axes.bar(
        [p - width / 2 for p in positions], validity, width, label="valid SQL", color=_VALID
    )
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in validity], fontsize=8)
    errors = None
    tops = accuracy
    if intervals:
        bounds = [wilson_interval(r.summary.correct, r.summary.total) for r in items]
        errors = [
            [a - low * 100 for a, (low, _) in zip(accuracy, bounds, strict=True)],
            [high * 100 - a for a, (_, high) in zip(accuracy, bounds, strict=True)],
        ]
        tops = [high * 100 for _, high in bounds]
    bars = axes.bar(
        [p + width / 2 for p in positions],
        accuracy,
        width,
        label="correct" + (" (with its 95% interval)" if intervals else ""),
        color=_CORRECT,
        yerr=errors,
        capsize=4 if intervals else 0,
        error_kw={"elinewidth": 1, "ecolor": "#555"},
    )
    # Each accuracy is written above its bar, or above its interval so the two never overlap.
    for bar, value, top in zip(bars, accuracy, tops, strict=True):
        axes.annotate(
            f"{value:.0f}%",
            (bar.get_x() + bar.get_width() / 2, top),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set_xticks(positions, names)
    axes.set_ylim(0, 115)
    axes.set_ylabel("% of golden cases")
    axes.spines[["top", "right"]].set_visible(False)
    figure.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    return _png(figure)


def _categories(report: EvalReport) -> list[tuple[str, int]]:
    counts = report.summary.by_category
    failing = sorted(
        ((k, v) for k, v in counts.items() if k != "correct" and v), key=lambda kv: (-kv[1], kv[0])
    )
    return [("correct", counts.get("correct", 0)), *failing]


def categories_chart_png(report: EvalReport, *, title: str | None = None) -> bytes:
    """A PNG horizontal bar chart of one report's outcomes: correct, then each failure category.

    Raises:
        MissingExtraError: matplotlib is not installed (``text2sql-tune[report]``).
    """
    rows = _categories(report)
    figure = _figure(5.2, 0.9 + 0.32 * len(rows))
    axes = figure.subplots()
    names = [name for name, _ in rows][::-1]
    values = [count for _, count in rows][::-1]
    colors = [_CORRECT if name == "correct" else _FAILED for name in names]
    bars = axes.barh(names, values, color=colors, height=0.6)
    axes.bar_label(bars, labels=[str(v) for v in values], fontsize=8, padding=2)
    axes.set_xlim(0, max(1, report.summary.total) * 1.12)
    axes.set_xlabel("cases")
    axes.tick_params(axis="y", labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title or report.model or "outcomes", fontsize=9)
    figure.tight_layout()
    return _png(figure)


def html_bars(rows: Sequence[tuple[str, float, str, str]]) -> str:
    """Bars drawn with CSS: ``(label, share in [0, 1], value text, colour)`` per bar."""
    cells = []
    for label, share, text, color in rows:
        width = max(0.0, min(1.0, share)) * 100
        cells.append(
            f"<tr><td>{html.escape(label)}</td><td><div class='bar'><span "
            f"style='width:{width:.1f}%;background:{color}'></span></div></td>"
            f"<td class='num'>{html.escape(text)}</td></tr>"
        )
    return "<table class='bars'>" + "".join(cells) + "</table>"


def html_chart(draw: Callable[[], bytes], alt: str, fallback: str, *, required: bool) -> str:
    """An embedded PNG from ``draw``, or ``fallback`` HTML when matplotlib is missing.

    Raises:
        MissingExtraError: matplotlib is missing and ``required`` is true.
    """
    try:
        png = base64.b64encode(draw()).decode("ascii")
    except MissingExtraError:
        if required:
            raise
        return fallback
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'>"


def report_bars(report: EvalReport) -> str:
    """A report's validity, accuracy and categories as CSS bars (the no-matplotlib chart)."""
    s = report.summary
    total = max(1, s.total)
    rows = [
        ("valid SQL", s.validity_rate, f"{s.valid}/{s.total}", _VALID),
        ("correct", s.accuracy, f"{s.correct}/{s.total}", _CORRECT),
    ]
    rows += [(f"  {name}", n / total, str(n), _FAILED) for name, n in _categories(report)[1:]]
    return html_bars(rows)
