"""Exceptions raised by text2sql_tune.

Every exception the library raises on purpose derives from one root, so callers can catch
``Text2SQLTuneError`` and know it came from here::

    Text2SQLTuneError
    ├── ConfigurationError        bad settings, missing API key, unknown URL scheme, missing extra
    │   └── MissingExtraError     an optional dependency (extra) is not installed
    ├── DataError                 a record file or record that cannot be read or is malformed
    ├── ProviderError             an LLM or tuning provider answered an error (.provider, .status)
    │   └── RateLimitError        the provider kept answering 429 after all retries
    ├── SQLError                  anything about one SQL statement (.sql)
    │   ├── UnsafeSQLError        refused by the safety guard before it reached the engine (.reason)
    │   ├── SQLExecutionError     the engine rejected or failed the query (.code, .name, .message)
    │   │   ├── SQLTimeoutError   the query ran past the time limit
    │   │   └── TooManyRowsError  the result exceeded the row cap
    ├── TuningError               a tuning job failed, was cancelled or was rejected (.job_id)
    ├── EvaluationError           an evaluation could not run (golden set, predictions mismatch)
    └── ResourceBusyError         another process holds a run directory, checkpoint or data path
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DataError",
    "EvaluationError",
    "MissingExtraError",
    "ProviderError",
    "RateLimitError",
    "ResourceBusyError",
    "SQLError",
    "SQLExecutionError",
    "SQLTimeoutError",
    "Text2SQLTuneError",
    "TooManyRowsError",
    "TuningError",
    "UnsafeSQLError",
]


class Text2SQLTuneError(Exception):
    """Root of every error raised by text2sql_tune."""


class ConfigurationError(Text2SQLTuneError):
    """Settings are missing or inconsistent (an API key, a URL, an option)."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is needed but not installed.

    Args:
        package: The import name that failed.
        extra: The ``text2sql-tune[extra]`` that installs it.
    """

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package!r} is not installed; install it with: pip install 'text2sql-tune[{extra}]'"
        )


class DataError(Text2SQLTuneError):
    """A record file or a record could not be read or does not have the expected fields."""


class ProviderError(Text2SQLTuneError):
    """A remote provider (OpenAI-compatible API, Lamini) answered with an error.

    Args:
        provider: Short provider name, e.g. ``"openai"`` or ``"lamini"``.
        status: HTTP status code, or ``None`` when no response arrived (network error).
        body: The response body or error detail (never contains the API key).
    """

    def __init__(self, provider: str, status: int | None, body: str) -> None:
        self.provider = provider
        self.status = status
        self.body = body
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{provider} error ({where}): {body[:500]}")


class RateLimitError(ProviderError):
    """The provider kept rate-limiting (HTTP 429) after every retry."""


class SQLError(Text2SQLTuneError):
    """An error about one SQL statement.

    Args:
        sql: The statement concerned.
        message: What went wrong.
    """

    def __init__(self, sql: str, message: str) -> None:
        self.sql = sql
        self.message = message
        super().__init__(message)


class UnsafeSQLError(SQLError):
    """The safety guard refused a statement; it never reached the engine.

    Args:
        sql: The refused statement.
        reason: Why it was refused, e.g. ``"table function 'file' is not allowed"``.
    """

    def __init__(self, sql: str, reason: str) -> None:
        self.reason = reason
        super().__init__(sql, f"unsafe SQL refused: {reason}")


class SQLExecutionError(SQLError):
    """The database engine rejected or failed a query.

    Args:
        sql: The statement that failed.
        code: The ClickHouse error code (e.g. 47), or ``None`` when unknown.
        name: The ClickHouse error name (e.g. ``"UNKNOWN_IDENTIFIER"``), or ``None``.
        message: The engine's message.
    """

    def __init__(self, sql: str, code: int | None, name: str | None, message: str) -> None:
        self.code = code
        self.name = name
        super().__init__(sql, message)

    def __str__(self) -> str:
        label = f"Code: {self.code}" if self.code is not None else "error"
        if self.name:
            label += f" ({self.name})"
        return f"{label}: {self.message}"


class SQLTimeoutError(SQLExecutionError):
    """The query ran past the executor's time limit and was stopped."""


class TooManyRowsError(SQLExecutionError):
    """The query's result exceeded the executor's row cap and was stopped."""


class TuningError(Text2SQLTuneError):
    """A tuning job could not start, failed, or was cancelled.

    Args:
        message: What went wrong.
        job_id: The provider's job id, when there is one.
    """

    def __init__(self, message: str, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message if job_id is None else f"{message} (job {job_id})")


class EvaluationError(Text2SQLTuneError):
    """An evaluation could not run, e.g. an empty golden set or predictions that do not match it."""


class ResourceBusyError(Text2SQLTuneError):
    """Another process holds a resource this one needs to write (a lock file, a chDB data path).

    The message says which resource is held, by whom when known, and what to do.
    """
