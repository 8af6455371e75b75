"""A verdict cache: in memory, and optionally persisted as JSONL so re-runs do not pay twice."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ...io.files import atomic_open
from ...records import Verdict

__all__ = ["VerdictCache", "cache_key"]

logger = logging.getLogger("text2sql_tune")


def cache_key(*parts: Any) -> str:
    """A stable SHA-256 key over JSON-serialisable parts."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    """Verdicts by key, in memory and (with ``path``) appended to a JSONL file.

    Each line is ``{"key": ..., "verdict": {...}}``; a later line for the same key wins. A torn
    or invalid line is skipped. When the file holds such lines (or superseded ones), loading
    compacts it: it is rewritten with one line per key, atomically, so a crash mid-way leaves
    the old file.

    Args:
        path: JSONL file to load from and append to; ``None`` keeps the cache in memory only.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._verdicts: dict[str, Verdict] = {}
        if self.path is not None and self.path.exists() and self._load(self.path):
            self.compact()

    def _load(self, path: Path) -> bool:
        """Read the file; True when it holds lines that compaction would drop."""
        waste = False
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    key = item["key"]
                    waste = waste or key in self._verdicts
                    self._verdicts[key] = Verdict.model_validate(item["verdict"])
                except (ValueError, KeyError, TypeError, RecursionError):
                    logger.warning("%s: skipping an unreadable cache line", path)
                    waste = True
        return waste

    def compact(self) -> None:
        """Rewrite the file with one line per key, atomically.

        A verdict another process appends while the file is rewritten may be dropped: it is
        only a cache, so that costs one more judge call, never a wrong verdict.
        """
        if self.path is None:
            return
        with atomic_open(self.path) as handle:
            for key, verdict in self._verdicts.items():
                handle.write(_line(key, verdict) + "\n")

    def __len__(self) -> int:
        return len(self._verdicts)

    def __contains__(self, key: str) -> bool:
        return key in self._verdicts

    def get(self, key: str) -> Verdict | None:
        """The cached verdict for ``key``, or ``None``."""
        return self._verdicts.get(key)

    def put(self, key: str, verdict: Verdict) -> None:
        """Store a verdict (and append it to the file when there is one)."""
        self._verdicts[key] = verdict
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(_line(key, verdict) + "\n")


def _line(key: str, verdict: Verdict) -> str:
    # ASCII escapes: a verdict's text came from an LLM and may hold lone surrogates.
    return json.dumps({"key": key, "verdict": verdict.model_dump(mode="json")})
