"""The public surface of text2sql_tune, written once.

This stub is the single list of the names the package exports at the top level: type checkers
read it, and ``__init__.py`` turns it into lazy imports (``lazy_loader.attach_stub``), so
``import text2sql_tune`` loads nothing heavy. Everything else is imported from its package
(``text2sql_tune.filters``, ``text2sql_tune.evaluate``, ...).
"""

from .adapters import FunctionExecutor as FunctionExecutor
from .adapters import FunctionFilter as FunctionFilter
from .adapters import FunctionGenerator as FunctionGenerator
from .adapters import FunctionJudge as FunctionJudge
from .adapters import FunctionModel as FunctionModel
from .adapters import FunctionTuner as FunctionTuner
from .analysis import analyze as analyze
from .config import PipelineConfig as PipelineConfig
from .config import load_config as load_config
from .demo import build_demo_database as build_demo_database
from .demo import default_database_url as default_database_url
from .demo import demo_schema as demo_schema
from .demo import load_golden_set as load_golden_set
from .demo import load_seed_examples as load_seed_examples
from .errors import ConfigurationError as ConfigurationError
from .errors import DataError as DataError
from .errors import EvaluationError as EvaluationError
from .errors import GoldenSetError as GoldenSetError
from .errors import MissingExtraError as MissingExtraError
from .errors import ProviderError as ProviderError
from .errors import RateLimitError as RateLimitError
from .errors import ResourceBusyError as ResourceBusyError
from .errors import SQLError as SQLError
from .errors import SQLExecutionError as SQLExecutionError
from .errors import SQLSyntaxError as SQLSyntaxError
from .errors import SQLTimeoutError as SQLTimeoutError
from .errors import Text2SQLTuneError as Text2SQLTuneError
from .errors import TooManyRowsError as TooManyRowsError
from .errors import TuningError as TuningError
from .errors import UnsafeSQLError as UnsafeSQLError
from .evaluate import Evaluator as Evaluator
from .evaluate import evaluate_predictions as evaluate_predictions
from .evaluate import lint_golden as lint_golden
from .evaluate.judges import CascadeJudge as CascadeJudge
from .evaluate.judges import ExecutionMatchJudge as ExecutionMatchJudge
from .evaluate.judges import LLMJudge as LLMJudge
from .executors import ChDBExecutor as ChDBExecutor
from .executors import ClickHouseExecutor as ClickHouseExecutor
from .executors import open_executor as open_executor
from .exports import ExportFormat as ExportFormat
from .exports import export_file as export_file
from .exports import export_pairs as export_pairs
from .filters import FilterChain as FilterChain
from .filters import default_filters as default_filters
from .filters import validate_pairs as validate_pairs
from .generators import OpenAIQAGenerator as OpenAIQAGenerator
from .generators import TemplateQAGenerator as TemplateQAGenerator
from .generators import generate_to_file as generate_to_file
from .interfaces import DatasetFilter as DatasetFilter
from .interfaces import ExecutionLimits as ExecutionLimits
from .interfaces import Judge as Judge
from .interfaces import QAGenerator as QAGenerator
from .interfaces import SQLExecutor as SQLExecutor
from .interfaces import Text2SQLModel as Text2SQLModel
from .interfaces import Tuner as Tuner
from .io import read_cases as read_cases
from .io import read_pairs as read_pairs
from .io import write_jsonl as write_jsonl
from .llm import ChatClient as ChatClient
from .llm import OpenAIChatClient as OpenAIChatClient
from .models import FewShotModel as FewShotModel
from .models import LaminiModel as LaminiModel
from .models import LocalModel as LocalModel
from .models import OpenAIText2SQL as OpenAIText2SQL
from .models import RetrievalModel as RetrievalModel
from .models import ZeroShotModel as ZeroShotModel
from .records import EvalCase as EvalCase
from .records import EvalReport as EvalReport
from .records import EvalResult as EvalResult
from .records import ExecutionOutcome as ExecutionOutcome
from .records import FilterDecision as FilterDecision
from .records import JudgeInput as JudgeInput
from .records import OutcomeStatus as OutcomeStatus
from .records import Prediction as Prediction
from .records import QAPair as QAPair
from .records import QueryResult as QueryResult
from .records import TuningJob as TuningJob
from .records import TuningStatus as TuningStatus
from .records import Verdict as Verdict
from .reporting import compare_reports as compare_reports
from .reporting import report_html as report_html
from .reporting import report_markdown as report_markdown
from .run import Pipeline as Pipeline
from .run import PipelineResult as PipelineResult
from .run import arun_config as arun_config
from .run import run_config as run_config
from .safety import SQLGuard as SQLGuard
from .schema import Column as Column
from .schema import DatabaseSchema as DatabaseSchema
from .schema import Table as Table
from .sql.dialects import Dialect as Dialect
from .tuners import LaminiTuner as LaminiTuner
from .tuners import LocalLoRATuner as LocalLoRATuner
from .tuners import OpenAITuner as OpenAITuner

__version__: str
