"""Training-data overlap of a test set, and the test report that shows it beside the score.

A test score means something only when the training data does not already hold the test
questions. :func:`training_overlap` lists, for every test case, the nearest training pair by
question (TF-IDF cosine, and :func:`~text2sql_tune.text.paraphrase.paraphrase_similarity`) and
the nearest by SQL (TF-IDF cosine over SQL words, and whether it is the same query after
:func:`~text2sql_tune.sql.canonical.canonical_sql`), and marks the cases a pair nearly copies.

:func:`scored_report_markdown` and :func:`scored_report_html` render a test evaluation *without*
the per-case evidence: the score with its Wilson interval, then the overlap. The test set is scored,
not studied: reading its failures to fix the training data makes it a second dev set (the JSON
report keeps every case, for comparisons).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from ..records import EvalCase, EvalReport, QAPair
from ..sql.canonical import canonical_sql
from ..text.paraphrase import paraphrase_similarity
from ._render import md, page, prose, summary_rows
from .evidence import Neighbour, TrainingIndex

__all__ = [
    "CaseOverlap",
    "TrainingOverlap",
    "overlap_html",
    "overlap_markdown",
    "scored_report_html",
    "scored_report_markdown",
    "training_overlap",
]

NEAR_COPY_QUESTION = 0.8
"""Paraphrase similarity from which a training question nearly copies a test question."""

TEST_NOTE = (
    "The test set is scored, not studied: its cases are not shown one by one here. Reading "
    "their failures to fix the training data would turn it into a second dev set; do the error "
    "analysis on the dev report (eval/report.md)."
)


class CaseOverlap(BaseModel):
    """One test case and its nearest training pairs.

    Attributes:
        case: The case's id, else its position from 1 (``#3``).
        question: The test question.
        by_question: The training pair with the most similar question (TF-IDF cosine).
        paraphrase: :func:`~text2sql_tune.text.paraphrase.paraphrase_similarity` of that pair's
            question and the test question.
        by_sql: The training pair with the most similar SQL (TF-IDF cosine over SQL words).
        same_query: That pair's SQL is the test query (same canonical form).
        near_copy: A training pair holds this query or asks this question in other words
            (``same_query``, or ``paraphrase`` at least 0.8).
    """

    model_config = ConfigDict(extra="forbid")

    case: str
    question: str
    by_question: Neighbour | None = None
    paraphrase: float = 0.0
    by_sql: Neighbour | None = None
    same_query: bool = False
    near_copy: bool = False


class TrainingOverlap(BaseModel):
    """The overlap of a test set with the training pairs.

    Attributes:
        training_pairs: Training pairs compared against.
        cases: One entry per test case, in the test set's order.
        near_copies: Cases a training pair nearly copies (see :attr:`CaseOverlap.near_copy`).
    """

    model_config = ConfigDict(extra="forbid")

    training_pairs: int
    cases: list[CaseOverlap] = Field(default_factory=list)
    near_copies: int = 0

    def sentence(self) -> str:
        """One line for a terminal or a report."""
        total = len(self.cases)
        if not self.near_copies:
            return (
                f"Training overlap: no training pair nearly copies any of the {total} test cases."
            )
        return (
            f"Training overlap: {self.near_copies} of {total} test cases have a training pair "
            "that nearly copies them (same query, or the question in other words): their test "
            "score is not a measure of new questions."
        )


def training_overlap(
    cases: Sequence[EvalCase], training: TrainingIndex | Sequence[QAPair]
) -> TrainingOverlap:
    """The nearest training pair by question and by SQL of every test case.

    Args:
        cases: The test cases.
        training: The training pairs (or a :class:`~text2sql_tune.reporting.TrainingIndex`).
    """
    index = training if isinstance(training, TrainingIndex) else TrainingIndex(training)
    found: list[CaseOverlap] = []
    for position, case in enumerate(cases):
        questions = index.by_question(case.question, k=1)
        sqls = index.by_sql(case.sql, k=1)
        by_question = questions[0] if questions else None
        by_sql = sqls[0] if sqls else None
        canonical = canonical_sql(case.sql)
        paraphrase = 0.0
        if by_question is not None:
            paraphrase = round(paraphrase_similarity(case.question, by_question.question), 4)
        same_query = (
            by_sql is not None and canonical is not None and canonical_sql(by_sql.sql) == canonical
        )
        found.append(
            CaseOverlap(
                case=case.id or f"#{position + 1}",
                question=case.question,
                by_question=by_question,
                paraphrase=paraphrase,
                by_sql=by_sql,
                same_query=same_query,
                near_copy=same_query or paraphrase >= NEAR_COPY_QUESTION,
            )
        )
    return TrainingOverlap(
        training_pairs=len(index),
        cases=found,
        near_copies=sum(1 for c in found if c.near_copy),
    )


def _similarity(found: Neighbour | None) -> str:
    return "-" if found is None else f"{found.similarity:.2f}"


def overlap_markdown(overlap: TrainingOverlap) -> list[str]:
    """The overlap as a markdown section (a heading, a sentence and a table)."""
    lines = ["## Training overlap", "", prose(overlap.sentence()), ""]
    lines += [
        "| Case | Test question | Nearest training question | Similarity (TF-IDF, "
        "paraphrase) | Nearest training SQL | Similarity | Same query |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in overlap.cases:
        question = c.by_question.question if c.by_question else "-"
        sql = c.by_sql.sql if c.by_sql else "-"
        lines.append(
            f"| {md(c.case)}{' ⚠' if c.near_copy else ''} | {md(c.question)} | {md(question)} | "
            f"{_similarity(c.by_question)}, {c.paraphrase:.2f} | {md(sql)} | "
            f"{_similarity(c.by_sql)} | {'yes' if c.same_query else 'no'} |"
        )
    return lines


def overlap_html(overlap: TrainingOverlap) -> str:
    """The overlap as an HTML section."""
    esc = html.escape
    rows = []
    for c in overlap.cases:
        mark = " class='no'" if c.near_copy else ""
        question = esc(c.by_question.question) if c.by_question else "-"
        sql = f"<pre>{esc(c.by_sql.sql)}</pre>" if c.by_sql else "-"
        rows.append(
            f"<tr><td{mark}>{esc(c.case)}</td><td>{esc(c.question)}</td><td>{question}</td>"
            f"<td class='num'>{_similarity(c.by_question)}<br>{c.paraphrase:.2f}</td>"
            f"<td>{sql}</td><td class='num'>{_similarity(c.by_sql)}</td>"
            f"<td>{'yes' if c.same_query else 'no'}</td></tr>"
        )
    return (
        f"<h2>Training overlap</h2><p>{esc(overlap.sentence())}</p>"
        "<table><tr><th>Case</th><th>Test question</th><th>Nearest training question</th>"
        "<th>Similarity<br>(TF-IDF, paraphrase)</th><th>Nearest training SQL</th>"
        "<th>Similarity</th><th>Same query</th></tr>" + "".join(rows) + "</table>"
    )


def _overlap_of(report: EvalReport) -> TrainingOverlap | None:
    found = report.metadata.get("training_overlap")
    return TrainingOverlap.model_validate(found) if isinstance(found, dict) else None


def scored_report_markdown(report: EvalReport) -> str:
    """A test evaluation as markdown: the score and the training overlap, no case evidence."""
    lines = [f"# Test evaluation of {prose(report.model or 'a model')}", ""]
    lines += [prose(TEST_NOTE), "", "| Metric | Value |", "|---|---|"]
    lines += [f"| {name} | {md(value)} |" for name, value in summary_rows(report.summary)]
    overlap = _overlap_of(report)
    if overlap is not None:
        lines += ["", *overlap_markdown(overlap)]
    return "\n".join(lines).rstrip() + "\n"


def scored_report_html(report: EvalReport) -> str:
    """A test evaluation as a self-contained HTML page (see :func:`scored_report_markdown`)."""
    esc = html.escape
    title = f"Test evaluation of {report.model or 'a model'}"
    body = [f"<h1>{esc(title)}</h1>", f"<p class='note'>{esc(TEST_NOTE)}</p>", "<table>"]
    body += [
        f"<tr><th>{esc(n)}</th><td>{esc(v)}</td></tr>" for n, v in summary_rows(report.summary)
    ]
    body.append("</table>")
    overlap = _overlap_of(report)
    if overlap is not None:
        body.append(overlap_html(overlap))
    return page(title, body)
