"""Iterations: a run that continues another one, and the chain of runs behind it.

A next iteration (``Pipeline(run=RunConfig(parent=...))``, ``run --next-from DIR``) writes
``iteration.json`` in its run directory: the parent run, its iteration number, how many pairs it
took over and the parent's evaluation summary, plus what made its new pairs (the analysis
summary and the number of generation targets). :func:`lineage` walks that chain back to the first
run, so the runs of an experiment can be compared in order.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigurationError, DataError
from ..io.records import read_pairs
from ..records import EvalReport, EvalSummary, QAPair
from ..reporting import load_report
from .paths import ITERATION_FILE, RunPaths

__all__ = [
    "ITERATION_FILE",
    "Inheritance",
    "IterationRecord",
    "inherit",
    "lineage",
    "next_run_dir",
    "read_iteration",
]


class IterationRecord(BaseModel):
    """What ``iteration.json`` says about a next iteration.

    Attributes:
        parent: The run directory it continues (absolute).
        iteration: Its number: the parent's plus one (a first run is iteration 1).
        parent_kept: Kept pairs it took over from the parent.
        parent_evaluation: The parent's evaluation summary, when the parent was evaluated.
        created_at: When the iteration started (UTC).
        notes: What made its new pairs (e.g. ``analysis``: the analysis summary, ``targets``).
    """

    model_config = ConfigDict(extra="forbid")

    parent: Path
    iteration: int = Field(ge=2)
    parent_kept: int = 0
    parent_evaluation: EvalSummary | None = None
    created_at: dt.datetime = Field(default_factory=lambda: _now())
    notes: dict[str, Any] = Field(default_factory=dict)

    def save(self, run_dir: str | Path) -> Path:
        """Write ``iteration.json`` into ``run_dir``."""
        path = RunPaths(Path(run_dir)).iteration
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path


def read_iteration(run_dir: str | Path) -> IterationRecord | None:
    """The ``iteration.json`` of a run directory, or ``None`` for a first run.

    Raises:
        DataError: The file exists but is not an iteration record.
    """
    path = RunPaths(Path(run_dir)).iteration
    if not path.exists():
        return None
    try:
        return IterationRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise DataError(f"{path}: not an iteration record: {exc}") from exc


def lineage(run_dir: str | Path) -> list[Path]:
    """``run_dir`` and the runs it continues, oldest first (``[iter1, iter2, iter3]``).

    Raises:
        DataError: The chain loops back on itself.
    """
    chain = [Path(run_dir)]
    seen = {chain[0].resolve()}
    while (record := read_iteration(chain[-1])) is not None:
        if record.parent.resolve() in seen:
            raise DataError(f"{run_dir}: the iteration chain loops at {record.parent}")
        seen.add(record.parent.resolve())
        chain.append(record.parent)
    return chain[::-1]


def next_run_dir(parent: str | Path) -> Path:
    """A sibling folder name for the next iteration of ``parent``.

    ``runs/iter1`` -> ``runs/iter2``, ``runs/shop`` -> ``runs/shop-2``, ``runs/shop-2`` ->
    ``runs/shop-3``.

    Raises:
        ConfigurationError: ``parent`` names no folder (``.`` or a root).
    """
    path = Path(parent)
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    if not name:
        raise ConfigurationError(f"cannot name the next iteration of {parent}: pass --run-dir")
    match = re.fullmatch(r"(.*?)(\d+)", name)
    following = f"{match[1]}{int(match[2]) + 1}" if match else f"{name}-2"
    return path.resolve().parent / following


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Inheritance:
    """What a next iteration takes over from its parent (see :func:`inherit`)."""

    pairs: list[QAPair]
    record: IterationRecord
    parent_report: EvalReport | None


def inherit(
    parent: str | Path, run_dir: str | Path, notes: Mapping[str, Any] | None = None
) -> Inheritance:
    """Start ``run_dir`` as the next iteration of ``parent`` and write its ``iteration.json``.

    Args:
        parent: The finished run to continue (it must have its ``clean.jsonl``).
        run_dir: The new run directory (created).
        notes: More facts for the record.

    Returns:
        The parent's kept pairs, the record written and the parent's evaluation report.

    Raises:
        ConfigurationError: ``parent`` has not finished cleaning, or ``run_dir`` already
            continues another run.
    """
    parent, run_dir = Path(parent), Path(run_dir)
    files = RunPaths(parent)
    if not files.clean.exists():
        raise ConfigurationError(
            f"{parent} has no clean.jsonl: run it to the end before its next iteration"
        )
    recorded = read_iteration(run_dir)
    if recorded is not None and recorded.parent.resolve() != parent.resolve():
        raise ConfigurationError(
            f"{run_dir} continues {recorded.parent}, not {parent}: "
            "give the next iteration another run directory"
        )
    before = read_iteration(parent)
    report = load_report(files.report) if files.report.exists() else None
    pairs = read_pairs(files.clean, allow_empty=True)
    record = IterationRecord(
        parent=parent.resolve(),
        iteration=before.iteration + 1 if before is not None else 2,
        parent_kept=len(pairs),
        parent_evaluation=None if report is None else report.summary,
        created_at=recorded.created_at if recorded is not None else _now(),
        notes=dict(notes or {}),
    )
    record.save(run_dir)
    return Inheritance(pairs=pairs, record=record, parent_report=report)
