"""Ties at a ``LIMIT`` boundary: the other top-N results a reference could have given.

A reference ``ORDER BY sessions DESC LIMIT 3`` whose third and fourth rows tie on ``sessions``
keeps one of them by chance; a prediction that keeps the other is just as right. The reference
run with ``LIMIT 3 WITH TIES`` and its sort keys as extra columns
(:class:`~text2sql_tune.evaluate.judges.ordering.TopRows`) shows the rows tied at the boundary;
:func:`tie_breaks` turns them into the references each other tie-break would have given.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, islice
from typing import Any

from ...records import QueryResult
from ._values import Tolerance, canon, rows_equal
from .compare import MatchRules

__all__ = ["tie_breaks"]

_MAX_TIE_BREAKS = 64


def tie_breaks(
    reference: QueryResult,
    tied: QueryResult,
    limit: int,
    keys: int,
    predicted: QueryResult,
    rules: MatchRules,
) -> list[QueryResult]:
    """The references other tie-breaks at the ``LIMIT`` boundary would have given.

    Args:
        reference: The reference's result (its first ``limit`` rows).
        tied: The reference run with ``LIMIT limit WITH TIES`` and ``keys`` sort-key columns
            appended.
        limit: The reference's ``LIMIT``.
        keys: How many sort-key columns ``tied`` has at its end.
        predicted: The prediction's result: when there are too many tie-breaks to try, the
            tied rows it holds are chosen.
        rules: The matching rules (for canonical values).

    Returns:
        Other results for the reference, in its column order; empty when nothing ties at the
        boundary, or ``tied`` does not agree with ``reference`` (then it cannot be trusted).
    """
    width = len(reference.columns)
    if len(tied.columns) != width + keys or len(tied.rows) <= limit or not reference.rows:
        return []
    exact = Tolerance(rules.rel_tol, rules.abs_tol, False, 1, False)
    rows = [tuple(canon(v, rules) for v in row) for row in tied.rows]
    boundary = rows[limit - 1][width:]
    at_boundary = [rows_equal(r[width:], boundary, exact) for r in rows]
    inside = [i for i in range(limit) if not at_boundary[i]]
    block = [i for i in range(len(rows)) if at_boundary[i]]
    need = limit - len(inside)
    ref_rows = [tuple(canon(v, rules) for v in row) for row in reference.rows]
    if need <= 0 or len(block) <= need or len(ref_rows) != limit:
        return []
    values = [r[:width] for r in rows]
    inside_values = [values[i] for i in inside]
    if not _within(inside_values, ref_rows, exact):
        return []
    if not _within(ref_rows, inside_values + [values[i] for i in block], exact):
        return []
    chosen: list[Sequence[int]] = list(islice(combinations(block, need), _MAX_TIE_BREAKS + 1))
    if len(chosen) > _MAX_TIE_BREAKS:
        chosen = [_held_by(block, values, need, predicted, rules)]
    return [
        reference.model_copy(
            update={"rows": [list(tied.rows[i][:width]) for i in [*inside, *pick]]}
        )
        for pick in chosen
    ]


def _within(part: list[tuple[Any, ...]], whole: list[tuple[Any, ...]], tol: Tolerance) -> bool:
    """Every row of ``part`` has its own match in ``whole`` (a sub-multiset)."""
    unused = list(whole)
    for row in part:
        for index, other in enumerate(unused):
            if rows_equal(row, other, tol):
                del unused[index]
                break
        else:
            return False
    return True


def _held_by(
    block: list[int],
    values: list[tuple[Any, ...]],
    need: int,
    predicted: QueryResult,
    rules: MatchRules,
) -> list[int]:
    """``need`` tied rows, those whose values all appear in one predicted row first."""
    held = [{repr(canon(v, rules)) for v in row} for row in predicted.rows]

    def in_prediction(index: int) -> bool:
        cells = {repr(v) for v in values[index]}
        return any(cells <= row for row in held)

    return sorted(block, key=lambda index: not in_prediction(index))[:need]
