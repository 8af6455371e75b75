"""LeakageFilter: keep the evaluation set out of the training data, by spelling and by meaning."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._sync import run_sync
from ..interfaces import DatasetFilter, SQLExecutor
from ..records import EvalCase, FilterDecision, JudgeInput, QAPair, QueryResult
from ..sql.canonical import canonical_sql, string_literals
from ..sql.dialects import Dialect
from ..sql.normalize import normalize_sql
from ..text.index import JaccardIndex, token_order
from ..text.paraphrase import ParaphraseIndex
from ..text.tokens import normalize_question, question_tokens
from ._common import drop, keep, shorten

__all__ = ["LeakageFilter"]


@dataclass
class _Candidate:
    """A pair whose question paraphrases evaluation cases: its results decide."""

    position: int
    cases: list[tuple[int, float]]


class LeakageFilter(DatasetFilter):
    """Drops training pairs that give away an evaluation question or its answer.

    A model tuned on its own test questions scores well and learns nothing about its real
    accuracy. A pair leaks, in the order checked:

    - ``leaks_eval_question``: its question is an evaluation question (after
      :func:`~text2sql_tune.text.normalize_question`) or nearly one (word-set Jaccard similarity
      at least ``near_dup_threshold``, same numbers, months and relative dates, as in
      :class:`~text2sql_tune.filters.NearDuplicateQuestionFilter`);
    - ``leaks_eval_sql``: its SQL is an evaluation query (after
      :func:`~text2sql_tune.sql.normalize_sql`), whatever the question says;
    - ``leaks_eval_sql_equivalent``: its SQL is an evaluation query in other spelling: the same
      :func:`~text2sql_tune.sql.canonical.canonical_sql` (aliases and table aliases resolved,
      ``AND`` / ``OR`` operands sorted, ``count(*)`` = ``count()``, ``JOIN`` = ``INNER JOIN``,
      ``toDate('2024-03-01')`` = ``'2024-03-01'``...), whatever the question says;
    - ``leaks_eval_result`` (with an ``executor``): its question paraphrases an evaluation
      question (:func:`~text2sql_tune.text.paraphrase.paraphrase_similarity` at least
      ``paraphrase_threshold``) and its SQL returns the same columns and rows on the database, as
      the execution judge compares them (columns matched by value, no extra column, row order
      ignored).

    Pairs that only share a template with an evaluation case (another month, country or measure)
    ask something else: their canonical SQL differs and so does their question or their result,
    and they are kept. Each detail names the evaluation case matched (its id, else its position
    from 1) and how.

    Results are computed once per query and kept for the filter's life; only the pairs whose
    questions paraphrase an evaluation question run.

    Args:
        eval_cases: The evaluation cases (dev and test).
        near_dup_threshold: Similarity in ``(0, 1]`` at which a question counts as a rewording
            of an evaluation question.
        executor: The database the pairs were validated on; ``None`` skips the result check.
        paraphrase_threshold: Paraphrase similarity in ``(0, 1]`` from which the results of a
            pair and an evaluation case are compared.
        dialect: The SQL's dialect (default: the executor's, else ClickHouse).
    """

    name = "leakage"

    def __init__(
        self,
        eval_cases: Iterable[EvalCase],
        near_dup_threshold: float = 0.9,
        *,
        executor: SQLExecutor | None = None,
        paraphrase_threshold: float = 0.8,
        dialect: Dialect | str | None = None,
    ) -> None:
        if not 0.0 < near_dup_threshold <= 1.0:
            raise ValueError("near_dup_threshold must be in (0, 1]")
        if not 0.0 < paraphrase_threshold <= 1.0:
            raise ValueError("paraphrase_threshold must be in (0, 1]")
        self.eval_cases = list(eval_cases)
        self.near_dup_threshold = near_dup_threshold
        self.paraphrase_threshold = paraphrase_threshold
        self.executor = executor
        if dialect is None:
            dialect = executor.dialect if executor is not None else "clickhouse"
        self.dialect = Dialect.get(dialect)
        self._questions: dict[str, int] = {}
        self._sqls: dict[str, int] = {}
        self._canonical: dict[str, int] = {}
        self._literals: set[frozenset[str]] = set()
        for position, case in enumerate(self.eval_cases):
            self._questions.setdefault(normalize_question(case.question), position)
            self._sqls.setdefault(normalize_sql(case.sql), position)
            canonical = canonical_sql(case.sql, self.dialect)
            literals = string_literals(case.sql, self.dialect)
            if canonical is not None and literals is not None:
                self._canonical.setdefault(canonical, position)
                self._literals.add(literals)
        self._tokens = [question_tokens(case.question) for case in self.eval_cases]
        self._results: dict[str, QueryResult | None] = {}

    def _label(self, position: int) -> str:
        case = self.eval_cases[position]
        return f"{case.id or f'#{position + 1}'}: {case.question}"

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Drop the pairs that repeat, reword or re-spell an evaluation case (see the class)."""
        if self.executor is None:
            decisions, _ = self._by_text(pairs)
            return decisions
        return run_sync(self.adecide(pairs))

    async def adecide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Async twin of :meth:`decide`: the text checks in a thread, then the results."""
        decisions, candidates = await asyncio.to_thread(self._by_text, pairs)
        if candidates and self.executor is not None:
            await self._by_result(pairs, decisions, candidates)
        return decisions

    def _by_text(self, pairs: Sequence[QAPair]) -> tuple[list[FilterDecision], list[_Candidate]]:
        """Decisions from the questions and the SQL text, and the pairs whose results decide."""
        kept = keep(self.name)
        if not self.eval_cases:
            return [kept] * len(pairs), []
        words = [tuple(question_tokens(pair.question)) for pair in pairs]  # compact, once
        index = JaccardIndex(self.near_dup_threshold, token_order([*self._tokens, *words]))
        for position, tokens in enumerate(self._tokens):
            index.add(position, tokens)
        paraphrases: ParaphraseIndex | None = None
        if self.executor is not None:
            paraphrases = ParaphraseIndex(
                {i: c.question for i, c in enumerate(self.eval_cases)},
                self.paraphrase_threshold,
            )
        decisions: list[FilterDecision] = []
        candidates: list[_Candidate] = []
        for position, (pair, distinct) in enumerate(zip(pairs, words, strict=True)):
            decision = self._text_decision(pair, frozenset(distinct), index)
            if decision is None and paraphrases is not None:
                similar = paraphrases.matches(pair.question)
                if similar:
                    candidates.append(_Candidate(position, similar))
            decisions.append(decision or kept)
        return decisions, candidates

    def _text_decision(
        self, pair: QAPair, distinct: frozenset[str], index: JaccardIndex
    ) -> FilterDecision | None:
        found = self._questions.get(normalize_question(pair.question))
        if found is not None:
            detail = f"golden question: {self.eval_cases[found].question}"
            return drop(self.name, "leaks_eval_question", shorten(detail))
        found = self._sqls.get(normalize_sql(pair.sql))
        if found is not None:
            detail = f"SQL of golden question: {self.eval_cases[found].question}"
            return drop(self.name, "leaks_eval_sql", shorten(detail))
        match = index.best(distinct)
        if match is not None:
            position, similarity = match
            question = self.eval_cases[position].question
            detail = f"{similarity:.2f} similar to golden question: {question}"
            return drop(self.name, "leaks_eval_question", shorten(detail))
        if string_literals(pair.sql, self.dialect) in self._literals:
            canonical = canonical_sql(pair.sql, self.dialect)
            found = self._canonical.get(canonical) if canonical is not None else None
            if found is not None:
                detail = (
                    f"the query of golden case {self._label(found)} in other spelling "
                    "(same canonical SQL)"
                )
                return drop(self.name, "leaks_eval_sql_equivalent", shorten(detail))
        return None

    async def _result(self, sql: str) -> QueryResult | None:
        key = normalize_sql(sql)
        if key not in self._results:
            assert self.executor is not None
            outcome = await self.executor.atry_execute(sql, min_rows=0)
            self._results[key] = outcome.result
        return self._results[key]

    async def _by_result(
        self,
        pairs: Sequence[QAPair],
        decisions: list[FilterDecision],
        candidates: Sequence[_Candidate],
    ) -> None:
        """Drop the candidates whose results are those of a paraphrased evaluation case."""
        from ..evaluate.judges import ExecutionMatchJudge, MatchRules

        judge = ExecutionMatchJudge(
            rules=MatchRules(extra_columns="forbid", row_order="ignore"), dialect=self.dialect
        )
        wanted = {pairs[c.position].sql for c in candidates}
        wanted |= {self.eval_cases[i].sql for c in candidates for i, _ in c.cases}
        await asyncio.gather(*(self._result(sql) for sql in sorted(wanted)))
        for candidate in candidates:
            pair = pairs[candidate.position]
            predicted = await self._result(pair.sql)
            if predicted is None or not predicted.rows:
                continue
            for position, similarity in candidate.cases:
                case = self.eval_cases[position]
                reference = await self._result(case.sql)
                if reference is None or not reference.rows:
                    continue
                verdict = await judge.ajudge(
                    JudgeInput(
                        question=case.question,
                        reference_sql=case.sql,
                        predicted_sql=pair.sql,
                        reference=reference,
                        predicted=predicted,
                    )
                )
                if verdict.correct:
                    detail = (
                        f"the result of golden case {self._label(position)}, for a question "
                        f"{similarity:.2f} alike"
                    )
                    decisions[candidate.position] = drop(
                        self.name, "leaks_eval_result", shorten(detail)
                    )
                    break
