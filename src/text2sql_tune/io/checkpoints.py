"""What the append-only checkpoints (generation, validation, model answers) have in common."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..llm._wire import clean_tree
from .files import FileLock
from .records import JsonlAppender

__all__ = ["CheckpointWriter", "checkpoint_lock", "safe_append"]

logger = logging.getLogger("text2sql_tune")


def checkpoint_lock(path: Path, what: str) -> FileLock:
    """The single-writer lock of a checkpoint file: ``<path>.lock`` next to it, while held."""
    return FileLock(path.with_name(path.name + ".lock"), f"{what} {path}", remove=True)


def safe_append(appender: JsonlAppender, record: BaseModel | dict[str, Any]) -> None:
    """Append ``record``; text UTF-8 cannot hold (lone surrogates) is repaired, never fatal.

    A line that fails to encode is not written at all, so repairing and appending again leaves
    one valid line.
    """
    try:
        appender.append(record)
    except UnicodeEncodeError:
        data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
        repaired = clean_tree(data)
        logger.warning("%s: replaced invalid Unicode in a record before saving it", appender.path)
        if isinstance(record, BaseModel):
            repaired = type(record).model_validate(repaired)
        appender.append(repaired)


class CheckpointWriter:
    """A checkpoint file held for appending: its single-writer lock, then the file itself.

    Args:
        path: The JSONL checkpoint.
        what: What the file is, for the message when another process holds it.
        fsync: Force each line to disk (survives power loss; slower).
    """

    def __init__(self, path: Path, what: str, *, fsync: bool = False) -> None:
        self.path = path
        self.what = what
        self.fsync = fsync
        self._lock: FileLock | None = None
        self._appender: JsonlAppender | None = None

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._appender is not None

    def open(self, prepare: Callable[[], Sequence[dict[str, Any]]]) -> None:
        """Take the lock, call ``prepare``, then open the file and append what it returned.

        ``prepare`` runs under the lock: it reads the file (and may start it over). When
        anything fails the file is closed and the lock released again.

        Raises:
            ResourceBusyError: Another process holds the checkpoint.
        """
        lock = checkpoint_lock(self.path, self.what)
        lock.__enter__()
        self._lock = lock
        try:
            first = prepare()
            self._appender = JsonlAppender(self.path, fsync=self.fsync).__enter__()
            for record in first:
                self._appender.append(record)
        except BaseException:
            self.close()
            raise

    def append(self, record: BaseModel | dict[str, Any]) -> None:
        """Append one record (flushed at once; see :func:`safe_append`)."""
        if self._appender is None:
            raise RuntimeError(f"{self.path}: the checkpoint is not open")
        safe_append(self._appender, record)

    def close(self) -> None:
        """Close the file and release the lock (nothing to do when it is not open)."""
        appender, lock, self._appender, self._lock = self._appender, self._lock, None, None
        if appender is not None:
            appender.__exit__(None, None, None)
        if lock is not None:
            lock.__exit__(None, None, None)
