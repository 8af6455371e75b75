"""Helpers shared by the ClickHouse-family executors: error mapping and result parsing."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ..errors import SQLExecutionError, SQLTimeoutError, TooManyRowsError
from ..interfaces import ExecutionLimits
from ..records import QueryResult
from ..safety import DEFAULT_ALLOWED_SETTINGS, DEFAULT_SETTING_BOUNDS, split_settings_clause
from ..safety._lexer import Kind, LexError
from ..safety._statement import RefusalError, parse_statement
from ..sql.dialects import Dialect

__all__ = [
    "OUTPUT_FORMAT",
    "SESSION_SETTINGS",
    "TIMEOUT_CODES",
    "TOO_MANY_ROWS_CODES",
    "bound_constant_result",
    "enforce_row_cap",
    "limit_settings",
    "map_clickhouse_error",
    "parse_json_compact",
    "past_deadline",
    "payload_too_large",
    "query_settings",
    "read_capped",
    "watchdog_deadline",
]

OUTPUT_FORMAT = "JSONCompact"
"""The one output format the executors read; they append it to every query themselves, so a
``FORMAT`` clause left in a query is a syntax error, never a different output."""

TIMEOUT_CODES = frozenset({159, 160})  # TIMEOUT_EXCEEDED, TOO_SLOW
TOO_MANY_ROWS_CODES = frozenset({396})  # TOO_MANY_ROWS_OR_BYTES

_ERROR = re.compile(r"Code:\s*(\d+)\.\s*(?:DB::Exception:\s*)?(.*)", re.DOTALL)
_NAME_TAIL = re.compile(r"\s*\(([A-Z][A-Z0-9_]+)\)\s*\.?\s*$")
_NESTED_PREFIX = re.compile(r"^Code:\s*\d+\.\s*(?:DB::Exception:\s*)?")
_VERSION = re.compile(r"\s*\((?:version|for url) [^)]*\)")
_DECODER = json.JSONDecoder()


def map_clickhouse_error(sql: str, text: str) -> SQLExecutionError:
    """Turn ClickHouse error text into the matching :class:`SQLExecutionError` subclass.

    Args:
        sql: The statement that failed.
        text: The engine's error text, e.g. ``Code: 47. DB::Exception: ... (UNKNOWN_IDENTIFIER)``.

    Returns:
        ``SQLTimeoutError`` for codes 159/160, ``TooManyRowsError`` for 396, else
        ``SQLExecutionError`` filed under the ClickHouse dialect's category; code and name are
        ``None`` when the text has none.
    """
    text = text.strip()
    match = _ERROR.search(text)
    if match is None:
        return SQLExecutionError(sql, None, None, text)
    code = int(match.group(1))
    message = _VERSION.sub("", match.group(2)).strip()
    while _NESTED_PREFIX.match(message):  # "Code: 164. DB::Exception: Code: 164. ..." from chDB
        message = _NESTED_PREFIX.sub("", message, count=1)
    name_match = _NAME_TAIL.search(message)
    name = None
    if name_match is not None:
        name = name_match.group(1)
        message = message[: name_match.start()].rstrip()
        message = _NAME_TAIL.sub("", message).rstrip()  # the nested copy of the name
    message = message.rstrip(".: ") or text
    if code in TIMEOUT_CODES:
        return SQLTimeoutError(sql, code, name, message)
    if code in TOO_MANY_ROWS_CODES:
        return TooManyRowsError(sql, code, name, message)
    category = Dialect.get("clickhouse").categorize(code, name, message)
    return SQLExecutionError(sql, code, name, message, category=category)


def limit_settings(limits: ExecutionLimits) -> dict[str, Any]:
    """The ClickHouse settings that enforce ``limits`` (``readonly`` is applied separately)."""
    seconds = limits.max_execution_time_s
    return {
        "max_execution_time": int(seconds) if float(seconds).is_integer() else seconds,
        "max_result_rows": limits.max_result_rows,
        "max_result_bytes": limits.max_result_bytes,
        "result_overflow_mode": limits.overflow,
        "max_memory_usage": limits.max_memory_usage_bytes,
    }


SESSION_SETTINGS = frozenset(
    {*limit_settings(ExecutionLimits()), "readonly", "output_format_json_quote_64bit_integers"}
)
"""Settings the executors set themselves; a query may never change them."""


def query_settings(sql: str, guard: object) -> tuple[str, dict[str, str]]:
    """Split off a checked query's own settings when they may go to its session instead.

    A locked (``readonly``) session refuses every setting in a query, so executors apply a
    query's trailing ``SETTINGS`` to the session before locking it, or send them as request
    settings. Only settings the guard allows (its ``setting_bounds`` too: it checked their
    values), and none the executor sets for its limits, qualify.

    Args:
        sql: The statement the guard returned.
        guard: The executor's guard (its ``allowed_settings``; the defaults when it has none).

    Returns:
        The statement without the clause and its settings (name -> value text), or ``sql`` and
        ``{}`` when there is no clause or a setting in it does not qualify (the engine decides).
    """
    statement, settings = split_settings_clause(sql)
    allowed = frozenset(getattr(guard, "allowed_settings", DEFAULT_ALLOWED_SETTINGS))
    allowed |= frozenset(getattr(guard, "setting_bounds", DEFAULT_SETTING_BOUNDS))
    names = [name.lower() for name in settings]
    if not settings or any(n not in allowed or n in SESSION_SETTINGS for n in names):
        return sql, {}
    return statement, settings


def watchdog_deadline(limit_s: float) -> float:
    """Seconds after which an executor stops waiting for a query that should have stopped.

    The engine stops a query at ``limit_s`` when it checks between blocks; one long function
    call does not reach such a check. A quarter of the limit (at least 0.25 s) on top leaves
    the engine time to stop it itself, and keeps every query within 1.5 times its limit.
    """
    return limit_s + max(0.25, 0.25 * limit_s)


def bound_constant_result(sql: str) -> str:
    """Put a query without ``FROM`` in a subquery, so that the result limits apply to it.

    Measured on chDB 4.4: ``max_result_bytes`` does not see the result of a query without
    ``FROM`` (all constants): ``SELECT arrayMap(x -> repeat('a', 1000000), range(300))`` passed
    a 32 MiB cap and took 6 s and 2.2 GB to build and print 300 MB; as
    ``SELECT * FROM (...)`` the engine refused it in 0.4 s. The wrapped query returns the same
    columns and rows. A trailing ``SETTINGS`` clause stays outside, where a read-only session
    checks it (inside a subquery it does not). A query in which every ``SELECT`` has a ``FROM``
    is left alone.
    """
    try:
        statement = parse_statement(sql)
    except (LexError, RefusalError):
        return sql
    code = statement.code
    selects = froms = 0
    for token, depth in zip(code, statement.depth, strict=True):
        if depth == 0 and token.kind is Kind.WORD:
            selects += token.upper == "SELECT"
            froms += token.upper == "FROM"
    if selects == 0 or froms >= selects or statement.format_at is not None:
        return sql
    cut = statement.settings_at
    if cut is None or cut == 0:
        return f"SELECT * FROM ({sql[code[0].start : code[-1].end]})"
    head = sql[code[0].start : code[cut - 1].end]
    return f"SELECT * FROM ({head}) {sql[code[cut].start : code[-1].end]}"


def past_deadline(
    sql: str, limits: ExecutionLimits, elapsed_s: float, what: str
) -> SQLTimeoutError:
    """The error for a query an executor stopped waiting for at :func:`watchdog_deadline`.

    Args:
        sql: The query.
        limits: The executor's limits.
        elapsed_s: Seconds since the query was sent.
        what: What the executor saw and did, e.g. "the executor stopped the engine process".
    """
    return SQLTimeoutError(
        sql,
        159,
        "TIMEOUT_EXCEEDED",
        f"Timeout exceeded: {what} {elapsed_s:.2f} s after the query was sent "
        f"(limit {limits.max_execution_time_s:g} s; ClickHouse checks it between blocks only)",
    )


def payload_too_large(sql: str, size: int, limits: ExecutionLimits) -> TooManyRowsError:
    """The error for a result whose encoded size is over the cap (checked before decoding it)."""
    return TooManyRowsError(
        sql,
        396,
        "TOO_MANY_ROWS_OR_BYTES",
        f"Limit for result exceeded, max bytes: {limits.max_result_bytes}, "
        f"current bytes: {size} or more (the encoded result, checked by the executor)",
    )


def read_capped(stream: Any, cap: int, *, deadline: float | None = None) -> tuple[bytes, bool]:
    """Read a response stream up to ``cap`` bytes.

    Args:
        stream: The response (``read(n)`` and, optionally, ``close()``).
        cap: Bytes to read at most (one more tells that there is more).
        deadline: A :func:`time.perf_counter` time after which reading stops.

    Returns:
        The bytes read and whether the stream had more (then reading stopped at the cap).

    Raises:
        TimeoutError: The deadline passed while the response was still coming in.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError("the response was still coming in at the deadline")
            chunk = stream.read(min(1 << 20, cap + 1 - size))
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return b"".join(chunks), True
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def parse_json_compact(sql: str, payload: bytes | str, elapsed_s: float) -> QueryResult:
    """Build a :class:`QueryResult` from ClickHouse ``JSONCompact`` output.

    When the payload holds several documents (chDB can prepend output left over from a failed
    query), the last one is the answer. An empty payload (DDL, ``INSERT``) is an empty result.

    Args:
        sql: The statement that ran.
        payload: The engine's output.
        elapsed_s: Wall-clock seconds the query took.
    """
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    document: dict[str, Any] | None = None
    index = 0
    try:
        while True:
            while index < len(text) and text[index].isspace():
                index += 1
            if index >= len(text):
                break
            value, index = _DECODER.raw_decode(text, index)
            if isinstance(value, dict):
                document = value
    except (ValueError, RecursionError):
        raise _bad_output(sql, text) from None
    if document is None:
        return QueryResult(sql=sql, columns=[], elapsed_s=elapsed_s)
    if document.get("exception"):  # an error after the first rows were sent
        raise map_clickhouse_error(sql, str(document["exception"]))
    try:
        meta = document.get("meta") or []
        rows = [list(row) for row in document.get("data") or []]
        totals = document.get("totals")
        return QueryResult(
            sql=sql,
            columns=[str(m["name"]) for m in meta],
            types=[str(m["type"]) for m in meta],
            rows=rows,
            totals=list(totals) if totals is not None else None,
            row_count=len(rows),
            elapsed_s=elapsed_s,
        )
    except (TypeError, KeyError, ValueError):
        raise _bad_output(sql, text) from None


def _bad_output(sql: str, text: str) -> SQLExecutionError:
    """The engine's output is not a JSONCompact document: an error it wrote, or garbage."""
    marker = text.rfind("Code: ")
    if marker >= 0 and _ERROR.match(text, marker):
        return map_clickhouse_error(sql, text[marker:])
    return SQLExecutionError(
        sql,
        None,
        "BAD_OUTPUT",
        f"the engine's output is not the {OUTPUT_FORMAT} document the executor asked for "
        f"({len(text)} characters starting {text[:40]!r})",
    )


def enforce_row_cap(result: QueryResult, limits: ExecutionLimits) -> QueryResult:
    """Apply the row cap to a result that slipped past the server's block-wise check.

    ClickHouse checks ``max_result_rows`` per block, so a result can exceed the cap by less than
    one block. With ``overflow="throw"`` that raises :class:`TooManyRowsError`, the same as the
    server refusing it; with ``overflow="break"`` the rows are cut at the cap and the result is
    marked ``truncated``.
    """
    if result.row_count > limits.max_result_rows and limits.overflow == "break":
        rows = result.rows[: limits.max_result_rows]
        return result.model_copy(update={"rows": rows, "row_count": len(rows), "truncated": True})
    if result.row_count > limits.max_result_rows:
        raise TooManyRowsError(
            result.sql,
            396,
            "TOO_MANY_ROWS_OR_BYTES",
            f"Limit for result exceeded, max rows: {limits.max_result_rows}, "
            f"current rows: {result.row_count}",
        )
    return result
