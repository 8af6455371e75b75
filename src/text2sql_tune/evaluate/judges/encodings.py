"""Other ways to write the same answer column, and the evidence each one needs.

Two columns whose values differ may still hold the same answer in another encoding. Each
encoding below is tried only when the plain values disagree, and only with the evidence
``docs/judge-rules.md`` names for it:

- ``month``: a month as a first-of-month date (``toStartOfMonth``), a ``YYYYMM`` number
  (``toYYYYMM``) or ``YYYY-MM`` text, when the question speaks of months;
- ``flag``: text labels against ``0``/``1`` flags, when the question names the labels; a
  label the flag column's name names (``is_fraud`` -> "Fraud") or the other one negates
  ("Inactive") fixes which label is ``1``;
- ``percent``: a fraction against a percentage when the question names no unit and the percent
  side shows it (a percent sign, a ``pct``/``percent`` alias, a ``100 *`` in the expression, or
  values above 1);
- ``null_default``: NULL against the default value (``0``, ``''``, ``1970-01-01``) that a
  query with an outer join gets for a missing row when ``join_use_nulls`` is off.

Each encoding rewrites both columns into one form; the row-by-row comparison then decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._values import NULL, WILDCARD
from .question import QuestionReading, names, stems_of

__all__ = ["Column", "Recoding", "recodings", "uses_outer_join"]

_MONTH_DATE = re.compile(r"^(\d{4})-(\d{2})-01$")
_MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")
_PERCENT_NAME = re.compile(r"pct|perc|%|pourcent|prozent", re.IGNORECASE)
_TIMES_100 = re.compile(r"(?<![\w.])100(?:\.0*)?\s*\*|\*\s*100(?:\.0*)?(?![\w.])")
_OUTER_JOIN = re.compile(
    r"\b(?:left|right|full)\s+(?:outer\s+|any\s+|all\s+|anti\s+|semi\s+|asof\s+)?join\b",
    re.IGNORECASE,
)
_JOIN_USE_NULLS = re.compile(r"\bjoin_use_nulls\s*=\s*(?:1|true)\b", re.IGNORECASE)
_NEGATIONS = ("non", "not", "no", "un", "in", "dis")
_BLANKS = (NULL, "", 0, "1970-01-01")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Column:
    """One result column as the encodings see it.

    Attributes:
        name: The column's name (its alias, or the expression text).
        type: Its engine type (``""`` when unknown).
        values: Canonical cells: the data rows, then the totals cell when ``has_totals``.
        has_totals: The last value is the column's cell of a ``WITH TOTALS`` row.
        percent_signs: Its raw values were numbers written with a percent sign.
        defaults_for_missing: Its query has an outer join without ``join_use_nulls``, so a
            missing row reads as the type's default value.
    """

    name: str
    type: str
    values: list[Any]
    has_totals: bool = False
    percent_signs: bool = False
    defaults_for_missing: bool = False


@dataclass(frozen=True)
class Recoding:
    """Both columns written in one encoding.

    Attributes:
        encoding: ``month``, ``flag``, ``percent`` or ``null_default``.
        reference: The reference column's values in it.
        predicted: The predicted column's values in it.
    """

    encoding: str
    reference: list[Any]
    predicted: list[Any]


def uses_outer_join(sql: str) -> bool:
    """True when ``sql`` has an outer join whose missing rows read as defaults, not NULL."""
    return _OUTER_JOIN.search(sql) is not None and _JOIN_USE_NULLS.search(sql) is None


def recodings(ref: Column, pred: Column, question: QuestionReading | None) -> Iterator[Recoding]:
    """The encodings (see the module docstring) in which the two columns may agree."""
    if question is not None:
        yield from _months(ref, pred, question)
        yield from _flags(ref, pred, question)
        if question.unit is None:
            yield from _percent(ref, pred)
    yield from _null_default(ref, pred)


# --- months -------------------------------------------------------------------------------------


def _month(value: Any) -> str | None:
    if isinstance(value, str):
        match = _MONTH_DATE.match(value) or _MONTH_TEXT.match(value)
        if match is not None and 1 <= int(match.group(2)) <= 12:
            return f"{match.group(1)}-{match.group(2)}"
    elif isinstance(value, int) and 190001 <= value <= 299912 and 1 <= value % 100 <= 12:
        return f"{value // 100}-{value % 100:02d}"
    return None


def _recode(column: Column, convert: Any) -> list[Any] | None:
    """Apply ``convert`` to every cell; a blank totals cell matches anything; None if one fails."""
    out = []
    last = len(column.values) - 1
    for index, value in enumerate(column.values):
        if value == WILDCARD or (column.has_totals and index == last and value in _BLANKS):
            out.append(WILDCARD)
            continue
        converted = convert(value)
        if converted is None:
            return None
        out.append(converted)
    return out


def _months(ref: Column, pred: Column, question: QuestionReading) -> Iterator[Recoding]:
    if not {"month", "monthly"} & question.stems:
        return
    ref_months, pred_months = _recode(ref, _month), _recode(pred, _month)
    if ref_months is not None and pred_months is not None:
        yield Recoding("month", ref_months, pred_months)


# --- flags against labels -----------------------------------------------------------------------


def _distinct(column: Column) -> set[Any]:
    last = len(column.values) - 1
    return {
        v
        for i, v in enumerate(column.values)
        if v != WILDCARD and not (column.has_totals and i == last)
    }


def _negates(label: str, other: str) -> bool:
    a, b = (re.sub(r"[^a-z]", "", x.lower()) for x in (label, other))
    words = label.lower().replace("-", " ").split()
    return any(a == prefix + b for prefix in _NEGATIONS) or bool(
        words and words[0] in ("not", "non", "no")
    )


def _flags(ref: Column, pred: Column, question: QuestionReading) -> Iterator[Recoding]:
    for labels_side, flags_side in ((ref, pred), (pred, ref)):
        labels, flags = _distinct(labels_side), _distinct(flags_side)
        if not flags or not flags <= {0, 1} or len(labels) != len(flags):
            continue
        if not all(isinstance(v, str) for v in labels) or not all(map(question.names, labels)):
            continue
        for mapping in _flag_meanings(sorted(labels), flags_side.name):
            recoded = _recode(flags_side, mapping.get)
            if recoded is None:
                continue
            if labels_side is ref:
                yield Recoding("flag", ref.values, recoded)
            else:
                yield Recoding("flag", recoded, pred.values)


def _flag_meanings(labels: list[str], flag_name: str) -> list[dict[int, str]]:
    """How the flags may map to the labels (flag -> label).

    With both labels present, a label the flag column's name names (``is_fraud`` -> "Fraud") or
    the label the other one negates ("Inactive" vs "Active") is ``1``; otherwise both ways are
    tried. A lone label is ``1`` when the flag's name names it and ``0`` when the name names
    something else (the group the flag marks is then the other one).
    """
    name_stems = stems_of(flag_name)
    named = [label for label in labels if names(name_stems, label)]
    if len(labels) == 1:
        if named:
            return [{1: labels[0]}]
        plain = bool(_PLAIN_NAME.fullmatch(flag_name)) and len(flag_name) > 2
        return [{0: labels[0]}] if plain else []
    first, second = labels
    if len(named) == 1:
        ones = named
    elif _negates(first, second):
        ones = [second]
    elif _negates(second, first):
        ones = [first]
    else:
        ones = [first, second]
    return [{1: one, 0: second if one == first else first} for one in ones]


# --- percent against fraction -------------------------------------------------------------------


def _numbers(column: Column) -> list[float] | None:
    found = [v for v in column.values if v not in (NULL, WILDCARD)]
    if not found or not all(isinstance(v, (int, float)) for v in found):
        return None
    return [float(v) for v in found]


def _shows_percent(column: Column, numbers: list[float]) -> bool:
    if not all(abs(v) <= 100 for v in numbers):
        return False
    named = _PERCENT_NAME.search(column.name) or _TIMES_100.search(column.name)
    return bool(column.percent_signs or named or any(abs(v) > 1 for v in numbers))


def _times_100(value: Any) -> Any:
    if value in (NULL, WILDCARD):
        return value
    return float(f"{value * 100:.12g}")


def _percent(ref: Column, pred: Column) -> Iterator[Recoding]:
    ref_numbers, pred_numbers = _numbers(ref), _numbers(pred)
    if ref_numbers is None or pred_numbers is None:
        return
    for fraction, percent, numbers in ((ref, pred, ref_numbers), (pred, ref, pred_numbers)):
        other = pred_numbers if fraction is ref else ref_numbers
        if not all(abs(v) <= 1 for v in numbers) or not any(numbers):
            continue
        if not _shows_percent(percent, other):
            continue
        scaled = [_times_100(v) for v in fraction.values]
        if fraction is ref:
            yield Recoding("percent", scaled, pred.values)
        else:
            yield Recoding("percent", ref.values, scaled)


# --- NULL against the default of an outer join --------------------------------------------------


def type_default(type_name: str) -> Any:
    """The value ClickHouse fills for a missing row of this type (``None`` when unknown)."""
    base = type_name
    while True:
        match = re.fullmatch(r"(?:LowCardinality|Nullable)\((.*)\)", base)
        if match is None:
            break
        base = match.group(1)
    if re.match(r"U?Int\d+|Float\d+|Decimal|Bool", base):
        return 0
    if re.match(r"String|FixedString|Enum", base):
        return ""
    if re.match(r"Date32", base):
        return "1900-01-01"
    if re.match(r"Date", base):
        return "1970-01-01"
    return None


def _null_default(ref: Column, pred: Column) -> Iterator[Recoding]:
    for nulls, defaults in ((ref, pred), (pred, ref)):
        if not defaults.defaults_for_missing or defaults.type.startswith("Nullable"):
            continue
        if NULL not in nulls.values:
            continue
        default = type_default(defaults.type)
        if default is None:
            continue
        filled = [default if v == NULL else v for v in nulls.values]
        yield Recoding(
            "null_default",
            filled if nulls is ref else ref.values,
            filled if nulls is pred else pred.values,
        )
