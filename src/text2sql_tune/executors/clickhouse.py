"""Run SQL on a ClickHouse server (HTTP or HTTPS) through clickhouse-connect.

Every query carries the limits as per-query settings (``max_execution_time``, ``max_result_rows``
with ``result_overflow_mode='throw'``, ``max_memory_usage``) plus ``readonly=1``, so the server
itself refuses writes, setting changes and table functions even if a query slipped past the guard.

clickhouse-connect is synchronous: queries run in worker threads on one client, which is safe to
share between threads because it is created without a session id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigurationError
from ..interfaces import ExecutionLimits, SQLExecutor
from ..models import QueryResult
from ..safety import SQLGuard
from ._common import enforce_row_cap, limit_settings, map_clickhouse_error, parse_json_compact

__all__ = ["ClickHouseExecutor"]

logger = logging.getLogger("text2sql_tune")

_SCHEMES = ("clickhouse", "clickhouses", "chdb")


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

    The client connects on the first query, not in the constructor.

    Raises:
        ConfigurationError: The URL's scheme is not supported.
    """

    def __init__(
        self,
        url_or_client: str | Any,
        *,
        limits: ExecutionLimits | None = None,
        guard: SQLGuard | None = None,
        concurrency: int = 4,
        database: str | None = None,
    ) -> None:
        super().__init__(limits=limits, guard=guard, concurrency=concurrency)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._connect_args: dict[str, Any] = {}
        if isinstance(url_or_client, str):
            self._connect_args, self._name = _parse_url(url_or_client, database)
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
        """The clickhouse-connect client, connected on first use."""
        with self._client_lock:
            if self._client is None:
                import clickhouse_connect
                from clickhouse_connect.driver.exceptions import Error

                logger.info("connecting to %s", self._name)
                try:
                    self._client = clickhouse_connect.get_client(**self._connect_args)
                except Error as exc:
                    raise ConfigurationError(
                        f"cannot connect to {self._name}: {_redact(str(exc), self._connect_args)}"
                    ) from None
            return self._client

    async def _aexecute_checked(self, sql: str) -> QueryResult:
        result = await asyncio.to_thread(self._run, sql)
        return enforce_row_cap(result, self.limits)

    def _run(self, sql: str) -> QueryResult:
        from clickhouse_connect.driver.exceptions import DatabaseError, Error

        client = self.client()
        # readonly goes last: the server checks the other settings before it applies it.
        settings = {**limit_settings(self.limits), "readonly": 1}
        started = time.perf_counter()
        try:
            payload = client.raw_query(sql, settings=settings, fmt="JSONCompact")
        except DatabaseError as exc:
            error = map_clickhouse_error(sql, _redact(str(exc), self._connect_args))
            logger.info("clickhouse query failed on %s: %s", self._name, error)
            raise error from None
        except Error as exc:
            message = _redact(str(exc), self._connect_args)
            raise ConfigurationError(f"cannot query {self._name}: {message}") from None
        elapsed = time.perf_counter() - started
        result = parse_json_compact(sql, payload, elapsed)
        logger.info(
            "clickhouse query on %s: %d rows in %.3f s", self._name, result.row_count, elapsed
        )
        return result

    async def aclose(self) -> None:
        """Close the client's connections."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None and self._connect_args:
            await asyncio.to_thread(client.close)


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
