"""Run SQL on embedded ClickHouse (chDB): no server, the database is a folder.

chDB allows one process per database folder. The engine runs in a child process of its own
(:mod:`._chdb_process`), so that a query that runs past its time limit inside one function call
can be stopped: the process is killed and restarted, and the query gets a
:class:`~text2sql_tune.SQLTimeoutError`. This process keeps one engine (one folder): every
:class:`ChDBExecutor` on that folder shares it, asking for a second folder raises
:class:`~text2sql_tune.ConfigurationError`, and a folder another process holds raises
:class:`~text2sql_tune.ResourceBusyError`.

The engine keeps one unlocked *admin* session for trusted statements issued by the library itself
(building the demo database) and pools of *locked* sessions for untrusted queries. A locked
session had its limits (and the query's own allowed settings, which a locked session could not
take any more) set and then ``SET readonly=1``, which chDB keeps for the session's lifetime: no
setting can be raised again and table functions such as ``file()`` are refused, even if a query
slipped past the guard. Every query gets ``FORMAT JSONCompact`` appended, so a ``FORMAT`` clause
left in it is a syntax error rather than another output, and a result over the byte cap is
refused before it is copied out of the engine. The engine process's memory is bounded as a whole
(``max_server_memory_usage``), not only per query.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from .._sync import run_sync
from ..errors import ConfigurationError, ResourceBusyError, SQLExecutionError
from ..interfaces import ExecutionLimits, SQLExecutor
from ..records import QueryResult
from ..safety import SQLGuard
from ._chdb_process import (
    EngineError,
    EngineLostError,
    EngineProcess,
    OutputTooLargeError,
    QueryTimedOutError,
)
from ._common import (
    OUTPUT_FORMAT,
    bound_constant_result,
    enforce_row_cap,
    limit_settings,
    map_clickhouse_error,
    parse_json_compact,
    past_deadline,
    payload_too_large,
    query_settings,
    watchdog_deadline,
)

__all__ = ["ChDBExecutor"]

logger = logging.getLogger("text2sql_tune")

_MAX_SETTING_POOLS = 16  # distinct query-settings combinations that keep their own pool


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


_ORPHAN_WAIT_S = 15.0


def _orphaned_worker(holder: str) -> bool:
    """Whether ``holder`` is an engine process of this library whose parent has ended.

    A killed or interrupted run leaves its engine process behind for a moment: it exits when it
    sees its stdin close, which takes longer on a loaded machine. Such a process is reparented
    (to PID 1 or a subreaper), so a new run can tell it from a live run's engine.
    """
    pid = holder.removeprefix("process ")
    if not pid.isdigit():
        return False
    proc = Path("/proc") / pid
    try:
        cmdline = (proc / "cmdline").read_bytes()
        stat = (proc / "stat").read_text()
    except OSError:
        return False
    if b"_chdb_worker" not in cmdline:
        return False
    parent = stat.rsplit(")", 1)[-1].split()[1]  # the field after the state letter
    return parent == "1" or not (Path("/proc") / parent).exists()


def _wait_for_release(path: str, holder: str) -> str | None:
    """Wait (up to ``_ORPHAN_WAIT_S``) while an orphaned engine process lets go of ``path``."""
    if not _orphaned_worker(holder):
        return holder
    logger.info("waiting for the engine process of an ended run (%s) to release %s", holder, path)
    deadline = time.monotonic() + _ORPHAN_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = _holder(path)
        if current is None:
            return None
        if current != holder:
            return current
    return holder


def _busy(path: str, holder: str) -> ResourceBusyError:
    return ResourceBusyError(
        f"the chDB data path {path} is locked by {holder}: chDB allows one process per "
        "database folder; stop that process, or copy the folder and open the copy"
    )


class _Engine:
    """The process's single chDB data folder, served by an engine process."""

    def __init__(self, path: str, temporary: bool, memory_budget: int) -> None:
        self.path = path
        self.temporary = temporary
        self.memory_budget = memory_budget
        holder = _holder(path)
        if holder is not None:
            holder = _wait_for_release(path, holder)
        if holder is not None:
            raise _busy(path, holder)
        self.process = EngineProcess(path, memory_budget)
        try:
            self.process.start()
        except EngineError as exc:
            holder = _holder(path)
            if holder is not None:
                raise _busy(path, holder) from None
            raise ConfigurationError(f"cannot open the chDB database at {path}: {exc}") from None
        self._setting_pools: set[str] = set()
        self._lock = threading.Lock()

    def pool(self, limits: ExecutionLimits, extra: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
        """The locked-session pool for these limits and query settings, and whether to keep it.

        Query settings from model SQL could vary without end; past a few combinations their
        sessions are made for one query and closed, so they cannot pile up.
        """
        key = json.dumps([limits.model_dump(mode="json"), extra])
        if not extra:
            return key, True
        with self._lock:
            if key in self._setting_pools or len(self._setting_pools) < _MAX_SETTING_POOLS:
                self._setting_pools.add(key)
                return key, True
        return key, False

    def setup(self, limits: ExecutionLimits, extra: tuple[tuple[str, str], ...]) -> list[str]:
        """The statements that lock a new session: limits, output settings, the query's own."""
        settings = {
            **limit_settings(limits),
            "max_memory_usage_for_user": self.memory_budget,
            # Output settings first: once readonly=1 is set nothing can change any more.
            "output_format_json_quote_64bit_integers": 0,
        }
        statements = [
            f"SET {name} = " + (f"'{value}'" if isinstance(value, str) else repr(value))
            for name, value in settings.items()
        ]
        # The query's own settings: allow-listed names, literal values from the guard's lexer.
        return statements + [f"SET {name} = {value}" for name, value in extra]

    def close(self) -> None:
        self.process.close()
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


_registry_lock = threading.Lock()
_engine: _Engine | None = None


def _get_engine(path: str | Path | None, create: bool, memory_budget: int) -> _Engine:
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
            _engine = _Engine(resolved, temporary=True, memory_budget=memory_budget)
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
        _engine = _Engine(resolved, temporary=False, memory_budget=memory_budget)
        atexit.register(_close_engine)
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

    Queries run on a pool of locked sessions of the engine process (several run in parallel),
    with ``limits`` applied by the engine. A query that is still running
    ``max_execution_time_s`` plus a quarter (at least 0.25 s) after it started gets the engine
    process killed and restarted and raises :class:`~text2sql_tune.SQLTimeoutError`; queries that
    ran beside it run again. The engine process as a whole never takes more than
    ``memory_budget_bytes``.

    Args:
        path: The database folder; ``None`` creates a temporary database that is removed when
            the process exits.
        limits: Time, row, byte and memory limits for every query.
        guard: The safety guard (default: :class:`~text2sql_tune.SQLGuard`).
        concurrency: Queries run at once.
        create: Create the folder when it does not exist (an empty database). Without it a
            missing folder is an error, so a mistyped path cannot look like an empty database.
        memory_budget_bytes: Memory all queries together may use in the engine process
            (``max_server_memory_usage`` and ``max_memory_usage_for_user``); default
            ``limits.max_memory_usage_bytes``, so concurrent queries share one query's budget.
            The first executor on a folder sets the process-wide part.

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
        memory_budget_bytes: int | None = None,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        budget = memory_budget_bytes or self.limits.max_memory_usage_bytes
        self.memory_budget_bytes = budget
        self._engine = _get_engine(path, create, budget)
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
        extra = tuple(sorted(settings.items()))
        pool, keep = engine.pool(limits, extra)
        setup = engine.setup(limits, extra)
        text = f"{bound_constant_result(statement)}\nFORMAT {OUTPUT_FORMAT}"
        started = time.perf_counter()
        try:
            payload = engine.process.run(
                text,
                pool=pool,
                setup=setup,
                keep=keep,
                max_bytes=limits.max_result_bytes,
                deadline_s=watchdog_deadline(limits.max_execution_time_s),
            )
        except EngineError as exc:  # a bad SET is reported against the query too
            raise map_clickhouse_error(sql, exc.text) from None
        except OutputTooLargeError as exc:
            raise payload_too_large(sql, exc.size, limits) from None
        except QueryTimedOutError as exc:
            what = "the query was still running, so the executor stopped the engine process,"
            raise past_deadline(sql, limits, exc.elapsed_s, what) from None
        except EngineLostError:  # pragma: no cover - queries are sent again; only a closed engine
            raise SQLExecutionError(sql, None, "ENGINE_CLOSED", "the executor was closed") from None
        elapsed = time.perf_counter() - started
        result = parse_json_compact(sql, payload, elapsed)
        logger.debug("chdb query: %d rows in %.3f s", result.row_count, elapsed)
        return result

    async def aexecute_admin(self, sql: str) -> QueryResult:
        """Run a *trusted* statement (DDL, ``INSERT``) on the unlocked admin session.

        This bypasses the guard and every limit. It exists for the library itself (building the
        demo database, creating test tables); never pass model-written SQL to it.

        Args:
            sql: One trusted statement.

        Returns:
            The result (empty for statements that return nothing).

        Raises:
            SQLExecutionError: The engine rejected the statement, or the engine process was
                restarted while it ran (a query beside it overran its deadline).
        """
        return await asyncio.to_thread(self._run_admin, sql)

    def execute_admin(self, sql: str) -> QueryResult:
        """Sync twin of :meth:`aexecute_admin`."""
        return run_sync(self.aexecute_admin(sql))

    def _run_admin(self, sql: str) -> QueryResult:
        started = time.perf_counter()
        try:
            payload = self._engine.process.run(sql)
        except EngineError as exc:
            raise map_clickhouse_error(sql, exc.text) from None
        except EngineLostError:
            raise SQLExecutionError(
                sql,
                None,
                "ENGINE_RESTARTED",
                "the chDB engine process was restarted while this statement ran (a query beside "
                "it ran past its deadline); run it again",
            ) from None
        return parse_json_compact(sql, payload, time.perf_counter() - started)
