"""Resumable generation runs: every record is appended to a JSONL checkpoint as it arrives.

Re-running with the same checkpoint counts what is already there (usable and rejected records)
and generates only the remainder, so nothing saved is paid for twice. A crash, ``kill -9`` or
Ctrl-C loses at most the calls in flight; a torn last line is cut off before appending. Calls that
got no answer at all (the provider was unreachable) are never written, so an outage does not
count as done: the run stops (``ProviderOutageError``) and a re-run asks again.

One process at a time writes a checkpoint: a second one gets
:class:`~text2sql_tune.errors.ResourceBusyError` instead of doubling the paid calls. A file that
was not written by a generator (a golden set, validated pairs) is not taken for a checkpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from .._sync import run_sync
from ..errors import ConfigurationError, DataError
from ..interfaces import QAGenerator
from ..io.checkpoints import checkpoint_lock, safe_append
from ..io.files import atomic_write_text
from ..io.records import JsonlAppender, iter_records
from ..records import QAPair, Usage

__all__ = [
    "CheckpointState",
    "GenerationSummary",
    "ResumableGenerator",
    "agenerate_to_file",
    "checkpoint_problem",
    "generate_to_file",
    "read_checkpoint_state",
]

IfExists = Literal["resume", "append", "overwrite"]


@runtime_checkable
class ResumableGenerator(Protocol):
    """A deterministic generator that can skip what an earlier run already produced.

    :func:`agenerate_to_file` calls :meth:`resume_after` with the number of records already in
    the checkpoint before asking for the rest, so a seeded generator continues its sequence
    instead of repeating it. LLM generators need no such hook (their calls are independent).
    """

    def resume_after(self, count: int) -> None:
        """Make the next ``agenerate`` continue after the first ``count`` records."""


class CheckpointState(BaseModel):
    """What a checkpoint file already holds.

    Attributes:
        records: Records in the file (usable + rejected).
        ok: Usable pairs.
        rejected: Rejected records.
        usage: Tokens and cost recorded on those records.
    """

    model_config = ConfigDict(extra="forbid")

    records: int = 0
    ok: int = 0
    rejected: int = 0
    usage: Usage = Usage()


class GenerationSummary(BaseModel):
    """The outcome of a (possibly resumed) generation run.

    Attributes:
        path: The checkpoint file.
        requested: Records the file should hold at the end (``n``).
        resumed_from: Records already in the file when the run started.
        generated: Records added by this run.
        ok: Usable pairs added by this run.
        rejected: Rejected records added by this run.
        total_records: Records in the file now.
        usage: Tokens and cost of this run.
        total_usage: Tokens and cost recorded in the whole file.
        rejections: Count of this run's rejections by reason (first 80 characters).
        elapsed_s: Seconds this run took.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    requested: int
    resumed_from: int
    generated: int
    ok: int
    rejected: int
    total_records: int
    usage: Usage
    total_usage: Usage
    rejections: dict[str, int] = {}
    elapsed_s: float = 0.0

    @property
    def complete(self) -> bool:
        """True when the file holds at least the requested number of records."""
        return self.total_records >= self.requested


def read_checkpoint_state(path: str | Path) -> CheckpointState:
    """Count the records (usable and rejected) and usage already in a checkpoint file.

    A missing file is an empty checkpoint; a torn last line is ignored.
    """
    path = Path(path)
    state = CheckpointState()
    if not path.exists():
        return state
    usage = Usage()
    ok = rejected = 0
    for raw in iter_records(path):
        if raw.get("rejected"):
            rejected += 1
        else:
            ok += 1
        if isinstance(raw.get("usage"), dict):
            with contextlib.suppress(ValueError):
                usage = usage + Usage.model_validate(raw["usage"])
    return CheckpointState(records=ok + rejected, ok=ok, rejected=rejected, usage=usage)


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be continued as a generation checkpoint; ``None`` when it can.

    A missing or empty file can always be used. Otherwise every record must have been written
    by a generator: it names its ``source`` and carries no ``validation`` (validated or cleaned
    files, golden sets and seed files are not checkpoints).

    Args:
        path: The file to check.

    Returns:
        A short reason, or ``None``.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    if path.suffix.lower() in (".json", ".csv", ".tsv"):
        return f"it is a {path.suffix} file; checkpoints are JSONL"
    try:
        for number, raw in enumerate(iter_records(path), start=1):
            if raw.get("validation") is not None:
                return f"record {number} holds a validation result (a validated or cleaned file)"
            if not raw.get("source"):
                return f"record {number} names no 'source' (it was not written by a generator)"
    except (DataError, OSError, UnicodeDecodeError) as exc:
        return f"it cannot be read as JSONL ({exc})"
    return None


def _reason_key(reason: str) -> str:
    return reason[:80]


async def agenerate_to_file(
    generator: QAGenerator,
    n: int,
    path: str | Path,
    *,
    on_record: Callable[[QAPair], Any] | None = None,
    fsync: bool = False,
    if_exists: IfExists = "resume",
) -> GenerationSummary:
    """Generate until ``path`` holds ``n`` records, appending each one as it arrives.

    Args:
        generator: Any :class:`~text2sql_tune.interfaces.QAGenerator`.
        n: Records (usable + rejected) the checkpoint should hold in the end.
        path: The JSONL checkpoint; created when missing, continued when present.
        on_record: Called with each new record after it was saved (progress display).
        fsync: Force each line to disk (survives power loss; slower).
        if_exists: What to do with an existing file: ``"resume"`` continues a checkpoint and
            refuses any other file (see :func:`checkpoint_problem`), ``"append"`` counts and
            appends to whatever records the file holds, ``"overwrite"`` starts it over.

    Returns:
        Counts and usage of this run and of the whole file.

    Raises:
        ConfigurationError: ``path`` is named ``.json``, ``.csv`` or ``.tsv`` (checkpoints are
            JSONL, one record per line).
        DataError: ``if_exists="resume"`` and the file is not a generation checkpoint.
        ResourceBusyError: Another process is writing this checkpoint.
        ProviderOutageError: The provider stopped answering (what completed is saved).
    """
    path = Path(path)
    if path.suffix.lower() in (".json", ".csv", ".tsv"):
        raise ConfigurationError(
            f"{path}: generated records are written as JSONL, one per line; name the output "
            f"{path.stem}.jsonl"
        )
    created = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    existed = path.exists()
    try:
        with checkpoint_lock(path, "generation checkpoint"):
            return await _agenerate_locked(generator, n, path, on_record, fsync, if_exists)
    finally:
        # Stopped before the first record: leave no empty file or new folder behind.
        if not existed and path.exists() and path.stat().st_size == 0:
            path.unlink()
        for folder in created:
            with contextlib.suppress(OSError):  # not empty (it holds records): keep it
                folder.rmdir()


async def _agenerate_locked(
    generator: QAGenerator,
    n: int,
    path: Path,
    on_record: Callable[[QAPair], Any] | None,
    fsync: bool,
    if_exists: IfExists,
) -> GenerationSummary:
    started = time.perf_counter()
    if if_exists == "overwrite" and path.exists():
        atomic_write_text(path, "")
    elif if_exists == "resume":
        problem = checkpoint_problem(path)
        if problem is not None:
            raise DataError(
                f"{path} exists and is not a generation checkpoint: {problem}; refusing to add "
                "generated records to it"
            )
    before = read_checkpoint_state(path)
    remaining = max(0, n - before.records)
    usage = Usage()
    ok = rejected = 0
    rejections: dict[str, int] = {}
    if remaining:
        if isinstance(generator, ResumableGenerator):
            generator.resume_after(before.records)
        with JsonlAppender(path, fsync=fsync) as appender:
            records = generator.agenerate(remaining)
            try:
                async for pair in records:
                    if pair.source is None:  # every checkpoint record names its generator
                        pair = pair.model_copy(update={"source": generator.name})
                    safe_append(appender, pair)
                    if pair.ok:
                        ok += 1
                    else:
                        rejected += 1
                        key = _reason_key(pair.rejected or "")
                        rejections[key] = rejections.get(key, 0) + 1
                    if pair.usage is not None:
                        usage = usage + pair.usage
                    if on_record is not None:
                        on_record(pair)
            finally:
                # Stop the generator's work in flight now, not when it is garbage-collected.
                aclose = getattr(records, "aclose", None)
                if aclose is not None:
                    await aclose()
    return GenerationSummary(
        path=str(path),
        requested=n,
        resumed_from=before.records,
        generated=ok + rejected,
        ok=ok,
        rejected=rejected,
        total_records=before.records + ok + rejected,
        usage=usage,
        total_usage=before.usage + usage,
        rejections=rejections,
        elapsed_s=time.perf_counter() - started,
    )


def generate_to_file(
    generator: QAGenerator,
    n: int,
    path: str | Path,
    *,
    on_record: Callable[[QAPair], Any] | None = None,
    fsync: bool = False,
    if_exists: IfExists = "resume",
) -> GenerationSummary:
    """Sync twin of :func:`agenerate_to_file`."""
    return run_sync(
        agenerate_to_file(generator, n, path, on_record=on_record, fsync=fsync, if_exists=if_exists)
    )
