"""Run SQL on a ClickHouse server (HTTP or HTTPS) through clickhouse-connect.

On connecting, the executor asks the server whether its session is read-only
(``getSetting('readonly')``) and refuses to run model SQL on a writable one: give it a user whose
settings profile has ``readonly = 1`` (see ``docs/safety.md``), or pass
``allow_writable_user=True`` (unsafe) to run with ``readonly=1`` sent per query instead. With
``readonly = 2`` (settings may change, data may not) the limits go with every query (the
server's constraints decide whether they can be raised); with ``readonly = 1`` nothing can be
sent, so the profile's own limits apply and a warning names those looser than the executor's.
For ``chdb://`` (clickhouse-connect's embedded backend) the executor locks its session itself,
like :class:`ChDBExecutor`.

Results are read as a stream and refused past ``max_result_bytes``; clickhouse-connect appends
``FORMAT JSONCompact`` to every query, so a ``FORMAT`` clause left in one is a syntax error.
A query the server has not answered by its time limit plus a quarter (the HTTP read timeout, and
a deadline while the result streams in) raises :class:`~text2sql_tune.SQLTimeoutError`; the
server stops the query itself only between blocks, so one long function call keeps a server
thread busy until it ends (bound that with the server's own quotas).

clickhouse-connect is synchronous: queries run in worker threads on one client, which is safe to
share between threads because it is created without a session id.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigurationError, SQLExecutionError, SQLTimeoutError
from ..interfaces import ExecutionLimits, SQLExecutor
from ..records import QueryResult
from ..safety import SQLGuard
from ._common import (
    OUTPUT_FORMAT,
    enforce_row_cap,
    limit_settings,
    map_clickhouse_error,
    parse_json_compact,
    past_deadline,
    payload_too_large,
    query_settings,
    read_capped,
    watchdog_deadline,
)

__all__ = ["ClickHouseExecutor"]

logger = logging.getLogger("text2sql_tune")

_SCHEMES = ("clickhouse", "clickhouses", "chdb")
_PROBE = (
    "SELECT toUInt8(getSetting('readonly')) AS readonly, "
    "toFloat64(getSetting('max_execution_time')) AS max_execution_time, "
    "toUInt64(getSetting('max_result_rows')) AS max_result_rows, "
    "toUInt64(getSetting('max_result_bytes')) AS max_result_bytes, "
    "toUInt64(getSetting('max_memory_usage')) AS max_memory_usage, "
    "toString(getSetting('result_overflow_mode')) AS result_overflow_mode"
)


class ClickHouseExecutor(SQLExecutor):
    """Run SQL on ClickHouse through clickhouse-connect.

    Args:
        url_or_client: ``clickhouse://user:password@host:8123/db`` (HTTP),
            ``clickhouses://user:password@host:8443/db`` (HTTPS), ``chdb:///path`` (embedded chDB
            through clickhouse-connect's own backend), or an existing clickhouse-connect client
            (it must not use a session id if queries run concurrently). Query parameters of the
            URL are passed to ``clickhouse_connect.get_client`` (e.g. ``?verify=false``).
        limits: Time, row and memory limits, sent as settings with every query.
        guard: The safety guard (default: :class:`~text2sql_tune.SQLGuard`).
        concurrency: Queries run at once.
        database: Default database; overrides the one in the URL.
        allow_writable_user: **Unsafe.** Run even when the server says the session is not
            read-only, relying on ``readonly=1`` sent with each query (and the guard). Use a
            read-only user instead (``docs/safety.md``).

    The client connects on the first query, not in the constructor, and checks then that the
    session is read-only.

    Raises:
        ConfigurationError: The URL's scheme is not supported (or, on the first query, the
            server cannot be reached or its session is writable).
    """

    def __init__(
        self,
        url_or_client: str | Any,
        *,
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
        database: str | None = None,
        allow_writable_user: bool = False,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self.allow_writable_user = allow_writable_user
        self.readonly: int | None = None
        """The session's ``readonly`` level as the server reported it (``None`` until connected)."""
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._connect_args: dict[str, Any] = {}
        if isinstance(url_or_client, str):
            self._connect_args, self._name = _parse_url(url_or_client, database)
            if "dsn" not in self._connect_args:
                deadline = watchdog_deadline(self.limits.max_execution_time_s)
                self._connect_args.setdefault("send_receive_timeout", math.ceil(deadline))
        else:
            self._client = url_or_client
            self._name = f"ClickHouseExecutor({type(url_or_client).__name__})"

    @property
    def name(self) -> str:
        """The database URL without the password."""
        return self._name

    def __repr__(self) -> str:
        return f"ClickHouseExecutor({self._name!r})"

    def client(self) -> Any:
        """The clickhouse-connect client, connected (and checked read-only) on first use."""
        with self._client_lock:
            if self._client is None:
                import clickhouse_connect
                from clickhouse_connect.driver.exceptions import Error

                logger.info("connecting to %s", self._name)
                try:
                    client = clickhouse_connect.get_client(**self._connect_args)
                except Error as exc:
                    raise ConfigurationError(
                        f"cannot connect to {self._name}: {_redact(str(exc), self._connect_args)}"
                    ) from None
                self._check_session(client)
                self._client = client
            elif self.readonly is None:
                self._check_session(self._client)
            return self._client

    def _check_session(self, client: Any) -> None:
        """Lock an embedded session, then refuse a writable one; warn about looser limits."""
        if "dsn" in self._connect_args:
            _lock_embedded(client, self.limits, self._name)
        try:
            probe = parse_json_compact(_PROBE, client.raw_query(_PROBE, fmt=OUTPUT_FORMAT), 0.0)
        except Exception as exc:
            message = _redact(str(exc), self._connect_args)
            raise ConfigurationError(
                f"cannot check that the session on {self._name} is read-only: {message}"
            ) from None
        values = dict(zip(probe.columns, probe.rows[0], strict=True)) if probe.rows else {}
        readonly = int(values.get("readonly", 0) or 0)
        if readonly == 0 and not self.allow_writable_user:
            raise ConfigurationError(
                f"the session on {self._name} is not read-only (readonly = 0): model-written "
                "SQL must run as a user whose settings profile has readonly = 1 (see "
                "docs/safety.md, 'A ClickHouse server'); allow_writable_user=True overrides "
                "this check (unsafe)"
            )
        if readonly == 1:
            looser = _looser_limits(values, self.limits)
            if looser:
                logger.warning(
                    "the read-only profile on %s allows more than this executor's limits (%s); "
                    "set them in the profile: a readonly = 1 session cannot change them",
                    self._name,
                    ", ".join(looser),
                )
        self.readonly = readonly

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        result = await asyncio.to_thread(self._run, sql)
        return enforce_row_cap(result, self.limits)

    def _settings(self, sql: str) -> tuple[str, dict[str, Any]]:
        """The statement to send and the settings to send with it, for this session."""
        if self.readonly == 1:
            return sql, {}  # a readonly = 1 session accepts no setting at all
        settings: dict[str, Any] = limit_settings(self.limits)
        statement, own = query_settings(sql, self.guard)
        settings.update({name: _setting_value(value) for name, value in own.items()})
        if self.readonly == 0:
            # readonly goes last: the server checks the other settings before it applies it.
            settings["readonly"] = 1
        return statement, settings

    def _run(self, sql: str) -> QueryResult:
        from clickhouse_connect.driver.exceptions import DatabaseError, Error

        client = self.client()
        statement, settings = self._settings(sql)
        cap = self.limits.max_result_bytes
        started = time.perf_counter()
        deadline = started + watchdog_deadline(self.limits.max_execution_time_s)
        try:
            stream = client.raw_stream(statement, settings=settings, fmt=OUTPUT_FORMAT)
            payload, more = read_capped(stream, cap, deadline=deadline)
        except TimeoutError:
            raise self._timed_out(sql, started) from None
        except DatabaseError as exc:
            text = _redact(str(exc), self._connect_args)
            if "timed out" in text.lower() and "Code:" not in text:
                raise self._timed_out(sql, started) from None
            error = map_clickhouse_error(sql, text)
            logger.info("clickhouse query failed on %s: %s", self._name, error)
            raise error from None
        except Error as exc:
            message = _redact(str(exc), self._connect_args)
            raise ConfigurationError(f"cannot query {self._name}: {message}") from None
        except OSError as exc:  # the connection broke while the result streamed in
            raise SQLExecutionError(sql, None, "NETWORK_ERROR", str(exc)) from None
        if more:
            raise payload_too_large(sql, len(payload), self.limits)
        elapsed = time.perf_counter() - started
        result = parse_json_compact(sql, payload, elapsed)
        logger.info(
            "clickhouse query on %s: %d rows in %.3f s", self._name, result.row_count, elapsed
        )
        return result

    def _timed_out(self, sql: str, started: float) -> SQLTimeoutError:
        elapsed = time.perf_counter() - started
        logger.info("clickhouse query on %s gave no answer in %.2f s", self._name, elapsed)
        return past_deadline(sql, self.limits, elapsed, "no answer from the server")

    async def aclose(self) -> None:
        """Close the client's connections."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None and self._connect_args:
            await asyncio.to_thread(client.close)


def _setting_value(text: str) -> Any:
    """A setting value as the guard's lexer gave it (a number, a quoted string or a word)."""
    if text[:1] == "'" and text[-1:] == "'":
        return text[1:-1].replace("\\'", "'").replace("''", "'")
    return text


def _lock_embedded(client: Any, limits: ExecutionLimits, name: str) -> None:
    """Set the limits on a ``chdb://`` client's own session, then lock it with readonly = 1."""
    settings = {**limit_settings(limits), "output_format_json_quote_64bit_integers": 0}
    try:
        for key, value in settings.items():
            literal = f"'{value}'" if isinstance(value, str) else repr(value)
            client.command(f"SET {key} = {literal}")
        client.command("SET readonly = 1")
    except Exception as exc:
        raise ConfigurationError(f"cannot lock the embedded session of {name}: {exc}") from None


def _looser_limits(values: dict[str, Any], limits: ExecutionLimits) -> list[str]:
    wanted = limit_settings(limits)
    looser = []
    for key in ("max_execution_time", "max_result_rows", "max_result_bytes", "max_memory_usage"):
        have = float(values.get(key) or 0)
        if have == 0 or have > float(wanted[key]):
            looser.append(f"{key} = {values.get(key)} (wanted {wanted[key]})")
    if values.get("result_overflow_mode") not in (None, wanted["result_overflow_mode"]):
        looser.append(f"result_overflow_mode = {values.get('result_overflow_mode')}")
    return looser


def _parse_url(url: str, database: str | None) -> tuple[dict[str, Any], str]:
    """Turn a URL into ``get_client`` keyword arguments and a password-free display name."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        shown = f"{parts.scheme}://{parts.hostname or ''}"
        raise ConfigurationError(
            f"unsupported ClickHouse URL {shown!r}; use clickhouse://, clickhouses:// or chdb://"
        )
    if scheme == "chdb":
        path = url.split("?", 1)[0][len("chdb://") :]
        if path and path != ":memory:" and not Path(path).expanduser().is_dir():
            raise ConfigurationError(
                f"there is no chDB database at {path} (the folder does not exist); check the "
                f"path, or build one there with: text2sql-tune demo-db --path {path}"
            )
        args: dict[str, Any] = {"dsn": url.split("?", 1)[0]}
        if database:
            args["database"] = database
        return args, url.split("?", 1)[0]
    secure = scheme == "clickhouses"
    host = parts.hostname or "localhost"
    port = parts.port or (8443 if secure else 8123)
    db = database or (unquote(parts.path.lstrip("/")) or None)
    args = {
        "host": host,
        "port": port,
        "secure": secure,
        "autogenerate_session_id": False,
    }
    if parts.username:
        args["username"] = unquote(parts.username)
    if parts.password:
        args["password"] = unquote(parts.password)
    if db:
        args["database"] = db
    for key, values in parse_qs(parts.query).items():
        args[key] = values[-1]
    user = f"{unquote(parts.username)}@" if parts.username else ""
    name = f"{scheme}://{user}{host}:{port}/{db or ''}"
    return args, name


def _redact(text: str, connect_args: dict[str, Any]) -> str:
    password = connect_args.get("password")
    return text.replace(password, "***") if password else text
