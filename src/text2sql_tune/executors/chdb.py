"""Run SQL on embedded ClickHouse (chDB): no server, the database is a folder.

chDB allows one data path per process, and one process per path. A process-wide engine therefore
owns the path: every :class:`ChDBExecutor` on that path shares it, asking for a second path
raises :class:`~text2sql_tune.ConfigurationError`, and a path another process holds raises
:class:`~text2sql_tune.ResourceBusyError`.

The engine keeps one unlocked *admin* session for trusted statements issued by the library itself
(building the demo database) and pools of *locked* sessions for untrusted queries. A locked
session had its limits (and the query's own allowed settings, which a locked session could not
take any more) set and then ``SET readonly=1``, which chDB keeps for the session's lifetime: no
setting can be raised again and table functions such as ``file()`` are refused, even if a query
slipped past the guard. Every query gets ``FORMAT JSONCompact`` appended, so a ``FORMAT`` clause
left in it is a syntax error rather than another output, and a result over the byte cap is
refused before it is copied into Python.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import fcntl
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
from ..errors import ConfigurationError, ResourceBusyError, SQLExecutionError
from ..interfaces import ExecutionLimits, SQLExecutor
from ..records import QueryResult
from ..safety import SQLGuard
from ._common import (
    OUTPUT_FORMAT,
    enforce_row_cap,
    limit_settings,
    map_clickhouse_error,
    parse_json_compact,
    payload_too_large,
    query_settings,
)

__all__ = ["ChDBExecutor"]

logger = logging.getLogger("text2sql_tune")

_MAX_SETTING_POOLS = 16  # distinct query-settings combinations that keep their own pool

_PoolKey = tuple[ExecutionLimits, tuple[tuple[str, str], ...]]


def _engine_errors() -> tuple[type[BaseException], ...]:
    import chdb

    return (RuntimeError, chdb.ChdbError)


def _holder(path: str) -> str | None:
    """Who holds the chDB lock on ``path`` (``"process 1234"``), or ``None`` when nobody does.

    chDB, like ClickHouse, keeps an exclusive ``flock`` on ``<path>/status`` while it runs.
    """
    status = Path(path) / "status"
    try:
        handle = status.open("rb")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            text = handle.read(200).decode("utf-8", "replace")
            pid = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in text.splitlines()
                    if line.startswith("PID:")
                ),
                "",
            )
            return f"process {pid}" if pid else "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _busy(path: str, holder: str) -> ResourceBusyError:
    return ResourceBusyError(
        f"the chDB data path {path} is locked by {holder}: chDB allows one process per "
        "database folder; stop that process, or copy the folder and open the copy"
    )


class _Engine:
    """The process's single chDB data path: an admin session plus pools of locked sessions."""

    def __init__(self, path: str, temporary: bool) -> None:
        from chdb.session import Session

        self.path = path
        self.temporary = temporary
        self._session_cls: Any = cast(Any, Session)
        holder = _holder(path)
        if holder is not None:
            raise _busy(path, holder)
        try:
            self.admin: Any = self._session_cls(path)
        except _engine_errors() as exc:
            holder = _holder(path)
            if holder is not None:
                raise _busy(path, holder) from None
            raise ConfigurationError(f"cannot open the chDB database at {path}: {exc}") from None
        self._pools: dict[_PoolKey, queue.SimpleQueue[Any]] = {}
        self._all: list[Any] = [self.admin]
        self._lock = threading.Lock()

    def acquire(self, key: _PoolKey) -> tuple[Any, bool]:
        """A locked session for ``key``, and whether it goes back to a pool afterwards.

        Query settings from model SQL could vary without end; past a few combinations their
        sessions are made for one query and closed, so they cannot pile up.
        """
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                setting_pools = sum(1 for k in self._pools if k[1])
                if not key[1] or setting_pools < _MAX_SETTING_POOLS:
                    pool = self._pools[key] = queue.SimpleQueue()
        if pool is None:
            return self._locked_session(*key, keep=False), False
        try:
            return pool.get_nowait(), True
        except queue.Empty:
            return self._locked_session(*key, keep=True), True

    def release(self, key: _PoolKey, session: Any, pooled: bool) -> None:
        if pooled:
            self._pools[key].put(session)
        else:
            session.cleanup()

    def _locked_session(
        self, limits: ExecutionLimits, extra: tuple[tuple[str, str], ...], *, keep: bool
    ) -> Any:
        session: Any = self._session_cls(self.path)
        settings: dict[str, Any] = limit_settings(limits)
        # Output settings first: once readonly=1 is set nothing can change any more.
        settings["output_format_json_quote_64bit_integers"] = 0
        statements = [
            f"SET {name} = " + (f"'{value}'" if isinstance(value, str) else repr(value))
            for name, value in settings.items()
        ]
        # The query's own settings: allow-listed names, literal values from the guard's lexer.
        statements += [f"SET {name} = {value}" for name, value in extra]
        for statement in statements:
            try:
                session.query(statement)
            except _engine_errors() as exc:  # a query's own setting with a bad value
                session.cleanup()
                raise map_clickhouse_error(statement, str(exc)) from None
        session.query("SET readonly = 1")
        if keep:
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


def _get_engine(path: str | Path | None, create: bool) -> _Engine:
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
        if _engine is not None and _engine.path == resolved:
            return _engine
        missing = _check_folder(resolved, create)
        if _engine is not None:
            raise ConfigurationError(
                f"this process already uses the chDB database at {_engine.path}; chDB allows one "
                f"data path per process, so {resolved} cannot be opened too (use a separate "
                "process, or a ClickHouse server through ClickHouseExecutor)"
            )
        if missing:
            Path(resolved).mkdir(parents=True, exist_ok=True)
        _engine = _Engine(resolved, temporary=False)
        return _engine


def _check_folder(path: str, create: bool) -> bool:
    """Whether the folder is missing (and may be created); raises when it may not be used."""
    folder = Path(path)
    if folder.is_dir():
        return False
    if folder.exists():
        raise ConfigurationError(f"the chDB database path {path} is not a folder")
    if not create:
        raise ConfigurationError(
            f"there is no chDB database at {path} (the folder does not exist); check the path, "
            f"or build one there with: text2sql-tune demo-db --path {path}"
        )
    return True


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
        path: The database folder; ``None`` creates a temporary database that is removed when
            the process exits.
        limits: Time, row, byte and memory limits for every query.
        guard: The safety guard (default: :class:`~text2sql_tune.SQLGuard`).
        concurrency: Queries run at once.
        create: Create the folder when it does not exist (an empty database). Without it a
            missing folder is an error, so a mistyped path cannot look like an empty database.

    Raises:
        ConfigurationError: The folder does not exist (and ``create`` is false), or this process
            already opened chDB on another path.
        ResourceBusyError: Another process holds the database folder.

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
        create: bool = False,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self._engine = _get_engine(path, create)
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
        statement, settings = query_settings(sql, self.guard)
        key: _PoolKey = (limits, tuple(sorted(settings.items())))
        try:
            session, pooled = engine.acquire(key)
        except SQLExecutionError as exc:  # report it against the query, not the SET statement
            raise type(exc)(sql, exc.code, exc.name, exc.message) from None
        try:
            result = _run(session, statement, limits)
        finally:
            engine.release(key, session, pooled)
        return result.model_copy(update={"sql": sql}) if statement != sql else result

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
        return await asyncio.to_thread(_run, self._engine.admin, sql, None)

    def execute_admin(self, sql: str) -> QueryResult:
        """Sync twin of :meth:`aexecute_admin`."""
        return run_sync(self.aexecute_admin(sql))


def _run(session: Any, sql: str, limits: ExecutionLimits | None) -> QueryResult:
    """Run ``sql`` on ``session``.

    ``limits`` is ``None`` for the admin session's trusted statements: no ``FORMAT`` is appended
    (DDL takes none) and no size cap applies.
    """
    started = time.perf_counter()
    text = sql if limits is None else f"{sql}\nFORMAT {OUTPUT_FORMAT}"
    try:
        raw = session.query(text, OUTPUT_FORMAT)
    except _engine_errors() as exc:
        _drain(session)
        error = map_clickhouse_error(sql, str(exc))
        logger.debug("chdb query failed after %.3f s: %s", time.perf_counter() - started, error)
        raise error from None
    elapsed = time.perf_counter() - started
    size = raw.size() if hasattr(raw, "size") else len(raw)
    if limits is not None and size > limits.max_result_bytes:
        raise payload_too_large(sql, size, limits)
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
        session.query("SELECT 1", OUTPUT_FORMAT)
    except _engine_errors():  # pragma: no cover - the session is unusable; the next query says so
        logger.debug("chdb session drain failed", exc_info=True)
