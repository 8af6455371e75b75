"""Validation: run every pair's SQL on the database and record what happened on the pair.

:func:`avalidate_pairs` executes the SQL of each usable pair through an executor's
:meth:`~text2sql_tune.interfaces.SQLExecutor.atry_execute` (safety guard first, limits enforced,
never raises for SQL problems) and returns copies of the pairs with
:class:`~text2sql_tune.records.ValidationInfo` filled: ok / error / too_many_rows / empty / unsafe /
timeout, the row count, the result columns and a few preview rows. Cleaning
(:mod:`text2sql_tune.filters`) decides from that record which pairs to keep.

The same query written twice (different whitespace, comments or keyword case; see
:func:`~text2sql_tune.sql.normalize.normalize_sql`) runs once and both pairs get its result.

With ``checkpoint=PATH`` every outcome is appended to a JSONL file the moment its query finishes,
and a re-run (after Ctrl-C, a crash or ``kill -9``) runs only the queries not in it. The file is
crash-recovery state, owned by one process at a time; delete it once the validated pairs are
saved (the CLI and the pipeline do).

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
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._sync import run_sync
from ..errors import DataError
from ..interfaces import SQLExecutor
from ..io.checkpoints import CheckpointWriter
from ..io.files import atomic_write_text
from ..io.records import iter_records
from ..records import ExecutionOutcome, QAPair, ValidationInfo
from ..sql.normalize import normalize_sql

__all__ = [
    "ValidationCheckpoint",
    "avalidate_pairs",
    "validate_pairs",
    "validation_info",
]

logger = logging.getLogger("text2sql_tune")

_HEADER = "validation checkpoint"


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


class ValidationCheckpoint:
    """Outcomes of validated queries, appended to a JSONL file as each query finishes.

    The first line records the settings (row bounds, preview size, database); a file made with
    other settings is started over, with a warning. Each further line is
    ``{"sql": <normalised SQL>, "validation": {...}}``.

    Args:
        path: The checkpoint file.
        settings: What the outcomes depend on.

    Raises:
        DataError: On open, when ``path`` exists and is not a validation checkpoint.
        ResourceBusyError: On open, when another process holds it.
    """

    def __init__(self, path: str | Path, settings: dict[str, Any]) -> None:
        self.path = Path(path)
        self.settings = settings
        self.known: dict[str, ValidationInfo] = {}
        self._file = CheckpointWriter(self.path, _HEADER)

    def __enter__(self) -> ValidationCheckpoint:
        self._file.open(self._start)
        return self

    def _start(self) -> list[dict[str, Any]]:
        """Read the file, or start it over: then its first line is the settings."""
        if self._load():
            return []
        atomic_write_text(self.path, "")
        return [{"checkpoint": _HEADER, "settings": self.settings}]

    def _load(self) -> bool:
        """Read the file; False when it must be started over (missing, empty, other settings)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        records = iter_records(self.path)
        header = next(records, None)
        if not isinstance(header, dict) or header.get("checkpoint") != _HEADER:
            raise DataError(f"{self.path} exists and is not a validation checkpoint")
        if header.get("settings") != self.settings:
            logger.warning("%s was made with other settings; starting it over", self.path)
            return False
        for record in records:
            try:
                self.known[str(record["sql"])] = ValidationInfo.model_validate(record["validation"])
            except (KeyError, TypeError, ValidationError):
                logger.warning("%s: skipping an unreadable line", self.path)
        return True

    def add(self, sql_key: str, info: ValidationInfo) -> None:
        """Save one outcome (flushed at once)."""
        self.known[sql_key] = info
        if self._file.is_open:
            self._file.append({"sql": sql_key, "validation": info.model_dump(mode="json")})

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()


async def avalidate_pairs(
    pairs: Sequence[QAPair],
    executor: SQLExecutor,
    *,
    min_rows: int = 1,
    max_rows: int | None = 100,
    preview_rows: int = 5,
    concurrency: int | None = None,
    on_done: Callable[[int, QAPair], None] | None = None,
    checkpoint: str | Path | None = None,
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
        checkpoint: A JSONL file each outcome is appended to as it finishes; outcomes already
            in it (made with the same bounds on the same database) are reused without running
            the query again. See :class:`ValidationCheckpoint`.

    Returns:
        One pair per input pair, in input order: a validated copy for each usable pair, and each
        rejected pair unchanged (its SQL is not run). Pairs whose SQL is the same after
        :func:`~text2sql_tune.sql.normalize.normalize_sql` share one execution.

    Raises:
        ValueError: ``concurrency`` or ``preview_rows`` is out of range.
        DataError: ``checkpoint`` exists and is not a validation checkpoint.
        ResourceBusyError: Another process holds ``checkpoint``.
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if preview_rows < 0:
        raise ValueError("preview_rows must be >= 0")
    if checkpoint is None:
        return await _avalidate(
            pairs, executor, min_rows, max_rows, preview_rows, concurrency, on_done, None
        )
    settings = {
        "min_rows": min_rows,
        "max_rows": max_rows,
        "preview_rows": preview_rows,
        "database": executor.name,
    }
    with ValidationCheckpoint(checkpoint, settings) as saved:
        return await _avalidate(
            pairs, executor, min_rows, max_rows, preview_rows, concurrency, on_done, saved
        )


async def _avalidate(
    pairs: Sequence[QAPair],
    executor: SQLExecutor,
    min_rows: int,
    max_rows: int | None,
    preview_rows: int,
    concurrency: int | None,
    on_done: Callable[[int, QAPair], None] | None,
    saved: ValidationCheckpoint | None,
) -> list[QAPair]:
    results: list[QAPair] = list(pairs)
    groups: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        if pair.ok:
            groups.setdefault(normalize_sql(pair.sql), []).append(index)
        elif on_done is not None:
            on_done(index, pair)

    def fill(indices: list[int], info: ValidationInfo) -> None:
        for position, index in enumerate(indices):
            own = info if position == 0 else info.model_copy(deep=True)
            results[index] = pairs[index].model_copy(update={"validation": own})
            if on_done is not None:
                on_done(index, results[index])

    queue: list[tuple[str, list[int]]] = []
    for key, indices in groups.items():
        known = saved.known.get(key) if saved is not None else None
        if known is not None:
            fill(indices, known.model_copy(deep=True))
        else:
            queue.append((key, indices))
    queue.reverse()  # pop() from the end runs queries in input order

    async def worker() -> None:
        while queue:
            key, indices = queue.pop()
            outcome = await executor.atry_execute(
                pairs[indices[0]].sql, min_rows=min_rows, max_rows=max_rows
            )
            info = validation_info(outcome, preview_rows=preview_rows)
            if saved is not None:
                saved.add(key, info.model_copy(deep=True))
            fill(indices, info)

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
    checkpoint: str | Path | None = None,
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
            checkpoint=checkpoint,
        )
    )
