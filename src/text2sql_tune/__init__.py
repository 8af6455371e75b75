"""text2sql_tune: turn your own database into an accurate text-to-SQL model.

The loop: generate question/SQL pairs with an LLM, validate them on the database, clean them,
format them for tuning, tune a model (Lamini, OpenAI or your own), and evaluate it on a golden set.
"""

from __future__ import annotations

from .adapters import (
    FunctionExecutor,
    FunctionFilter,
    FunctionGenerator,
    FunctionJudge,
    FunctionModel,
    FunctionTuner,
)
from .datasets import JsonlAppender, read_cases, read_pairs, write_jsonl
from .errors import (
    ConfigurationError,
    DataError,
    EvaluationError,
    MissingExtraError,
    ProviderError,
    RateLimitError,
    SQLError,
    SQLExecutionError,
    SQLTimeoutError,
    Text2SQLTuneError,
    TooManyRowsError,
    TuningError,
    UnsafeSQLError,
)
from .interfaces import (
    DatasetFilter,
    ExecutionLimits,
    Judge,
    QAGenerator,
    SQLExecutor,
    Text2SQLModel,
    Tuner,
)
from .models import (
    EvalCase,
    EvalReport,
    EvalResult,
    EvalSummary,
    ExecutionOutcome,
    FilterDecision,
    JudgeInput,
    OutcomeStatus,
    Prediction,
    QAPair,
    QueryResult,
    TuningJob,
    TuningStatus,
    Usage,
    ValidationInfo,
    Verdict,
)
from .safety import SQLGuard
from .schema import Column, DatabaseSchema, Table

__version__ = "0.1.0"

__all__ = [
    "Column",
    "ConfigurationError",
    "DataError",
    "DatabaseSchema",
    "DatasetFilter",
    "EvalCase",
    "EvalReport",
    "EvalResult",
    "EvalSummary",
    "EvaluationError",
    "ExecutionLimits",
    "ExecutionOutcome",
    "FilterDecision",
    "FunctionExecutor",
    "FunctionFilter",
    "FunctionGenerator",
    "FunctionJudge",
    "FunctionModel",
    "FunctionTuner",
    "JsonlAppender",
    "Judge",
    "JudgeInput",
    "MissingExtraError",
    "OutcomeStatus",
    "Prediction",
    "ProviderError",
    "QAGenerator",
    "QAPair",
    "QueryResult",
    "RateLimitError",
    "SQLError",
    "SQLExecutionError",
    "SQLExecutor",
    "SQLGuard",
    "SQLTimeoutError",
    "Table",
    "Text2SQLModel",
    "Text2SQLTuneError",
    "TooManyRowsError",
    "Tuner",
    "TuningError",
    "TuningJob",
    "TuningStatus",
    "UnsafeSQLError",
    "Usage",
    "ValidationInfo",
    "Verdict",
    "__version__",
    "read_cases",
    "read_pairs",
    "write_jsonl",
]
