"""Exact recall of the training SQL: memorisation, measured next to golden-set accuracy.

A model tuned with the memory recipe should answer its own training questions with exactly the
training SQL. :func:`atraining_recall` asks any :class:`~text2sql_tune.interfaces.Text2SQLModel`
the training questions and counts the answers that equal the training query, as written
(:attr:`RecallSummary.exact`) and after SQL normalisation (:attr:`RecallSummary.normalized`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from ..._sync import run_sync
from ...interfaces import Text2SQLModel
from ...records import QAPair
from ...sql.normalize import normalize_sql
from .job import RecallSummary

__all__ = ["atraining_recall", "recall_summary", "sample_pairs", "training_recall"]

_MAX_MISSES = 20


def _same_text(a: str, b: str) -> bool:
    return a.strip().rstrip(";").strip() == b.strip().rstrip(";").strip()


def recall_summary(
    expected: Sequence[tuple[str, str]], predicted: Sequence[str | None]
) -> RecallSummary:
    """Compare answers with the training SQL.

    Args:
        expected: ``(question, training sql)`` pairs.
        predicted: The model's SQL for each question, in the same order (``None``: no SQL).

    Raises:
        ValueError: The two sequences differ in length.
    """
    if len(expected) != len(predicted):
        raise ValueError("one prediction per training pair is needed")
    exact = normalized = 0
    misses: list[dict[str, str]] = []
    for (question, sql), answer in zip(expected, predicted, strict=True):
        text = answer or ""
        if _same_text(text, sql):
            exact += 1
            normalized += 1
            continue
        if text and normalize_sql(text) == normalize_sql(sql):
            normalized += 1
        elif len(misses) < _MAX_MISSES:
            misses.append({"question": question, "expected": sql, "predicted": text})
    total = len(expected)
    return RecallSummary(
        total=total,
        exact=exact,
        normalized=normalized,
        exact_rate=exact / total if total else 0.0,
        normalized_rate=normalized / total if total else 0.0,
        misses=misses,
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
) -> RecallSummary:
    """Ask ``model`` the training questions and count exact answers.

    Args:
        model: Any text-to-SQL model (a :class:`~text2sql_tune.models.LocalModel`
            batches concurrent questions).
        pairs: The training pairs.
        limit: Ask at most this many (a seeded sample).
        seed: Seed of the sample.
        concurrency: Questions in flight at once.
    """
    chosen = sample_pairs(pairs, limit, seed=seed)
    slots = asyncio.Semaphore(concurrency)

    async def ask(pair: QAPair) -> str | None:
        async with slots:
            return (await model.apredict(pair.question)).sql

    answers = await asyncio.gather(*(ask(p) for p in chosen))
    return recall_summary([(p.question, p.sql) for p in chosen], list(answers))


def training_recall(
    model: Text2SQLModel,
    pairs: Sequence[QAPair],
    *,
    limit: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
) -> RecallSummary:
    """Sync twin of :func:`atraining_recall`."""
    return run_sync(atraining_recall(model, pairs, limit=limit, seed=seed, concurrency=concurrency))
