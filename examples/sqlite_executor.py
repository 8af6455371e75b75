"""Plug another database in: a SQLite executor built on the standard library's ``sqlite3``.

Every executor inherits the same contract from ``text2sql_tune.SQLExecutor``: the safety guard
checks each statement first, then ``_aexecute_checked`` runs it with the limits applied. What the
library knows about SQLite is its dialect (``text2sql_tune.sql.dialects.SQLite``): the guard
parses with sqlglot's SQLite parser, ``aget_schema`` reads ``sqlite_master``, and engine errors
are filed under engine-neutral categories (``no such column`` -> ``unknown_column``) from their
messages. The executor itself only runs SQL, with SQLite's own fences behind the guard:

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
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from text2sql_tune import (
    DatabaseSchema,
    ExecutionLimits,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLGuard,
    SQLTimeoutError,
    TooManyRowsError,
    UnsafeSQLError,
)
from text2sql_tune.sql.dialects import Dialect

__all__ = ["SQLiteExecutor", "build_shop_database"]

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

    dialect = Dialect.get("sqlite")

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
        """SQLite's own result code and name (Python 3.11+); the dialect files the category."""
        code: int | None = getattr(exc, "sqlite_errorcode", None)
        name: str | None = getattr(exc, "sqlite_errorname", None)
        if timed_out and "interrupted" in str(exc):
            limit = self.limits.max_execution_time_s
            return SQLTimeoutError(sql, code, name, f"query ran past {limit} s")
        return SQLExecutionError(sql, code, name, str(exc))

    async def aget_schema(self, databases: Sequence[str] | None = None) -> DatabaseSchema:
        """Describe the tables of the given schemas (default ``main``), as the dialect reads them.

        Args:
            databases: SQLite schema names (``main``, or names of attached databases).
        """
        return await self.dialect.aintrospect(self._atrusted, databases)

    async def _atrusted(self, sql: str) -> QueryResult:
        # The dialect's own statements, run without the guard (like the ClickHouse executors'
        # introspection) and without the authorizer, which refuses pragma_table_info.
        def run() -> QueryResult:
            conn = self._connect()
            try:
                cursor = conn.execute(sql)
                rows = [list(row) for row in cursor.fetchall()]
            except sqlite3.Error as exc:
                raise self._error(sql, exc, timed_out=False) from exc
            finally:
                conn.close()
            columns = [d[0] for d in cursor.description or ()]
            return QueryResult(sql=sql, columns=columns, rows=rows)

        return await asyncio.to_thread(run)


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
                print(f"engine error ({exc.category}): {exc}")

            outcome = executor.try_execute("SELECT * FROM orders WHERE amount > 1000")
            print(f"outcome of a query with no rows: {outcome.status.value}")


if __name__ == "__main__":
    main()
