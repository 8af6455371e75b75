"""ClickHouse (and chDB): the engine the library was built on.

Measured on chDB 4.4 (ClickHouse 26.9): ``median``, ``quantile`` and ``uniq`` are approximate (the
same query gave 505.3, 500.8, 503.8 on the same data), so the judge rewrites them to the exact
variants listed here; errors come as ``Code: 47. DB::Exception: ... (UNKNOWN_IDENTIFIER)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ...errors import ErrorCategory
from .base import Dialect, Runner

if TYPE_CHECKING:
    from ...safety.catalog import FunctionCatalog
    from ...schema import DatabaseSchema

__all__ = ["ClickHouse"]

_MEDIAN, _QUANTILE, _QUANTILES = "medianExact", "quantileExact", "quantilesExact"
_APPROXIMATE_FAMILIES = ("TDigest", "BFloat16", "DD", "GK", "Timing")
_WEIGHTED_FAMILIES = ("TDigestWeighted", "BFloat16Weighted", "TimingWeighted")


def _family(base: str, exact: str) -> dict[str, str]:
    """``median`` and its approximate variants -> the exact one (weighted ones -> weighted)."""
    return {
        base: exact,
        **{base + family: exact for family in _APPROXIMATE_FAMILIES},
        **{base + family: exact + "Weighted" for family in _WEIGHTED_FAMILIES},
    }


class ClickHouse(Dialect):
    """ClickHouse SQL, embedded (chDB) or on a server."""

    name = "clickhouse"
    display_name = "ClickHouse"
    # Checked on chDB 4.4: these are accepted in any case, every other function name is not.
    case_insensitive_functions: ClassVar[frozenset[str]] = frozenset(
        (
            *("abs", "avg", "ceil", "coalesce", "concat", "count", "date_trunc", "datediff", "exp"),
            *("floor", "greatest", "if", "ifnull", "least", "left", "length", "ln", "log", "lower"),
            *("max", "min", "mod", "now", "nullif", "position", "power", "replace", "right"),
            *("round", "sqrt", "substring", "sum", "today", "trim", "upper", "cast"),
        )
    )
    date_functions: ClassVar[str] = (
        r"^(to(startof|monday|date|datetime|year|quarter|month|week|dayof|day|hour|minute|second|"
        r"yyyy|iso|relative|unix|lastdayof|timezone)|today|yesterday|now|date_?(diff|trunc|add|sub)|"
        r"age|add(years|quarters|months|weeks|days|hours|minutes|seconds)|"
        r"subtract(years|quarters|months|weeks|days|hours|minutes|seconds)|formatdatetime|"
        r"parsedatetime|timeslot|makedate)"
    )
    sqlglot_dialect = "clickhouse"
    identifiers_case_sensitive = True
    functions_case_sensitive = True  # but for a few (count, sum...): see the guard's catalog
    fence_languages = frozenset({"sql", "clickhouse"})
    # Both sides verified to exist in chDB 4.4.
    approximate_to_exact: ClassVar[dict[str, str]] = {
        **_family("median", _MEDIAN),
        **_family("quantile", _QUANTILE),
        **_family("quantiles", _QUANTILES),
        **dict.fromkeys(
            ("uniq", "uniqCombined", "uniqCombined64", "uniqHLL12", "uniqTheta"), "uniqExact"
        ),
    }
    approximate_without_exact = frozenset(
        {
            "topK",
            "topKWeighted",
            "approx_top_k",
            "approx_top_count",
            "approx_top_sum",
            "quantileDeterministic",
            "quantilesDeterministic",
            "medianDeterministic",
        }
    )
    # The uniq family's parameters (precision) mean nothing to uniqExact, which takes none.
    exact_drops_parameters = frozenset(
        {"uniqCombined", "uniqCombined64", "uniqHLL12", "uniqTheta", "uniq"}
    )
    aggregate_combinators = (
        "SimpleState", "OrDefault", "Distinct", "Resample", "ForEach", "ArgMax", "ArgMin",
        "OrNull", "Tuple", "Merge", "State", "Array", "Null", "Map", "If",
    )  # fmt: skip
    arbitrary_functions: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("any", "anyLast", "anyHeavy"), "min/max/argMax"),
        **dict.fromkeys(
            ("rand", "rand32", "rand64", "randConstant", "randCanonical", "generateUUIDv4"),
            "no random values",
        ),
        **dict.fromkeys(
            ("groupArray", "groupUniqArray", "groupArraySample"), "arraySort(groupArray(...))"
        ),
    }
    error_names: ClassVar[dict[str, ErrorCategory]] = {
        "SYNTAX_ERROR": "syntax_error",
        **dict.fromkeys(
            ("UNKNOWN_IDENTIFIER", "NO_SUCH_COLUMN_IN_TABLE", "THERE_IS_NO_COLUMN"),
            "unknown_column",
        ),
        **dict.fromkeys(("UNKNOWN_FUNCTION", "UNKNOWN_AGGREGATE_FUNCTION"), "unknown_function"),
        **dict.fromkeys(("UNKNOWN_TABLE", "UNKNOWN_DATABASE"), "unknown_table"),
        **dict.fromkeys(
            (
                "TYPE_MISMATCH",
                "ILLEGAL_TYPE_OF_ARGUMENT",
                "CANNOT_CONVERT_TYPE",
                "CANNOT_PARSE_TEXT",
                "CANNOT_PARSE_DATE",
                "CANNOT_PARSE_DATETIME",
                "NO_COMMON_TYPE",
                "ILLEGAL_COLUMN",
            ),
            "type_error",
        ),
        **dict.fromkeys(("NOT_AN_AGGREGATE", "ILLEGAL_AGGREGATION"), "aggregation_error"),
        **dict.fromkeys(
            (
                "NUMBER_OF_ARGUMENTS_DOESNT_MATCH",
                "TOO_MANY_ARGUMENTS_FOR_FUNCTION",
                "TOO_FEW_ARGUMENTS_FOR_FUNCTION",
                "BAD_ARGUMENTS",
            ),
            "wrong_arguments",
        ),
    }
    # The same errors by code, for errors that came without their name.
    error_codes: ClassVar[dict[int, ErrorCategory]] = {
        62: "syntax_error",
        **dict.fromkeys((47, 16, 8), "unknown_column"),
        **dict.fromkeys((46, 63), "unknown_function"),
        **dict.fromkeys((60, 81), "unknown_table"),
        **dict.fromkeys((53, 43, 70, 6, 386, 44), "type_error"),
        **dict.fromkeys((215, 184), "aggregation_error"),
        **dict.fromkeys((42, 34, 35, 36), "wrong_arguments"),
    }
    error_name_in_message = r"\(([A-Z_]{4,})\)"
    unknown_function_code = 46
    # text2sql_tune_scratch: the execution judge's test-suite copies (in memory, not user data).
    system_schemas = ("system", "INFORMATION_SCHEMA", "information_schema", "text2sql_tune_scratch")

    def string_literal(self, value: str) -> str:
        """``value`` as a ClickHouse string literal (backslash escapes)."""
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def function_catalog(self) -> FunctionCatalog:
        """The closed allow-list generated from the bundled engine (:mod:`~.safety.catalog`)."""
        from ...safety.catalog import load_catalog

        return load_catalog()

    async def aintrospect(
        self, run: Runner, databases: Sequence[str] | None = None
    ) -> DatabaseSchema:
        """Read tables, columns, types and comments from the ``system`` tables.

        Args:
            run: Runs one trusted statement (an executor's internal runner).
            databases: Databases to include; default all except the system ones.

        Returns:
            The schema, tables ordered by database and name, columns by position.
        """
        from ...schema import Column, DatabaseSchema, Table

        listed = ", ".join(map(self.string_literal, databases or self.system_schemas))
        where = f"database {'IN' if databases else 'NOT IN'} ({listed})"
        tables = await run(
            f"SELECT database, name, comment FROM system.tables WHERE {where} "
            "AND NOT is_temporary ORDER BY database, name"
        )
        columns = await run(
            f"SELECT database, table, name, type, comment FROM system.columns WHERE {where} "
            "ORDER BY database, table, position"
        )
        by_table = {
            (database, name): Table(database=database, name=name, description=comment or None)
            for database, name, comment in tables.rows
        }
        for database, table_name, name, type_, comment in columns.rows:
            table = by_table.get((database, table_name))
            if table is not None:
                table.columns.append(Column(name=name, type=type_, comment=comment or None))
        return DatabaseSchema(tables=list(by_table.values()))
