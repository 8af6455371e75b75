"""Plug another database in: a SQLite executor built on the standard library's ``sqlite3``.

Every executor inherits the same contract from ``text2sql_tune.SQLExecutor``: the safety guard
checks each statement first (here with sqlglot's SQLite dialect, because ``dialect = "sqlite"``),
then ``_aexecute_checked`` runs it with the limits applied, and ``aget_schema`` describes the
tables for prompts. This one adds SQLite's own fences behind the guard:

- the file is opened read-only (``file:...?mode=ro`` URI) with ``PRAGMA query_only``;
- an authorizer lets a statement read and compute, nothing else (no ``load_extension``);
- a progress handler stops a query at ``limits.max_execution_time_s``;
- a result with more than ``limits.max_result_rows`` rows is refused.

``limits.max_memory_usage_bytes`` is not enforced: SQLite only has a process-wide heap limit.

Run it::

    python examples/sqlite_executor.py
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from text2sql_tune import (
    Column,
    DatabaseSchema,
    ExecutionLimits,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLGuard,
    SQLTimeoutError,
    Table,
    TooManyRowsError,
    UnsafeSQLError,
)

__all__ = ["SQLiteExecutor", "build_shop_database"]

# SQLite messages -> the ClickHouse error names the evaluator files its categories under, so that
# an evaluation on SQLite reports "unknown_column" rather than a bare "execution_error".
_ERROR_NAMES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"no such column|ambiguous column"), "UNKNOWN_IDENTIFIER"),
    (re.compile(r"no such table"), "UNKNOWN_TABLE"),
    (re.compile(r"no such function|wrong number of arguments"), "UNKNOWN_FUNCTION"),
    (re.compile(r"syntax error|incomplete input|unrecognized token"), "SYNTAX_ERROR"),
    (re.compile(r"misuse of aggregate"), "ILLEGAL_AGGREGATION"),
]

# Authorizer actions a read-only query needs; every other action (writes, PRAGMA, ATTACH) is denied.
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED_ACTIONS.add(sqlite3.SQLITE_RECURSIVE)  # WITH RECURSIVE
_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer"}


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _storage_class(values: Sequence[Any]) -> str:
    """SQLite storage class of a column, from its first non-NULL value."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, int):
            return "INTEGER"
        if isinstance(value, float):
            return "REAL"
        if isinstance(value, bytes):
            return "BLOB"
        return "TEXT"
    return "NULL"


class SQLiteExecutor(SQLExecutor):
    """Runs guarded, read-only queries on a SQLite database file.

    Args:
        path: The SQLite database file (it must exist; it is never written).
        limits: Time and row limits (memory is not enforced, see the module docstring).
        guard: The safety guard; default ``SQLGuard(dialect="sqlite")``.
        concurrency: Queries run at once; each runs on its own connection in a worker thread.
    """

    dialect: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"no SQLite database at {self.path}")

    @property
    def name(self) -> str:
        """The database file name (for logs and reports)."""
        return f"sqlite:{self.path.name}"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        return await asyncio.to_thread(self._run, sql)

    def _run(self, sql: str) -> QueryResult:
        started = time.perf_counter()
        deadline = time.monotonic() + self.limits.max_execution_time_s
        cap = self.limits.max_result_rows
        conn = self._connect()
        try:
            conn.set_authorizer(_authorize)
            # Called every 1000 virtual-machine steps; a non-zero answer interrupts the query.
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            cursor = conn.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            rows = [list(row) for row in cursor.fetchmany(cap + 1)]
        except sqlite3.Error as exc:
            raise self._error(sql, exc, timed_out=time.monotonic() > deadline) from exc
        finally:
            conn.close()
        if len(rows) > cap:
            raise TooManyRowsError(sql, None, "TOO_MANY_ROWS", f"result has more than {cap} rows")
        return QueryResult(
            sql=sql,
            columns=columns,
            types=[_storage_class([row[i] for row in rows]) for i in range(len(columns))],
            rows=rows,
            row_count=len(rows),
            elapsed_s=time.perf_counter() - started,
        )

    def _error(self, sql: str, exc: sqlite3.Error, *, timed_out: bool) -> SQLExecutionError:
        """Map a ``sqlite3`` error: SQLite's result code, a ClickHouse-style name where one fits."""
        message = str(exc)
        code: int | None = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        if timed_out and "interrupted" in message:
            limit = self.limits.max_execution_time_s
            return SQLTimeoutError(sql, code, "TIMEOUT_EXCEEDED", f"query ran past {limit} s")
        name: str | None = getattr(exc, "sqlite_errorname", None)
        for pattern, clickhouse_name in _ERROR_NAMES:
            if pattern.search(message):
                name = clickhouse_name
                break
        return SQLExecutionError(sql, code, name, message)

    async def aget_schema(self, databases: Sequence[str] | None = None) -> DatabaseSchema:
        """Describe the tables of the given schemas (default ``main``) from ``sqlite_master``.

        Args:
            databases: SQLite schema names (``main``, or names of attached databases).
        """
        return await asyncio.to_thread(self._schema, list(databases or ["main"]))

    def _schema(self, databases: list[str]) -> DatabaseSchema:
        # Trusted statements written here, run without the guard (like the ClickHouse executors'
        # introspection); names are bound as parameters or quoted as identifiers.
        tables: list[Table] = []
        conn = self._connect()
        try:
            for database in databases:
                quoted = '"' + database.replace('"', '""') + '"'
                names = conn.execute(
                    f"SELECT name FROM {quoted}.sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                ).fetchall()
                for (table_name,) in names:
                    info = conn.execute(
                        "SELECT name, type FROM pragma_table_info(?, ?) ORDER BY cid",
                        (table_name, database),
                    ).fetchall()
                    columns = [Column(name=col, type=type_ or "ANY") for col, type_ in info]
                    tables.append(Table(database=database, name=table_name, columns=columns))
        except sqlite3.Error as exc:
            raise self._error("schema introspection", exc, timed_out=False) from exc
        finally:
            conn.close()
        return DatabaseSchema(tables=tables)


def build_shop_database(path: Path) -> Path:
    """Create a tiny shop database (customers and orders) at ``path`` and return the path."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(
            """
            CREATE TABLE customers (
                customer_id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                country TEXT NOT NULL
            );
            CREATE TABLE orders (
                order_id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
                order_date TEXT NOT NULL,
                amount REAL NOT NULL
            );
            """
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [
                (1, "Ada", "United Kingdom"),
                (2, "Bruno", "Germany"),
                (3, "Chloe", "France"),
                (4, "Daan", "Netherlands"),
                (5, "Emma", "United Kingdom"),
            ],
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [
                (1, 1, "2024-01-03", 120.0),
                (2, 1, "2024-02-11", 35.5),
                (3, 2, "2024-02-12", 80.0),
                (4, 3, "2024-03-01", 12.25),
                (5, 5, "2024-03-02", 300.0),
                (6, 5, "2024-03-15", 42.0),
            ],
        )
    conn.close()
    return path


def main() -> None:
    """Build the database, run a few queries and show what the guard refuses."""
    with tempfile.TemporaryDirectory() as tmp:
        db = build_shop_database(Path(tmp) / "shop.db")
        with SQLiteExecutor(db, limits=ExecutionLimits(max_execution_time_s=2)) as executor:
            schema = executor.get_schema()
            print("schema:")
            print(schema.to_prompt())

            result = executor.execute(
                "SELECT c.country, COUNT(o.order_id) AS orders, ROUND(SUM(o.amount), 2) AS revenue "
                "FROM customers AS c LEFT JOIN orders AS o ON o.customer_id = c.customer_id "
                "GROUP BY c.country ORDER BY revenue DESC"
            )
            print(f"\nrevenue by country ({result.row_count} rows, types {result.types}):")
            print(result.to_text())

            for row in executor.execute("SELECT name FROM customers WHERE country = 'France'").rows:
                print(f"\ncustomer in France: {row[0]}")

            try:
                executor.execute("INSERT INTO customers VALUES (6, 'Mallory', 'Nowhere')")
            except UnsafeSQLError as exc:
                print(f"\nrefused by the guard: {exc.reason}")

            try:
                executor.execute("SELECT revenue FROM orders")
            except SQLExecutionError as exc:
                print(f"engine error: {exc}")

            outcome = executor.try_execute("SELECT * FROM orders WHERE amount > 1000")
            print(f"outcome of a query with no rows: {outcome.status.value}")


if __name__ == "__main__":
    main()
