"""DuckDB as a text2sql_tune dialect: everything the library needs to know about the engine.

Defining the class registers it, so ``Dialect.get("duckdb")`` returns it from then on. With
``duckdb_executor.py`` next to it, that is all it takes to generate, validate, clean and evaluate
on DuckDB (see ``docs/executors.md``, "Adding an engine").

What differs from generic SQL (checked on DuckDB 2.0):

- ``approx_quantile`` and ``reservoir_quantile`` are approximate (``quantile_cont`` is the exact
  interpolating quantile); ``approx_count_distinct`` has no drop-in exact function, so results
  are compared with tolerance. ``median`` is exact.
- errors come as exception classes (``ParserException``, ``BinderException``...) whose messages
  say what is wrong: ``Referenced column "x" not found``.
- ``duckdb_tables()`` and ``duckdb_columns()`` hold the comments set with ``COMMENT ON``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from text2sql_tune import Column, DatabaseSchema, Table
from text2sql_tune.errors import ErrorCategory
from text2sql_tune.sql.dialects import Dialect, Runner

__all__ = ["DuckDB"]


class DuckDB(Dialect):
    """DuckDB SQL (the ``duckdb`` Python package)."""

    name = "duckdb"
    display_name = "DuckDB"
    sqlglot_dialect = "duckdb"
    fence_languages = frozenset({"sql", "duckdb"})
    approximate_to_exact: ClassVar[dict[str, str]] = {
        "approx_quantile": "quantile_cont",
        "reservoir_quantile": "quantile_cont",
    }
    approximate_without_exact = frozenset({"approx_count_distinct", "approx_top_k"})
    arbitrary_functions: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("any_value", "arbitrary", "first", "last"), "min/max/arg_max"),
        **dict.fromkeys(("random", "uuid", "gen_random_uuid"), "no random values"),
        **dict.fromkeys(("list", "array_agg", "string_agg"), "an ORDER BY inside the aggregate"),
    }
    error_names: ClassVar[dict[str, ErrorCategory]] = {
        "ParserException": "syntax_error",
        "ConversionException": "type_error",
        "InterruptException": "timeout",
    }
    error_messages: ClassVar[tuple[tuple[str, ErrorCategory], ...]] = (
        (r"Referenced column .* not found|does not have a column named", "unknown_column"),
        (r"(Table|Schema|Catalog) with name .* does not exist", "unknown_table"),
        (r"Function with name .* does not exist", "unknown_function"),
        (r"No function matches the given name and argument types", "wrong_arguments"),
        (
            r"must appear in the GROUP BY clause|aggregate function calls cannot",
            "aggregation_error",
        ),
        (
            r"Could not convert|Cannot compare values|Could not choose a best candidate",
            "type_error",
        ),
    )

    async def aintrospect(
        self, run: Runner, databases: Sequence[str] | None = None
    ) -> DatabaseSchema:
        """Tables, columns, types and comments of the open database's schemas (default: all)."""
        where = "database_name = current_database() AND NOT internal"
        if databases:
            where += f" AND schema_name IN ({', '.join(map(self.string_literal, databases))})"
        tables = await run(
            f"SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE {where} "
            "ORDER BY schema_name, table_name"
        )
        columns = await run(
            "SELECT schema_name, table_name, column_name, data_type, comment "
            f"FROM duckdb_columns() WHERE {where} ORDER BY schema_name, table_name, column_index"
        )
        found = {
            (schema, name): Table(database=schema, name=name, description=comment or None)
            for schema, name, comment in tables.rows
        }
        for schema, table, name, type_, comment in columns.rows:
            if (schema, table) in found:
                column = Column(name=name, type=type_, comment=comment or None)
                found[(schema, table)].columns.append(column)
        return DatabaseSchema(tables=list(found.values()))
