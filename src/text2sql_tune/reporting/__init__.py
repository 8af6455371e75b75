"""Evaluation reports: markdown, self-contained HTML pages with charts, evidence, comparisons.

- :func:`report_markdown` / :func:`report_html`: one evaluation, with the evidence of every
  case (SQL diff, the first rows of both results side by side, the judge's reason, the nearest
  training pairs when ``training=`` is given).
- :func:`compare_reports`: two evaluations of one golden set (fixed / broken cases, exact
  McNemar test); :func:`compare_runs` + :func:`iteration_html`: a series of runs on one page.
- :func:`load_report` / :func:`save_report`: report files (a run directory works too).

Charts need matplotlib, from the ``report`` extra: ``pip install 'text2sql-tune[report]'``. It
is imported only when a chart is drawn.
"""

from __future__ import annotations

from .charts import bar_chart_png, categories_chart_png
from .compare import (
    CaseChange,
    CaseTrack,
    IterationReport,
    ReportComparison,
    RunSummary,
    compare_reports,
    compare_runs,
)
from .evidence import (
    CaseEvidence,
    Neighbour,
    RowsComparison,
    TrainingIndex,
    align_rows,
    case_evidence,
    report_evidence,
)
from .files import find_report, load_report, run_label, save_report
from .iteration import comparison_markdown, iteration_html, iteration_markdown
from .single import report_html, report_markdown
from .sqldiff import DiffSegment, SQLDiff, sql_diff

__all__ = [
    "CaseChange",
    "CaseEvidence",
    "CaseTrack",
    "DiffSegment",
    "IterationReport",
    "Neighbour",
    "ReportComparison",
    "RowsComparison",
    "RunSummary",
    "SQLDiff",
    "TrainingIndex",
    "align_rows",
    "bar_chart_png",
    "case_evidence",
    "categories_chart_png",
    "compare_reports",
    "compare_runs",
    "comparison_markdown",
    "find_report",
    "iteration_html",
    "iteration_markdown",
    "load_report",
    "report_evidence",
    "report_html",
    "report_markdown",
    "run_label",
    "save_report",
    "sql_diff",
]
