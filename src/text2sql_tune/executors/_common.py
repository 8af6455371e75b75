"""Helpers shared by the ClickHouse-family executors: error mapping and result parsing."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import SQLExecutionError, SQLTimeoutError, TooManyRowsError
from ..interfaces import ExecutionLimits
from ..models import QueryResult

__all__ = [
    "TIMEOUT_CODES",
    "TOO_MANY_ROWS_CODES",
    "enforce_row_cap",
    "limit_settings",
    "map_clickhouse_error",
    "parse_json_compact",
]

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
        ``SQLExecutionError``; code and name are ``None`` when the text has none.
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
    cls: type[SQLExecutionError] = SQLExecutionError
    if code in TIMEOUT_CODES:
        cls = SQLTimeoutError
    elif code in TOO_MANY_ROWS_CODES:
        cls = TooManyRowsError
    return cls(sql, code, name, message)


def limit_settings(limits: ExecutionLimits) -> dict[str, Any]:
    """The ClickHouse settings that enforce ``limits`` (``readonly`` is applied separately)."""
    seconds = limits.max_execution_time_s
    return {
        "max_execution_time": int(seconds) if float(seconds).is_integer() else seconds,
        "max_result_rows": limits.max_result_rows,
        "result_overflow_mode": "throw",
        "max_memory_usage": limits.max_memory_usage_bytes,
    }


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
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        value, index = _DECODER.raw_decode(text, index)
        if isinstance(value, dict):
            document = value
    if document is None:
        return QueryResult(sql=sql, columns=[], elapsed_s=elapsed_s)
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


def enforce_row_cap(result: QueryResult, limits: ExecutionLimits) -> QueryResult:
    """Raise :class:`TooManyRowsError` when a result slipped past the server's block-wise check.

    ClickHouse checks ``max_result_rows`` per block, so a result can exceed the cap by less than
    one block; the executors treat that the same as the server refusing it.
    """
    if result.row_count > limits.max_result_rows:
        raise TooManyRowsError(
            result.sql,
            396,
            "TOO_MANY_ROWS_OR_BYTES",
            f"Limit for result exceeded, max rows: {limits.max_result_rows}, "
            f"current rows: {result.row_count}",
        )
    return result
