"""A token-level diff of two SQL statements, for reading a wrong prediction against the reference.

Both statements are split into sqlglot's ClickHouse tokens (:func:`~text2sql_tune.sql.tokens.
tokenize`), each carrying the whitespace and comments before it, and
:class:`difflib.SequenceMatcher` aligns them. Keywords and names are compared case-insensitively
(``COUNT(*)`` and ``count(*)`` read the same to a person), string literals and quoted names
exactly, and whitespace and comments not at all, so re-indented SQL shows no change. Text the
tokenizer refuses (an unterminated string) is split at whitespace instead. Each side keeps its
text as written: joining a side's segments gives back the statement.

Example:
    >>> diff = sql_diff("SELECT count() FROM t WHERE os = 'iOS'", "select count() from t")
    >>> diff.inline()
    "select count() from t [-WHERE os = 'iOS'-]"
"""

from __future__ import annotations

import difflib
import re

from pydantic import BaseModel, ConfigDict, Field
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

from ..sql.tokens import tokenize

__all__ = ["DiffSegment", "SQLDiff", "split_lead", "sql_diff"]

_WORDS = re.compile(r"\s*\S+")
_LITERALS = frozenset(
    {
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.HEREDOC_STRING,
        TokenType.RAW_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.BYTE_STRING,
    }
)


class DiffSegment(BaseModel):
    """A run of text on one side of a diff.

    Attributes:
        text: The text as written (with its whitespace).
        changed: True when the other side does not have it.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    changed: bool = False


class SQLDiff(BaseModel):
    """Reference and predicted SQL, each cut into unchanged and changed segments.

    Attributes:
        reference: Segments of the reference; ``changed`` ones are missing from the prediction.
        predicted: Segments of the prediction; ``changed`` ones are not in the reference.
        similarity: Share of tokens the two statements have in common, in ``[0, 1]``.
    """

    model_config = ConfigDict(extra="forbid")

    reference: list[DiffSegment] = Field(default_factory=list)
    predicted: list[DiffSegment] = Field(default_factory=list)
    similarity: float = 0.0

    @property
    def identical(self) -> bool:
        """True when no token differs (whitespace and keyword case aside)."""
        return not any(s.changed for s in (*self.reference, *self.predicted))

    def inline(self) -> str:
        """One text in the style of ``wdiff``: ``[-removed-]`` and ``{+added+}`` around changes.

        Unchanged runs are written as in the prediction.
        """
        parts: list[str] = []
        ref, pred = list(self.reference), list(self.predicted)
        replacing = False  # an insertion right after a deletion replaces it: no space between
        while ref or pred:
            if ref and ref[0].changed:
                lead, body = split_lead(ref.pop(0).text)
                parts.append(f"{lead}[-{body}-]")
                replacing = True
            elif pred and pred[0].changed:
                lead, body = split_lead(pred.pop(0).text)
                parts.append(f"{'' if replacing else lead}{{+{body}+}}")
                replacing = False
            else:
                replacing = False
                # An unchanged run: present on both sides, in the same order.
                if pred:
                    parts.append(pred.pop(0).text)
                if ref:
                    ref.pop(0)
        return "".join(parts)


def split_lead(text: str) -> tuple[str, str]:
    """``(leading whitespace, rest)``: markup goes around the text, not the space before it."""
    body = text.lstrip()
    return text[: len(text) - len(body)], body


def _key(token: Token) -> str:
    if token.token_type in _LITERALS:
        return f"{token.token_type.name}:{token.text}"  # exact: 'iOS' is not 'ios'
    return " ".join(token.text.casefold().split())


def _word_key(word: str) -> str:
    return word if word[:1] in ("'", '"', "`") else word.casefold()


def _tokens(sql: str) -> tuple[list[str], list[str]]:
    """Each token's text with what precedes it (whitespace, comments), and its comparison key."""
    try:
        spans = [(t.end + 1, _key(t)) for t in tokenize(sql)]
    except TokenError:
        spans = []
    if not spans:  # untokenizable, or nothing but comments
        spans = [(m.end(), _word_key(m.group().strip())) for m in _WORDS.finditer(sql)]
    texts: list[str] = []
    keys: list[str] = []
    cut = 0
    for end, key in spans:
        if end <= cut:
            continue
        texts.append(sql[cut:end])
        keys.append(key)
        cut = end
    if texts and cut < len(sql):
        texts[-1] += sql[cut:]  # trailing whitespace and comments stay with the last token
    return texts, keys


def _segments(tokens: list[str], spans: list[tuple[int, int, bool]]) -> list[DiffSegment]:
    segments = []
    for start, end, changed in spans:
        if start < end:
            segments.append(DiffSegment(text="".join(tokens[start:end]), changed=changed))
    return segments


def sql_diff(reference: str, predicted: str) -> SQLDiff:
    """Align two statements token by token.

    Args:
        reference: The golden SQL.
        predicted: The model's SQL ("" when there was none).

    Returns:
        The diff; segments alternate so that unchanged runs appear, in order, on both sides.
    """
    (ref_tokens, ref_keys), (pred_tokens, pred_keys) = _tokens(reference), _tokens(predicted)
    matcher = difflib.SequenceMatcher(a=ref_keys, b=pred_keys, autojunk=False)
    ref_spans: list[tuple[int, int, bool]] = []
    pred_spans: list[tuple[int, int, bool]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        ref_spans.append((i1, i2, changed))
        pred_spans.append((j1, j2, changed))
    same = sum(block.size for block in matcher.get_matching_blocks())
    longest = max(len(ref_tokens), len(pred_tokens))
    return SQLDiff(
        reference=_segments(ref_tokens, ref_spans),
        predicted=_segments(pred_tokens, pred_spans),
        similarity=same / longest if longest else 1.0,
    )
