"""Pure rules that decide whether two query results hold the same answer.

:func:`compare_results` looks only at two :class:`~text2sql_tune.records.QueryResult` objects and a
:class:`MatchRules` configuration; it never runs SQL. Every rule and its default is documented in
``docs/judge-rules.md``. The comparison says why it decided, and says "undecided" (``equal=None``)
rather than guessing when the results are too large or the column matching is ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...records import QueryResult
from ._values import (
    NULL,
    WILDCARD,
    Tolerance,
    bags_equal,
    canon,
    cells_equal,
    dedupe_rows,
    percent_text,
    rows_equal,
    sort_key,
)
from .encodings import Column, recodings, uses_outer_join
from .labels import contradiction
from .question import QuestionReading, read_question

__all__ = ["Comparison", "MatchRules", "cells_match", "compare_results", "row_sort_key"]


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


# --- the comparison ----------------------------------------------------------------------------


@dataclass
class _Side:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    totals: tuple[Any, ...] | None
    types: list[str] = field(default_factory=list)
    percent_signs: list[bool] = field(default_factory=list)
    defaults_for_missing: bool = False

    def column(self, index: int) -> Column:
        values = [row[index] for row in self.rows]
        if self.totals is not None:
            values.append(self.totals[index])
        return Column(
            name=self.columns[index],
            type=self.types[index] if index < len(self.types) else "",
            values=values,
            has_totals=self.totals is not None,
            percent_signs=index < len(self.percent_signs) and self.percent_signs[index],
            defaults_for_missing=self.defaults_for_missing,
        )


@dataclass(frozen=True)
class _Pairing:
    """A predicted column paired with a reference column, both written in one encoding."""

    column: int
    encoding: str | None
    reference: list[Any]
    predicted: list[Any]


def _side(result: QueryResult, rules: MatchRules) -> _Side:
    rows = [tuple(canon(v, rules) for v in row) for row in result.rows]
    totals = None
    if result.totals is not None:
        totals = tuple(canon(v, rules) for v in result.totals)
    width = len(result.columns)
    percent = [
        rules.numeric_strings and any(percent_text(row[i]) for row in result.rows)
        for i in range(width)
    ]
    return _Side(
        list(result.columns),
        rows,
        totals,
        types=list(result.types),
        percent_signs=percent,
        defaults_for_missing=uses_outer_join(result.sql),
    )


def _totals_as_row(totals: tuple[Any, ...]) -> tuple[Any, ...]:
    """A totals row used as a data row: grouping keys ('' / NULL / epoch date) match anything."""
    return tuple(WILDCARD if v in ("", NULL, "1970-01-01") else v for v in totals)


def _tolerance(rules: MatchRules, approximate: bool, decimals: int | None = None) -> Tolerance:
    return Tolerance(
        rel=rules.approximate_rel_tol if approximate else rules.rel_tol,
        abs=rules.abs_tol,
        rounding=rules.allow_rounding,
        rounding_min_digits=rules.rounding_min_digits,
        approximate=approximate,
        decimals=decimals,
    )


def cells_match(
    a: Any, b: Any, rules: MatchRules | None = None, *, approximate: bool = False
) -> bool:
    """Whether two cells hold the same value by the rules :func:`compare_results` applies.

    Numbers within tolerance (or one a rounding of the other), a numeric string and its number,
    a midnight date-time and its date, NULL and NaN are equal; reports use this to mark the
    cells of two results that differ.
    """
    rules = rules or MatchRules()
    return cells_equal(canon(a, rules), canon(b, rules), _tolerance(rules, approximate))


def row_sort_key(row: Sequence[Any], rules: MatchRules | None = None) -> tuple[Any, ...]:
    """A key that sorts rows of mixed types the same way on both sides (NULLs first)."""
    rules = rules or MatchRules()
    return tuple(sort_key(canon(value, rules)) for value in row)


@dataclass(frozen=True)
class _Context:
    rules: MatchRules
    tol: Tolerance
    ordered: bool
    order_key: Sequence[int] | None
    question: QuestionReading | None


def compare_results(
    reference: QueryResult,
    predicted: QueryResult,
    rules: MatchRules | None = None,
    *,
    ordered: bool = False,
    order_key: Sequence[int] | None = None,
    approximate: bool = False,
    question: str | QuestionReading | None = None,
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
        question: The question (or its reading): the precision it asks for, the unit it names
            and the labels it names decide the encodings that may be equal (see
            ``docs/judge-rules.md``). Without it only the plain values are compared.

    Returns:
        A :class:`Comparison` with ``equal`` True / False / None and the reason.
    """
    rules = rules or MatchRules()
    reading = read_question(question) if isinstance(question, str) else question
    decimals = reading.decimals if reading is not None else None
    details: dict[str, Any] = {
        "ordered": ordered,
        "tolerance": "approximate" if approximate else "exact",
    }
    if decimals is not None:
        details["decimals"] = decimals
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
    tol = _tolerance(rules, approximate, decimals)
    return _compare_sides(ref, pred, _Context(rules, tol, ordered, order_key, reading), details)


def _compare_sides(ref: _Side, pred: _Side, ctx: _Context, details: dict[str, Any]) -> Comparison:
    rules = ctx.rules
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
        ref = replace(ref, totals=None)

    # A totals row may come as WITH TOTALS on one side and as one extra data row on the other.
    if ref.totals is not None and pred.totals is None:
        if len(pred.rows) == len(ref.rows) + 1:
            return _fold_totals(ref, pred, ctx, details, fold="pred")
        return Comparison(
            False,
            "the reference includes a totals row (WITH TOTALS) that the prediction lacks",
            details,
        )
    if pred.totals is not None and ref.totals is None and len(ref.rows) == len(pred.rows) + 1:
        verdict = _fold_totals(ref, pred, ctx, details, fold="ref")
        if verdict.equal is not False:
            return verdict
    if pred.totals is not None and ref.totals is None:
        pred = replace(pred, totals=None)
        details["extra_totals_ignored"] = True
    return _match(ref, pred, ctx, details)


def _fold_totals(
    ref: _Side,
    pred: _Side,
    ctx: _Context,
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
        folded = replace(longer, rows=rest, totals=longer.rows[index])
        trimmed = replace(shorter, totals=total_row)
        pair = (trimmed, folded) if fold == "pred" else (folded, trimmed)
        result = _match(pair[0], pair[1], ctx, dict(details))
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


def _match(ref: _Side, pred: _Side, ctx: _Context, details: dict[str, Any]) -> Comparison:
    rules = ctx.rules
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
    candidates = _column_candidates(ref, pred, ctx)
    if isinstance(candidates, Comparison):
        candidates.details.update(details)
        return candidates
    tried = 0
    permutation_only = misordered = False
    mislabelled: str | None = None
    check_labels = rules.column_names == "ignore"
    for mapping in _assignments(candidates):
        tried += 1
        if tried > rules.max_column_assignments:
            details["assignments_tried"] = tried - 1
            return Comparison(
                None,
                "column matching is ambiguous: too many ways to pair the columns by value",
                details,
            )
        outcome = _rows_match(ref, pred, mapping, ctx)
        conflict = None
        if check_labels and outcome in ("equal", "misordered", "unknown_order"):
            conflict = contradiction(ref.columns, pred.columns, [p.column for p in mapping])
        if conflict is not None:
            mislabelled = mislabelled or conflict
            continue
        if outcome == "equal":
            details["column_mapping"] = {
                ref.columns[i]: pred.columns[p.column] for i, p in enumerate(mapping)
            }
            encoded = {ref.columns[i]: p.encoding for i, p in enumerate(mapping) if p.encoding}
            if encoded:
                details["encodings"] = encoded
            how = (
                "in order"
                if ctx.ordered
                else "as a multiset"
                if rules.duplicates == "bag"
                else "as a set"
            )
            written = f", written as {', '.join(sorted(set(encoded.values())))}" if encoded else ""
            return Comparison(
                True,
                f"same values in {n_ref} row(s) x {len(ref.columns)} column(s), compared "
                f"{how}{written}",
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
    if mislabelled is not None:
        return Comparison(
            False, f"the values match only under other labels: {mislabelled}", details
        )
    if tried == 0:
        return Comparison(
            False, "no way to pair the reference columns with predicted ones", details
        )
    return Comparison(False, _row_mismatch_reason(ctx.ordered), details)


def _column_values(values: list[Any], rules: MatchRules, tol: Tolerance) -> list[Any]:
    if rules.duplicates == "set":
        return [v[0] for v in dedupe_rows([(v,) for v in values], tol)]
    return values


def _column_candidates(ref: _Side, pred: _Side, ctx: _Context) -> list[list[_Pairing]] | Comparison:
    rules, tol = ctx.rules, ctx.tol
    n_ref, n_pred = len(ref.columns), len(pred.columns)
    pred_columns = [pred.column(j) for j in range(n_pred)]
    if rules.column_names == "match":
        lowered = [c.lower() for c in pred.columns]
        pairs: list[list[_Pairing]] = []
        for i, name in enumerate(ref.columns):
            if name.lower() not in lowered:
                return Comparison(False, f"the prediction has no column named {name!r}")
            j = lowered.index(name.lower())
            pairs.append([_Pairing(j, None, ref.column(i).values, pred_columns[j].values)])
        return pairs
    if rules.column_order == "match":
        return [
            [_Pairing(i, None, ref.column(i).values, pred_columns[i].values)] for i in range(n_ref)
        ]
    pred_values = [_column_values(c.values, rules, tol) for c in pred_columns]
    candidates = []
    for i in range(n_ref):
        ref_column = ref.column(i)
        ref_values = _column_values(ref_column.values, rules, tol)
        matching = []
        for j in range(n_pred):
            if _column_compatible(ref_values, pred_values[j], rules, tol):
                matching.append(_Pairing(j, None, ref_column.values, pred_columns[j].values))
                continue
            matching.extend(_recoded_pairings(ref_column, pred_columns[j], j, ctx))
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


def _recoded_pairings(ref: Column, pred: Column, j: int, ctx: _Context) -> Iterator[_Pairing]:
    rules, tol = ctx.rules, ctx.tol
    for recoding in recodings(ref, pred, ctx.question):
        a = _column_values(recoding.reference, rules, tol)
        b = _column_values(recoding.predicted, rules, tol)
        if _column_compatible(a, b, rules, tol):
            yield _Pairing(j, recoding.encoding, recoding.reference, recoding.predicted)


def _column_compatible(a: list[Any], b: list[Any], rules: MatchRules, tol: Tolerance) -> bool:
    if rules.duplicates == "set":
        return len(a) == len(b) and bags_equal([(v,) for v in a], [(v,) for v in b], tol)
    return bags_equal([(v,) for v in a], [(v,) for v in b], tol)


def _assignments(candidates: list[list[_Pairing]]) -> Iterator[list[_Pairing]]:
    """Yield injective column mappings (one pairing per reference column), fewest choices first."""
    order = sorted(range(len(candidates)), key=lambda i: len(candidates[i]))
    chosen: dict[int, _Pairing] = {}
    used: set[int] = set()

    def walk(depth: int) -> Iterator[list[_Pairing]]:
        if depth == len(order):
            yield [chosen[i] for i in range(len(candidates))]
            return
        i = order[depth]
        for pairing in candidates[i]:
            if pairing.column in used:
                continue
            chosen[i] = pairing
            used.add(pairing.column)
            yield from walk(depth + 1)
            used.discard(pairing.column)
            del chosen[i]

    yield from walk(0)


def _rows_match(ref: _Side, pred: _Side, mapping: list[_Pairing], ctx: _Context) -> str:
    rules, tol = ctx.rules, ctx.tol
    n_ref, n_pred = len(ref.rows), len(pred.rows)
    ref_rows = [tuple(p.reference[r] for p in mapping) for r in range(n_ref)]
    projected = [tuple(p.predicted[r] for p in mapping) for r in range(n_pred)]
    if rules.duplicates == "set":
        projected, ref_rows = dedupe_rows(projected, tol), dedupe_rows(ref_rows, tol)
    if ref.totals is not None:
        if pred.totals is None:
            return "different"
        ref_totals = tuple(p.reference[n_ref] for p in mapping)
        pred_totals = tuple(p.predicted[n_pred] for p in mapping)
        if not rows_equal(ref_totals, pred_totals, tol):
            return "different"
    if not bags_equal(ref_rows, projected, tol):
        return "different"
    if not ctx.ordered:
        return "equal"
    if all(rows_equal(a, b, tol) for a, b in zip(ref_rows, projected, strict=True)):
        return "equal"
    if ctx.order_key is None:
        return "unknown_order"
    if _same_order_up_to_ties(ref_rows, projected, ctx.order_key, tol):
        return "equal"
    return "misordered"


def _same_order_up_to_ties(
    ref_rows: list[tuple[Any, ...]],
    pred_rows: list[tuple[Any, ...]],
    order_key: Sequence[int],
    tol: Tolerance,
) -> bool:
    """Rows tied on the sort key form blocks that may be permuted within themselves."""
    start = 0
    while start < len(ref_rows):
        end = start + 1
        key = [ref_rows[start][k] for k in order_key]
        while end < len(ref_rows) and rows_equal(key, [ref_rows[end][k] for k in order_key], tol):
            end += 1
        if not bags_equal(ref_rows[start:end], pred_rows[start:end], tol):
            return False
        start = end
    return True


def _row_mismatch_reason(ordered: bool) -> str:
    if ordered:
        return "the rows hold the same column values but not in the same combination or order"
    return "every column's values appear in the prediction, but not combined in the same rows"


def _show(value: Any) -> str:
    if value == NULL:
        return "NULL"
    if value == WILDCARD:
        return "*"
    return repr(value)
