"""Pure result-comparison rules, on hand-built results (no database)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pytest

from text2sql_tune.evaluate.judges import (
    MatchRules,
    compare_results,
    find_approximate_functions,
    question_asks_for_order,
    reference_order,
    rewrite_exact,
)
from text2sql_tune.records import QueryResult


def qr(columns: list[str], rows: list[list[Any]], totals: list[Any] | None = None) -> QueryResult:
    return QueryResult(sql="-", columns=columns, rows=rows, totals=totals)


# --- columns -----------------------------------------------------------------------------------


def test_columns_matched_by_values_not_names_or_order() -> None:
    ref = qr(["os", "n"], [["iOS", 3], ["Windows", 5]])
    pred = qr(["sessions", "operating_system"], [[5, "Windows"], [3, "iOS"]])
    outcome = compare_results(ref, pred)
    assert outcome.equal is True
    assert outcome.details["column_mapping"] == {"os": "operating_system", "n": "sessions"}


def test_values_paired_across_columns_must_stay_in_the_same_rows() -> None:
    ref = qr(["os", "n"], [["iOS", 3], ["Windows", 5]])
    pred = qr(["os", "n"], [["iOS", 5], ["Windows", 3]])
    outcome = compare_results(ref, pred)
    assert outcome.equal is False
    assert "not combined in the same rows" in outcome.reason


def test_extra_columns_allowed_by_default_and_forbidden_by_rule() -> None:
    ref = qr(["n"], [[42]])
    pred = qr(["os_count", "n"], [[3, 42]])
    assert compare_results(ref, pred).equal is True
    forbidden = compare_results(ref, pred, MatchRules(extra_columns="forbid"))
    assert forbidden.equal is False
    assert "extra column" in forbidden.reason


def test_missing_reference_column_is_wrong() -> None:
    outcome = compare_results(qr(["os", "n"], [["iOS", 1]]), qr(["n"], [[1]]))
    assert outcome.equal is False
    assert "missing" in outcome.reason


def test_column_names_rule_match() -> None:
    rules = MatchRules(column_names="match")
    assert compare_results(qr(["N"], [[1]]), qr(["n"], [[1]]), rules).equal is True
    outcome = compare_results(qr(["n"], [[1]]), qr(["total"], [[1]]), rules)
    assert outcome.equal is False
    assert "'n'" in outcome.reason


def test_column_order_rule_match_pairs_by_position() -> None:
    rules = MatchRules(column_order="match")
    ref = qr(["a", "b"], [[1, 2]])
    assert compare_results(ref, qr(["x", "y"], [[1, 2]]), rules).equal is True
    assert compare_results(ref, qr(["x", "y"], [[2, 1]]), rules).equal is False


def test_identical_columns_are_not_ambiguous_when_any_pairing_works() -> None:
    ref = qr(["a", "b"], [[1, 1], [2, 2]])
    pred = qr(["x", "y"], [[2, 2], [1, 1]])
    assert compare_results(ref, pred).equal is True


def test_too_many_column_pairings_is_undecided() -> None:
    # Every column holds the same multiset, but no pairing lines the rows up.
    ref = qr(list("abcd"), [[1, 2, 3, 4], [2, 3, 4, 1], [3, 4, 1, 2], [4, 1, 2, 3]])
    pred = qr(list("abcd"), [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3], [4, 4, 4, 4]])
    outcome = compare_results(ref, pred, MatchRules(max_column_assignments=5))
    assert outcome.equal is None
    assert "ambiguous" in outcome.reason
    assert compare_results(ref, pred).equal is False


# --- rows --------------------------------------------------------------------------------------


def test_row_order_ignored_unless_ordered() -> None:
    ref = qr(["b", "n"], [["Chrome", 6], ["Safari", 3], ["Firefox", 1]])
    pred = qr(["b", "n"], [["Firefox", 1], ["Chrome", 6], ["Safari", 3]])
    assert compare_results(ref, pred).equal is True
    ordered = compare_results(ref, pred, ordered=True, order_key=[1])
    assert ordered.equal is False
    assert "order" in ordered.reason


def test_ties_on_the_sort_key_may_come_in_any_order() -> None:
    ref = qr(["b", "n"], [["Chrome", 6], ["Edge", 3], ["Safari", 3], ["Firefox", 1]])
    pred = qr(["b", "n"], [["Chrome", 6], ["Safari", 3], ["Edge", 3], ["Firefox", 1]])
    assert compare_results(ref, pred, ordered=True, order_key=[1]).equal is True
    assert compare_results(ref, pred, ordered=True, order_key=[0]).equal is False


def test_unknown_sort_key_and_permuted_rows_is_undecided() -> None:
    ref = qr(["b"], [["Chrome"], ["Safari"]])
    pred = qr(["b"], [["Safari"], ["Chrome"]])
    assert compare_results(ref, pred, ordered=True, order_key=None).equal is None


def test_row_count_differs() -> None:
    outcome = compare_results(qr(["n"], [[1], [2]]), qr(["n"], [[1], [2], [3]]))
    assert outcome.equal is False
    assert "2 row(s)" in outcome.reason


def test_duplicates_bag_by_default_set_by_rule() -> None:
    ref = qr(["os"], [["iOS"], ["Windows"]])
    pred = qr(["os"], [["iOS"], ["iOS"], ["Windows"]])
    assert compare_results(ref, pred).equal is False
    assert compare_results(ref, pred, MatchRules(duplicates="set")).equal is True


def test_both_empty_is_equal_one_empty_is_not() -> None:
    assert compare_results(qr(["n"], []), qr(["m"], [])).equal is True
    assert compare_results(qr(["n"], [[1]]), qr(["n"], [])).equal is False


def test_large_and_truncated_results_are_undecided() -> None:
    rows = [[i] for i in range(20)]
    assert compare_results(qr(["n"], rows), qr(["n"], rows), MatchRules(max_rows=10)).equal is None
    truncated = QueryResult(sql="-", columns=["n"], rows=rows, truncated=True)
    outcome = compare_results(qr(["n"], rows), truncated)
    assert outcome.equal is None
    assert "truncated" in outcome.reason


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "predicted", "equal"),
    [
        (1500, 1500.0, True),
        (1500, decimal.Decimal("1500.00"), True),
        (1500, "1500", True),
        (12.5, "12.5", True),
        (74945800.00000012, 74945800, True),  # float summation order
        (0.1 + 0.2, 0.3, True),
        (12.3456, 12.35, True),  # rounded to 2 decimals
        (45.67, 46, True),  # rounded to an integer, 2 significant digits kept
        (3.4, 3, False),  # rounding that keeps 1 significant digit is too coarse
        (0.04, 0.0, False),
        (12.3456, 0.123456, False),  # percent vs fraction
        (1000000, 1000001, False),  # integers compare exactly
        (12.3456, 12.34, False),  # truncated, not rounded
    ],
)
def test_numeric_equivalence(reference: Any, predicted: Any, equal: bool) -> None:
    assert compare_results(qr(["v"], [[reference]]), qr(["v"], [[predicted]])).equal is equal


def test_rounding_and_string_numbers_can_be_switched_off() -> None:
    assert (
        compare_results(
            qr(["v"], [[12.3456]]), qr(["v"], [[12.35]]), MatchRules(allow_rounding=False)
        )
    ).equal is False
    assert (
        compare_results(qr(["v"], [[7]]), qr(["v"], [["7"]]), MatchRules(numeric_strings=False))
    ).equal is False


def test_tolerances_are_configurable() -> None:
    loose = MatchRules(rel_tol=0.01)
    assert compare_results(qr(["v"], [[100.2]]), qr(["v"], [[100.7]]), loose).equal is True
    assert compare_results(qr(["v"], [[100.2]]), qr(["v"], [[100.7]])).equal is False


def test_approximate_tolerance_applies_to_integers_too() -> None:
    ref, pred = qr(["u"], [[1895735]]), qr(["u"], [[1883793]])
    assert compare_results(ref, pred).equal is False
    outcome = compare_results(ref, pred, approximate=True)
    assert outcome.equal is True
    assert outcome.details["tolerance"] == "approximate"


# --- NULL, NaN, dates, arrays ------------------------------------------------------------------


def test_null_and_nan() -> None:
    assert compare_results(qr(["v"], [[None]]), qr(["v"], [[math.nan]])).equal is True
    assert compare_results(qr(["v"], [[None]]), qr(["v"], [["nan"]])).equal is True
    strict = MatchRules(null_equals_nan=False)
    assert compare_results(qr(["v"], [[None]]), qr(["v"], [[math.nan]]), strict).equal is False
    assert compare_results(qr(["v"], [[math.nan]]), qr(["v"], [[math.nan]]), strict).equal is True
    assert compare_results(qr(["v"], [[None]]), qr(["v"], [[0]])).equal is False


def test_dates_and_strings() -> None:
    day = dt.date(2024, 12, 1)
    for other in (
        "2024-12-01",
        "2024-12-01 00:00:00",
        dt.datetime(2024, 12, 1),
        "2024-12-01T00:00:00",
    ):
        assert compare_results(qr(["d"], [[day]]), qr(["d"], [[other]])).equal is True, other
    assert compare_results(qr(["d"], [[day]]), qr(["d"], [["2024-12"]])).equal is False
    assert compare_results(qr(["d"], [["2024-12-01 10:00:00"]]), qr(["d"], [[day]])).equal is False
    off = MatchRules(dates_as_strings=False)
    assert (
        compare_results(
            qr(["d"], [["2024-12-01"]]), qr(["d"], [["2024-12-01 00:00:00"]]), off
        ).equal
        is False
    )


def test_arrays_compare_elementwise_with_tolerance() -> None:
    ref = qr(["q"], [[[0.0, 1711.945]]])
    assert compare_results(ref, qr(["q"], [[[0, 1711.945000001]]])).equal is True
    assert compare_results(ref, qr(["q"], [[[1711.945, 0.0]]])).equal is False


# --- totals ------------------------------------------------------------------------------------


OS = [["Android", 16], ["Windows", 17], ["iOS", 17]]


def test_totals_must_be_present() -> None:
    ref = qr(["os", "n"], OS, totals=["", 50])
    outcome = compare_results(ref, qr(["os", "n"], OS))
    assert outcome.equal is False
    assert "totals" in outcome.reason
    assert compare_results(ref, qr(["os", "n"], OS), MatchRules(totals="ignore")).equal is True


def test_totals_as_an_extra_data_row_in_either_direction() -> None:
    with_totals = qr(["os", "n"], OS, totals=["", 50])
    union_all = qr(["os", "n"], [*OS, ["Total", 50]])
    assert compare_results(with_totals, union_all).equal is True
    assert compare_results(union_all, with_totals).equal is True
    wrong_total = qr(["os", "n"], [*OS, ["Total", 49]])
    assert compare_results(with_totals, wrong_total).equal is False


def test_totals_compared_when_both_have_them() -> None:
    ref = qr(["os", "n"], OS, totals=["", 50])
    assert compare_results(ref, qr(["n", "os"], [[n, o] for o, n in OS], [50, ""])).equal is True
    assert compare_results(ref, qr(["os", "n"], OS, totals=["", 51])).equal is False


def test_extra_predicted_totals_allowed_or_forbidden() -> None:
    pred = qr(["os", "n"], OS, totals=["", 50])
    outcome = compare_results(qr(["os", "n"], OS), pred)
    assert outcome.equal is True
    assert outcome.details["extra_totals_ignored"] is True
    forbidden = compare_results(qr(["os", "n"], OS), pred, MatchRules(extra_totals="forbid"))
    assert forbidden.equal is False


# --- approximate-function rewriting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT median(x) FROM t", "SELECT medianExact(x) FROM t"),
        ("SELECT quantile(0.25)(x) FROM t", "SELECT quantileExact(0.25)(x) FROM t"),
        ("SELECT quantiles(0.1, 0.9)(x) FROM t", "SELECT quantilesExact(0.1, 0.9)(x) FROM t"),
        ("SELECT quantileTDigest(0.5)(x) FROM t", "SELECT quantileExact(0.5)(x) FROM t"),
        (
            "SELECT quantileTDigestWeighted(0.5)(x, w) FROM t",
            "SELECT quantileExactWeighted(0.5)(x, w) FROM t",
        ),
        ("SELECT uniq(u) FROM t", "SELECT uniqExact(u) FROM t"),
        ("SELECT uniqCombined(12)(u) FROM t", "SELECT uniqExact(u) FROM t"),
        (
            "SELECT uniqHLL12(u), uniqCombined64(u) FROM t",
            "SELECT uniqExact(u), uniqExact(u) FROM t",
        ),
        (
            "SELECT uniqIf(u, ok), medianIf(x, ok) FROM t",
            "SELECT uniqExactIf(u, ok), medianExactIf(x, ok) FROM t",
        ),
        ("SELECT uniqArrayIf(a, ok) FROM t", "SELECT uniqExactArrayIf(a, ok) FROM t"),
        (
            "SELECT uniqExact(u), quantileExact(0.5)(x) FROM t",
            "SELECT uniqExact(u), quantileExact(0.5)(x) FROM t",
        ),
        (
            "SELECT 'median(x)' AS s, `uniq` FROM t WITH TOTALS",
            "SELECT 'median(x)' AS s, `uniq` FROM t WITH TOTALS",
        ),
    ],
)
def test_rewrite_exact(sql: str, expected: str) -> None:
    assert rewrite_exact(sql).sql == expected


def test_rewrite_reports_what_it_did() -> None:
    outcome = rewrite_exact("SELECT median(x), topK(3)(os) FROM t")
    assert outcome.changed and outcome.approximate
    assert outcome.replaced == [("median", "medianExact")]
    assert outcome.without_exact == ["topK"]
    assert find_approximate_functions("SELECT uniq(a), sum(b) FROM t") == ["uniq"]
    assert not rewrite_exact("SELECT count(DISTINCT a) FROM t").approximate


def test_rewrite_leaves_untokenizable_sql_alone() -> None:
    assert rewrite_exact("SELECT 'unterminated").sql == "SELECT 'unterminated"


# --- ordering helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("What are the top 3 browsers by sessions?", True),
        ("Rank the countries by revenue", True),
        ("Which browser has the highest fraud share?", True),
        ("List sessions sorted by date", True),
        ("How many sessions per operating system?", False),
        ("What is the average number of days between the first session and purchase?", False),
    ],
)
def test_question_asks_for_order(question: str, asks: bool) -> None:
    assert question_asks_for_order(question) is asks


def test_reference_order_key() -> None:
    cols = ["os", "c"]
    assert reference_order("SELECT os, count() AS c FROM t GROUP BY os", cols) == (False, None)
    assert reference_order("SELECT os, count() AS c FROM t GROUP BY os ORDER BY c DESC", cols) == (
        True,
        [1],
    )
    assert reference_order("SELECT os, count() AS c FROM t GROUP BY os ORDER BY 2, os", cols) == (
        True,
        [1, 0],
    )
    assert reference_order(
        "SELECT os, count() FROM t GROUP BY os ORDER BY count() DESC", ["os", "count()"]
    ) == (True, [1])
    assert reference_order("SELECT os FROM t GROUP BY os ORDER BY count() DESC", ["os"]) == (
        True,
        None,
    )
