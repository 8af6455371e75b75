"""LeakageFilter: keep the golden (evaluation) set out of the training data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..interfaces import DatasetFilter
from ..records import EvalCase, FilterDecision, QAPair
from ..sql.normalize import normalize_sql
from ..text.index import JaccardIndex, token_order
from ..text.tokens import normalize_question, question_tokens
from ._common import drop, keep, shorten

__all__ = ["LeakageFilter"]


class LeakageFilter(DatasetFilter):
    """Drops training pairs that give away a golden question or its answer.

    A model tuned on its own test questions scores well and learns nothing about its real
    accuracy. A pair leaks when its question equals a golden question (after
    :func:`~text2sql_tune.sql.normalize.normalize_question`), when it nearly duplicates one
    (word-set
    Jaccard similarity at least ``near_dup_threshold``, same numbers, months and relative dates;
    as in :class:`~text2sql_tune.filters.NearDuplicateQuestionFilter`), or when its SQL equals a
    golden
    SQL (after :func:`~text2sql_tune.sql.normalize.normalize_sql`), whatever the question says.

    Args:
        eval_cases: The golden set.
        near_dup_threshold: Similarity in ``(0, 1]`` at which a question counts as a rewording
            of a golden question.

    Reasons:
        ``leaks_eval_question``: the question is (nearly) a golden question (detail names it).
        ``leaks_eval_sql``: the SQL is a golden query (detail names its golden question).
    """

    name = "leakage"

    def __init__(self, eval_cases: Iterable[EvalCase], near_dup_threshold: float = 0.9) -> None:
        if not 0.0 < near_dup_threshold <= 1.0:
            raise ValueError("near_dup_threshold must be in (0, 1]")
        self.eval_cases = list(eval_cases)
        self.near_dup_threshold = near_dup_threshold
        self._questions: dict[str, EvalCase] = {}
        self._sqls: dict[str, EvalCase] = {}
        for case in self.eval_cases:
            self._questions.setdefault(normalize_question(case.question), case)
            self._sqls.setdefault(normalize_sql(case.sql), case)
        self._tokens = [question_tokens(case.question) for case in self.eval_cases]

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Drop the pairs that repeat or reword a golden question, or reuse a golden query."""
        kept = keep(self.name)
        if not self.eval_cases:
            return [kept] * len(pairs)
        words = [tuple(question_tokens(pair.question)) for pair in pairs]  # compact, once
        index = JaccardIndex(self.near_dup_threshold, token_order([*self._tokens, *words]))
        for position, tokens in enumerate(self._tokens):
            index.add(position, tokens)
        decisions = []
        for pair, distinct in zip(pairs, words, strict=True):
            case = self._questions.get(normalize_question(pair.question))
            if case is not None:
                detail = shorten(f"golden question: {case.question}")
                decisions.append(drop(self.name, "leaks_eval_question", detail))
                continue
            case = self._sqls.get(normalize_sql(pair.sql))
            if case is not None:
                detail = shorten(f"SQL of golden question: {case.question}")
                decisions.append(drop(self.name, "leaks_eval_sql", detail))
                continue
            match = index.best(frozenset(distinct))
            if match is not None:
                golden, similarity = match
                question = self.eval_cases[golden].question
                detail = shorten(f"{similarity:.2f} similar to golden question: {question}")
                decisions.append(drop(self.name, "leaks_eval_question", detail))
                continue
            decisions.append(kept)
        return decisions
