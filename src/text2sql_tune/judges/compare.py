"""Pure rules that decide whether two query results hold the same answer.

:func:`compare_results` looks only at two :class:`~text2sql_tune.models.QueryResult` objects and a
:class:`MatchRules` configuration; it never runs SQL. Every rule and its default is documented in
``docs/judge-rules.md``. The comparison says why it decided, and says "undecided" (``equal=None``)
rather than guessing when the results are too large or the column matching is ambiguous.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import QueryResult

__all__ = ["Comparison", "MatchRules", "compare_results"]


class MatchRules(BaseModel):
    """How strictly two results must agree. Defaults follow ``docs/judge-rules.md``.

    Attributes:
        column_names: ``"ignore"`` matches columns by their values (aliases do not matter);
            ``"match"`` pairs columns by name (case-insensitive).
        column_order: ``"ignore"`` lets columns come in any order; ``"match"`` pairs them by
            position (only used when ``column_names="ignore"``).
        extra_columns: ``"allow"`` accepts predicted columns beyond the reference ones when every
            reference column is present; ``"forbid"`` requires the same number of columns.
        row_order: ``"auto"`` compares in order only when the reference sorts (``ORDER BY``) and the
            question asks for an order or a top-N (the judge decides); ``"ignore"`` never;
            ``"strict"`` whenever the reference has an ``ORDER BY``.
        duplicates: ``"bag"`` counts duplicate rows; ``"set"`` ignores how often a row repeats.
        rel_tol: Relative tolerance for non-integer numbers.
        abs_tol: Absolute tolerance for non-integer numbers.
        allow_rounding: Accept a value that is the other rounded to fewer decimals.
        rounding_min_digits: Significant digits a rounded value must keep to count as equal.
        numeric_strings: Treat a string holding a number (``"12.5"``) as that number.
        dates_as_strings: Treat dates and date-times as their ISO text, with midnight date-times
            equal to the date (``2024-12-01 00:00:00`` = ``2024-12-01``).
        null_equals_nan: NULL and NaN both mean "no value" and are equal to each other.
        totals: ``"require"``: a reference ``WITH TOTALS`` row must appear in the prediction (as
            its totals or as one extra data row); ``"ignore"``: totals are not compared.
        extra_totals: ``"allow"``: a predicted totals row the reference lacks is ignored;
            ``"forbid"``: it makes the prediction wrong.
        approximate: What to do with approximate ClickHouse functions (``median``, ``uniq``...):
            ``"rewrite"`` re-runs both queries with exact variants when an executor is available
            (else falls back to tolerance); ``"tolerance"`` compares with ``approximate_rel_tol``.
        approximate_rel_tol: Relative tolerance used for results of approximate functions.
        max_rows: Results with more rows than this are not compared (undecided).
        max_column_assignments: Column matchings tried before giving up as ambiguous (undecided).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column_names: Literal["ignore", "match"] = "ignore"
    column_order: Literal["ignore", "match"] = "ignore"
    extra_columns: Literal["allow", "forbid"] = "allow"
    row_order: Literal["auto", "ignore", "strict"] = "auto"
    duplicates: Literal["bag", "set"] = "bag"
    rel_tol: float = Field(default=1e-6, ge=0)
    abs_tol: float = Field(default=1e-9, ge=0)
    allow_rounding: bool = True
    rounding_min_digits: int = Field(default=2, ge=1)
    numeric_strings: bool = True
    dates_as_strings: bool = True
    null_equals_nan: bool = True
    totals: Literal["require", "ignore"] = "require"
    extra_totals: Literal["allow", "forbid"] = "allow"
    approximate: Literal["rewrite", "tolerance"] = "rewrite"
    approximate_rel_tol: float = Field(default=0.05, ge=0)
    max_rows: int = Field(default=50_000, gt=0)
    max_column_assignments: int = Field(default=500, gt=0)


@dataclass
class Comparison:
    """The outcome of comparing two results.

    Attributes:
        equal: True / False, or ``None`` when the rules cannot decide.
        reason: One sentence saying why.
        details: Facts behind the decision (column mapping, rows, tolerance used).
    """

    equal: bool | None
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


# --- canonical values --------------------------------------------------------------------------

_NULL = ("null",)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MIDNIGHT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(\.0+)?$")
_DATETIME_T_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(\.\d+)?)$")
_WILDCARD = ("*",)


def _canon(value: Any, rules: MatchRules) -> Any:
    """Map a cell to a comparable value: numbers to float/int, dates to text, NULL/NaN tokens."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return _NULL if rules.null_equals_nan else ("nan",)
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        value = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    if isinstance(value, str):
        return _canon_text(value, rules)
    if isinstance(value, (list, tuple)):
        return ("seq", *(_canon(v, rules) for v in value))
    if isinstance(value, dict):
        return ("map", *sorted((str(k), repr(_canon(v, rules))) for k, v in value.items()))
    return str(value)


def _canon_text(text: str, rules: MatchRules) -> Any:
    if rules.numeric_strings and _NUMBER_RE.match(text.strip()):
        number = float(text)
        if re.fullmatch(r"[+-]?\d+", text.strip()):
            return int(text)
        return number
    if rules.numeric_strings and text.strip().lower() in ("nan", "-nan", "inf", "-inf"):
        return _canon(float(text.strip()), rules)
    if rules.dates_as_strings:
        midnight = _MIDNIGHT_RE.match(text)
        if midnight:
            return midnight.group(1)
        with_t = _DATETIME_T_RE.match(text)
        if with_t:
            return f"{with_t.group(1)} {with_t.group(2)}"
    return text


def _sort_key(value: Any) -> tuple[Any, ...]:
    if value in (_NULL, _WILDCARD):
        return (0,)
    if isinstance(value, (int, float)):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, tuple):
        return (3, tuple(_sort_key(v) for v in value))
    return (4, repr(value))


@dataclass(frozen=True)
class _Tolerance:
    rel: float
    abs: float
    rounding: bool
    rounding_min_digits: int
    approximate: bool


def _decimals(number: float) -> tuple[int, int] | None:
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


def _is_rounding_of(rounded: float, precise: float, tol: _Tolerance) -> bool:
    shape_rounded, shape_precise = _decimals(rounded), _decimals(precise)
    if shape_rounded is None or shape_precise is None:
        return False
    places, significant = shape_rounded
    if places >= shape_precise[0] or significant < tol.rounding_min_digits:
        return False
    return abs(rounded - precise) <= 0.5 * 10.0**-places * (1 + 1e-9) + 1e-12


def _numbers_equal(a: float, b: float, tol: _Tolerance) -> bool:
    if a == b:
        return True
    integral = float(a).is_integer() and float(b).is_integer()
    if integral and not tol.approximate:
        return False
    if abs(a - b) <= max(tol.abs, tol.rel * max(abs(a), abs(b))):
        return True
    if tol.rounding:
        return _is_rounding_of(a, b, tol) or _is_rounding_of(b, a, tol)
    return False


def _cells_equal(a: Any, b: Any, tol: _Tolerance) -> bool:
    if a == _WILDCARD or b == _WILDCARD:
        return True
    a_num = isinstance(a, (int, float))
    b_num = isinstance(b, (int, float))
    if a_num and b_num:
        return _numbers_equal(a, b, tol)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_cells_equal(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _rows_equal(a: Sequence[Any], b: Sequence[Any], tol: _Tolerance) -> bool:
    return all(_cells_equal(x, y, tol) for x, y in zip(a, b, strict=True))


def _bags_equal(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], tol: _Tolerance) -> bool:
    """Multiset equality with tolerance: sorted pairwise first, then a greedy fallback."""
    if len(a) != len(b):
        return False
    sa = sorted(a, key=lambda r: tuple(_sort_key(v) for v in r))
    sb = sorted(b, key=lambda r: tuple(_sort_key(v) for v in r))
    if all(_rows_equal(x, y, tol) for x, y in zip(sa, sb, strict=True)):
        return True
    if len(a) > 2000:
        return False
    unused = list(sb)
    # Rows holding wildcards (a totals row used as data) are matched last, on either side, so a
    # wildcard cannot take the place of a row that has a concrete match.
    for row in sorted(sa, key=lambda r: _WILDCARD in r):
        order = sorted(range(len(unused)), key=lambda i: _WILDCARD in unused[i])
        for index in order:
            if _rows_equal(row, unused[index], tol):
                del unused[index]
                break
        else:
            return False
    return True


def _dedupe(rows: list[tuple[Any, ...]], tol: _Tolerance) -> list[tuple[Any, ...]]:
    kept: list[tuple[Any, ...]] = []
    for row in rows:
        if not any(_rows_equal(row, other, tol) for other in kept):
            kept.append(row)
    return kept


# --- the comparison ----------------------------------------------------------------------------


@dataclass
class _Side:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    totals: tuple[Any, ...] | None


def _side(result: QueryResult, rules: MatchRules) -> _Side:
    rows = [tuple(_canon(v, rules) for v in row) for row in result.rows]
    totals = None
    if result.totals is not None:
        totals = tuple(_canon(v, rules) for v in result.totals)
    return _Side(list(result.columns), rows, totals)


def _totals_as_row(totals: tuple[Any, ...]) -> tuple[Any, ...]:
    """A totals row used as a data row: grouping keys ('' / NULL / epoch date) match anything."""
    return tuple(_WILDCARD if v in ("", _NULL, "1970-01-01") else v for v in totals)


def compare_results(
    reference: QueryResult,
    predicted: QueryResult,
    rules: MatchRules | None = None,
    *,
    ordered: bool = False,
    order_key: Sequence[int] | None = None,
    approximate: bool = False,
) -> Comparison:
    """Decide whether ``predicted`` holds the same answer as ``reference``.

    Args:
        reference: The golden query's result.
        predicted: The predicted query's result.
        rules: The matching rules (defaults: :class:`MatchRules`).
        ordered: Compare rows in order (the caller decides from the question and the SQL).
        order_key: Reference column indexes the reference sorts by; rows tied on them may come in
            any order. ``None`` with ``ordered`` means the tie structure is unknown: an order that
            differs only as a permutation is then undecided rather than wrong.
        approximate: The results come from approximate functions: compare numbers with
            ``rules.approximate_rel_tol``.

    Returns:
        A :class:`Comparison` with ``equal`` True / False / None and the reason.
    """
    rules = rules or MatchRules()
    tol = _Tolerance(
        rel=rules.approximate_rel_tol if approximate else rules.rel_tol,
        abs=rules.abs_tol,
        rounding=rules.allow_rounding,
        rounding_min_digits=rules.rounding_min_digits,
        approximate=approximate,
    )
    details: dict[str, Any] = {
        "ordered": ordered,
        "tolerance": "approximate" if approximate else "exact",
    }
    for name, result in (("reference", reference), ("prediction", predicted)):
        if result.truncated:
            return Comparison(None, f"the {name} result was truncated at the row cap", details)
        if len(result.rows) > rules.max_rows:
            return Comparison(
                None,
                f"the {name} result has {len(result.rows)} rows, more than the "
                f"{rules.max_rows} the judge compares",
                details,
            )
    ref, pred = _side(reference, rules), _side(predicted, rules)
    return _compare_sides(ref, pred, rules, tol, ordered, order_key, details)


def _compare_sides(
    ref: _Side,
    pred: _Side,
    rules: MatchRules,
    tol: _Tolerance,
    ordered: bool,
    order_key: Sequence[int] | None,
    details: dict[str, Any],
) -> Comparison:
    if len(pred.columns) < len(ref.columns):
        return Comparison(
            False,
            f"the prediction has {len(pred.columns)} column(s), the reference "
            f"{len(ref.columns)}: reference columns are missing",
            details,
        )
    if rules.extra_columns == "forbid" and len(pred.columns) != len(ref.columns):
        return Comparison(
            False,
            f"the prediction has {len(pred.columns) - len(ref.columns)} extra column(s) "
            "and extra columns are forbidden",
            details,
        )
    extra_totals = pred.totals is not None and ref.totals is None
    if extra_totals and rules.extra_totals == "forbid" and len(pred.rows) != len(ref.rows) - 1:
        return Comparison(False, "the prediction adds a totals row the reference lacks", details)
    if ref.totals is not None and rules.totals == "ignore":
        ref = _Side(ref.columns, ref.rows, None)

    # A totals row may come as WITH TOTALS on one side and as one extra data row on the other.
    if ref.totals is not None and pred.totals is None:
        if len(pred.rows) == len(ref.rows) + 1:
            return _fold_totals(ref, pred, rules, tol, ordered, order_key, details, fold="pred")
        return Comparison(
            False,
            "the reference includes a totals row (WITH TOTALS) that the prediction lacks",
            details,
        )
    if pred.totals is not None and ref.totals is None and len(ref.rows) == len(pred.rows) + 1:
        verdict = _fold_totals(ref, pred, rules, tol, ordered, order_key, details, fold="ref")
        if verdict.equal is not False:
            return verdict
    if pred.totals is not None and ref.totals is None:
        pred = _Side(pred.columns, pred.rows, None)
        details["extra_totals_ignored"] = True
    return _match(ref, pred, rules, tol, ordered, order_key, details)


def _fold_totals(
    ref: _Side,
    pred: _Side,
    rules: MatchRules,
    tol: _Tolerance,
    ordered: bool,
    order_key: Sequence[int] | None,
    details: dict[str, Any],
    *,
    fold: Literal["pred", "ref"],
) -> Comparison:
    """Try each data row of the longer side as the other side's totals row."""
    longer, shorter = (pred, ref) if fold == "pred" else (ref, pred)
    assert shorter.totals is not None
    total_row = _totals_as_row(shorter.totals)
    candidates = list(range(len(longer.rows)))
    # The last and first rows are where a UNION ALL total usually sits: try them first.
    candidates.sort(key=lambda i: (i not in (len(longer.rows) - 1, 0), i))
    last: Comparison | None = None
    for index in candidates[:200]:
        rest = longer.rows[:index] + longer.rows[index + 1 :]
        folded = _Side(longer.columns, rest, longer.rows[index])
        trimmed = _Side(shorter.columns, shorter.rows, total_row)
        pair = (trimmed, folded) if fold == "pred" else (folded, trimmed)
        result = _match(pair[0], pair[1], rules, tol, ordered, order_key, dict(details))
        if result.equal:
            result.details["totals_as_row"] = index
            return result
        last = result
    return Comparison(
        False,
        "the totals row does not match: "
        + (last.reason if last is not None else "no candidate row"),
        details,
    )


def _match(
    ref: _Side,
    pred: _Side,
    rules: MatchRules,
    tol: _Tolerance,
    ordered: bool,
    order_key: Sequence[int] | None,
    details: dict[str, Any],
) -> Comparison:
    n_ref, n_pred = len(ref.rows), len(pred.rows)
    if n_ref == 0 or n_pred == 0:
        if n_ref == n_pred:
            return Comparison(True, "both results are empty", details)
        return Comparison(
            False, f"the reference has {n_ref} row(s), the prediction {n_pred}", details
        )
    if rules.duplicates == "bag" and n_ref != n_pred:
        return Comparison(
            False, f"the reference has {n_ref} row(s), the prediction {n_pred}", details
        )
    candidates = _column_candidates(ref, pred, rules, tol)
    if isinstance(candidates, Comparison):
        candidates.details.update(details)
        return candidates
    tried = 0
    permutation_only = misordered = False
    for mapping in _assignments(candidates):
        tried += 1
        if tried > rules.max_column_assignments:
            details["assignments_tried"] = tried - 1
            return Comparison(
                None,
                "column matching is ambiguous: too many ways to pair the columns by value",
                details,
            )
        outcome = _rows_match(ref, pred, mapping, rules, tol, ordered, order_key)
        if outcome == "equal":
            details["column_mapping"] = {
                ref.columns[i]: pred.columns[j] for i, j in enumerate(mapping)
            }
            how = (
                "in order"
                if ordered
                else "as a multiset"
                if rules.duplicates == "bag"
                else "as a set"
            )
            return Comparison(
                True,
                f"same values in {n_ref} row(s) x {len(ref.columns)} column(s), compared {how}",
                details,
            )
        if outcome == "unknown_order":
            permutation_only = True
        elif outcome == "misordered":
            misordered = True
    if permutation_only:
        return Comparison(
            None,
            "the same rows in a different order; the reference's sort key could not be "
            "resolved, so ties may explain it",
            details,
        )
    if misordered:
        return Comparison(
            False, "the same rows in a different order, and the question asks for an order", details
        )
    if tried == 0:
        return Comparison(
            False, "no way to pair the reference columns with predicted ones", details
        )
    return Comparison(False, _row_mismatch_reason(ref, pred, ordered), details)


def _column_values(side: _Side, index: int, rules: MatchRules, tol: _Tolerance) -> list[Any]:
    values = [row[index] for row in side.rows]
    if side.totals is not None:
        values.append(side.totals[index])
    if rules.duplicates == "set":
        values = [v[0] for v in _dedupe([(v,) for v in values], tol)]
    return values


def _column_candidates(
    ref: _Side, pred: _Side, rules: MatchRules, tol: _Tolerance
) -> list[list[int]] | Comparison:
    n_ref, n_pred = len(ref.columns), len(pred.columns)
    if rules.column_names == "match":
        lowered = [c.lower() for c in pred.columns]
        pairs: list[list[int]] = []
        for name in ref.columns:
            if name.lower() not in lowered:
                return Comparison(False, f"the prediction has no column named {name!r}")
            pairs.append([lowered.index(name.lower())])
        return pairs
    if rules.column_order == "match":
        return [[i] for i in range(n_ref)]
    pred_values = [_column_values(pred, j, rules, tol) for j in range(n_pred)]
    candidates = []
    for i in range(n_ref):
        ref_values = _column_values(ref, i, rules, tol)
        matching = [
            j for j in range(n_pred) if _column_compatible(ref_values, pred_values[j], rules, tol)
        ]
        if not matching:
            if len(ref.rows) == 1 and len(pred.rows) == 1:
                return Comparison(
                    False,
                    f"different value: reference {ref.columns[i]!r} = {_show(ref.rows[0][i])}, "
                    f"prediction row = ({', '.join(_show(v) for v in pred.rows[0])})",
                )
            return Comparison(
                False,
                f"no predicted column holds the values of reference column {ref.columns[i]!r} "
                f"(first value {_show(ref.rows[0][i])})",
            )
        candidates.append(matching)
    return candidates


def _column_compatible(a: list[Any], b: list[Any], rules: MatchRules, tol: _Tolerance) -> bool:
    if rules.duplicates == "set":
        return len(a) == len(b) and _bags_equal([(v,) for v in a], [(v,) for v in b], tol)
    return _bags_equal([(v,) for v in a], [(v,) for v in b], tol)


def _assignments(candidates: list[list[int]]) -> Any:
    """Yield injective column mappings (reference -> predicted index), fewest choices first."""
    order = sorted(range(len(candidates)), key=lambda i: len(candidates[i]))
    chosen: dict[int, int] = {}
    used: set[int] = set()

    def walk(depth: int) -> Any:
        if depth == len(order):
            yield [chosen[i] for i in range(len(candidates))]
            return
        i = order[depth]
        for j in candidates[i]:
            if j in used:
                continue
            chosen[i] = j
            used.add(j)
            yield from walk(depth + 1)
            used.discard(j)
            del chosen[i]

    yield from walk(0)


def _rows_match(
    ref: _Side,
    pred: _Side,
    mapping: list[int],
    rules: MatchRules,
    tol: _Tolerance,
    ordered: bool,
    order_key: Sequence[int] | None,
) -> str:
    projected = [tuple(row[j] for j in mapping) for row in pred.rows]
    ref_rows = list(ref.rows)
    if rules.duplicates == "set":
        projected, ref_rows = _dedupe(projected, tol), _dedupe(ref_rows, tol)
    if ref.totals is not None:
        if pred.totals is None:
            return "different"
        pred_totals = tuple(pred.totals[j] for j in mapping)
        if not _rows_equal(ref.totals, pred_totals, tol):
            return "different"
    if not _bags_equal(ref_rows, projected, tol):
        return "different"
    if not ordered:
        return "equal"
    if all(_rows_equal(a, b, tol) for a, b in zip(ref_rows, projected, strict=True)):
        return "equal"
    if order_key is None:
        return "unknown_order"
    return "equal" if _same_order_up_to_ties(ref_rows, projected, order_key, tol) else "misordered"


def _same_order_up_to_ties(
    ref_rows: list[tuple[Any, ...]],
    pred_rows: list[tuple[Any, ...]],
    order_key: Sequence[int],
    tol: _Tolerance,
) -> bool:
    """Rows tied on the sort key form blocks that may be permuted within themselves."""
    start = 0
    while start < len(ref_rows):
        end = start + 1
        key = [ref_rows[start][k] for k in order_key]
        while end < len(ref_rows) and _rows_equal(key, [ref_rows[end][k] for k in order_key], tol):
            end += 1
        if not _bags_equal(ref_rows[start:end], pred_rows[start:end], tol):
            return False
        start = end
    return True


def _row_mismatch_reason(ref: _Side, pred: _Side, ordered: bool) -> str:
    if ordered:
        return "the rows hold the same column values but not in the same combination or order"
    return "every column's values appear in the prediction, but not combined in the same rows"


def _show(value: Any) -> str:
    if value == _NULL:
        return "NULL"
    if value == _WILDCARD:
        return "*"
    return repr(value)
