"""Exceptions raised by text2sql_tune.

Every exception the library raises on purpose derives from one root, so callers can catch
``Text2SQLTuneError`` and know it came from here::

    Text2SQLTuneError
    ├── ConfigurationError        bad settings, missing API key, unknown URL scheme, missing extra
    │   └── MissingExtraError     an optional dependency (extra) is not installed
    ├── DataError                 a record file or record that cannot be read or is malformed
    ├── ProviderError             an LLM or tuning provider answered an error (.provider, .status)
    │   └── ProviderUnavailableError  no usable answer after every retry (network, timeout, 5xx)
    │       ├── RateLimitError        the provider kept answering 429 after all retries
    │       └── ProviderOutageError   a run stopped after N such failures in a row
    ├── SQLError                  anything about one SQL statement (.sql)
    │   ├── UnsafeSQLError        refused by the safety guard before it reached the engine (.reason)
    │   │   └── UnknownFunctionError  it calls a function the engine does not know (.function)
    │   ├── SQLSyntaxError        the guard could not read it as SQL; it never ran (.reason)
    │   ├── SQLExecutionError     the engine failed it (.code, .name, .message, .category)
    │   │   ├── SQLTimeoutError   the query ran past the time limit
    │   │   └── TooManyRowsError  the result exceeded the row cap
    ├── TuningError               a tuning job failed, was cancelled or was rejected (.job_id)
    ├── EvaluationError           an evaluation could not run (golden set, predictions mismatch)
    │   ├── GoldenSetError        golden-set lint found error-level problems (.findings)
    │   └── HeldOutSetError       a step that shapes training data was given test-set cases
    └── ResourceBusyError         another process holds a run directory, checkpoint or data path

An engine's error also gets an engine-neutral :data:`ErrorCategory` (``SQLExecutionError.category``)
from the executor's :class:`~text2sql_tune.sql.dialects.Dialect`, so evaluation reports read the
same whatever the database: ``syntax_error``, ``unknown_column``, ``unknown_table``,
``unknown_function``, ``type_error``, ``aggregation_error``, ``wrong_arguments``, ``timeout``,
``too_many_rows`` and ``execution_error`` for any other failure.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "ConfigurationError",
    "DataError",
    "ErrorCategory",
    "EvaluationError",
    "GoldenSetError",
    "HeldOutSetError",
    "MissingExtraError",
    "ProviderError",
    "ProviderOutageError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ResourceBusyError",
    "SQLError",
    "SQLExecutionError",
    "SQLSyntaxError",
    "SQLTimeoutError",
    "Text2SQLTuneError",
    "TooManyRowsError",
    "TuningError",
    "UnknownFunctionError",
    "UnsafeSQLError",
]


ErrorCategory = Literal[
    "syntax_error",
    "unknown_column",
    "unknown_table",
    "unknown_function",
    "type_error",
    "aggregation_error",
    "wrong_arguments",
    "timeout",
    "too_many_rows",
    "execution_error",
]
"""What kind of failure an engine error is, whatever the engine (``execution_error``: any other)."""


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


class ProviderUnavailableError(ProviderError):
    """No usable answer arrived, even after every retry: nothing was answered, try again later.

    Raised for transport failures (connection refused, DNS, timeouts, a connection dropped
    mid-answer), for 5xx / 429 answers on every attempt and for bodies that are not an answer
    at all (an HTML error page, a cut-off body). Runs never save such a failure as an answer, so
    a re-run asks again.

    Args:
        provider: Short provider name.
        status: The last HTTP status, or ``None`` when no response arrived.
        body: What went wrong on the last attempt.
        usage: Calls that were answered (and so billed) but unreadable, when known.
    """

    def __init__(self, provider: str, status: int | None, body: str, *, usage: Any = None) -> None:
        super().__init__(provider, status, body)
        self.usage = usage


class RateLimitError(ProviderUnavailableError):
    """The provider kept rate-limiting (HTTP 429) after every retry."""


class ProviderOutageError(ProviderUnavailableError):
    """A run stopped because the provider failed several calls in a row without answering.

    Everything completed before the stop is saved; running the same command again resumes.

    Args:
        provider: Short provider name.
        failures: How many calls in a row failed.
        last: The last of those failures.
    """

    def __init__(self, provider: str, failures: int, last: ProviderUnavailableError) -> None:
        self.failures = failures
        self.last = last
        super().__init__(
            provider,
            last.status,
            f"{failures} calls in a row got no usable answer, so the run stopped "
            f"(last: {last.body[:300]})",
        )


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


class UnknownFunctionError(UnsafeSQLError):
    """The statement calls a function the engine does not know; the guard refused it.

    A typo, or another database's function such as ``date_part``: refused like any function off
    the allow-list.

    Outcomes record it as an error named ``UNKNOWN_FUNCTION`` in category ``unknown_function``
    (with the engine's own code where its dialect has one: 46 on ClickHouse), so evaluation files
    it as the engine itself would have.

    Args:
        sql: The refused statement.
        reason: The guard's reason.
        function: The unknown function's name.
    """

    def __init__(self, sql: str, reason: str, function: str) -> None:
        self.function = function
        super().__init__(sql, reason)


class SQLSyntaxError(SQLError):
    """The safety guard could not read a statement as SQL (``SELEC x``); it never ran.

    Evaluation files these under ``syntax_error``, like the engine's own syntax errors.

    Args:
        sql: The statement.
        reason: What could not be read, e.g. ``"unterminated string starting at offset 7"``.
    """

    def __init__(self, sql: str, reason: str) -> None:
        self.reason = reason
        super().__init__(sql, f"invalid SQL: {reason}")


class SQLExecutionError(SQLError):
    """The database engine rejected or failed a query.

    Args:
        sql: The statement that failed.
        code: The engine's error code (ClickHouse: 47), or ``None`` when unknown.
        name: The engine's error name (ClickHouse: ``"UNKNOWN_IDENTIFIER"``), or ``None``.
        message: The engine's message.
        category: The engine-neutral :data:`ErrorCategory`; ``None`` leaves it to the executor,
            which files the error with its dialect before raising it.
    """

    default_category: ErrorCategory | None = None

    def __init__(
        self,
        sql: str,
        code: int | None,
        name: str | None,
        message: str,
        *,
        category: ErrorCategory | None = None,
    ) -> None:
        self.code = code
        self.name = name
        self.category: ErrorCategory | None = category or self.default_category
        super().__init__(sql, message)

    def __str__(self) -> str:
        label = f"Code: {self.code}" if self.code is not None else "error"
        if self.name:
            label += f" ({self.name})"
        return f"{label}: {self.message}"


class SQLTimeoutError(SQLExecutionError):
    """The query ran past the executor's time limit and was stopped."""

    default_category: ErrorCategory | None = "timeout"


class TooManyRowsError(SQLExecutionError):
    """The query's result exceeded the executor's row cap and was stopped."""

    default_category: ErrorCategory | None = "too_many_rows"


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


class GoldenSetError(EvaluationError):
    """The golden set has problems that make its evaluation wrong or irreproducible.

    Raised by ``GoldenLintReport.raise_for_errors()`` (and so by ``text2sql-tune lint-golden``)
    when a lint finding has error severity: a reference query that fails or cannot be compared,
    a nondeterministic answer, a tie at an ``ORDER BY ... LIMIT`` boundary, a duplicate question.

    Args:
        message: A summary of the findings.
        findings: The error-level findings.
    """

    def __init__(self, message: str, findings: list[Any] | None = None) -> None:
        self.findings = list(findings or [])
        super().__init__(message)


class HeldOutSetError(EvaluationError):
    """Something that shapes training data was about to read the test set.

    Analysis, targeted generation, next iterations and seed examples may read the dev part of a
    golden set only: a test case they read stops measuring anything. Raised before anything is
    generated or written.

    Args:
        message: What would have read which test cases, and what to do instead.
        cases: The test cases concerned (ids, else questions).
    """

    def __init__(self, message: str, cases: list[str] | None = None) -> None:
        self.cases = list(cases or [])
        super().__init__(message)


class ResourceBusyError(Text2SQLTuneError):
    """Another process holds a resource this one needs to write (a lock file, a chDB data path).

    The message says which resource is held, by whom when known, and what to do.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
