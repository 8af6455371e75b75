"""Save a model's answers as they arrive, so a stopped evaluation never asks twice.

:class:`CheckpointedModel` wraps any :class:`~text2sql_tune.interfaces.Text2SQLModel`. Each
answer is appended to a JSONL file (one flushed line per answer) the moment the model gives it;
asked again, the wrapper answers from the file instead of calling the model. A run killed half
way (``kill -9`` included) therefore loses at most the calls in flight, and a re-run asks only the
questions without a saved answer. A call that got no answer from the provider
(:class:`~text2sql_tune.errors.ProviderUnavailableError`) or that raised is never saved.

Each line is a prediction (``question``, ``sql``, ``raw_output``, ``latency_s``, ``usage``,
``error``) plus ``model`` (the model's name) and ``key`` (what the answers depend on: by default
the model's name; callers add the prompt and training data). Answers saved under another key
are ignored, so one file can hold several models. The file is a valid predictions file for
``text2sql-tune evaluate --predictions`` too.

Example:
    >>> with CheckpointedModel(model, "answers.jsonl") as checkpointed:  # doctest: +SKIP
    ...     report = Evaluator(executor).evaluate(checkpointed, cases)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import DataError
from ..interfaces import Text2SQLModel
from ..io.checkpoints import CheckpointWriter
from ..io.records import iter_records
from ..records import Prediction
from ..sql.normalize import normalize_question

__all__ = ["CheckpointedModel", "answers_key", "checkpoint_problem"]

_FIELDS = frozenset(Prediction.model_fields)


def answers_key(*parts: Any) -> str:
    """A short, stable key over what a model's answers depend on (name, prompt, examples...)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` is not an answers checkpoint; ``None`` when it is one, empty or missing."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        for number, raw in enumerate(iter_records(path), start=1):
            if not isinstance(raw.get("model"), str) or not isinstance(raw.get("key"), str):
                return f"record {number} names no 'model' and 'key' (not written by a checkpoint)"
    except (DataError, OSError, UnicodeDecodeError) as exc:
        return f"it cannot be read as JSONL ({exc})"
    return None


class CheckpointedModel(Text2SQLModel):
    """A model whose answers are appended to ``path`` as they arrive and reused when asked again.

    Args:
        model: The model that answers.
        path: The JSONL checkpoint (created when missing).
        key: What the answers depend on; saved answers with another key are ignored. Default:
            the model's name. Use :func:`answers_key` over everything that changes the answers.
        fresh: Ignore the saved answers for this key and ask again (new answers are appended
            and win from then on).
        fsync: Force each line to disk (survives power loss; slower).

    Attributes:
        loaded: Answers for this key found in the file when it was opened.
        reused: Answers taken from the file so far.
        saved: Answers appended so far.

    Raises:
        DataError: On first use, when ``path`` exists and is not an answers checkpoint.
        ResourceBusyError: On first use, when another process writes the same checkpoint.
    """

    def __init__(
        self,
        model: Text2SQLModel,
        path: str | Path,
        *,
        key: str | None = None,
        fresh: bool = False,
        fsync: bool = False,
    ) -> None:
        self.model = model
        self.name = model.name
        self.path = Path(path)
        self.key = key or model.name
        self.fresh = fresh
        self.loaded = 0
        self.reused = 0
        self.saved = 0
        self._answers: dict[str, Prediction] = {}
        self._file = CheckpointWriter(self.path, "answers checkpoint", fsync=fsync)

    @property
    def count(self) -> int:
        """Answers for this key in the file now (the checkpoint must be open)."""
        return len(self._answers)

    def open(self) -> CheckpointedModel:
        """Take the checkpoint's lock and read its answers (done on first use when not called).

        Raises:
            DataError: The file is not an answers checkpoint.
            ResourceBusyError: Another process holds it.
        """
        if self._file.is_open:
            return self
        problem = checkpoint_problem(self.path)
        if problem is not None:
            raise DataError(f"{self.path} is not an answers checkpoint: {problem}")
        self._file.open(self._start)
        return self

    def _start(self) -> list[dict[str, Any]]:
        self._answers = {} if self.fresh else self._load()
        self.loaded = len(self._answers)
        return []

    def _load(self) -> dict[str, Prediction]:
        answers: dict[str, Prediction] = {}
        if not self.path.exists():
            return answers
        for number, raw in enumerate(iter_records(self.path), start=1):
            if raw.get("key") != self.key:
                continue
            try:
                prediction = Prediction.model_validate(
                    {k: v for k, v in raw.items() if k in _FIELDS}
                )
            except ValidationError as exc:
                raise DataError(
                    f"{self.path}: record {number} is not a saved answer: {exc.errors()[0]['msg']}"
                ) from exc
            answers[normalize_question(prediction.question)] = prediction  # the last one wins
        return answers

    def close(self) -> None:
        """Close the file and release the lock."""
        self._file.close()

    def __enter__(self) -> CheckpointedModel:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def answered(self, question: str) -> bool:
        """True when an answer to ``question`` is saved (the checkpoint must be open)."""
        return normalize_question(question) in self._answers

    async def apredict(self, question: str) -> Prediction:
        """The saved answer to ``question``, else the model's (saved before it is returned)."""
        self.open()
        normalized = normalize_question(question)
        saved = self._answers.get(normalized)
        if saved is not None:
            self.reused += 1
            return saved.model_copy(update={"question": question})
        prediction = await self.model.apredict(question)  # raising means: nothing to save
        record = {"model": self.name, "key": self.key}
        record.update(prediction.model_dump(mode="json", exclude_none=True))
        self._file.append(record)
        self._answers[normalized] = prediction
        self.saved += 1
        return prediction
