"""Read and write record files: JSONL (one object per line), JSON arrays, TSV and CSV.

Pairs accept the article's ``sql_query`` key for ``sql``. Appends are line-at-a-time and flushed, so
a crash loses at most the line being written; a torn last line is skipped (with a warning) on read.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import DataError
from .models import EvalCase, QAPair

__all__ = [
    "JsonlAppender",
    "iter_records",
    "read_cases",
    "read_pairs",
    "read_records",
    "write_jsonl",
]

logger = logging.getLogger("text2sql_tune")

M = TypeVar("M", bound=BaseModel)


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield raw objects from a JSONL, JSON (array), TSV or CSV file.

    Args:
        path: The file. ``.json`` is an array (or one object), ``.tsv`` / ``.csv`` need a header
            row, anything else is JSONL.

    Raises:
        DataError: Missing file, or a line or file that is not valid JSON (except a torn last line).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            yield from (dict(row) for row in reader)
        return
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict):
                raise DataError(f"{path}: expected objects, found {type(item).__name__}")
            yield item
        return
    yield from _iter_jsonl(path)


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            is_torn_tail = number == len(lines) and not line.endswith("\n")
            if is_torn_tail:
                logger.warning("%s: skipping an incomplete last line (interrupted write)", path)
                return
            raise DataError(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(item, dict):
            raise DataError(f"{path}:{number}: expected a JSON object")
        yield item


def read_records(path: str | Path, model: type[M]) -> list[M]:
    """Read a file of records and validate each as ``model``.

    Raises:
        DataError: Naming the file and record number of the first invalid record.
    """
    records = []
    for number, raw in enumerate(iter_records(path), start=1):
        try:
            records.append(model.model_validate(raw))
        except ValidationError as exc:
            raise DataError(
                f"{path}: record {number} is not a valid {model.__name__}: {exc}"
            ) from exc
    return records


def read_pairs(path: str | Path) -> list[QAPair]:
    """Read question/SQL pairs (JSONL, JSON, TSV or CSV; ``sql_query`` accepted for ``sql``)."""
    return read_records(path, QAPair)


def read_cases(path: str | Path) -> list[EvalCase]:
    """Read a golden set of evaluation cases (same formats as :func:`read_pairs`)."""
    cases = read_records(path, EvalCase)
    if not cases:
        raise DataError(f"{path}: the golden set is empty")
    return cases


def _dump(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    data = record
    return json.dumps(data, ensure_ascii=False)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records to ``path`` as JSONL, atomically (a temporary file renamed into place).

    Returns:
        The number of records written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(_dump(record) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def _drop_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        logger.warning("%s: cutting off an incomplete last line (interrupted write)", path)
        handle.truncate(keep)


class JsonlAppender:
    """Appends records to a JSONL checkpoint, one flushed line per record.

    Use as a context manager. If the file ends with a torn line (an interrupted earlier write), that
    partial line is cut off first, so the file stays valid JSONL.

    Args:
        path: The checkpoint file (created with its folder when missing).
        fsync: Also ask the OS to write each line to disk (slower, survives power loss).
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._handle: IO[str] | None = None

    def __enter__(self) -> JsonlAppender:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: BaseModel | dict[str, Any]) -> None:
        """Write one record and flush it."""
        if self._handle is None:
            raise RuntimeError("JsonlAppender must be used as a context manager")
        self._handle.write(_dump(record) + "\n")
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
