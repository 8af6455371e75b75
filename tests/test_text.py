"""Question text: one Unicode-aware tokenizer behind near duplicates, terms and retrieval."""

from __future__ import annotations

import pytest

from text2sql_tune import QAPair
from text2sql_tune.filters import NearDuplicateQuestionFilter
from text2sql_tune.models import RetrievalModel
from text2sql_tune.sql.normalize import normalize_question as old_path_normalize_question
from text2sql_tune.text import (
    DISTINGUISHING_WORDS,
    LexicalIndex,
    normalize_question,
    question_terms,
    question_tokens,
    question_words,
)


@pytest.mark.parametrize(
    ("question", "words"),
    [
        (
            "Wie viele Sitzungen hatten Nutzer aus Köln im März 2024?",
            ["wie", "viele", "sitzungen", "hatten", "nutzer", "aus", "köln", "im", "märz", "2024"],
        ),
        (
            "Quel était le revenu moyen des sessions à Besançon ?",
            ["quel", "était", "le", "revenu", "moyen", "des", "sessions", "à", "besançon"],
        ),
        ("每个国家有多少用户？", ["每", "个", "国", "家", "有", "多", "少", "用", "户"]),
        ("東京のセッション数", ["東", "京", "の", "セ", "ッ", "シ", "ョ", "ン", "数"]),
        ("국가별 사용자 수", ["국가별", "사용자", "수"]),  # Korean is written with spaces
    ],
)
def test_questions_in_any_script_have_words(question: str, words: list[str]) -> None:
    assert question_words(question) == words
    assert question_tokens(question) == frozenset(words)


def test_words_are_case_folded_and_compatibility_normalised() -> None:
    decomposed = "Cafe\u0301 STRASSE ﬁrst user_id"  # e + combining accent, the fi ligature
    assert question_words(decomposed) == ["café", "strasse", "first", "user", "id"]
    assert question_tokens("Straße") == question_tokens("STRASSE")
    assert question_tokens("?!") == frozenset()


def test_the_old_normalize_path_serves_the_same_function() -> None:
    assert old_path_normalize_question is normalize_question
    assert normalize_question("  Wie viele NUTZER?? ") == "wie viele nutzer"
    assert normalize_question("多少用户？") == "多少用户"


def test_accented_questions_are_retrieved_by_their_own_words() -> None:
    index = LexicalIndex(["Umsatz in München", "Umsatz in Köln", "sessions in Paris"])
    # An ASCII-only tokenizer cut "köln" to "k" + "ln" and "münchen" to "m" + "nchen".
    assert index.search("Wie hoch war der Umsatz in Köln?", k=1)[0][0] == 1
    model = RetrievalModel(
        [
            QAPair(question="Combien de sessions à Besançon ?", sql="SELECT 1"),
            QAPair(question="Combien de sessions à Lyon ?", sql="SELECT 2"),
        ]
    )
    assert model.predict("combien de sessions à besançon").sql == "SELECT 1"


def test_near_duplicates_in_other_scripts() -> None:
    questions = [
        "每个国家有多少用户",
        "每个国家有多少用户？",
        "每个国家有多少会话",  # sessions, not users: two of nine characters differ
        "Wie viele Nutzer gibt es in Köln?",
        "Wie viele Nutzer gibt es in Köln bitte?",
    ]
    pairs = [QAPair(question=q, sql=f"SELECT {i}") for i, q in enumerate(questions)]
    kept = [d.keep for d in NearDuplicateQuestionFilter(0.8).decide(pairs)]
    assert kept == [True, False, True, True, False]


def test_one_list_of_calendar_words_masks_values_but_keeps_periods() -> None:
    assert {"march", "monday", "yesterday", "month", "last", "first"} <= DISTINGUISHING_WORDS
    terms = question_terms("Monthly revenue in März 2024 for Köln", values=["Köln"])
    assert {"monthly", "revenue", "monthly revenue", "märz"} <= terms  # only English months
    assert not any("köln" in term or "2024" in term for term in terms)
