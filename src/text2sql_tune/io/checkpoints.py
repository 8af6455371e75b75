"""What the append-only checkpoints (generation, validation, model answers) have in common."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..llm._wire import clean_tree
from .files import FileLock
from .records import JsonlAppender

__all__ = ["checkpoint_lock", "safe_append"]

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
