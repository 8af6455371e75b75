"""Canonical cell values and tolerant equality, shared by the result comparison and reports.

Each cell is mapped to a comparable value (numbers to int/float, dates to ISO text, NULL and NaN
to one token) under :class:`~text2sql_tune.evaluate.judges.MatchRules`; numbers then compare
with the
tolerance and rounding rules of ``docs/judge-rules.md``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compare import MatchRules

__all__ = [
    "NULL",
    "WILDCARD",
    "Tolerance",
    "bags_equal",
    "canon",
    "cells_equal",
    "dedupe_rows",
    "rows_equal",
    "sort_key",
]

NULL = ("null",)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# A number written for people: a currency sign before it, thousands separators, a percent sign
# or a currency sign after it ("$1,234.50", "12.5 %", "1 234 €").
_FORMATTED_RE = re.compile(
    r"^(?P<sign>[+-])?\s*[$€£¥]?\s*(?P<number>\d{1,3}(?:[, \u00a0\u202f]\d{3})+(?:\.\d+)?"
    r"|\d+(?:\.\d+)?|\.\d+)\s*(?:%|[$€£¥])?$"
)
_UNIT_SIGNS = frozenset("$€£¥%")
_MIDNIGHT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(\.0+)?$")
_DATETIME_T_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(\.\d+)?)$")
WILDCARD = ("*",)


def canon(value: Any, rules: MatchRules) -> Any:
    """Map a cell to a comparable value: numbers to float/int, dates to text, NULL/NaN tokens."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return NULL if rules.null_equals_nan else ("nan",)
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        value = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    if isinstance(value, str):
        return canon_text(value, rules)
    if isinstance(value, (list, tuple)):
        return ("seq", *(canon(v, rules) for v in value))
    if isinstance(value, dict):
        return ("map", *sorted((str(k), repr(canon(v, rules))) for k, v in value.items()))
    return str(value)


def canon_text(text: str, rules: MatchRules) -> Any:
    if rules.numeric_strings and _NUMBER_RE.match(text.strip()):
        number = float(text)
        if re.fullmatch(r"[+-]?\d+", text.strip()):
            return int(text)
        return number
    if rules.numeric_strings and any(c in _UNIT_SIGNS for c in text):
        formatted = _FORMATTED_RE.match(text.strip())
        if formatted is not None:
            digits = re.sub(r"[, \u00a0\u202f]", "", formatted.group("number"))
            return canon_text((formatted.group("sign") or "") + digits, rules)
    if rules.numeric_strings and text.strip().lower() in ("nan", "-nan", "inf", "-inf"):
        return canon(float(text.strip()), rules)
    if rules.dates_as_strings:
        midnight = _MIDNIGHT_RE.match(text)
        if midnight:
            return midnight.group(1)
        with_t = _DATETIME_T_RE.match(text)
        if with_t:
            return f"{with_t.group(1)} {with_t.group(2)}"
    return text


def sort_key(value: Any) -> tuple[Any, ...]:
    if value in (NULL, WILDCARD):
        return (0,)
    if isinstance(value, (int, float)):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, tuple):
        return (3, tuple(sort_key(v) for v in value))
    return (4, repr(value))


def percent_text(value: Any) -> bool:
    """True for a number written as text with a percent sign (``"12.5%"``)."""
    return isinstance(value, str) and value.rstrip().endswith("%")


@dataclass(frozen=True)
class Tolerance:
    """How close two numbers must be.

    ``decimals`` is the precision the question asks for: numbers then agree when they round to
    the same value at that precision (within half a unit of its last place), and no coarser
    rounding is accepted.
    """

    rel: float
    abs: float
    rounding: bool
    rounding_min_digits: int
    approximate: bool
    decimals: int | None = None


def decimals(number: float) -> tuple[int, int] | None:
    """(decimal places, significant digits) of a number as written, or None for exponent form."""
    text = repr(float(number))
    if "e" in text or "inf" in text or "nan" in text:
        return None
    whole, _, frac = text.lstrip("-").partition(".")
    frac = frac.rstrip("0")
    digits = (whole + frac).lstrip("0")
    if whole != "0" and not frac:
        digits = whole.lstrip("0")
    return len(frac), len(digits)


def is_rounding_of(rounded: float, precise: float, tol: Tolerance) -> bool:
    shape_rounded, shape_precise = decimals(rounded), decimals(precise)
    if shape_rounded is None or shape_precise is None:
        return False
    places, significant = shape_rounded
    if places >= shape_precise[0] or significant < tol.rounding_min_digits:
        return False
    return abs(rounded - precise) <= 0.5 * 10.0**-places * (1 + 1e-9) + 1e-12


def numbers_equal(a: float, b: float, tol: Tolerance) -> bool:
    if a == b:
        return True
    integral = float(a).is_integer() and float(b).is_integer()
    if integral and not tol.approximate:
        return False
    if abs(a - b) <= max(tol.abs, tol.rel * max(abs(a), abs(b))):
        return True
    if tol.decimals is not None:
        return abs(a - b) <= 0.5 * 10.0**-tol.decimals * (1 + 1e-9) + 1e-12
    if tol.rounding:
        return is_rounding_of(a, b, tol) or is_rounding_of(b, a, tol)
    return False


def cells_equal(a: Any, b: Any, tol: Tolerance) -> bool:
    if a == WILDCARD or b == WILDCARD:
        return True
    a_num = isinstance(a, (int, float))
    b_num = isinstance(b, (int, float))
    if a_num and b_num:
        return numbers_equal(a, b, tol)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(cells_equal(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def rows_equal(a: Sequence[Any], b: Sequence[Any], tol: Tolerance) -> bool:
    return all(cells_equal(x, y, tol) for x, y in zip(a, b, strict=True))


def bags_equal(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], tol: Tolerance) -> bool:
    """Multiset equality with tolerance: sorted pairwise first, then a greedy fallback."""
    if len(a) != len(b):
        return False
    sa = sorted(a, key=lambda r: tuple(sort_key(v) for v in r))
    sb = sorted(b, key=lambda r: tuple(sort_key(v) for v in r))
    if all(rows_equal(x, y, tol) for x, y in zip(sa, sb, strict=True)):
        return True
    if len(a) > 2000:
        return False
    unused = list(sb)
    # Rows holding wildcards (a totals row used as data) are matched last, on either side, so a
    # wildcard cannot take the place of a row that has a concrete match.
    for row in sorted(sa, key=lambda r: WILDCARD in r):
        order = sorted(range(len(unused)), key=lambda i: WILDCARD in unused[i])
        for index in order:
            if rows_equal(row, unused[index], tol):
                del unused[index]
                break
        else:
            return False
    return True


def dedupe_rows(rows: list[tuple[Any, ...]], tol: Tolerance) -> list[tuple[Any, ...]]:
    kept: list[tuple[Any, ...]] = []
    for row in rows:
        if not any(rows_equal(row, other, tol) for other in kept):
            kept.append(row)
    return kept
