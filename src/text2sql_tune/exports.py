"""Training files for every tuner: Lamini, OpenAI chat fine-tuning, Hugging Face messages, JSONL.

Each formatter turns clean pairs into plain dicts, one per training example; generator-rejected
pairs are skipped. :func:`export_pairs` writes them (with an optional seeded train/validation
split) and returns where they went.

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

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .datasets import write_jsonl
from .errors import ConfigurationError
from .models import QAPair
from .prompts import chat_messages, llama3_prompt

__all__ = [
    "ExportFormat",
    "ExportResult",
    "export_pairs",
    "export_records",
    "hf_messages_records",
    "lamini_records",
    "openai_chat_records",
    "plain_records",
    "split_train_validation",
    "validation_path_for",
]


class ExportFormat(str, Enum):
    """The training-file formats :func:`export_pairs` writes."""

    LAMINI = "lamini"
    OPENAI = "openai"
    HF = "hf"
    JSONL = "jsonl"


def _usable(pairs: Sequence[QAPair]) -> Iterator[QAPair]:
    return (p for p in pairs if p.ok)


def lamini_records(pairs: Sequence[QAPair], system_prompt: str = "") -> Iterator[dict[str, str]]:
    """Lamini records: the Llama 3.1 chat prompt as ``input``, the SQL as ``output``.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt (schema + instructions); omitted when empty.

    Yields:
        ``{"input": ..., "output": ...}`` per pair.
    """
    for pair in _usable(pairs):
        yield {"input": llama3_prompt(pair.question, system_prompt), "output": pair.sql}


def openai_chat_records(
    pairs: Sequence[QAPair], system_prompt: str = ""
) -> Iterator[dict[str, list[dict[str, str]]]]:
    """OpenAI chat fine-tuning records: system, user and assistant messages.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt; the system message is omitted when empty.

    Yields:
        ``{"messages": [...]}`` per pair.
    """
    for pair in _usable(pairs):
        yield {"messages": chat_messages(pair.question, system_prompt, pair.sql)}


def hf_messages_records(
    pairs: Sequence[QAPair], system_prompt: str = ""
) -> Iterator[dict[str, Any]]:
    """Hugging Face conversational records (``messages``) that also keep the raw question and SQL.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: The answering system prompt; the system message is omitted when empty.

    Yields:
        ``{"messages": [...], "question": ..., "sql": ...}`` per pair.
    """
    for pair in _usable(pairs):
        yield {
            "messages": chat_messages(pair.question, system_prompt, pair.sql),
            "question": pair.question,
            "sql": pair.sql,
        }


def plain_records(pairs: Sequence[QAPair], system_prompt: str = "") -> Iterator[dict[str, Any]]:
    """Plain ``{"question", "sql"}`` records (plus ``source`` when known).

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        system_prompt: Unused; accepted so every formatter has the same signature.

    Yields:
        One dict per pair.
    """
    del system_prompt
    for pair in _usable(pairs):
        record: dict[str, Any] = {"question": pair.question, "sql": pair.sql}
        if pair.source:
            record["source"] = pair.source
        yield record


_Formatter = Callable[[Sequence[QAPair], str], Iterator[Mapping[str, Any]]]

_FORMATTERS: dict[ExportFormat, _Formatter] = {
    ExportFormat.LAMINI: lamini_records,
    ExportFormat.OPENAI: openai_chat_records,
    ExportFormat.HF: hf_messages_records,
    ExportFormat.JSONL: plain_records,
}


def _as_format(fmt: ExportFormat | str) -> ExportFormat:
    try:
        return ExportFormat(fmt)
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise ConfigurationError(f"unknown export format {fmt!r}; choose one of {known}") from None


def export_records(
    pairs: Sequence[QAPair], fmt: ExportFormat | str, system_prompt: str = ""
) -> list[dict[str, Any]]:
    """Format pairs in one of the :class:`ExportFormat` formats.

    Args:
        pairs: Pairs to format (rejected ones are skipped).
        fmt: The format (``"lamini"``, ``"openai"``, ``"hf"`` or ``"jsonl"``).
        system_prompt: The answering system prompt.

    Raises:
        ConfigurationError: For an unknown format.
    """
    return [dict(r) for r in _FORMATTERS[_as_format(fmt)](pairs, system_prompt)]


def split_train_validation(
    pairs: Sequence[QAPair], validation_fraction: float, *, seed: int = 0
) -> tuple[list[QAPair], list[QAPair]]:
    """Split pairs into train and validation sets, reproducibly for a given seed.

    The validation set gets ``round(len(pairs) * validation_fraction)`` pairs, at least one when
    the fraction is positive and there are two or more pairs, and never all of them. Both sets keep
    the input order.

    Args:
        pairs: The pairs to split.
        validation_fraction: Share held out for validation, in ``[0, 1)``.
        seed: Seed of the shuffle that picks the validation pairs.

    Raises:
        ConfigurationError: When the fraction is outside ``[0, 1)``.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigurationError(
            f"validation_fraction must be in [0, 1), got {validation_fraction}"
        )
    n_validation = round(len(pairs) * validation_fraction)
    if validation_fraction > 0 and len(pairs) >= 2:
        n_validation = min(max(n_validation, 1), len(pairs) - 1)
    indices = list(range(len(pairs)))
    random.Random(seed).shuffle(indices)
    held_out = set(indices[:n_validation])
    train = [p for i, p in enumerate(pairs) if i not in held_out]
    validation = [p for i, p in enumerate(pairs) if i in held_out]
    return train, validation


class ExportResult(BaseModel):
    """Where :func:`export_pairs` wrote the training files.

    Attributes:
        format: The format written.
        train_path: The training file.
        train_count: Records in the training file.
        validation_path: The validation file, when a split was asked for.
        validation_count: Records in the validation file.
    """

    format: ExportFormat
    train_path: Path
    train_count: int
    validation_path: Path | None = None
    validation_count: int = 0


def validation_path_for(path: Path) -> Path:
    """The validation file of training file ``path``: ``x.jsonl`` → ``x.validation.jsonl``."""
    return path.with_name(f"{path.stem}.validation{path.suffix or '.jsonl'}")


def export_pairs(
    pairs: Sequence[QAPair],
    path: str | Path,
    fmt: ExportFormat | str,
    *,
    system_prompt: str = "",
    validation_fraction: float = 0.0,
    seed: int = 0,
) -> ExportResult:
    """Write pairs as a training file (and a validation file when ``validation_fraction > 0``).

    Args:
        pairs: Clean pairs (rejected ones are skipped).
        path: The training file to write (parent folders are created).
        fmt: The format (``"lamini"``, ``"openai"``, ``"hf"`` or ``"jsonl"``).
        system_prompt: The answering system prompt, e.g.
            :func:`~text2sql_tune.prompts.answering_system_prompt` of your schema.
        validation_fraction: Share held out as ``<name>.validation.jsonl``.
        seed: Seed of the split.

    Returns:
        The paths and record counts written.

    Raises:
        ConfigurationError: For an unknown format or a bad fraction.
    """
    export_format = _as_format(fmt)
    usable = list(_usable(pairs))
    train, validation = split_train_validation(usable, validation_fraction, seed=seed)
    train_path = Path(path)
    train_path.parent.mkdir(parents=True, exist_ok=True)
    count = write_jsonl(train_path, export_records(train, export_format, system_prompt))
    result = ExportResult(format=export_format, train_path=train_path, train_count=count)
    held_out_path = validation_path_for(train_path)
    if validation:
        result.validation_path = held_out_path
        result.validation_count = write_jsonl(
            held_out_path, export_records(validation, export_format, system_prompt)
        )
    elif held_out_path.exists():
        held_out_path.unlink()  # a stale split from an earlier export would mislead a tuner
    return result
