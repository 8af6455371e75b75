"""Reading and writing evaluation reports, from report files or run directories."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import DataError
from ..io.files import atomic_write_json
from ..io.validation_errors import describe_validation_error
from ..records import EvalReport

__all__ = ["find_report", "load_report", "run_label", "save_report"]

# Where a run directory keeps its report (``RunPaths.eval_dir`` of the pipeline).
_RUN_REPORTS = ("eval/report.json", "report.json")


def find_report(path: str | Path) -> Path:
    """The report file for ``path``: the file itself, or the report inside a run directory.

    Raises:
        DataError: Nothing there, or a directory without ``eval/report.json`` / ``report.json``.
    """
    path = Path(path)
    if path.is_dir():
        for name in _RUN_REPORTS:
            if (path / name).is_file():
                return path / name
        raise DataError(
            f"{path}: a directory with no evaluation report (looked for "
            f"{' and '.join(_RUN_REPORTS)}); run the evaluate step first"
        )
    if not path.exists():
        raise DataError(f"{path}: no such file")
    return path


def load_report(path: str | Path) -> EvalReport:
    """Read a report written by ``evaluate --output`` or :func:`save_report`.

    Args:
        path: A report file, or a run directory holding ``eval/report.json``.

    Raises:
        DataError: The file is missing or is not a report.
    """
    path = find_report(path)
    try:
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise DataError(
            f"{path}: not an evaluation report: {describe_validation_error(exc)}"
        ) from None


def save_report(report: EvalReport, path: str | Path) -> Path:
    """Write a report as JSON (``summary`` + ``results``), atomically, and return the path."""
    path = Path(path)
    atomic_write_json(path, report.model_dump(mode="json"))
    return path


def run_label(path: str | Path) -> str:
    """A short name for a report in a comparison: the run directory's or the file's name.

    ``runs/tune1`` and ``runs/tune1/eval/report.json`` are both ``tune1``; ``base.json`` is
    ``base``.
    """
    path = Path(path)
    if path.is_dir():
        return path.resolve().name
    if path.stem == "report":
        parent = path.resolve().parent
        return parent.parent.name if parent.name == "eval" else parent.name
    return path.stem
