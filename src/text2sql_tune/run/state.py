"""The run directory's ``state.json``: which settings each step's output was made with.

It only decides whether a step's output is up to date, so it can always be rebuilt: a damaged or
empty file is set aside (``state.json.damaged``) with a warning, every step then re-derives its
output from the append-only checkpoints, and no paid call is repeated. It is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from ..io.files import atomic_write_json

__all__ = ["StepState", "is_newer"]

logger = logging.getLogger("text2sql_tune")


def is_newer(output: Path, *inputs: Path) -> bool:
    """True when ``output`` exists and is at least as new as every existing input."""
    if not output.exists():
        return False
    stamp = output.stat().st_mtime_ns
    return all(stamp >= i.stat().st_mtime_ns for i in inputs if i.exists())


class StepState:
    """Remembers the settings each step's output was made with (``state.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, str] = self._load(path)

    @staticmethod
    def _load(path: Path) -> dict[str, str]:
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise ValueError("not an object of step fingerprints")
        except (OSError, ValueError) as exc:
            aside = path.with_name(path.name + ".damaged")
            path.replace(aside)
            logger.warning(
                "%s is damaged (%s); moved it to %s and rebuilding it: each step re-derives its "
                "output from the saved checkpoints, without repeating a paid call",
                path,
                exc,
                aside.name,
            )
            return {}
        return data

    @staticmethod
    def fingerprint(settings: object) -> str:
        """A short hash of a step's settings (JSON, keys sorted)."""
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def is_fresh(self, step: str, settings: object, output: Path, *inputs: Path) -> bool:
        """True when ``output`` is newer than its inputs and was made with ``settings``."""
        return self.same(step, settings) and is_newer(output, *inputs)

    def same(self, step: str, settings: object) -> bool:
        """True when ``step`` last ran with ``settings``."""
        return self._data.get(step) == self.fingerprint(settings)

    def record(self, step: str, settings: object) -> None:
        """Remember that ``step`` ran with ``settings`` (written at once, atomically)."""
        self._data[step] = self.fingerprint(settings)
        atomic_write_json(self.path, self._data)
