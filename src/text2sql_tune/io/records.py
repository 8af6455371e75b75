"""Read and write record files: JSONL (one object per line), JSON arrays, TSV and CSV.

Pairs accept the article's ``sql_query`` key for ``sql``; keys a pair does not know (an ``id``
column, say) are kept in its ``metadata``. Files are read one line at a time, in UTF-8 (a BOM is
fine) or UTF-16 / UTF-32 with a BOM; every fault (an undecodable byte, a line that is not JSON, a
record with a wrong field, an empty file) is one :class:`~text2sql_tune.errors.DataError` naming
the file, the line and the field. See ``docs/formats.md`` ("Reading record files").

Appends are line-at-a-time and flushed, so a crash loses at most the line being written; a torn
last line is skipped (with a warning) on read.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import DataError
from ..records import EvalCase, QAPair
from .decode import NotJSONError, SurrogateLog, iter_lines, parse_json, read_text
from .decode import replace_lone_surrogates as _replace_lone_surrogates
from .files import atomic_open
from .validation_errors import describe_validation_error

__all__ = [
    "JsonlAppender",
    "iter_located_records",
    "iter_models",
    "iter_pairs",
    "iter_records",
    "read_cases",
    "read_pairs",
    "read_records",
    "write_jsonl",
]

logger = logging.getLogger("text2sql_tune")

M = TypeVar("M", bound=BaseModel)

_LABELS = {"QAPair": "question/SQL pair", "EvalCase": "golden case", "Prediction": "prediction"}


class _RecordReader:
    """One pass over a record file: yields ``(where, object)`` and remembers why it was empty.

    ``where`` is ``file:line`` (``file: item N`` in a JSON array), for messages.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.empty_reason = "the file is empty"
        self._surrogates = SurrogateLog(path)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a folder, not a record file")
        suffix = self.path.suffix.lower()
        if suffix in (".tsv", ".csv"):
            records = self._table("\t" if suffix == ".tsv" else ",")
        elif suffix == ".json":
            records = self._json_array()
        else:
            records = self._jsonl()
        for item in records:
            self.count += 1
            yield item
        self._surrogates.warn()

    def _object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            found = "null" if value is None else type(value).__name__
            raise DataError(f"{where}: expected a JSON object ({{...}}), found {found}")
        return value

    def _jsonl(self) -> Iterator[tuple[str, dict[str, Any]]]:
        blank = 0
        for number, line in iter_lines(self.path):
            if not line.strip():
                blank += 1
                continue
            where = f"{self.path}:{number}"
            try:
                value = parse_json(line, where, self._surrogates)
            except NotJSONError:
                if line.endswith("\n"):
                    raise
                # Only the last line can lack its newline: an interrupted append.
                logger.warning(
                    "%s:%d: skipping an incomplete last line (interrupted write)", self.path, number
                )
                self.empty_reason = "its only line is cut off (an interrupted write?)"
                return
            yield where, self._object(value, where)
        if blank:
            self.empty_reason = "the file holds only blank lines"

    def _json_array(self) -> Iterator[tuple[str, dict[str, Any]]]:
        text = read_text(self.path)
        if not text.strip():
            return
        data = parse_json(text, str(self.path), self._surrogates)
        items = data if isinstance(data, list) else [data]
        self.empty_reason = "it is an empty JSON array"
        for number, item in enumerate(items, start=1):
            where = f"{self.path}: item {number}"
            yield where, self._object(item, where)

    def _table(self, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
        lines = (text for _, text in iter_lines(self.path))
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = [name.strip() for name in next(reader, [])]
            if not header:
                return
            self.empty_reason = "it has a header row but no records"
            if "" in header or len(set(header)) != len(header):
                raise DataError(
                    f"{self.path}:1: every column needs a distinct name in the header row "
                    f"(found {header})"
                )
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                where = f"{self.path}:{reader.line_num}"
                if len(row) > len(header):
                    raise DataError(
                        f"{where}: {len(row)} cells but the header has {len(header)} columns "
                        f"(an unquoted {'tab' if delimiter == chr(9) else 'comma'} in a value?)"
                    )
                # An empty cell is a missing value, so optional fields keep their defaults.
                cells = zip(header, row, strict=False)  # a short row misses its last values
                yield where, {name: cell for name, cell in cells if cell != ""}
        except csv.Error as exc:
            raise DataError(f"{self.path}:{reader.line_num}: not valid CSV/TSV: {exc}") from None


def iter_located_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Like :func:`iter_records`, with where each object is: ``file:line`` (``file: item N``).

    Raises:
        DataError: As :func:`iter_records`.
    """
    return iter(_RecordReader(Path(path)))


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield raw objects from a JSONL, JSON (array), TSV or CSV file, one at a time.

    An empty file yields nothing (the ``read_*`` functions refuse it). Lone surrogates in strings
    are replaced by U+FFFD, with one warning naming the lines.

    Args:
        path: The file. ``.json`` is an array (or one object), ``.tsv`` / ``.csv`` need a header
            row (empty cells are missing values), anything else is JSONL.

    Raises:
        DataError: A missing file, bytes that are not UTF-8 (or UTF-16/32 with a byte-order
            mark), a line that is not a JSON object (except a torn last line, skipped with a
            warning), nesting deeper than 100 levels or a number with thousands of digits;
            each naming the file and line.
    """
    for _, raw in iter_located_records(path):
        yield raw


def _validated(model: type[M], raw: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        label = _LABELS.get(model.__name__, model.__name__)
        message = describe_validation_error(exc)
        if any(not error["loc"] for error in exc.errors()):
            message += f" (its keys: {', '.join(map(str, raw)) or 'none'})"
        raise DataError(f"{where}: not a valid {label}: {message}") from None


def iter_models(
    path: str | Path,
    model: type[M],
    *,
    allow_empty: bool = False,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[M]:
    """Yield each record of ``path`` validated as ``model``, one at a time (flat memory).

    Args:
        path: The record file (JSONL, JSON, TSV or CSV).
        model: The pydantic model of one record.
        allow_empty: Accept a file with no records (else it is an error, once the file is read).
        prepare: Applied to each raw object before validation (renaming or dropping keys).

    Raises:
        DataError: As :func:`iter_records`, or a record that is not a valid ``model``, in one
            line naming the file, the line, the field and what was expected.
    """
    reader = _RecordReader(Path(path))
    for where, raw in reader:
        yield _validated(model, raw if prepare is None else prepare(raw), where)
    if not reader.count and not allow_empty:
        label = _LABELS.get(model.__name__, model.__name__)
        raise DataError(f"{path}: no {label}s in it: {reader.empty_reason}")


def read_records(path: str | Path, model: type[M], *, allow_empty: bool = False) -> list[M]:
    """Read a file of records and validate each as ``model``.

    Args:
        path: The record file (JSONL, JSON, TSV or CSV).
        model: The pydantic model of one record.
        allow_empty: Return ``[]`` for a file with no records instead of refusing it.

    Raises:
        DataError: Naming the file, line and field of the first invalid record, or saying why
            the file holds no records.
    """
    return list(iter_models(path, model, allow_empty=allow_empty))


def iter_pairs(path: str | Path, *, allow_empty: bool = False) -> Iterator[QAPair]:
    """Yield the question/SQL pairs of a file one at a time (see :func:`read_pairs`)."""
    return iter_models(path, QAPair, allow_empty=allow_empty)


def read_pairs(path: str | Path, *, allow_empty: bool = False) -> list[QAPair]:
    """Read question/SQL pairs (JSONL, JSON, TSV or CSV; ``sql_query`` accepted for ``sql``).

    Keys a pair does not know are kept in its ``metadata``.

    Args:
        path: The file.
        allow_empty: Return ``[]`` for a file with no pairs instead of refusing it.

    Raises:
        DataError: See :func:`read_records`.
    """
    return read_records(path, QAPair, allow_empty=allow_empty)


def read_cases(path: str | Path) -> list[EvalCase]:
    """Read a golden set of evaluation cases (same formats as :func:`read_pairs`).

    Raises:
        DataError: See :func:`read_records`; an empty golden set is always refused.
    """
    return read_records(path, EvalCase)


def _dump(record: BaseModel | Mapping[str, Any]) -> str:
    if isinstance(record, BaseModel):
        text = json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    else:
        text = json.dumps(record, ensure_ascii=False)
    if not text.isascii():
        fixed = _replace_lone_surrogates(text)  # they cannot be written as UTF-8
        if fixed != text:
            logger.warning("replaced lone surrogates by U+FFFD in a record: %.80s", fixed)
            text = fixed
    return text


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records to ``path`` as JSONL, atomically (a temporary file renamed into place).

    ``records`` is consumed lazily, so a generator keeps memory flat. If it raises, ``path`` is
    left as it was.

    Returns:
        The number of records written.
    """
    count = 0
    with atomic_open(path) as handle:
        for record in records:
            handle.write(_dump(record) + "\n")
            count += 1
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
