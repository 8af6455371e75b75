"""FilterReport: what cleaning kept and dropped, by which filter and why."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.table import Table

from ..analysis.dataset_stats import DatasetStats
from ..errors import DataError
from ..io.decode import read_text
from ..io.files import atomic_write_json
from ..io.records import iter_records, write_jsonl
from ..io.validation_errors import describe_validation_error
from ..records import FilterDecision, QAPair

__all__ = ["DroppedPair", "FilterReport", "FilterStep"]

_DECISION_KEYS = ("filter", "reason", "detail")


class FilterStep(BaseModel):
    """One filter's row in the report.

    Attributes:
        name: The filter's name (``generator`` for the pairs the generator rejected).
        input: Pairs the filter saw (the survivors of the steps before it).
        kept: Pairs it kept.
        dropped: Pairs it dropped.
        reasons: Dropped pairs per reason.
        elapsed_s: Seconds the step took.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    input: int
    kept: int
    dropped: int
    reasons: dict[str, int] = Field(default_factory=dict)
    elapsed_s: float = 0.0


class DroppedPair(BaseModel):
    """A dropped pair with the first decision that dropped it.

    Attributes:
        index: Position of the pair in the cleaned input (0-based).
        pair: The pair.
        decision: The decision (filter, reason, detail).
    """

    model_config = ConfigDict(extra="forbid")

    index: int
    pair: QAPair
    decision: FilterDecision

    def to_record(self) -> dict[str, Any]:
        """One flat JSONL object: ``filter``, ``reason``, ``detail``, ``index`` and the pair."""
        record: dict[str, Any] = {
            "filter": self.decision.filter,
            "reason": self.decision.reason,
        }
        if self.decision.detail is not None:
            record["detail"] = self.decision.detail
        record["index"] = self.index
        record.update(self.pair.model_dump(mode="json", exclude_none=True))
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DroppedPair:
        """Read back an object written by :meth:`to_record`."""
        data = dict(record)
        decision = {key: data.pop(key) for key in _DECISION_KEYS if key in data}
        index = data.pop("index")
        return cls(
            index=index,
            pair=QAPair.model_validate(data),
            decision=FilterDecision(keep=False, **decision),
        )


class FilterReport(BaseModel):
    """The outcome of a :class:`~text2sql_tune.filters.FilterChain` run.

    Attributes:
        input_count: Pairs given to the chain.
        kept_count: Pairs kept.
        dropped_count: Pairs dropped.
        steps: One row per step, in order: ``generator`` (pairs the generator rejected), then
            each filter.
        by_reason: Dropped pairs per reason, over all steps.
        stats: Statistics of the kept pairs.
        dropped: Every dropped pair with the decision that dropped it, in input order (empty in
            the JSON file when :meth:`save` wrote them to a JSONL file; :meth:`load` reads them
            back).
        dropped_path: Where :meth:`save` wrote the dropped pairs (relative to the report's
            folder when possible), or ``None``.
        created_at: When the report was made (UTC).
    """

    model_config = ConfigDict(extra="forbid")

    input_count: int
    kept_count: int
    dropped_count: int
    steps: list[FilterStep]
    by_reason: dict[str, int] = Field(default_factory=dict)
    stats: DatasetStats = Field(default_factory=DatasetStats)
    dropped: list[DroppedPair] = Field(default_factory=list)
    dropped_path: str | None = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def save(self, path: str | Path, *, dropped_path: str | Path | None = None) -> None:
        """Write the report as JSON, and the dropped pairs as JSONL when ``dropped_path`` is given.

        Args:
            path: The JSON report.
            dropped_path: A JSONL file for the dropped pairs, one object per line with
                ``filter``, ``reason``, ``detail``, ``index`` and the pair's fields. When given,
                the JSON names this file instead of embedding the pairs.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if dropped_path is None:
            data = self.model_dump(mode="json")
        else:
            dropped_path = Path(dropped_path)
            write_jsonl(dropped_path, (d.to_record() for d in self.dropped))
            data = self.model_dump(mode="json", exclude={"dropped"})
            data["dropped"] = []
            data["dropped_path"] = _relative_to(dropped_path, path.parent)
        atomic_write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> FilterReport:
        """Read a report written by :meth:`save` (with its dropped pairs, wherever they are).

        Raises:
            DataError: The file is missing or not a report, or the dropped-pairs file it names
                is missing or invalid.
        """
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        try:
            report = cls.model_validate_json(read_text(path))
        except ValidationError as exc:
            raise DataError(
                f"{path}: not a cleaning report: {describe_validation_error(exc)}"
            ) from None
        if report.dropped_path is not None and not report.dropped:
            dropped = Path(report.dropped_path)
            if not dropped.is_absolute():
                dropped = path.parent / dropped
            report.dropped = [DroppedPair.from_record(r) for r in iter_records(dropped)]
        return report

    def to_table(self) -> Table:
        """A rich table: one row per step with its input, kept and dropped counts and reasons."""
        table = Table(
            title=f"Cleaning: {self.input_count:,} pairs -> {self.kept_count:,} kept "
            f"({self.dropped_count:,} dropped)"
        )
        table.add_column("step")
        table.add_column("in", justify="right")
        table.add_column("kept", justify="right")
        table.add_column("dropped", justify="right")
        table.add_column("reasons")
        for step in self.steps:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in step.reasons.items())
            table.add_row(
                step.name, f"{step.input:,}", f"{step.kept:,}", f"{step.dropped:,}", reasons
            )
        return table


def _relative_to(target: Path, folder: Path) -> str:
    try:
        return os.path.relpath(target.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(target.resolve())
