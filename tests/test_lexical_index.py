"""The TF-IDF index behind the retrieval baseline, few-shot examples and report neighbours."""

from __future__ import annotations

import pytest

from text2sql_tune.models.retrieval import LexicalIndex

DOCS = [
    "How many users are in Germany?",
    "Revenue per month in 2024",
    "How many users are in Germany?",  # a duplicate of the first
    "Total revenue",
    "Sessions per operating system",
]


def test_identical_text_scores_one_and_duplicates_tie_to_the_lower_index() -> None:
    index = LexicalIndex(DOCS)
    assert len(index) == 5
    (first, score), (second, score2) = index.search("How many users are in Germany?", k=2)
    assert (first, second) == (0, 2)
    assert score == pytest.approx(1.0) and score2 == pytest.approx(score)


def test_ranking_follows_shared_informative_words() -> None:
    index = LexicalIndex(DOCS)
    ranked = index.search("total revenue per month", k=5)
    # "total revenue" shares two words and a bigram; the month one two words and a bigram
    # of a longer text; the sessions one only "per".
    assert [i for i, _ in ranked[:3]] == [3, 1, 4]
    assert ranked[0][1] > ranked[1][1] > ranked[2][1] > 0
    # Documents sharing nothing score 0 and follow, lowest index first.
    assert ranked[3:] == [(0, 0.0), (2, 0.0)]


def test_edges() -> None:
    assert LexicalIndex([]).search("anything", k=3) == []
    index = LexicalIndex(DOCS)
    assert index.search("users", k=0) == []
    assert len(index.search("users", k=50)) == len(DOCS)
    assert [i for i, _ in index.search("", k=2)] == [0, 1]  # no words: all tie at 0
