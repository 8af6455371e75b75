"""Side-by-side evidence for one evaluated case: what a reader needs to see why it failed.

For each case :func:`case_evidence` gathers the reference and predicted SQL as a token diff, the
first rows of both results lined up column by column with the differing cells marked, the
judge's reason, and (given the training pairs) the nearest training pairs by question and by
SQL, so the reader sees what the model could have learned the answer from.

Rows come from the previews the :class:`~text2sql_tune.evaluate.evaluator.Evaluator` keeps on each
result (``preview_rows``, 10 by default); reports written before previews existed show the SQL
diff and the reason only. Cells are compared with the judge's own value rules
(:func:`~text2sql_tune.evaluate.judges.compare.cells_match`: numeric tolerance, rounding, dates,
NULL).
Training pairs are ranked with the TF-IDF index of the retrieval baseline
(:class:`~text2sql_tune.models.retrieval.LexicalIndex`), over questions and over SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..evaluate.judges.compare import cells_match, row_sort_key
from ..models.retrieval import LexicalIndex
from ..records import EvalReport, EvalResult, QAPair, ResultPreview
from ..sql.normalize import normalize_question, normalize_sql
from .sqldiff import SQLDiff, sql_diff

__all__ = [
    "CaseEvidence",
    "Neighbour",
    "RowsComparison",
    "TrainingIndex",
    "align_rows",
    "case_evidence",
    "report_evidence",
]


class RowsComparison(BaseModel):
    """The first rows of the reference and the predicted result, lined up.

    Attributes:
        reference: The reference preview.
        predicted: The predicted preview (``None`` when the predicted query did not run).
        reference_rows: Reference rows in display order.
        predicted_rows: Predicted rows in display order.
        column_map: For each reference column, the predicted column shown against it (``None``
            when the prediction has no such column).
        extra_columns: Predicted columns no reference column maps to.
        differing: For each displayed row, the reference columns whose cell differs (a row only
            one side has differs in every column).
        totals_differing: Reference columns whose ``WITH TOTALS`` value the prediction does not
            match (all of them when the prediction has no totals row).
        sorted_rows: Both sides were sorted to line up (the judge ignored row order).
        note: What the reader should know about the rows shown.
    """

    model_config = ConfigDict(extra="forbid")

    reference: ResultPreview
    predicted: ResultPreview | None = None
    reference_rows: list[list[Any]] = Field(default_factory=list)
    predicted_rows: list[list[Any]] = Field(default_factory=list)
    column_map: list[int | None] = Field(default_factory=list)
    extra_columns: list[int] = Field(default_factory=list)
    differing: list[list[int]] = Field(default_factory=list)
    totals_differing: list[int] = Field(default_factory=list)
    sorted_rows: bool = False
    note: str | None = None

    @property
    def any_difference(self) -> bool:
        """True when at least one displayed cell (or totals cell) differs."""
        return any(self.differing) or bool(self.totals_differing)


class Neighbour(BaseModel):
    """A training pair close to a golden case.

    Attributes:
        question: The training question.
        sql: The training SQL.
        similarity: TF-IDF cosine similarity in ``[0, 1]``.
        same_sql_as_prediction: The model answered with exactly this SQL (after normalisation).
    """

    model_config = ConfigDict(extra="forbid")

    question: str
    sql: str
    similarity: float
    same_sql_as_prediction: bool = False


class CaseEvidence(BaseModel):
    """Everything shown for one case.

    Attributes:
        number: Position in the golden set, from 1.
        result: The evaluated case.
        sql_diff: Reference vs predicted SQL.
        rows: The first rows of both results, or ``None`` when the reference did not run or
            the report has no previews.
        similar_questions: Nearest training pairs by question.
        similar_sql: Nearest training pairs by SQL (to the reference query).
        lint: Golden-set lint messages about this case (``severity: message``).
    """

    model_config = ConfigDict(extra="forbid")

    number: int
    result: EvalResult
    sql_diff: SQLDiff
    rows: RowsComparison | None = None
    similar_questions: list[Neighbour] = Field(default_factory=list)
    similar_sql: list[Neighbour] = Field(default_factory=list)
    lint: list[str] = Field(default_factory=list)


class TrainingIndex:
    """Training pairs indexed for "which pairs are closest to this case?" (built once per report).

    Args:
        pairs: The training pairs (rejected ones are ignored).
    """

    def __init__(self, pairs: Sequence[QAPair]) -> None:
        self.pairs = [p for p in pairs if p.ok]
        self._questions = LexicalIndex([p.question for p in self.pairs])
        # The index reads lower-cased words, so case, spacing and quoting do not matter here.
        self._sql = LexicalIndex([p.sql for p in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)

    def _found(self, hits: list[tuple[int, float]], predicted: str | None) -> list[Neighbour]:
        target = normalize_sql(predicted) if predicted else None
        return [
            Neighbour(
                question=self.pairs[i].question,
                sql=self.pairs[i].sql,
                similarity=round(min(1.0, score), 4),
                same_sql_as_prediction=target is not None
                and normalize_sql(self.pairs[i].sql) == target,
            )
            for i, score in hits
            if score > 0
        ]

    def by_question(
        self, question: str, k: int = 3, predicted: str | None = None
    ) -> list[Neighbour]:
        """The ``k`` pairs whose questions are most similar to ``question``."""
        if not self.pairs or k < 1:
            return []
        return self._found(self._questions.search(question, k), predicted)

    def by_sql(self, sql: str, k: int = 3, predicted: str | None = None) -> list[Neighbour]:
        """The ``k`` pairs whose SQL is most similar to ``sql``."""
        if not self.pairs or k < 1 or not sql.strip():
            return []
        return self._found(self._sql.search(sql, k), predicted)


# --- rows side by side -------------------------------------------------------------------------


def _column_map(
    reference: ResultPreview, predicted: ResultPreview, judged: dict[str, Any]
) -> list[int | None]:
    """Pair reference columns with predicted ones: the judge's mapping, names, values, position."""
    ref_cols, pred_cols = reference.columns, predicted.columns
    mapping: list[int | None] = [None] * len(ref_cols)
    used: set[int] = set()

    def take(i: int, j: int) -> None:
        mapping[i] = j
        used.add(j)

    by_judge = judged.get("column_mapping")
    if isinstance(by_judge, dict):
        for i, name in enumerate(ref_cols):
            target = by_judge.get(name)
            if target in pred_cols and pred_cols.index(target) not in used:
                take(i, pred_cols.index(target))
    lowered = [c.lower() for c in pred_cols]
    for i, name in enumerate(ref_cols):
        if mapping[i] is None and name.lower() in lowered:
            j = lowered.index(name.lower())
            if j not in used:
                take(i, j)
    for i in range(len(ref_cols)):
        if mapping[i] is not None:
            continue
        ref_values = sorted((r[i] for r in reference.rows), key=lambda v: row_sort_key([v]))
        for j in range(len(pred_cols)):
            if j in used:
                continue
            pred_values = sorted((r[j] for r in predicted.rows), key=lambda v: row_sort_key([v]))
            same_size = bool(ref_values) and len(ref_values) == len(pred_values)
            if same_size and all(map(cells_match, ref_values, pred_values)):
                take(i, j)
                break
    free = [j for j in range(len(pred_cols)) if j not in used]
    for i in range(len(ref_cols)):
        if mapping[i] is None and free:
            take(i, free.pop(0))
    return mapping


def align_rows(result: EvalResult) -> RowsComparison | None:
    """Line up the first rows of a case's reference and predicted results.

    Returns:
        The comparison, or ``None`` when the report kept no reference rows.
    """
    reference, predicted = result.reference_preview, result.predicted_preview
    if reference is None:
        return None
    if predicted is None:
        return RowsComparison(
            reference=reference,
            reference_rows=reference.rows,
            note=_shown(reference, None) + "; the predicted query returned no result",
        )
    mapping = _column_map(reference, predicted, result.details)
    extra = [j for j in range(len(predicted.columns)) if j not in mapping]
    ref_rows, pred_rows = [list(r) for r in reference.rows], [list(r) for r in predicted.rows]
    ordered = bool(result.details.get("ordered", False))
    sort = not ordered and reference.complete and predicted.complete
    if sort:
        ref_rows.sort(key=row_sort_key)
        order = [j for j in mapping if j is not None] + extra
        pred_rows.sort(key=lambda row: row_sort_key([row[j] for j in order]))
    approximate = result.details.get("approximate") == "tolerance"
    differing: list[list[int]] = []
    for index in range(max(len(ref_rows), len(pred_rows))):
        if index >= len(ref_rows) or index >= len(pred_rows):
            differing.append(list(range(len(reference.columns))))
            continue
        ref_row, pred_row = ref_rows[index], pred_rows[index]
        differing.append(
            [
                i
                for i, j in enumerate(mapping)
                if j is None or not cells_match(ref_row[i], pred_row[j], approximate=approximate)
            ]
        )
    totals_differing: list[int] = []
    if reference.totals is not None:
        theirs = predicted.totals
        totals_differing = [
            i
            for i, j in enumerate(mapping)
            if theirs is None
            or j is None
            or not cells_match(reference.totals[i], theirs[j], approximate=approximate)
        ]
    note = _shown(reference, predicted)
    sort = sort and max(len(ref_rows), len(pred_rows)) > 1
    if sort:
        note += "; rows sorted to line up (row order is not compared for this question)"
    if reference.totals is not None and predicted.totals is None:
        note += "; the prediction has no totals row"
    return RowsComparison(
        reference=reference,
        predicted=predicted,
        reference_rows=ref_rows,
        predicted_rows=pred_rows,
        column_map=mapping,
        extra_columns=extra,
        differing=differing,
        totals_differing=totals_differing,
        sorted_rows=sort,
        note=note,
    )


def _shown(reference: ResultPreview, predicted: ResultPreview | None) -> str:
    def one(name: str, preview: ResultPreview) -> str:
        if preview.complete:
            return f"{name}: {preview.row_count} row(s)"
        return f"{name}: first {len(preview.rows)} of {preview.row_count} rows"

    parts = [one("reference", reference)]
    if predicted is not None:
        parts.append(one("prediction", predicted))
    return ", ".join(parts)


# --- the whole case ----------------------------------------------------------------------------


def _lint_messages(report: EvalReport) -> dict[str, list[str]]:
    messages: dict[str, list[str]] = {}
    for finding in report.metadata.get("golden_lint", []) or []:
        if isinstance(finding, dict) and finding.get("question"):
            key = normalize_question(str(finding["question"]))
            text = f"{finding.get('severity', 'warning')}: {finding.get('message', '')}"
            messages.setdefault(key, []).append(text)
    return messages


def _as_index(training: TrainingIndex | Sequence[QAPair] | None) -> TrainingIndex | None:
    if training is None or isinstance(training, TrainingIndex):
        return training
    return TrainingIndex(training) if training else None


def case_evidence(
    result: EvalResult,
    *,
    number: int = 1,
    training: TrainingIndex | Sequence[QAPair] | None = None,
    neighbours: int = 3,
    lint: Sequence[str] = (),
) -> CaseEvidence:
    """Gather the evidence for one case.

    Args:
        result: The evaluated case.
        number: Its position in the golden set, from 1.
        training: Training pairs (or an index of them, to reuse across cases) for the nearest
            neighbours; ``None`` shows none.
        neighbours: Pairs listed by question and by SQL.
        lint: Golden-set lint messages about this case.

    Returns:
        The evidence.
    """
    index = _as_index(training)
    predicted = result.predicted_sql or None
    return CaseEvidence(
        number=number,
        result=result,
        sql_diff=sql_diff(result.reference_sql, result.predicted_sql),
        rows=align_rows(result),
        similar_questions=[]
        if index is None
        else index.by_question(result.question, neighbours, predicted),
        similar_sql=[]
        if index is None
        else index.by_sql(result.reference_sql, neighbours, predicted),
        lint=list(lint),
    )


def report_evidence(
    report: EvalReport,
    *,
    training: TrainingIndex | Sequence[QAPair] | None = None,
    neighbours: int = 3,
) -> list[CaseEvidence]:
    """The evidence for every case of a report, in golden order.

    Args:
        report: The report.
        training: The training pairs the model was tuned on (for the nearest neighbours), or a
            :class:`TrainingIndex` of them to reuse across renderings.
        neighbours: Pairs listed per case by question and by SQL.
    """
    index = _as_index(training)
    lint = _lint_messages(report)
    return [
        case_evidence(
            result,
            number=number,
            training=index,
            neighbours=neighbours,
            lint=lint.get(normalize_question(result.question), []),
        )
        for number, result in enumerate(report.results, start=1)
    ]
