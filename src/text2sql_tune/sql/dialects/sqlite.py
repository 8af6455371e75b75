"""SQLite: exact aggregates only, errors known by their messages, schema in ``sqlite_master``.

``sqlite3`` errors carry a result code that is the same for most query errors (1, ``SQLITE_ERROR``),
so the message says what went wrong: ``no such column: total``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ...errors import ErrorCategory
from .base import Dialect, Runner

if TYPE_CHECKING:
    from ...schema import DatabaseSchema

__all__ = ["SQLite"]


class SQLite(Dialect):
    """SQLite SQL (the standard library's ``sqlite3``)."""

    name = "sqlite"
    display_name = "SQLite"
    sqlglot_dialect = "sqlite"
    fence_languages = frozenset({"sql", "sqlite"})
    arbitrary_functions: ClassVar[dict[str, str]] = {
        "random": "no random values",
        "randomblob": "no random values",
    }
    error_names: ClassVar[dict[str, ErrorCategory]] = {
        "SQLITE_INTERRUPT": "timeout",
        "SQLITE_MISMATCH": "type_error",
        "SQLITE_TOOBIG": "too_many_rows",
    }
    error_messages: ClassVar[tuple[tuple[str, ErrorCategory], ...]] = (
        (r"no such column|ambiguous column", "unknown_column"),
        (r"no such table", "unknown_table"),
        (r"no such function", "unknown_function"),
        (r"wrong number of arguments", "wrong_arguments"),
        (r"syntax error|incomplete input|unrecognized token", "syntax_error"),
        (r"misuse of aggregate|aggregate functions are not allowed", "aggregation_error"),
        (r"datatype mismatch", "type_error"),
    )

    async def aintrospect(
        self, run: Runner, databases: Sequence[str] | None = None
    ) -> DatabaseSchema:
        """Describe the tables and views of the given schemas (default ``main``).

        Args:
            run: Runs one trusted statement; it must allow ``pragma_table_info``.
            databases: Schema names (``main``, or names of attached databases).
        """
        from ...schema import Column, DatabaseSchema, Table

        tables: list[Table] = []
        for database in databases or ["main"]:
            qualified = '"' + database.replace('"', '""') + '"'
            result = await run(
                f"SELECT m.name, p.name, p.type FROM {qualified}.sqlite_master AS m, "
                f"pragma_table_info(m.name, {self.string_literal(database)}) AS p "
                "WHERE m.type IN ('table', 'view') "
                "AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
            )
            found: dict[str, Table] = {}
            for table, column, type_ in result.rows:
                entry = found.setdefault(table, Table(database=database, name=table))
                entry.columns.append(Column(name=column, type=type_ or "ANY"))
            tables += found.values()
        return DatabaseSchema(tables=tables)
