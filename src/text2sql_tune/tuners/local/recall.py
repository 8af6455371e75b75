"""Recall of the training SQL: memorisation, measured next to golden-set accuracy.

A model tuned with the memory recipe should answer its own training questions like the training
SQL. :func:`atraining_recall` asks any :class:`~text2sql_tune.interfaces.Text2SQLModel` the
training questions and counts the answers that equal the training query, as written
(:attr:`RecallSummary.exact`) and after SQL normalisation (:attr:`RecallSummary.normalized`),
and, given a judge, the answers whose result matches the training query's
(:attr:`RecallSummary.correct`): a query written differently that returns the same answer is
recalled too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from ..._sync import run_sync
from ...interfaces import Judge, Text2SQLModel
from ...records import JudgeInput, QAPair, Verdict
from ...sql.normalize import normalize_sql
from .job import RecallSummary

__all__ = [
    "ajudge_answers",
    "atraining_recall",
    "recall_summary",
    "sample_pairs",
    "training_recall",
]

_MAX_MISSES = 20


def _same_text(a: str, b: str) -> bool:
    return a.strip().rstrip(";").strip() == b.strip().rstrip(";").strip()


def _same_sql(answer: str | None, sql: str) -> bool:
    return bool(answer) and normalize_sql(answer or "") == normalize_sql(sql)


def recall_summary(
    expected: Sequence[tuple[str, str]],
    predicted: Sequence[str | None],
    verdicts: Sequence[Verdict | None] | None = None,
    *,
    judge: str | None = None,
) -> RecallSummary:
    """Compare answers with the training SQL (and count the judge's verdicts, when given).

    Args:
        expected: ``(question, training sql)`` pairs.
        predicted: The model's SQL for each question, in the same order (``None``: no SQL).
        verdicts: The judge's verdict on each answer (``None``: not judged), in the same order;
            an answer equal to the training SQL after normalisation counts as correct.
        judge: The judge's name, recorded with its counts.

    Raises:
        ValueError: The sequences differ in length.
    """
    if len(expected) != len(predicted) or (verdicts is not None and len(verdicts) != len(expected)):
        raise ValueError("one prediction (and verdict) per training pair is needed")
    exact = normalized = correct = 0
    misses: list[dict[str, Any]] = []
    for n, ((question, sql), answer) in enumerate(zip(expected, predicted, strict=True)):
        text = answer or ""
        verdict = verdicts[n] if verdicts is not None else None
        written = _same_text(text, sql)
        same = written or _same_sql(text, sql)
        exact += written
        normalized += same
        correct += same or bool(verdict is not None and verdict.correct)
        if same or len(misses) >= _MAX_MISSES:
            continue
        miss: dict[str, Any] = {"question": question, "expected": sql, "predicted": text}
        if verdict is not None:
            miss |= {"correct": verdict.correct, "reason": verdict.reason}
        misses.append(miss)
    total = len(expected)
    judged = verdicts is not None
    return RecallSummary(
        total=total,
        exact=exact,
        normalized=normalized,
        exact_rate=exact / total if total else 0.0,
        normalized_rate=normalized / total if total else 0.0,
        correct=correct if judged else None,
        correct_rate=(correct / total if total else 0.0) if judged else None,
        judge=judge if judged else None,
        misses=misses,
    )


async def ajudge_answers(
    judge: Judge,
    expected: Sequence[tuple[str, str]],
    predicted: Sequence[str | None],
    *,
    concurrency: int = 8,
) -> list[Verdict | None]:
    """The judge's verdict on each answer that differs from the training SQL.

    Answers equal to the training SQL after normalisation, and empty answers, are not judged
    (``None``): the first are recalled whatever the data, the second are not.
    """
    slots = asyncio.Semaphore(concurrency)

    async def one(question: str, sql: str, answer: str | None) -> Verdict | None:
        if not answer or _same_text(answer, sql) or _same_sql(answer, sql):
            return None
        async with slots:
            case = JudgeInput(question=question, reference_sql=sql, predicted_sql=answer)
            return await judge.ajudge(case)

    return list(
        await asyncio.gather(
            *(one(q, sql, a) for (q, sql), a in zip(expected, predicted, strict=True))
        )
    )


def sample_pairs(pairs: Sequence[QAPair], limit: int | None, *, seed: int = 0) -> list[QAPair]:
    """Up to ``limit`` usable pairs, a seeded sample when there are more (input order kept)."""
    usable = [p for p in pairs if p.ok]
    if limit is None or len(usable) <= limit:
        return usable
    chosen = sorted(random.Random(seed).sample(range(len(usable)), limit))
    return [usable[i] for i in chosen]


async def atraining_recall(
    model: Text2SQLModel,
    pairs: Sequence[QAPair],
    *,
    limit: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    judge: Judge | None = None,
) -> RecallSummary:
    """Ask ``model`` the training questions and count the answers that recall the training SQL.

    Args:
        model: Any text-to-SQL model (a :class:`~text2sql_tune.models.LocalModel`
            batches concurrent questions).
        pairs: The training pairs (those the model was trained on).
        limit: Ask at most this many (a seeded sample).
        seed: Seed of the sample.
        concurrency: Questions in flight at once.
        judge: Also compare results: e.g. an
            :class:`~text2sql_tune.evaluate.judges.ExecutionMatchJudge` on the database.
    """
    chosen = sample_pairs(pairs, limit, seed=seed)
    slots = asyncio.Semaphore(concurrency)

    async def ask(pair: QAPair) -> str | None:
        async with slots:
            return (await model.apredict(pair.question)).sql

    answers = list(await asyncio.gather(*(ask(p) for p in chosen)))
    expected = [(p.question, p.sql) for p in chosen]
    if judge is None:
        return recall_summary(expected, answers)
    verdicts = await ajudge_answers(judge, expected, answers, concurrency=concurrency)
    return recall_summary(expected, answers, verdicts, judge=judge.name)


def training_recall(
    model: Text2SQLModel,
    pairs: Sequence[QAPair],
    *,
    limit: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    judge: Judge | None = None,
) -> RecallSummary:
    """Sync twin of :func:`atraining_recall`."""
    return run_sync(
        atraining_recall(model, pairs, limit=limit, seed=seed, concurrency=concurrency, judge=judge)
    )
