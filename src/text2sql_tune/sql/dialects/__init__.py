"""SQL dialects: what the library knows about each engine, one small declarative file per engine.

- :class:`Dialect`: the base (generic SQL) and the registry: ``Dialect.get("clickhouse")``.
- :class:`ClickHouse`: ClickHouse and chDB, the default of every executor.
- :class:`SQLite`: SQLite (``examples/sqlite_executor.py`` runs it).

Another engine is one ``Dialect`` subclass plus one executor; ``examples/duckdb_dialect.py`` and
``examples/duckdb_executor.py`` add DuckDB that way (see ``docs/executors.md``).
"""

from __future__ import annotations

from .base import Dialect, Runner
from .clickhouse import ClickHouse
from .sqlite import SQLite

__all__ = ["ClickHouse", "Dialect", "Runner", "SQLite"]
