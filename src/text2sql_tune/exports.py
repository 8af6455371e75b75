"""Training files for every tuner: Lamini, OpenAI chat fine-tuning, Hugging Face messages, JSONL.

Each formatter turns clean pairs into plain dicts, one per training example; generator-rejected
pairs are skipped. :func:`export_pairs` writes them (with an optional seeded train/validation
split) and returns where they went; :func:`export_file` does the same from a pairs file, reading
it one line at a time, so memory stays flat however large the file is (two passes when there is a
split: one to count, one to write). Files are written atomically: an error leaves the previous
files as they were.

=========  ====================================================================================
format     one line
=========  ====================================================================================
lamini     ``{"input": <Llama 3.1 chat prompt>, "output": <sql>}``
openai     ``{"messages": [system, user, assistant]}`` (OpenAI chat fine-tuning)
hf         ``{"messages": [...], "question": ..., "sql": ...}`` (Hugging Face TRL / datasets)
jsonl      ``{"question": ..., "sql": ...}`` plus the pair's source
=========  ====================================================================================
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field

from ._defaults import MAX_SQL_LENGTH, ExportFormat
from .errors import ConfigurationError
from .io.files import atomic_open
from .io.paths import refuse_overwriting
from .io.records import _dump, iter_pairs, iter_records
from .prompts import chat_messages, llama3_prompt
from .records import QAPair

__all__ = [
    "ExportFormat",
    "ExportResult",
    "export_file",
    "export_pairs",
    "export_records",
    "hf_messages_records",
    "lamini_records",
    "openai_chat_records",
    "plain_records",
    "split_train_validation",
    "validation_path_for",
]

logger = logging.getLogger("text2sql_tune")


def _lamini(pair: QAPair, system_prompt: str) -> dict[str, str]:
    return {"input": llama3_prompt(pair.question, system_prompt), "output": pair.sql}


def _openai(pair: QAPair, system_prompt: str) -> dict[str, list[dict[str, str]]]:
    return {"messages": chat_messages(pair.question, system_prompt, pair.sql)}


def _hf(pair: QAPair, system_prompt: str) -> dict[str, Any]:
    return {
        "messages": chat_messages(pair.question, system_prompt, pair.sql),
        "question": pair.question,
        "sql": pair.sql,
    }


def _plain(pair: QAPair, system_prompt: str) -> dict[str, Any]:
    del system_prompt
    record: dict[str, Any] = {"question": pair.question, "sql": pair.sql}
    if pair.source:
        record["source"] = pair.source
    return record


_Format = Callable[[QAPair, str], Mapping[str, Any]]

_RECORD: dict[ExportFormat, _Format] = {
    ExportFormat.LAMINI: _lamini,
    ExportFormat.OPENAI: _openai,
    ExportFormat.HF: _hf,
    ExportFormat.JSONL: _plain,
}


def lamini_records(pairs: Iterable[QAPair], system_prompt: str = "") -> Iterator[dict[str, str]]:
    """Lamini records: the Llama 3.1 chat prompt as ``input``, the SQL as ``output``.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt (schema + instructions); omitted when empty.

    Yields:
        ``{"input": ..., "output": ...}`` per pair.
    """
    return (_lamini(pair, system_prompt) for pair in pairs if pair.ok)


def openai_chat_records(
    pairs: Iterable[QAPair], system_prompt: str = ""
) -> Iterator[dict[str, list[dict[str, str]]]]:
    """OpenAI chat fine-tuning records: system, user and assistant messages.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt; the system message is omitted when empty.

    Yields:
        ``{"messages": [...]}`` per pair.
    """
    return (_openai(pair, system_prompt) for pair in pairs if pair.ok)


def hf_messages_records(
    pairs: Iterable[QAPair], system_prompt: str = ""
) -> Iterator[dict[str, Any]]:
    """Hugging Face conversational records (``messages``) that also keep the raw question and SQL.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt; the system message is omitted when empty.

    Yields:
        ``{"messages": [...], "question": ..., "sql": ...}`` per pair.
    """
    return (_hf(pair, system_prompt) for pair in pairs if pair.ok)


def plain_records(pairs: Iterable[QAPair], system_prompt: str = "") -> Iterator[dict[str, Any]]:
    """Plain ``{"question", "sql"}`` records (plus ``source`` when known).

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: Unused; accepted so every formatter has the same signature.

    Yields:
        One dict per pair.
    """
    return (_plain(pair, system_prompt) for pair in pairs if pair.ok)


def _as_format(fmt: ExportFormat | str) -> ExportFormat:
    try:
        return ExportFormat(fmt)
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise ConfigurationError(f"unknown export format {fmt!r}; choose one of {known}") from None


def export_records(
    pairs: Iterable[QAPair], fmt: ExportFormat | str, system_prompt: str = ""
) -> list[dict[str, Any]]:
    """Format pairs in one of the :class:`ExportFormat` formats.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        fmt: The format (``"lamini"``, ``"openai"``, ``"hf"`` or ``"jsonl"``).
        system_prompt: The answering system prompt.

    Raises:
        ConfigurationError: For an unknown format.
    """
    make = _RECORD[_as_format(fmt)]
    return [dict(make(pair, system_prompt)) for pair in pairs if pair.ok]


def _check_fraction(validation_fraction: float) -> None:
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigurationError(
            f"validation_fraction must be in [0, 1), got {validation_fraction}"
        )


def _validation_size(n: int, validation_fraction: float) -> int:
    if n < 2:
        return 0  # one pair cannot be split: it trains
    size = round(n * validation_fraction)
    return min(max(size, 1), n - 1) if validation_fraction > 0 else 0


def _held_out(n: int, validation_fraction: float, seed: int) -> Iterator[bool]:
    """For each of ``n`` items in order, whether it goes to validation.

    Selection sampling (Knuth's algorithm S): exactly ``_validation_size`` items are picked, each
    subset equally likely, reproducibly for ``seed``, without holding more than a counter, so a
    file can be split while it streams.
    """
    rng = random.Random(seed)
    wanted = _validation_size(n, validation_fraction)
    for index in range(n):
        pick = rng.random() * (n - index) < wanted
        wanted -= pick
        yield pick


def split_train_validation(
    pairs: Sequence[QAPair], validation_fraction: float, *, seed: int = 0
) -> tuple[list[QAPair], list[QAPair]]:
    """Split pairs into train and validation sets, reproducibly for a given seed.

    The validation set gets ``round(len(pairs) * validation_fraction)`` pairs, at least one when
    the fraction is positive and there are two or more pairs, and never all of them (a single pair
    is never held out). Both sets keep
    the input order. :func:`export_pairs` and :func:`export_file` pick the same pairs.

    Args:
        pairs: The pairs to split.
        validation_fraction: Share held out for validation, in ``[0, 1)``.
        seed: Seed of the random choice of the validation pairs.

    Raises:
        ConfigurationError: When the fraction is outside ``[0, 1)``.
    """
    _check_fraction(validation_fraction)
    train: list[QAPair] = []
    validation: list[QAPair] = []
    for pair, held in zip(pairs, _held_out(len(pairs), validation_fraction, seed), strict=True):
        (validation if held else train).append(pair)
    return train, validation


class ExportResult(BaseModel):
    """Where :func:`export_pairs` wrote the training files.

    Attributes:
        format: The format written.
        train_path: The training file.
        train_count: Records in the training file.
        validation_path: The validation file, when a split was asked for.
        validation_count: Records in the validation file.
        skipped: Pairs not exported, per reason: ``rejected_by_generator`` and ``sql_too_long``
            (SQL over ``max_sql_length`` characters).
    """

    format: ExportFormat
    train_path: Path
    train_count: int
    validation_path: Path | None = None
    validation_count: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)


def validation_path_for(path: Path) -> Path:
    """The validation file of training file ``path``: ``x.jsonl`` → ``x.validation.jsonl``."""
    return path.with_name(f"{path.stem}.validation{path.suffix or '.jsonl'}")


def _skip_reason(pair: QAPair, max_sql_length: int | None) -> str | None:
    if not pair.ok:
        return "rejected_by_generator"
    if max_sql_length is not None and len(pair.sql) > max_sql_length:
        return "sql_too_long"
    return None


def _count_exportable(input_path: str | Path, max_sql_length: int | None) -> int:
    """The pairs of a file that :func:`_skip_reason` keeps, from the raw objects.

    Skipping pydantic here makes the counting pass about twice as fast. It agrees with the
    writing pass on every file that pass accepts: ``rejected`` is ``None`` exactly when the
    validated pair's is, and ``sql`` (else ``sql_query``) is the validated pair's SQL. A record
    the writing pass refuses stops the export anyway, before anything is replaced.
    """
    total = 0
    for raw in iter_records(input_path):
        if raw.get("rejected") is not None:
            continue
        sql = raw.get("sql", raw.get("sql_query", ""))
        if max_sql_length is None or not isinstance(sql, str) or len(sql) <= max_sql_length:
            total += 1
    return total


def _export(
    pairs: Iterable[QAPair],
    count: Callable[[], int],
    path: str | Path,
    fmt: ExportFormat | str,
    *,
    system_prompt: str,
    validation_fraction: float,
    seed: int,
    max_sql_length: int | None,
) -> ExportResult:
    export_format = _as_format(fmt)
    _check_fraction(validation_fraction)
    make = _RECORD[export_format]
    train_path = Path(path)
    held_out_path = validation_path_for(train_path)
    if validation_fraction > 0:
        total = count()
        picks: Iterator[bool] = _held_out(total, validation_fraction, seed)
    else:
        total, picks = 0, iter(())
    splitting = _validation_size(total, validation_fraction) > 0
    result = ExportResult(format=export_format, train_path=train_path, train_count=0)
    skipped: dict[str, int] = {}
    with contextlib.ExitStack() as files:
        train = files.enter_context(atomic_open(train_path))
        held: IO[str] | None = None
        if splitting:
            held = files.enter_context(atomic_open(held_out_path))
            result.validation_path = held_out_path
        for pair in pairs:
            reason = _skip_reason(pair, max_sql_length)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            line = _dump(make(pair, system_prompt)) + "\n"
            if held is not None and next(picks, False):
                held.write(line)
                result.validation_count += 1
            else:
                train.write(line)
                result.train_count += 1
    if not splitting:
        held_out_path.unlink(missing_ok=True)  # a stale split from an earlier export misleads
    result.skipped = skipped
    if skipped.get("sql_too_long"):
        logger.warning(
            "%d pair(s) not exported: their SQL is longer than %d characters (max_sql_length)",
            skipped["sql_too_long"],
            max_sql_length,
        )
    return result


def export_pairs(
    pairs: Iterable[QAPair],
    path: str | Path,
    fmt: ExportFormat | str,
    *,
    system_prompt: str = "",
    validation_fraction: float = 0.0,
    seed: int = 0,
    max_sql_length: int | None = MAX_SQL_LENGTH,
) -> ExportResult:
    """Write pairs as a training file (and a validation file when ``validation_fraction > 0``).

    Records are formatted and written one at a time, atomically: when anything fails, the files
    that were there before are left as they were.

    Args:
        pairs: Clean pairs (rejected ones are skipped). A one-shot iterator is read into a list
            only when a split needs the count first; :func:`export_file` streams a file instead.
        path: The training file to write (parent folders are created).
        fmt: The format (``"lamini"``, ``"openai"``, ``"hf"`` or ``"jsonl"``).
        system_prompt: The answering system prompt, e.g.
            :func:`~text2sql_tune.prompts.answering_system_prompt` of your schema.
        validation_fraction: Share held out as ``<name>.validation.jsonl``.
        seed: Seed of the split.
        max_sql_length: Pairs whose SQL is longer (in characters) are not exported (counted in
            ``skipped["sql_too_long"]``, with a warning); ``None``: no limit.

    Returns:
        The paths and record counts written.

    Raises:
        ConfigurationError: For an unknown format or a bad fraction.
    """
    if validation_fraction > 0 and not isinstance(pairs, Sequence):
        pairs = list(pairs)
    source = pairs
    return _export(
        source,
        lambda: sum(_skip_reason(p, max_sql_length) is None for p in source),
        path,
        fmt,
        system_prompt=system_prompt,
        validation_fraction=validation_fraction,
        seed=seed,
        max_sql_length=max_sql_length,
    )


def export_file(
    input_path: str | Path,
    path: str | Path,
    fmt: ExportFormat | str,
    *,
    system_prompt: str = "",
    validation_fraction: float = 0.0,
    seed: int = 0,
    max_sql_length: int | None = MAX_SQL_LENGTH,
) -> ExportResult:
    """Like :func:`export_pairs`, reading the pairs from a file one line at a time.

    Memory stays flat in the size of the file. With a split the file is read twice (once to
    count the pairs, once to write them). When a record is bad, nothing is replaced.

    Args:
        input_path: The pairs (JSONL, JSON, TSV or CSV; see :func:`~text2sql_tune.read_pairs`).
        path: The training file to write.
        fmt: The format.
        system_prompt: The answering system prompt.
        validation_fraction: Share held out as ``<name>.validation.jsonl``.
        seed: Seed of the split.
        max_sql_length: Longest SQL exported; ``None``: no limit.

    Raises:
        ConfigurationError: An unknown format, a bad fraction, or an output that is the input
            file itself (it would be destroyed).
        DataError: The input cannot be read or holds no pairs (see
            :func:`~text2sql_tune.read_pairs`).
    """
    train_path = Path(path)
    refuse_overwriting(
        {"output": train_path, "validation output": validation_path_for(train_path)},
        {"input": Path(input_path)},
    )
    return _export(
        iter_pairs(input_path),
        lambda: _count_exportable(input_path, max_sql_length),
        train_path,
        fmt,
        system_prompt=system_prompt,
        validation_fraction=validation_fraction,
        seed=seed,
        max_sql_length=max_sql_length,
    )
