"""Run SQL on embedded ClickHouse (chDB): no server, the database is a folder.

chDB allows one data path per process, and one process per path. A process-wide engine therefore
owns the path: every :class:`ChDBExecutor` on that path shares it, and asking for a second path
raises :class:`~text2sql_tune.ConfigurationError`.

The engine keeps one unlocked *admin* session for trusted statements issued by the library itself
(building the demo database) and pools of *locked* sessions for untrusted queries. A locked
session had its limits set and then ``SET readonly=1``, which chDB keeps for the session's
lifetime: no setting can be raised again and table functions such as ``file()`` are refused, even
if a query slipped past the guard.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

from .._sync import run_sync
from ..errors import ConfigurationError
from ..interfaces import ExecutionLimits, SQLExecutor
from ..models import QueryResult
from ..safety import SQLGuard
from ._common import enforce_row_cap, limit_settings, map_clickhouse_error, parse_json_compact

__all__ = ["ChDBExecutor"]

logger = logging.getLogger("text2sql_tune")

_OUTPUT_FORMAT = "JSONCompact"


def _engine_errors() -> tuple[type[BaseException], ...]:
    import chdb

    return (RuntimeError, chdb.ChdbError)


class _Engine:
    """The process's single chDB data path: an admin session plus pools of locked sessions."""

    def __init__(self, path: str, temporary: bool) -> None:
        from chdb.session import Session

        self.path = path
        self.temporary = temporary
        self._session_cls: Any = cast(Any, Session)
        self.admin: Any = self._session_cls(path)
        self._pools: dict[ExecutionLimits, queue.SimpleQueue[Any]] = {}
        self._all: list[Any] = [self.admin]
        self._lock = threading.Lock()

    def acquire(self, limits: ExecutionLimits) -> Any:
        with self._lock:
            pool = self._pools.setdefault(limits, queue.SimpleQueue())
        try:
            return pool.get_nowait()
        except queue.Empty:
            return self._locked_session(limits)

    def release(self, limits: ExecutionLimits, session: Any) -> None:
        self._pools[limits].put(session)

    def _locked_session(self, limits: ExecutionLimits) -> Any:
        session: Any = self._session_cls(self.path)
        settings = limit_settings(limits)
        # Output settings first: once readonly=1 is set nothing can change any more.
        settings["output_format_json_quote_64bit_integers"] = 0
        for name, value in settings.items():
            literal = f"'{value}'" if isinstance(value, str) else repr(value)
            session.query(f"SET {name} = {literal}")
        session.query("SET readonly = 1")
        with self._lock:
            self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all, self._pools = self._all, [], {}
        for session in reversed(sessions):
            session.cleanup()
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


_registry_lock = threading.Lock()
_engine: _Engine | None = None


def _get_engine(path: str | Path | None) -> _Engine:
    global _engine
    with _registry_lock:
        if path is None:
            if _engine is not None:
                raise ConfigurationError(
                    "ChDBExecutor(path=None) needs a new temporary database, but this process "
                    f"already uses the chDB database at {_engine.path}; chDB allows one data "
                    "path per process: pass that path instead"
                )
            resolved = tempfile.mkdtemp(prefix="text2sql_tune_chdb_")
            _engine = _Engine(resolved, temporary=True)
            atexit.register(_close_engine)
            return _engine
        resolved = os.path.realpath(os.fspath(Path(path).expanduser()))
        if _engine is None:
            Path(resolved).mkdir(parents=True, exist_ok=True)
            _engine = _Engine(resolved, temporary=False)
            return _engine
        if _engine.path != resolved:
            raise ConfigurationError(
                f"this process already uses the chDB database at {_engine.path}; chDB allows one "
                f"data path per process, so {resolved} cannot be opened too (use a separate "
                "process, or a ClickHouse server through ClickHouseExecutor)"
            )
        return _engine


def _close_engine() -> None:
    global _engine
    with _registry_lock:
        engine, _engine = _engine, None
    if engine is not None:
        engine.close()


class ChDBExecutor(SQLExecutor):
    """Run SQL on an embedded chDB database folder.

    Queries run in worker threads on a pool of locked sessions (several sessions on one path run
    in parallel and release the GIL), with ``limits`` applied server-side.

    Args:
        path: The database folder (created when missing); ``None`` creates a temporary database
            that is removed when the process exits.
        limits: Time, row and memory limits for every query.
        guard: The safety guard (default: :class:`~text2sql_tune.SQLGuard`).
        concurrency: Queries run at once.

    Raises:
        ConfigurationError: This process already opened chDB on another path.

    Example:
        >>> from text2sql_tune import ChDBExecutor
        >>> executor = ChDBExecutor("/tmp/shop")  # doctest: +SKIP
        >>> executor.execute("SELECT 1 AS one").rows  # doctest: +SKIP
        [[1]]
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self._engine = _get_engine(path)
        self.path = Path(self._engine.path)

    @property
    def name(self) -> str:
        """``chdb://`` plus the database folder."""
        return self.url

    @property
    def url(self) -> str:
        """The database URL, ``chdb:///abs/path``."""
        return f"chdb://{self._engine.path}"

    def __repr__(self) -> str:
        return f"ChDBExecutor({self._engine.path!r})"

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        result = await asyncio.to_thread(self._run_locked, sql)
        return enforce_row_cap(result, self.limits)

    def _run_locked(self, sql: str) -> QueryResult:
        engine, limits = self._engine, self.limits
        session = engine.acquire(limits)
        try:
            return _run(session, sql)
        finally:
            engine.release(limits, session)

    async def aexecute_admin(self, sql: str) -> QueryResult:
        """Run a *trusted* statement (DDL, ``INSERT``) on the unlocked admin session.

        This bypasses the guard and every limit. It exists for the library itself (building the
        demo database, creating test tables); never pass model-written SQL to it.

        Args:
            sql: One trusted statement.

        Returns:
            The result (empty for statements that return nothing).

        Raises:
            SQLExecutionError: The engine rejected the statement.
        """
        return await asyncio.to_thread(_run, self._engine.admin, sql)

    def execute_admin(self, sql: str) -> QueryResult:
        """Sync twin of :meth:`aexecute_admin`."""
        return run_sync(self.aexecute_admin(sql))


def _run(session: Any, sql: str) -> QueryResult:
    started = time.perf_counter()
    try:
        raw = session.query(sql, _OUTPUT_FORMAT)
    except _engine_errors() as exc:
        _drain(session)
        error = map_clickhouse_error(sql, str(exc))
        logger.debug("chdb query failed after %.3f s: %s", time.perf_counter() - started, error)
        raise error from None
    elapsed = time.perf_counter() - started
    payload = raw.bytes() if hasattr(raw, "bytes") else raw
    result = parse_json_compact(sql, payload or b"", elapsed)
    logger.debug("chdb query: %d rows in %.3f s", result.row_count, elapsed)
    return result


def _drain(session: Any) -> None:
    """Flush output a failed query left behind.

    When a query fails mid-execution (time limit, row cap), chDB 4.4 prepends its partial output
    to the next query's output on the same session; one throwaway query absorbs it.
    """
    try:
        session.query("SELECT 1", _OUTPUT_FORMAT)
    except _engine_errors():  # pragma: no cover - the session is unusable; the next query says so
        logger.debug("chdb session drain failed", exc_info=True)
