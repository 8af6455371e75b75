"""Dialects: the registry, error categories, and the engine knowledge every step reads from one."""

from __future__ import annotations

import importlib
from typing import ClassVar

import pytest

from text2sql_tune import (
    DatabaseSchema,
    EvalCase,
    Evaluator,
    ExecutionOutcome,
    FunctionExecutor,
    OutcomeStatus,
    Prediction,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLGuard,
    lint_golden,
)
from text2sql_tune.errors import ConfigurationError, ErrorCategory
from text2sql_tune.evaluate import categorize_error
from text2sql_tune.evaluate.judges import ExecutionMatchJudge, rewrite_exact
from text2sql_tune.prompts import answering_system_prompt
from text2sql_tune.sql import extract_sql
from text2sql_tune.sql.dialects import ClickHouse, Dialect, SQLite

# What report.json called each ClickHouse error before errors were filed by dialects (0.1):
# name, code ("-": matched by name only) and category. ClickHouse reports must not change.
LEGACY_CLICKHOUSE = """
SYNTAX_ERROR 62 syntax_error
UNKNOWN_IDENTIFIER 47 unknown_column
NO_SUCH_COLUMN_IN_TABLE 16 unknown_column
THERE_IS_NO_COLUMN 8 unknown_column
UNKNOWN_FUNCTION 46 unknown_function
UNKNOWN_AGGREGATE_FUNCTION 63 unknown_function
UNKNOWN_TABLE 60 unknown_table
UNKNOWN_DATABASE 81 unknown_table
TYPE_MISMATCH 53 type_error
ILLEGAL_TYPE_OF_ARGUMENT 43 type_error
CANNOT_CONVERT_TYPE 70 type_error
CANNOT_PARSE_TEXT 6 type_error
CANNOT_PARSE_DATE - type_error
CANNOT_PARSE_DATETIME - type_error
NO_COMMON_TYPE 386 type_error
ILLEGAL_COLUMN 44 type_error
NOT_AN_AGGREGATE 215 aggregation_error
ILLEGAL_AGGREGATION 184 aggregation_error
NUMBER_OF_ARGUMENTS_DOESNT_MATCH 42 wrong_arguments
TOO_MANY_ARGUMENTS_FOR_FUNCTION 34 wrong_arguments
TOO_FEW_ARGUMENTS_FOR_FUNCTION 35 wrong_arguments
BAD_ARGUMENTS 36 wrong_arguments
"""


@pytest.mark.parametrize("row", LEGACY_CLICKHOUSE.split("\n")[1:-1])
def test_clickhouse_errors_keep_their_categories(row: str) -> None:
    name, code, category = row.split()
    clickhouse = Dialect.get("clickhouse")
    assert clickhouse.categorize(None, name, "") == category
    assert clickhouse.categorize(None, None, f"Missing columns: 'x' ({name})") == category
    if code != "-":
        assert clickhouse.categorize(int(code), None, "") == category
        outcome = ExecutionOutcome(status=OutcomeStatus.ERROR, error_code=int(code))
        assert categorize_error(outcome) == category


def test_unknown_errors_are_execution_errors() -> None:
    assert Dialect.get("clickhouse").categorize(999, "NEW_ERROR", "(ALSO_NEW)") == "execution_error"
    assert Dialect.get("sqlite").categorize(1, "SQLITE_ERROR", "disk I/O") == "execution_error"


def test_the_registry() -> None:
    assert isinstance(Dialect.get("clickhouse"), ClickHouse)
    assert Dialect.get("ClickHouse") is Dialect.get("clickhouse")
    assert isinstance(Dialect.get("sqlite"), SQLite)
    sqlite = Dialect.get("sqlite")
    assert Dialect.get(sqlite) is sqlite
    assert repr(sqlite) == "Dialect.get('sqlite')"
    # A name only sqlglot knows parses with sqlglot's dialect and knows nothing else.
    postgres = Dialect.get("postgres")
    assert (postgres.sqlglot_dialect, postgres.display_name) == ("postgres", "Postgres")
    assert postgres.function_catalog() is None and not postgres.approximate_to_exact
    with pytest.raises(ConfigurationError, match="unknown SQL dialect 'nosuchdb'"):
        Dialect.get("nosuchdb")


class Warehouse(Dialect):
    """A dialect defined in a test: its definition registers it as ``warehouse``."""

    display_name = "Warehouse"
    sqlglot_dialect = "duckdb"
    fence_languages = frozenset({"sql", "warehouse"})
    approximate_to_exact: ClassVar[dict[str, str]] = {"approx_median": "median"}
    error_names: ClassVar[dict[str, ErrorCategory]] = {"E_COLUMN": "unknown_column"}
    error_messages: ClassVar[tuple[tuple[str, ErrorCategory], ...]] = (
        (r"no table named", "unknown_table"),
    )


@pytest.fixture()
def warehouse() -> Dialect:
    return Dialect.get("warehouse")


def test_a_subclass_registers_itself_under_its_class_name(warehouse: Dialect) -> None:
    assert type(warehouse).__name__ == "Warehouse" and warehouse.name == "warehouse"
    assert warehouse.categorize(None, "E_COLUMN", "") == "unknown_column"
    assert warehouse.categorize(None, None, "There is NO TABLE NAMED x") == "unknown_table"


def test_a_named_dialect_on_an_executor_class_is_looked_up() -> None:
    class Named(SQLExecutor):
        dialect = "sqlite"  # type: ignore[assignment]  # the 0.1 spelling: a name

        async def _aexecute_checked(self, sql: str) -> QueryResult:
            return QueryResult(sql=sql, columns=[])

    assert Named.dialect is Dialect.get("sqlite")
    assert Named().guard.dialect is Dialect.get("sqlite")


def test_the_guard_takes_a_dialect_or_its_name() -> None:
    assert SQLGuard(dialect=SQLite()).dialect.name == "sqlite"
    assert repr(SQLGuard(dialect="sqlite")) == "SQLGuard(dialect='sqlite', allowed_databases=None)"
    # ClickHouse's catalog closes the guard; a dialect without one leaves functions to the engine.
    assert SQLGuard(dialect="sqlite").check("SELECT julianday(d) FROM t") == (
        "SELECT julianday(d) FROM t"
    )
    with pytest.raises(Exception, match="allow-list"):
        SQLGuard().check("SELECT julianday(d) FROM t")


def test_a_function_executor_files_errors_with_its_dialect(warehouse: Dialect) -> None:
    def fail(sql: str) -> QueryResult:
        raise SQLExecutionError(sql, None, None, "no table named sales")

    executor = FunctionExecutor(fail, dialect="warehouse")
    assert executor.dialect is warehouse
    with pytest.raises(SQLExecutionError) as info:
        executor.execute("SELECT 1 FROM sales")
    assert info.value.category == "unknown_table"
    outcome = executor.try_execute("SELECT 1 FROM sales")
    assert (outcome.status, outcome.error_category) == (OutcomeStatus.ERROR, "unknown_table")
    # SQL the guard refuses as an unknown function has no engine code outside ClickHouse.
    executor = FunctionExecutor(fail, dialect="clickhouse")
    assert executor.try_execute("SELECT medain(1)").error_code == 46
    assert FunctionExecutor(fail, dialect=warehouse).try_execute("SELEC 1").error_code is None


def test_outcomes_read_from_files_are_categorised_by_the_dialect_given() -> None:
    legacy = ExecutionOutcome(status=OutcomeStatus.ERROR, error="no such column: total")
    assert categorize_error(legacy) == "execution_error"
    assert categorize_error(legacy, "sqlite") == "unknown_column"
    filed = legacy.model_copy(update={"error_category": "type_error"})
    assert categorize_error(filed, "sqlite") == "type_error"


def test_approximate_functions_come_from_the_dialect(warehouse: Dialect) -> None:
    sql = "SELECT APPROX_MEDIAN(x), median(y) FROM t"
    assert rewrite_exact(sql, warehouse).sql == "SELECT median(x), median(y) FROM t"
    assert not rewrite_exact(sql, "sqlite").approximate
    assert rewrite_exact("SELECT median(x) FROM t").sql == "SELECT medianExact(x) FROM t"
    assert rewrite_exact("SELECT MEDIAN(x) FROM t").sql == "SELECT MEDIAN(x) FROM t"
    assert ExecutionMatchJudge(dialect="warehouse").dialect is warehouse


def test_fences_and_prompts_name_the_dialect(warehouse: Dialect) -> None:
    answer = "```text\nSELECT 0\n```\n```warehouse\nSELECT 1\n```"
    assert extract_sql(answer, dialect=warehouse) == "SELECT 1"
    assert extract_sql(answer) == "SELECT 0"  # ClickHouse's labels: sql, clickhouse
    assert "Write a query in Warehouse SQL" in answering_system_prompt(
        DatabaseSchema(), dialect=warehouse
    )
    assert "in ClickHouse SQL" in answering_system_prompt(DatabaseSchema())


def test_golden_lint_reads_the_executors_dialect() -> None:
    def rows(sql: str) -> QueryResult:
        return QueryResult(sql=sql, columns=["x"], rows=[[1]])

    cases = [EvalCase(question="Pick one?", sql="SELECT random(), any(x) FROM t")]
    sqlite = lint_golden(cases, FunctionExecutor(rows, dialect="sqlite"), rerun=False)
    (finding,) = [f for f in sqlite.findings if f.check == "arbitrary_function"]
    assert finding.message.startswith("calls random:")
    assert finding.hint == "use a deterministic form (no random values instead of random)"
    clickhouse = lint_golden(cases, FunctionExecutor(rows), rerun=False)
    (finding,) = [f for f in clickhouse.findings if f.check == "arbitrary_function"]
    assert finding.message.startswith("calls any:")


def test_an_evaluation_reads_categories_from_the_executor(warehouse: Dialect) -> None:
    def run(sql: str) -> QueryResult:
        if "sales" in sql:
            raise SQLExecutionError(sql, 7, "E_COLUMN", "column total?")
        return QueryResult(sql=sql, columns=["n"], rows=[[3]])

    cases = [EvalCase(question="How many?", sql="SELECT 3")]
    predictions = [Prediction(question="How many?", sql="SELECT total FROM sales")]
    report = Evaluator(FunctionExecutor(run, dialect=warehouse)).evaluate_predictions(
        cases, predictions
    )
    assert report.results[0].category == "unknown_column"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("text2sql_tune.schema", "introspect_clickhouse"),
        ("text2sql_tune.evaluate", "ERROR_CATEGORIES"),
        ("text2sql_tune.evaluate.evaluator", "ERROR_CATEGORIES"),
        ("text2sql_tune.evaluate.judges.rewrite", "APPROXIMATE_TO_EXACT"),
        ("text2sql_tune.evaluate.judges.rewrite", "APPROXIMATE_WITHOUT_EXACT"),
    ],
)
def test_moved_names_still_resolve_with_a_deprecation_warning(module: str, name: str) -> None:
    imported = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=name):
        assert getattr(imported, name)
