"""Executors: run SQL safely on a database.

- :class:`ChDBExecutor`: embedded ClickHouse (chDB), ``chdb:///path``.
- :class:`ClickHouseExecutor`: a ClickHouse server over HTTP(S) through clickhouse-connect,
  ``clickhouse://user:pw@host:8123/db`` / ``clickhouses://...`` (or chDB through its backend).
- :func:`open_executor`: pick one from a URL: its scheme names an ``executor`` in the
  :mod:`~text2sql_tune.registry` (plugins add schemes).
"""

from __future__ import annotations

from typing import Any

from .. import registry
from ..errors import ConfigurationError
from ..interfaces import SQLExecutor
from .chdb import ChDBExecutor
from .clickhouse import ClickHouseExecutor

__all__ = ["ChDBExecutor", "ClickHouseExecutor", "open_executor"]

SUPPORTED_SCHEMES = ("chdb://", "clickhouse://", "clickhouses://")
"""The built-in URL schemes (plugins register more: ``registry.names("executor")``)."""


def open_chdb_url(url: str, **kwargs: Any) -> ChDBExecutor:
    """The registry's ``chdb`` executor: ``chdb:///abs/path`` or ``chdb://relative/path``."""
    path = url.split("://", 1)[1].split("?", 1)[0]
    return ChDBExecutor(path or None, **kwargs)


def open_executor(url: str | None, **kwargs: Any) -> SQLExecutor:
    """Open an executor for a database URL; the scheme picks it from the registry.

    Args:
        url: ``chdb:///abs/path`` or ``chdb://relative/path`` (embedded chDB),
            ``clickhouse://user:pw@host:8123/db`` or ``clickhouses://...`` (a server over HTTP or
            HTTPS), or a scheme a plugin registered. ``None`` opens the demo database in the
            user's cache folder.
        **kwargs: Passed to the executor (``limits``, ``guard``, ``concurrency``, ``create``
            for chDB, ``allow_writable_user`` for a server, ...).

    Returns:
        A :class:`ChDBExecutor`, a :class:`ClickHouseExecutor` or a plugin's executor.

    Raises:
        ConfigurationError: The scheme is not registered, a ``chdb://`` folder does not exist
            (unless ``create=True``), or chDB already uses another path.
        ResourceBusyError: Another process holds the ``chdb://`` folder.
    """
    if url is None:
        from ..demo.database import (  # type: ignore[import-not-found,unused-ignore]
            default_database_url,
        )

        url = default_database_url()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    schemes = ", ".join(f"{name}://" for name in registry.names("executor"))
    if not scheme:
        shown = url.split("@")[-1] if "@" in url else url
        raise ConfigurationError(
            f"database URL {shown!r} has no scheme; supported schemes: {schemes}"
        )
    try:
        factory = registry.get("executor", scheme)
    except ConfigurationError:
        raise ConfigurationError(
            f"unsupported database URL scheme {scheme + '://'!r}; supported schemes: {schemes} "
            "(e.g. chdb:///path/to/db or clickhouse://user:password@host:8123/database)"
        ) from None
    return factory(url, **kwargs)
