"""Paraphrases: questions that ask the same thing in other words, and those that do not."""

from __future__ import annotations

import pytest

from text2sql_tune.text import (
    JaccardIndex,
    ParaphraseIndex,
    paraphrase_similarity,
    paraphrase_words,
)
from text2sql_tune.text.index import token_order

SAME = [
    (
        "Which country had the highest total revenue in 2025?",
        "Which country brought the highest total revenue in 2025?",
    ),
    (
        "How many paying customers were there in each month of 2023?",
        "What was the monthly number of paying customers in 2023?",
    ),
    (
        "What was the share of customers who used Chrome yesterday, in percent?",
        "What percentage of customers used Chrome yesterday?",
    ),
    (
        "How many distinct customers bought something in March 2024?",
        "How many unique users made a purchase in March 2024?",
    ),
    (
        "What was the revenue in 2024 for each operating system?",
        "What was the revenue per OS in 2024?",
    ),
]

OTHER = [
    # another year, month, relative date: another question
    (
        "Which country had the highest total revenue in 2025?",
        "Which country had the highest total revenue in 2024?",
    ),
    ("How many sessions were there in March 2024?", "How many sessions were there in May 2024?"),
    ("What was the revenue yesterday?", "What was the revenue last week?"),
    # another measure or another value
    (
        "Which operating system had the most sessions in 2023?",
        "Which operating system had the highest revenue in 2023?",
    ),
    ("How many customers from France are active?", "How many customers from Germany are active?"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_rewordings_are_paraphrases_both_ways(a: str, b: str) -> None:
    assert paraphrase_similarity(a, b) == paraphrase_similarity(b, a) == 1.0


@pytest.mark.parametrize(("a", "b"), OTHER)
def test_template_neighbours_are_not_paraphrases(a: str, b: str) -> None:
    assert paraphrase_similarity(a, b) < 0.8
    assert paraphrase_similarity(b, a) < 0.8


def test_words_are_stemmed_folded_and_light_verbs_dropped() -> None:
    assert paraphrase_words("Which customers purchased the most in November 2024?") == {
        "user",
        "buy",
        "max",
        "november",
        "2024",
    }
    assert paraphrase_words("How many sessions generated revenue?") == {"session", "revenue"}


def test_the_index_finds_every_paraphrase_best_first() -> None:
    questions = dict(enumerate(["How many unique users bought in 2024?", "Sessions per OS?"]))
    index = ParaphraseIndex(questions, 0.5)
    assert index.matches("How many distinct customers purchased in 2024?") == [(0, 1.0)]
    assert index.matches("How many distinct customers purchased in 2023?") == []
    assert [key for key, _ in index.matches("How many sessions per operating system?")] == [1]


def test_the_jaccard_index_lists_all_matches_with_the_rule_of_best() -> None:
    sets = [frozenset({"a", "b", "c"}), frozenset({"a", "b", "c", "d"}), frozenset({"x"})]
    index = JaccardIndex(0.7, token_order(sets))
    for key, tokens in enumerate(sets):
        index.add(key, tokens)
    assert index.matches(frozenset({"a", "b", "c"})) == [(0, 1.0), (1, 0.75)]
    assert index.best(frozenset({"a", "b", "c"})) == (0, 1.0)
    assert index.matches(frozenset({"y"})) == []
