"""Duplicate filters: same question, same SQL, and near-duplicate questions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..interfaces import DatasetFilter
from ..records import FilterDecision, QAPair
from ..sql.normalize import normalize_sql
from ..text.index import JaccardIndex, token_order
from ..text.tokens import normalize_question, question_tokens
from ._common import drop, keep, shorten, validated_ok

__all__ = ["DuplicateQuestionFilter", "DuplicateSQLFilter", "NearDuplicateQuestionFilter"]


def _first_wins(
    name: str, reason: str, winners: list[int], detail: Callable[[int], str]
) -> list[FilterDecision]:
    """Keep each pair that is its own winner; drop the others, naming their winner."""
    kept = keep(name)
    return [
        kept if winner == index else drop(name, reason, shorten(detail(winner)))
        for index, winner in enumerate(winners)
    ]


class DuplicateQuestionFilter(DatasetFilter):
    """Keeps one answer per question (questions compared after normalisation).

    A question asked twice with different SQL teaches the model two answers; one is kept. The
    choice is deterministic: the first pair whose SQL validated ``ok``, else the first pair.
    Questions are compared with :func:`~text2sql_tune.sql.normalize.normalize_question` (case,
    spacing and trailing punctuation ignored).

    Reasons:
        ``duplicate_question``: another pair with the same question was kept (detail: its SQL).
    """

    name = "duplicate_question"

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Keep the chosen pair of each question, drop the others."""
        keys = [normalize_question(pair.question) for pair in pairs]
        chosen: dict[str, int] = {}
        for index, key in enumerate(keys):
            current = chosen.get(key)
            if current is None or (not validated_ok(pairs[current]) and validated_ok(pairs[index])):
                chosen[key] = index
        winners = [chosen[key] for key in keys]
        return _first_wins(
            self.name, "duplicate_question", winners, lambda w: f"kept the answer: {pairs[w].sql}"
        )


class DuplicateSQLFilter(DatasetFilter):
    """Keeps the first pair of each query (SQL compared after normalisation).

    Queries are compared with :func:`~text2sql_tune.sql.normalize.normalize_sql`: whitespace,
    comments, keyword case and quoting are ignored, literals are not (``os = 'iOS'`` and
    ``os = 'Android'`` are different queries).

    Reasons:
        ``duplicate_sql``: an earlier pair has the same SQL (detail: its question).
    """

    name = "duplicate_sql"

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Keep the first pair of each normalised SQL, drop the later ones."""
        first: dict[str, int] = {}
        winners = [first.setdefault(normalize_sql(p.sql), i) for i, p in enumerate(pairs)]
        return _first_wins(
            self.name, "duplicate_sql", winners, lambda w: f"same SQL as: {pairs[w].question}"
        )


class NearDuplicateQuestionFilter(DatasetFilter):
    """Drops questions nearly identical to an earlier kept question (word-set Jaccard similarity).

    "How many users are in Germany?" and "How many users are there in Germany?" teach nothing
    new. Two questions match when the Jaccard similarity of their word sets is at least
    ``threshold`` and they share the same distinguishing tokens: numbers, month names, weekdays,
    periods and relative dates ("... in 2023" and "... in 2024", "... in March 2024" and "... in
    2024", "... yesterday" and "... last week" are different questions with different answers;
    see :func:`~text2sql_tune.filters.distinguishing_tokens`). Search is exact and sub-quadratic
    (partition signatures and prefix filtering; see :mod:`text2sql_tune.text.index`): 100,000
    questions take a few seconds. No model download.

    Args:
        threshold: Similarity in ``(0, 1]`` at which a question counts as a near duplicate.

    Reasons:
        ``near_duplicate_question``: similar to an earlier kept question (detail: the
        similarity and that question).
    """

    name = "near_duplicate"

    def __init__(self, threshold: float = 0.9) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Keep each question unless it nearly duplicates an earlier kept one."""
        words = [tuple(question_tokens(pair.question)) for pair in pairs]  # compact, once
        index = JaccardIndex(self.threshold, token_order(words))
        kept = keep(self.name)
        decisions = []
        for position, distinct in enumerate(words):
            tokens = frozenset(distinct)
            match = index.best(tokens)
            if match is None:
                index.add(position, tokens)
                decisions.append(kept)
            else:
                other, similarity = match
                detail = shorten(f"{similarity:.2f} similar to: {pairs[other].question}")
                decisions.append(drop(self.name, "near_duplicate_question", detail))
        return decisions
