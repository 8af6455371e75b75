"""The training section of evaluation reports: a loss curve and the training-recall figures.

A report evaluated on a local model carries ``metadata["training"]`` (the job's loss curve and,
with the memory recipe, its exact recall of the training SQL). The curve is drawn as inline SVG,
so it needs no plotting library.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["loss_curve_svg", "training_rows"]


def loss_curve_svg(
    losses: Sequence[Sequence[float]], *, width: int = 480, height: int = 200
) -> str:
    """An SVG line chart of ``[step, loss]`` points (empty string when there are none).

    Args:
        losses: ``[step, loss]`` pairs in step order.
        width: Chart width in pixels.
        height: Chart height in pixels.
    """
    points = [(float(p[0]), float(p[1])) for p in losses if len(p) >= 2]
    if not points:
        return ""
    left, right, top, bottom = 48, 12, 12, 28
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    x0, x1 = min(steps), max(steps)
    y1 = max(values) or 1.0
    span_x = (x1 - x0) or 1.0

    def x(step: float) -> float:
        return left + (step - x0) / span_x * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / y1) * (height - top - bottom)

    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
    axis = f"M{left},{top} L{left},{height - bottom} L{width - right},{height - bottom}"
    labels = [
        (left - 6, top + 4, "end", f"{y1:.3g}"),
        (left - 6, height - bottom + 4, "end", "0"),
        (left, height - 8, "start", f"step {x0:g}"),
        (width - right, height - 8, "end", f"step {x1:g}"),
    ]
    text = "".join(
        f"<text x='{tx}' y='{ty}' text-anchor='{anchor}' font-size='11'>{html.escape(t)}</text>"
        for tx, ty, anchor, t in labels
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        "role='img' aria-label='training loss by step'>"
        f"<path d='{axis}' stroke='#888' fill='none'/>"
        f"<polyline points='{line}' fill='none' stroke='#2f6b3a' stroke-width='2'/>{text}</svg>"
    )


def training_rows(training: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Summary rows of ``report.metadata["training"]``: job, steps, loss, wall time, recall."""
    rows = [("Tuning job", str(training.get("job_id", "-")))]
    if training.get("base_model"):
        rows.append(("Base model", str(training["base_model"])))
    losses = training.get("losses") or []
    if losses:
        first, last = losses[0][1], losses[-1][1]
        rows.append(("Training loss", f"{first:.4f} → {last:.4f} over {losses[-1][0]} steps"))
    if training.get("wall_time_s") is not None:
        rows.append(("Training time", f"{float(training['wall_time_s']):.1f} s"))
    recall = training.get("recall")
    if recall:
        rows.append(
            (
                "Training recall (exact SQL)",
                f"{recall['exact']}/{recall['total']} ({recall['exact_rate']:.1%}); "
                f"{recall['normalized']}/{recall['total']} after normalisation",
            )
        )
        if recall.get("correct") is not None:
            rows.append(
                (
                    "Training recall (same result)",
                    f"{recall['correct']}/{recall['total']} ({recall['correct_rate']:.1%}), "
                    f"judge: {recall.get('judge')}",
                )
            )
    return rows
