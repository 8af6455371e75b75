"""Evidence for one case: the SQL diff, rows lined up with differing cells, nearest pairs."""

from __future__ import annotations

from typing import Any

import pytest

from text2sql_tune import EvalResult, QAPair
from text2sql_tune.evaluate.judges.compare import cells_match, row_sort_key
from text2sql_tune.records import ResultPreview
from text2sql_tune.reporting import TrainingIndex, align_rows, case_evidence, sql_diff


def _preview(columns: list[str], rows: list[list[Any]], count: int | None = None) -> ResultPreview:
    return ResultPreview(
        columns=columns, rows=rows, row_count=len(rows) if count is None else count
    )


def _case(
    reference: ResultPreview | None, predicted: ResultPreview | None, **details: Any
) -> EvalResult:
    return EvalResult(
        question="q",
        reference_sql="SELECT 1",
        predicted_sql="SELECT 2",
        valid=predicted is not None,
        correct=False,
        category="wrong_result",
        reason="r",
        details=details,
        reference_preview=reference,
        predicted_preview=predicted,
    )


@pytest.mark.parametrize(
    ("reference", "predicted"),
    [
        ("SELECT count() FROM t", "SELECT count() FROM t WHERE x = 1"),
        ("select  a ,b\nfrom t -- note\n", "SELECT a, b FROM t"),
        ("SELECT 'it''s', `weird name` FROM t", 'SELECT "x" FROM t   '),
        ("SELECT 'unterminated FROM t", "SELECT 1"),
        ("", "SELECT 1"),
    ],
)
def test_each_side_of_the_diff_is_the_statement_as_written(reference: str, predicted: str) -> None:
    diff = sql_diff(reference, predicted)
    assert "".join(s.text for s in diff.reference) == reference
    assert "".join(s.text for s in diff.predicted) == predicted


def test_diff_ignores_whitespace_and_keyword_case_but_not_literals() -> None:
    assert sql_diff("select  COUNT(*)\nfrom t", "SELECT count(*) FROM t").identical
    assert sql_diff("SELECT 1", "SELECT 1").similarity == 1.0
    literal = sql_diff("SELECT * FROM t WHERE os = 'iOS'", "SELECT * FROM t WHERE os = 'ios'")
    assert [s.text for s in literal.reference if s.changed] == [" 'iOS'"]
    assert [s.text for s in literal.predicted if s.changed] == [" 'ios'"]
    assert literal.inline() == "SELECT * FROM t WHERE os = [-'iOS'-]{+'ios'+}"
    assert 0.8 < literal.similarity < 1.0
    nothing = sql_diff("SELECT 1", "")
    assert nothing.predicted == [] and nothing.similarity == 0.0
    assert nothing.inline() == "[-SELECT 1-]"


def test_cells_match_uses_the_judge_value_rules() -> None:
    assert cells_match(1, 1.0) and cells_match("12.5", 12.5) and cells_match(None, float("nan"))
    assert cells_match("2024-12-01 00:00:00", "2024-12-01")
    assert cells_match(33.33, 100 / 3)  # a rounding of the other
    assert not cells_match(3, 4) and not cells_match("a", "b")
    assert cells_match(100, 103, approximate=True) and not cells_match(100, 103)
    rows = [[None, "b"], [2, "a"], [1.5, "c"]]
    assert sorted(rows, key=row_sort_key) == [[None, "b"], [1.5, "c"], [2, "a"]]


def test_columns_pair_by_name_then_values_then_position() -> None:
    reference = _preview(["os", "n", "share"], [["iOS", 3, 0.5], ["Android", 3, 0.5]])
    predicted = _preview(
        ["pct", "OS", "extra", "cnt"], [[0.5, "iOS", 9, 3], [0.5, "Android", 9, 3]]
    )
    rows = align_rows(_case(reference, predicted))
    assert rows is not None
    # "os" by name (any case); "n" to "cnt" by values ("pct" holds 0.5, not 3); "share" to "pct".
    assert rows.column_map == [1, 3, 0]
    assert rows.extra_columns == [2]
    assert not rows.any_difference


def test_judge_mapping_wins_and_positions_fill_the_rest() -> None:
    reference = _preview(["a", "b"], [[1, 2]])
    predicted = _preview(["x", "y"], [[2, 1]])
    judged = align_rows(_case(reference, predicted, column_mapping={"a": "y", "b": "x"}))
    assert judged is not None and judged.column_map == [1, 0]
    different = align_rows(_case(reference, _preview(["x", "y"], [[7, 8]])))
    assert different is not None
    assert different.column_map == [0, 1] and different.differing == [[0, 1]]


def test_unordered_complete_results_are_sorted_to_line_up() -> None:
    reference = _preview(["k", "v"], [["b", 2], ["a", 1], ["c", 3]])
    predicted = _preview(["k", "v"], [["c", 3], ["a", 1], ["b", 5]])
    rows = align_rows(_case(reference, predicted, ordered=False))
    assert rows is not None and rows.sorted_rows
    assert rows.reference_rows == [["a", 1], ["b", 2], ["c", 3]]
    assert rows.predicted_rows == [["a", 1], ["b", 5], ["c", 3]]
    assert rows.differing == [[], [1], []]
    # In order (the question asks for one), or when only the first rows are kept: as returned.
    ordered = align_rows(_case(reference, predicted, ordered=True))
    assert ordered is not None and not ordered.sorted_rows
    assert ordered.differing == [[0, 1], [], [0, 1]]
    cut = align_rows(_case(_preview(["k", "v"], reference.rows, count=30), predicted))
    assert cut is not None and not cut.sorted_rows
    assert "reference: first 3 of 30 rows" in (cut.note or "")


def test_no_reference_rows_no_comparison_and_failed_prediction() -> None:
    assert align_rows(_case(None, _preview(["a"], [[1]]))) is None
    rows = align_rows(_case(_preview(["a"], [[1]]), None))
    assert rows is not None and rows.predicted is None
    assert "the predicted query returned no result" in (rows.note or "")


def test_training_index_finds_neighbours_by_question_and_sql() -> None:
    pairs = [
        QAPair(question="How many users are in Germany?", sql="SELECT count() FROM u WHERE c='DE'"),
        QAPair(
            question="Revenue per month", sql="SELECT toStartOfMonth(d), sum(r) FROM s GROUP BY 1"
        ),
        QAPair(question="", sql="", rejected="bad answer"),
        QAPair(question="Total revenue", sql="SELECT sum(r) FROM s"),
    ]
    index = TrainingIndex(pairs)
    assert len(index) == 3  # the rejected record is left out
    by_question = index.by_question("How many users live in Germany?", k=2)
    # Only one pair shares words with the question: pairs with nothing in common are left out.
    assert [n.question for n in by_question] == ["How many users are in Germany?"]
    assert 0.5 < by_question[0].similarity < 1.0
    ranked = index.by_question("total revenue per month", k=3)
    assert [n.question for n in ranked] == ["Revenue per month", "Total revenue"]
    by_sql = index.by_sql(
        "select sum(r) from s where d > today() - 7", k=1, predicted="SELECT sum(r) FROM s"
    )
    assert by_sql[0].question == "Total revenue" and by_sql[0].same_sql_as_prediction
    assert index.by_question("xyzzy plugh") == []  # nothing in common: no neighbours
    assert TrainingIndex([]).by_sql("SELECT 1") == []


def test_case_evidence_accepts_pairs_or_an_index() -> None:
    result = _case(_preview(["a"], [[1]]), _preview(["a"], [[2]]))
    pairs = [QAPair(question="q", sql="SELECT 2")]
    from_pairs = case_evidence(result, number=4, training=pairs, neighbours=1)
    from_index = case_evidence(result, number=4, training=TrainingIndex(pairs), neighbours=1)
    assert from_pairs == from_index
    assert from_pairs.number == 4
    assert from_pairs.similar_questions[0].same_sql_as_prediction
    assert case_evidence(result).similar_sql == []
