"""Question text as words: one Unicode-aware tokenizer, and the keys questions are compared by.

- :func:`question_words`: the words of a question in order (case-folded, Unicode NFKC):
  letters and digits in any script; punctuation, symbols and ``_`` separate words. Chinese and
  Japanese, written without spaces, give one word per character.
- :func:`question_tokens`: the distinct words, for near-duplicate detection.
- :func:`normalize_question`: case-folded, single-spaced, without trailing punctuation.

Example:
    >>> question_words("Wie viele Sitzungen gab es in Köln, 2024?")
    ['wie', 'viele', 'sitzungen', 'gab', 'es', 'in', 'köln', '2024']
    >>> question_words("每个国家有多少用户")
    ['每', '个', '国', '家', '有', '多', '少', '用', '户']
    >>> normalize_question("  How many USERS are there?? ")
    'how many users are there'
"""

from __future__ import annotations

import re
import sys
import unicodedata

__all__ = ["normalize_question", "question_tokens", "question_words"]

# Han, kana and the CJK compatibility ideographs: written without spaces between words.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_UNSPACED}]|[^\W_{_UNSPACED}]+")
_TRAILING = "?!.,;:…。？！ \t\r\n"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def question_words(text: str) -> list[str]:
    """The words of ``text`` in order, repeats kept (see the module docstring).

    Args:
        text: A question (or any short text: a value, a SQL statement for a lexical index).

    Returns:
        Case-folded words.
    """
    return _WORD.findall(_fold(text))


def question_tokens(text: str) -> frozenset[str]:
    """The distinct words of a question (case-folded; punctuation dropped).

    Args:
        text: The question.

    Returns:
        The word set used for Jaccard similarity.
    """
    return frozenset(map(sys.intern, question_words(text)))  # one copy of each word


def normalize_question(text: str) -> str:
    """Case-folded (Unicode NFKC), single-spaced question without trailing punctuation.

    Args:
        text: The question.

    Returns:
        The key two questions are compared by.
    """
    return " ".join(_fold(text).split()).rstrip(_TRAILING)
