"""Turn a pydantic ``ValidationError`` into one line a user can act on.

pydantic's own text spans several lines per error and ends with "For further information visit
https://errors.pydantic.dev/...". Messages of this library name the file and line first, then
``field 'sql': expected a string (got 5)``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

__all__ = ["describe_validation_error"]

_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "datetime_type": "expected a date and time",
    "datetime_parsing": "expected a date and time (ISO 8601)",
    "datetime_from_date_parsing": "expected a date and time (ISO 8601)",
    "missing": "is missing (required)",
    "extra_forbidden": "is not a known field",
}


def _field(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _one(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("enum", "literal_error") and "expected" in ctx:
        what = f"expected {ctx['expected']}"
    elif kind in _EXPECTED:
        what = _EXPECTED[kind]
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        what = message[:1].lower() + message[1:]
    if kind not in ("missing", "extra_forbidden", "value_error"):
        what += f" (got {_shown(error.get('input'))})"
    field = _field(tuple(error["loc"]))
    return f"field {field!r}: {what}" if field else what


def describe_validation_error(exc: ValidationError, *, max_errors: int = 3) -> str:
    """The errors of ``exc`` on one line, ``; ``-separated (the first ``max_errors`` of them).

    Args:
        exc: The pydantic error.
        max_errors: How many errors to name; the rest are counted.

    Returns:
        For example ``field 'sql': expected a string (got 5)``.
    """
    errors = exc.errors(include_url=False)
    parts = [_one(error) for error in errors[:max_errors]]
    if len(errors) > max_errors:
        parts.append(f"and {len(errors) - max_errors} more")
    return "; ".join(parts)
