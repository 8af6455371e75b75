"""Validation: run every pair's SQL on the database and record what happened on the pair.

:func:`avalidate_pairs` executes the SQL of each usable pair through an executor's
:meth:`~text2sql_tune.interfaces.SQLExecutor.atry_execute` (safety guard first, limits enforced,
never raises for SQL problems) and returns copies of the pairs with
:class:`~text2sql_tune.models.ValidationInfo` filled: ok / error / too_many_rows / empty / unsafe /
timeout, the row count, the result columns and a few preview rows. Cleaning
(:mod:`text2sql_tune.filters`) decides from that record which pairs to keep.

The same query written twice (different whitespace, comments or keyword case; see
:func:`~text2sql_tune.normalize.normalize_sql`) runs once and both pairs get its result.

Example:
    >>> from text2sql_tune import QAPair, open_executor, validate_pairs
    >>> pair = QAPair(question="How many users?", sql="SELECT count() FROM ecommerce.users")
    >>> with open_executor("chdb:///tmp/demo") as executor:  # doctest: +SKIP
    ...     pairs = validate_pairs([pair], executor)
    >>> pairs[0].validation.status  # doctest: +SKIP
    <OutcomeStatus.OK: 'ok'>
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ._sync import run_sync
from .interfaces import SQLExecutor
from .models import ExecutionOutcome, QAPair, ValidationInfo
from .normalize import normalize_sql

__all__ = ["avalidate_pairs", "validate_pairs", "validation_info"]


def validation_info(outcome: ExecutionOutcome, *, preview_rows: int = 5) -> ValidationInfo:
    """Turn an execution outcome into the validation record stored on a pair.

    Args:
        outcome: What :meth:`~text2sql_tune.interfaces.SQLExecutor.atry_execute` returned.
        preview_rows: How many result rows to keep as a preview.

    Returns:
        The validation record.
    """
    result = outcome.result
    return ValidationInfo(
        status=outcome.status,
        row_count=outcome.row_count,
        columns=list(result.columns) if result is not None else [],
        preview=[list(row) for row in result.rows[:preview_rows]] if result is not None else [],
        error=outcome.error,
        error_code=outcome.error_code,
        error_name=outcome.error_name,
        elapsed_s=outcome.elapsed_s,
    )


async def avalidate_pairs(
    pairs: Sequence[QAPair],
    executor: SQLExecutor,
    *,
    min_rows: int = 1,
    max_rows: int | None = 100,
    preview_rows: int = 5,
    concurrency: int | None = None,
    on_done: Callable[[int, QAPair], None] | None = None,
) -> list[QAPair]:
    """Run each usable pair's SQL and return copies of the pairs with ``validation`` filled.

    Args:
        pairs: The pairs, usable or rejected by their generator.
        executor: Where the SQL runs (its guard and limits apply).
        min_rows: Fewer result rows than this is ``empty``.
        max_rows: More result rows than this is ``too_many_rows`` (``None``: the executor's row
            cap). The article kept results with 1 to 100 data rows.
        preview_rows: Result rows kept on each pair as a preview.
        concurrency: Queries in flight at once; default (and upper bound) the executor's own
            ``concurrency``.
        on_done: Called with ``(index, pair)`` as each pair is finished, the pair carrying its
            validation; rejected pairs are reported at once. Called from the event loop running
            the validation, once per input pair.

    Returns:
        One pair per input pair, in input order: a validated copy for each usable pair, and each
        rejected pair unchanged (its SQL is not run). Pairs whose SQL is the same after
        :func:`~text2sql_tune.normalize.normalize_sql` share one execution.

    Raises:
        ValueError: ``concurrency`` or ``preview_rows`` is out of range.
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if preview_rows < 0:
        raise ValueError("preview_rows must be >= 0")
    results: list[QAPair] = list(pairs)
    groups: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        if pair.ok:
            groups.setdefault(normalize_sql(pair.sql), []).append(index)
        elif on_done is not None:
            on_done(index, pair)
    queue = list(groups.values())
    queue.reverse()  # pop() from the end runs queries in input order

    async def worker() -> None:
        while queue:
            indices = queue.pop()
            outcome = await executor.atry_execute(
                pairs[indices[0]].sql, min_rows=min_rows, max_rows=max_rows
            )
            info = validation_info(outcome, preview_rows=preview_rows)
            for position, index in enumerate(indices):
                own = info if position == 0 else info.model_copy(deep=True)
                results[index] = pairs[index].model_copy(update={"validation": own})
                if on_done is not None:
                    on_done(index, results[index])

    workers = min(concurrency or executor.concurrency, executor.concurrency, len(queue))
    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return results


def validate_pairs(
    pairs: Sequence[QAPair],
    executor: SQLExecutor,
    *,
    min_rows: int = 1,
    max_rows: int | None = 100,
    preview_rows: int = 5,
    concurrency: int | None = None,
    on_done: Callable[[int, QAPair], None] | None = None,
) -> list[QAPair]:
    """Sync twin of :func:`avalidate_pairs`."""
    return run_sync(
        avalidate_pairs(
            pairs,
            executor,
            min_rows=min_rows,
            max_rows=max_rows,
            preview_rows=preview_rows,
            concurrency=concurrency,
            on_done=on_done,
        )
    )
