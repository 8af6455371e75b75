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
from .demo import (
    abuild_demo_database,
    build_demo_database,
    default_database_url,
    demo_schema,
    load_golden_set,
    load_seed_examples,
)
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
from .evaluation import Evaluator, evaluate_predictions
from .executors import ChDBExecutor, ClickHouseExecutor, open_executor
from .generators import (
    GenerationSummary,
    OpenAIQAGenerator,
    TemplateQAGenerator,
    agenerate_to_file,
    generate_to_file,
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
from .judges import CascadeJudge, ExecutionMatchJudge, LLMJudge, MatchRules
from .llm import ChatResponse, OpenAIChatClient, PriceTable, ToolCall, resolve_openai_credentials
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
from .reporting import compare_reports, load_report, report_html, report_markdown
from .safety import SQLGuard, strip_format_clause
from .schema import Column, DatabaseSchema, Table
from .sql_extract import extract_sql
from .text2sql_models import (
    FewShotModel,
    LaminiModel,
    OpenAIText2SQL,
    SelfReflectionModel,
    ZeroShotModel,
)
from .tuners import LaminiTuner, OpenAITuner

__version__ = "0.1.0"

__all__ = [
    "CascadeJudge",
    "ChDBExecutor",
    "ChatResponse",
    "ClickHouseExecutor",
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
    "Evaluator",
    "ExecutionLimits",
    "ExecutionMatchJudge",
    "ExecutionOutcome",
    "FewShotModel",
    "FilterDecision",
    "FunctionExecutor",
    "FunctionFilter",
    "FunctionGenerator",
    "FunctionJudge",
    "FunctionModel",
    "FunctionTuner",
    "GenerationSummary",
    "JsonlAppender",
    "Judge",
    "JudgeInput",
    "LLMJudge",
    "LaminiModel",
    "LaminiTuner",
    "MatchRules",
    "MissingExtraError",
    "OpenAIChatClient",
    "OpenAIQAGenerator",
    "OpenAIText2SQL",
    "OpenAITuner",
    "OutcomeStatus",
    "Prediction",
    "PriceTable",
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
    "SelfReflectionModel",
    "Table",
    "TemplateQAGenerator",
    "Text2SQLModel",
    "Text2SQLTuneError",
    "TooManyRowsError",
    "ToolCall",
    "Tuner",
    "TuningError",
    "TuningJob",
    "TuningStatus",
    "UnsafeSQLError",
    "Usage",
    "ValidationInfo",
    "Verdict",
    "ZeroShotModel",
    "__version__",
    "abuild_demo_database",
    "agenerate_to_file",
    "build_demo_database",
    "compare_reports",
    "default_database_url",
    "demo_schema",
    "evaluate_predictions",
    "extract_sql",
    "generate_to_file",
    "load_golden_set",
    "load_report",
    "load_seed_examples",
    "open_executor",
    "read_cases",
    "read_pairs",
    "report_html",
    "report_markdown",
    "resolve_openai_credentials",
    "strip_format_clause",
    "write_jsonl",
]
