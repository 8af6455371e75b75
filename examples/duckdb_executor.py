"""Run text2sql_tune on DuckDB: this executor runs SQL, ``duckdb_dialect.py`` knows the rest.

The executor opens the database file read-only with DuckDB's own fences behind the guard:

- ``enable_external_access = false``: no files, URLs, ``ATTACH`` or extension installs;
- ``lock_configuration = true``: a query cannot change a setting (``SET threads``...) afterwards;
- ``max_memory`` from ``limits.max_memory_usage_bytes`` (DuckDB's limit is per database, not per
  query);
- a timer interrupts a query at ``limits.max_execution_time_s``;
- more than ``limits.max_result_rows`` rows is refused (or cut, with ``overflow="break"``).

``limits.max_result_bytes`` is not enforced. Values come back as JSON-friendly Python values, the
way the ClickHouse executors give them: dates and times as ISO text, decimals as floats.

Run it (``pip install duckdb``)::

    python examples/duckdb_executor.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from duckdb_dialect import DuckDB

from text2sql_tune import (
    ExecutionLimits,
    QueryResult,
    SQLExecutionError,
    SQLExecutor,
    SQLTimeoutError,
    TooManyRowsError,
)

__all__ = ["DuckDBExecutor", "build_shop_database"]


class DuckDBExecutor(SQLExecutor):
    """Runs guarded, read-only queries on a DuckDB database file.

    Args:
        path: The DuckDB database file (it must exist; it is never written).
        **options: ``limits``, ``guard`` (default: the DuckDB dialect's, an open guard) and
            ``concurrency`` (each query runs on its own cursor in a worker thread), as for any
            ``SQLExecutor``.
    """

    dialect = DuckDB()

    def __init__(self, path: str | Path, **options: Any) -> None:
        super().__init__(**options)
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"no DuckDB database at {self.path}")
        config = {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "max_memory": f"{self.limits.max_memory_usage_bytes // 2**20}MiB",
            "lock_configuration": True,
        }
        self._db = duckdb.connect(str(self.path), read_only=True, config=config)

    @property
    def name(self) -> str:
        """The database file name (for logs and reports)."""
        return f"duckdb:{self.path.name}"

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        return await asyncio.to_thread(self._run, sql)

    def _run(self, sql: str) -> QueryResult:
        started = time.perf_counter()
        limit, cap = self.limits.max_execution_time_s, self.limits.max_result_rows
        cursor = self._db.cursor()
        timer = threading.Timer(limit, cursor.interrupt)
        timer.start()
        try:
            cursor.execute(sql)
            description = cursor.description or []
            rows = [[_plain(v) for v in row] for row in cursor.fetchmany(cap + 1)]
        except duckdb.InterruptException:
            raise SQLTimeoutError(sql, None, "InterruptException", f"ran past {limit} s") from None
        except duckdb.Error as exc:
            raise SQLExecutionError(sql, None, type(exc).__name__, str(exc)) from None
        finally:
            timer.cancel()
            cursor.close()
        truncated = len(rows) > cap
        if truncated and self.limits.overflow == "throw":
            raise TooManyRowsError(sql, None, None, f"the result has more than {cap} rows")
        return QueryResult(
            sql=sql,
            columns=[d[0] for d in description],
            types=[str(d[1]) for d in description],
            rows=rows[:cap],
            elapsed_s=time.perf_counter() - started,
            truncated=truncated,
        )

    async def aclose(self) -> None:
        """Close the database."""
        self._db.close()


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON-friendly Python (ISO dates, float decimals, UUID text)."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    return value


def build_shop_database(path: Path) -> Path:
    """Create a small database (schema ``shop``: customers, orders) at ``path``; return it.

    DuckDB names the database after its file: a file named ``shop.duckdb`` would make ``shop``
    both a database and a schema, and ``shop.orders`` ambiguous.
    """
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            """
            CREATE SCHEMA shop;
            CREATE TABLE shop.customers (
                customer_id INTEGER, country VARCHAR, is_active BOOLEAN, age INTEGER
            );
            CREATE TABLE shop.orders (
                order_id INTEGER, customer_id INTEGER, order_date DATE, status VARCHAR,
                amount DECIMAL(10, 2)
            );
            COMMENT ON TABLE shop.orders IS 'orders placed in the shop';
            COMMENT ON COLUMN shop.orders.amount IS 'order total in euros';
            INSERT INTO shop.customers
            SELECT i, ['Germany', 'France', 'Netherlands'][1 + i % 3], i % 5 <> 0, 20 + i % 50
            FROM range(1, 31) AS t(i);
            INSERT INTO shop.orders
            SELECT i, 1 + i % 30, DATE '2024-01-01' + INTERVAL (i * 3) DAY,
                   ['paid', 'shipped', 'returned'][1 + i % 3], (i * 37 % 500) / 4
            FROM range(1, 121) AS t(i);
            """
        )
    return path


def main() -> None:
    """Build the database, read its schema, run a query and show how errors are filed."""
    with tempfile.TemporaryDirectory() as tmp:
        db = build_shop_database(Path(tmp) / "store.duckdb")
        with DuckDBExecutor(db, limits=ExecutionLimits(max_execution_time_s=5)) as executor:
            print(executor.get_schema().to_prompt())
            result = executor.execute(
                "SELECT c.country, count(*) AS orders, round(sum(o.amount), 2) AS revenue "
                "FROM shop.orders AS o JOIN shop.customers AS c USING (customer_id) "
                "GROUP BY c.country ORDER BY revenue DESC"
            )
            print(f"\nrevenue by country ({result.types}):\n{result.to_text()}\n")
            for sql in (
                "SELECT total FROM shop.orders",
                "SELECT * FROM shop.invoices",
                "SELECT toStartOfMonth(order_date) FROM shop.orders",
                "SELECT * FROM read_csv('/etc/passwd')",
            ):
                outcome = executor.try_execute(sql)
                print(f"{outcome.status.value:<6} {outcome.error_category or '-':<16} {sql}")


if __name__ == "__main__":
    main()
