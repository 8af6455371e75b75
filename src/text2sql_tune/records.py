"""Typed records passed between the steps: pairs, query results, outcomes, decisions, evaluations.

All records are pydantic v2 models: they serialise with ``model_dump(mode="json")`` and read back
with ``model_validate``. Record files are JSONL, one record per line (see ``datasets``).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._defaults import MAX_SQL_LENGTH

__all__ = [
    "MAX_SQL_LENGTH",
    "EvalCase",
    "EvalReport",
    "EvalResult",
    "EvalSummary",
    "ExecutionOutcome",
    "FilterDecision",
    "JudgeInput",
    "OutcomeStatus",
    "Prediction",
    "QAPair",
    "QueryResult",
    "ResultPreview",
    "TuningJob",
    "TuningStatus",
    "Usage",
    "ValidationInfo",
    "Verdict",
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _rename_sql_query(data: Any) -> Any:
    """Accept the article's ``sql_query`` key as ``sql``."""
    if isinstance(data, dict) and "sql_query" in data:
        data = dict(data)
        sql_query = data.pop("sql_query")
        data.setdefault("sql", sql_query)
    return data


def _unknown_keys_to_metadata(model: type[BaseModel], data: Any) -> Any:
    """Keep keys ``model`` does not know (an ``id`` column, a ``difficulty``) in ``metadata``.

    A key already in an explicit ``metadata`` object keeps that value.
    """
    if not isinstance(data, dict):
        return data
    fields = model.model_fields
    extra = {key: value for key, value in data.items() if key not in fields}
    if not extra:
        return data
    kept = {key: value for key, value in data.items() if key in fields}
    metadata = kept.get("metadata")
    if metadata is None:
        metadata = {}
    if isinstance(metadata, dict):
        kept["metadata"] = {**extra, **metadata}
    return kept


class Usage(_Record):
    """Token usage and estimated cost of one or more LLM calls.

    Usages add up: ``total = a + b``.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=cost,
        )


class OutcomeStatus(str, Enum):
    """How running one SQL statement ended."""

    OK = "ok"
    ERROR = "error"
    TOO_MANY_ROWS = "too_many_rows"
    EMPTY = "empty"
    UNSAFE = "unsafe"
    TIMEOUT = "timeout"


class QueryResult(_Record):
    """The typed result of one query.

    Attributes:
        sql: The statement as executed (after a trailing ``FORMAT`` clause was stripped).
        columns: Column names, in result order.
        types: The engine's type names, one per column (ClickHouse: ``"UInt64"``,
            ``"Nullable(String)"``).
        rows: Data rows (the ``WITH TOTALS`` row is not among them, see ``totals``).
        totals: The ``WITH TOTALS`` row when the query produced one, else ``None``.
        row_count: Number of data rows returned (``len(rows)``).
        elapsed_s: Wall-clock seconds the query took.
        truncated: True when rows were cut at the executor's row cap.
    """

    sql: str
    columns: list[str]
    types: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    totals: list[Any] | None = None
    row_count: int = 0
    elapsed_s: float = 0.0
    truncated: bool = False

    @model_validator(mode="after")
    def _fill_row_count(self) -> QueryResult:
        if self.row_count == 0 and self.rows:
            self.row_count = len(self.rows)
        return self

    def as_dicts(self) -> list[dict[str, Any]]:
        """Rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]

    def to_text(self, max_rows: int = 20) -> str:
        """Render the result as a small tab-separated table with a header (for prompts and logs)."""
        lines = ["\t".join(self.columns)]
        lines += ["\t".join(str(v) for v in row) for row in self.rows[:max_rows]]
        if self.totals is not None:
            lines.append("TOTALS\t" + "\t".join(str(v) for v in self.totals))
        if len(self.rows) > max_rows:
            lines.append(f"... ({len(self.rows) - max_rows} more rows)")
        return "\n".join(lines)


class ExecutionOutcome(_Record):
    """A query's outcome classified for cleaning and evaluation; never raises.

    Attributes:
        status: ok / error / too_many_rows / empty / unsafe / timeout.
        result: The result when the query ran (also for ``too_many_rows`` and ``empty``).
        error: The error message for ``error`` / ``unsafe`` / ``timeout``.
        error_code: The engine's error code (ClickHouse: ``47``), when known.
        error_name: The engine's error name (ClickHouse: ``UNKNOWN_IDENTIFIER``), when known.
        error_category: The engine-neutral category of the error (``unknown_column``...; see
            :data:`~text2sql_tune.errors.ErrorCategory`), when the executor filed it.
        elapsed_s: Wall-clock seconds spent.
    """

    status: OutcomeStatus
    result: QueryResult | None = None
    error: str | None = None
    error_code: int | None = None
    error_name: str | None = None
    error_category: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the query ran and returned an acceptable number of rows."""
        return self.status is OutcomeStatus.OK

    @property
    def executed(self) -> bool:
        """True when the engine ran the query to completion (ok, empty or too many rows)."""
        return self.status in (OutcomeStatus.OK, OutcomeStatus.EMPTY, OutcomeStatus.TOO_MANY_ROWS)

    @property
    def row_count(self) -> int | None:
        """Rows returned, or ``None`` when the query did not run."""
        return self.result.row_count if self.result is not None else None


class ValidationInfo(_Record):
    """What validation learned about a pair's SQL, stored on the pair.

    Attributes:
        status: The execution outcome status.
        row_count: Result rows (``None`` when it did not run).
        columns: Result column names.
        preview: The first few result rows.
        error: The error message, when it failed.
        error_code: ClickHouse error code, when it failed.
        error_name: ClickHouse error name, when it failed.
        elapsed_s: Seconds the query took.
    """

    status: OutcomeStatus
    row_count: int | None = None
    columns: list[str] = Field(default_factory=list)
    preview: list[list[Any]] = Field(default_factory=list)
    error: str | None = None
    error_code: int | None = None
    error_name: str | None = None
    elapsed_s: float = 0.0


class QAPair(_Record):
    """A question and the SQL that answers it: the unit of every dataset.

    On input the article's ``sql_query`` key is accepted for ``sql``. A generator that received an
    unusable answer still records it, with ``rejected`` set to the reason, so that a resumed run
    neither pays for it again nor loses it.

    Attributes:
        question: Natural-language question.
        sql: SQL that answers it.
        comments: Free-text notes from the generator (the article's ``comments``).
        source: Where the pair came from, e.g. ``"openai:gpt-4o"``, ``"template"``, ``"seed"``.
        examples: The seed-example questions shown to the generator for this pair.
        rejected: Why the generator's answer was unusable; ``None`` for a usable pair.
        validation: What executing the SQL gave, filled by validation.
        usage: Tokens and cost spent to produce this pair.
        metadata: Anything else worth keeping; keys of an input record that a pair does not know
            (an ``id`` column, say) land here.
    """

    question: str = ""
    sql: str = ""
    comments: str | None = None
    source: str | None = None
    examples: list[str] = Field(default_factory=list)
    rejected: str | None = None
    validation: ValidationInfo | None = None
    usage: Usage | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _accept_article_keys(cls, data: Any) -> Any:
        return _unknown_keys_to_metadata(cls, _rename_sql_query(data))

    @model_validator(mode="after")
    def _require_text_unless_rejected(self) -> QAPair:
        if self.rejected is None and (not self.question.strip() or not self.sql.strip()):
            raise ValueError("a pair needs a non-empty question and sql (or a rejected reason)")
        return self

    @property
    def ok(self) -> bool:
        """True for a usable pair (not rejected by its generator)."""
        return self.rejected is None


class FilterDecision(_Record):
    """One filter's decision about one pair.

    Attributes:
        keep: Whether the pair stays in the dataset.
        filter: Name of the filter that decided.
        reason: Why it was dropped (short, groupable, e.g. ``"too_many_rows"``); ``None`` when kept.
        detail: Extra human-readable detail, e.g. which pair it duplicates.
    """

    keep: bool
    filter: str
    reason: str | None = None
    detail: str | None = None


class EvalCase(_Record):
    """One golden-set case: a question and its reference SQL (``sql_query`` accepted on input).

    Attributes:
        question: The question (not blank).
        sql: The reference SQL (not blank).
        id: An identifier, when the golden set has one.
        tags: Labels for grouping cases (``"join"``, ``"date"``...).
        metadata: Other keys of the input record (a ``difficulty`` column, say).
    """

    question: str
    sql: str
    id: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _accept_article_keys(cls, data: Any) -> Any:
        data = _rename_sql_query(data)
        if isinstance(data, dict) and type(data.get("id")) is int:
            data = {**data, "id": str(data["id"])}  # a numeric id column
        return _unknown_keys_to_metadata(cls, data)

    @field_validator("question", "sql")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Prediction(_Record):
    """What a text-to-SQL model answered for one question.

    Attributes:
        question: The question asked.
        sql: The SQL extracted from the model's answer ("" when none could be extracted).
        raw_output: The model's raw answer.
        latency_s: Seconds the model took.
        usage: Tokens and cost, when the model reports them.
        error: Why no SQL could be obtained (provider error, no SQL in the answer).
    """

    question: str
    sql: str = ""
    raw_output: str | None = None
    latency_s: float = 0.0
    usage: Usage | None = None
    error: str | None = None


class JudgeInput(_Record):
    """What a judge sees for one case.

    Attributes:
        question: The question.
        reference_sql: The golden SQL.
        predicted_sql: The model's SQL.
        reference: The reference result, when already executed.
        predicted: The predicted result, when already executed.
    """

    question: str
    reference_sql: str
    predicted_sql: str
    reference: QueryResult | None = None
    predicted: QueryResult | None = None


class Verdict(_Record):
    """A judge's decision on whether a predicted query answers the question like the reference.

    Attributes:
        correct: True / False, or ``None`` when the judge could not decide.
        reason: Why, in one sentence.
        judge: Name of the judge that decided.
        details: Judge-specific facts (rules applied, rewrites made, score, comments).
    """

    correct: bool | None
    reason: str
    judge: str
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def undecided(self) -> bool:
        """True when the judge could not decide."""
        return self.correct is None


class ResultPreview(_Record):
    """The first rows of a query result, kept on an evaluated case as evidence.

    Attributes:
        columns: Column names, in result order.
        rows: The first rows (at most the evaluator's ``preview_rows``).
        row_count: Rows the query returned in all (more than ``len(rows)`` when cut).
        totals: The ``WITH TOTALS`` row, when there was one.
    """

    columns: list[str]
    rows: list[list[Any]] = Field(default_factory=list)
    row_count: int = 0
    totals: list[Any] | None = None

    @property
    def complete(self) -> bool:
        """True when every row of the result is in the preview."""
        return self.row_count <= len(self.rows)

    @classmethod
    def of(cls, result: QueryResult, max_rows: int) -> ResultPreview:
        """The first ``max_rows`` rows of ``result``."""
        return cls(
            columns=list(result.columns),
            rows=[list(row) for row in result.rows[:max_rows]],
            row_count=result.row_count,
            totals=None if result.totals is None else list(result.totals),
        )


class EvalResult(_Record):
    """One evaluated case.

    Attributes:
        question: The golden question.
        reference_sql: The golden SQL.
        predicted_sql: The model's SQL.
        valid: Whether the predicted SQL executed (ok, empty or too many rows).
        status: Execution outcome status of the predicted SQL.
        correct: Verdict (``None`` when undecided or not judged).
        category: Error category: ``correct``, ``wrong_result``, ``syntax_error``,
            ``unknown_column``, ``unknown_function``, ``unknown_table``, ``type_error``,
            ``empty_result``, ``too_many_rows``, ``unsafe``, ``timeout``, ``no_sql``,
            ``execution_error``, ``undecided``, ``reference_failed``.
        reason: Why, in one sentence.
        judge: The judge that decided.
        error: Engine or model error message, when there was one.
        latency_s: Model latency.
        usage: Model (and judge) tokens and cost.
        details: Judge details.
        reference_preview: First rows of the reference result (``None`` when it did not run or
            previews are off).
        predicted_preview: First rows of the predicted result (``None`` when it did not run).
    """

    question: str
    reference_sql: str
    predicted_sql: str
    valid: bool
    status: OutcomeStatus | None = None
    correct: bool | None = None
    category: str
    reason: str
    judge: str | None = None
    error: str | None = None
    latency_s: float = 0.0
    usage: Usage | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    reference_preview: ResultPreview | None = None
    predicted_preview: ResultPreview | None = None


class EvalSummary(_Record):
    """Counts and rates over an evaluation.

    Attributes:
        total: Number of cases.
        valid: Cases whose predicted SQL executed.
        correct: Cases judged correct.
        wrong: Cases judged wrong.
        undecided: Cases no judge could decide.
        validity_rate: ``valid / total``.
        accuracy: ``correct / total``.
        by_status: Count per execution outcome status.
        by_category: Count per error category.
        usage: Total tokens and cost.
        mean_latency_s: Mean model latency.
    """

    total: int
    valid: int
    correct: int
    wrong: int
    undecided: int
    validity_rate: float
    accuracy: float
    by_status: dict[str, int] = Field(default_factory=dict)
    by_category: dict[str, int] = Field(default_factory=dict)
    usage: Usage | None = None
    mean_latency_s: float = 0.0


class EvalReport(_Record):
    """A whole evaluation: summary, per-case results and what was evaluated.

    Attributes:
        summary: Counts and rates.
        results: One result per golden case, in golden-set order.
        model: Name of the evaluated model (or predictions file).
        judge: Name of the judge.
        created_at: When the evaluation finished (UTC).
        metadata: Anything else (database URL, settings).
    """

    summary: EvalSummary
    results: list[EvalResult]
    model: str | None = None
    judge: str | None = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    metadata: dict[str, Any] = Field(default_factory=dict)


class TuningStatus(str, Enum):
    """Lifecycle of a tuning job, normalised across providers."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more."""
        return self in (TuningStatus.COMPLETED, TuningStatus.FAILED, TuningStatus.CANCELLED)


class TuningJob(_Record):
    """A tuning job at a provider.

    Attributes:
        job_id: The provider's job id.
        provider: ``"lamini"``, ``"openai"`` or a custom name.
        status: Normalised status.
        provider_status: The provider's own status string.
        base_model: The model being tuned.
        model_name: The tuned model's name, once known.
        dataset_id: The uploaded dataset's id, when the provider has one.
        message: Error or progress message from the provider.
        created_at: When the job was created (UTC), when known.
        raw: The provider's last JSON answer about the job.
    """

    job_id: str
    provider: str
    status: TuningStatus
    provider_status: str | None = None
    base_model: str | None = None
    model_name: str | None = None
    dataset_id: str | None = None
    message: str | None = None
    created_at: dt.datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
