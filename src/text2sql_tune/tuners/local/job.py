"""The local tuner's settings (``finetune_args``) and its job record (``job.json``).

Both are plain pydantic records with no heavy imports, so a job can be inspected, listed or
followed without torch installed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...errors import ConfigurationError, DataError, ResourceBusyError
from ...records import TuningJob, TuningStatus

__all__ = [
    "MEMORY_TUNING_ARGS",
    "JobLock",
    "LocalFinetuneArgs",
    "LocalJobRecord",
    "LossPoint",
    "RecallSummary",
    "data_hash",
    "job_id_for",
    "read_job_record",
]

JOB_FILE = "job.json"

MEMORY_TUNING_ARGS: dict[str, Any] = {
    "r": 64,
    "alpha": 64,
    "lora_dropout": 0.0,
    "learning_rate": 5e-4,
    "lr_scheduler": "constant",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "epochs": 30,
    "target_loss": 0.01,
    "recall_pairs": 1000,
}
"""The memory-tuning recipe: a high-rank adapter trained until the training loss is near zero.

It trades generalisation for exact recall of the training facts (Lamini Memory Tuning's idea):
no dropout, a constant high learning rate, many epochs, stopping once the mean training loss of a
logging window is at or below ``target_loss``, then measuring exact recall of the training SQL.
"""


class LocalFinetuneArgs(BaseModel):
    """Training settings of :class:`~text2sql_tune.tuners.LocalLoRATuner`, in Lamini's spirit.

    Unknown keys are refused (a typo would otherwise be silently ignored). Lamini's ``r_value``
    is accepted for ``r``.

    Attributes:
        max_steps: Optimizer steps; ``None`` trains for ``epochs`` epochs.
        epochs: Passes over the data when ``max_steps`` is not set.
        learning_rate: Peak learning rate (AdamW).
        r: LoRA rank.
        alpha: LoRA alpha (the update is scaled by ``alpha / r``).
        lora_dropout: Dropout on the LoRA input.
        target_modules: ``"all-linear"`` or the module names to adapt (e.g. ``["q_proj",
            "v_proj"]``).
        batch_size: Examples per device per micro-batch.
        gradient_accumulation_steps: Micro-batches per optimizer step.
        max_length: Longest example in tokens (prompt + answer); longer ones are skipped.
        seed: Seed of the adapter's initial weights, the data order and dropout.
        lr_scheduler: ``linear`` (decay to 0), ``cosine`` or ``constant``, after the warm-up.
        warmup_steps: Steps of linear warm-up.
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient clipping norm (``0`` disables clipping).
        save_steps: Save a checkpoint every this many steps (``0``: only at the end).
        save_total_limit: Checkpoints kept (the oldest are deleted).
        logging_steps: Record the mean loss every this many steps.
        target_loss: Stop early once a logged mean training loss is at or below this.
        precision: ``auto`` (bf16 on a GPU or CPU that computes in bf16 in hardware, else
            fp32), ``bf16``, ``fp16`` or ``fp32``. bf16 loads the frozen base weights in
            bfloat16 and trains under bf16 autocast; the adapter's weights stay float32.
        quantization: ``"4bit"`` for QLoRA (NF4, CUDA + bitsandbytes) or ``"8bit"``.
        gradient_checkpointing: Trade compute for memory on long examples.
        answer_logits_only: Project only the positions that carry the loss (the answer)
            through the output layer, instead of every position of prompt and answer.
        group_by_length: Batch examples of similar length together (less padding).
        packing: Pack each micro-batch into one row (no padding at all; attention stays within
            each example).
        threads: CPU threads for training (``None``: torch's choice, capped by the CPUs this
            process may use).
        recall_pairs: After training, ask the tuned model up to this many of the training
            questions it was trained on and record how many it answers with the training SQL
            (``0``: skip).
        max_new_tokens: Longest answer during the recall check.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int | None = Field(default=None, ge=1)
    epochs: float = Field(default=3.0, gt=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    max_length: int = Field(default=2048, ge=8)
    seed: int = 0
    lr_scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, ge=0)
    save_steps: int = Field(default=50, ge=0)
    save_total_limit: int = Field(default=2, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    target_loss: float | None = Field(default=None, ge=0)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    quantization: Literal["4bit", "8bit"] | None = None
    gradient_checkpointing: bool = False
    answer_logits_only: bool = True
    group_by_length: bool = True
    packing: bool = False
    threads: int | None = Field(default=None, ge=1)
    recall_pairs: int = Field(default=0, ge=0)
    max_new_tokens: int = Field(default=256, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _lamini_names(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "r_value" in data:
            data = dict(data)
            data.setdefault("r", data.pop("r_value"))
        return data

    @classmethod
    def parse(
        cls, args: Mapping[str, Any] | None, *, recipe: str | None = None
    ) -> LocalFinetuneArgs:
        """Validate ``args`` over the defaults (or over a recipe's settings).

        Args:
            args: The user's settings.
            recipe: ``"memory"`` starts from :data:`MEMORY_TUNING_ARGS`; ``None`` or
                ``"standard"`` from the plain defaults.

        Raises:
            ConfigurationError: An unknown recipe or key, or an invalid value, naming it.
        """
        if recipe not in (None, "standard", "memory"):
            raise ConfigurationError(f"unknown recipe {recipe!r}: use 'standard' or 'memory'")
        base = dict(MEMORY_TUNING_ARGS) if recipe == "memory" else {}
        given = dict(args or {})
        if "r_value" in given:
            given.setdefault("r", given.pop("r_value"))
        try:
            return cls.model_validate({**base, **given})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            known = ", ".join(cls.model_fields)
            raise ConfigurationError(
                f"invalid local finetune_args ({problems}); known keys: {known}"
            ) from exc


class LossPoint(BaseModel):
    """One point of the loss curve: the mean loss of the steps since the previous point."""

    model_config = ConfigDict(extra="forbid")

    step: int
    loss: float
    learning_rate: float = 0.0
    epoch: float = 0.0
    tokens: int = 0


class RecallSummary(BaseModel):
    """How many training questions the tuned model answers like the training SQL.

    Attributes:
        total: Training pairs asked.
        exact: Answers equal to the training SQL (surrounding whitespace and a trailing ``;``
            ignored).
        normalized: Answers equal after SQL normalisation (keyword case, spacing, quoting).
        exact_rate: ``exact / total``.
        normalized_rate: ``normalized / total``.
        correct: Answers the judge found correct (same result as the training SQL), when a
            judge was given; ``None`` otherwise.
        correct_rate: ``correct / total``, when judged.
        judge: The judge's name, when judged.
        misses: Up to 20 questions answered differently, with both queries (and the judge's
            verdict, when judged).
    """

    model_config = ConfigDict(extra="forbid")

    total: int
    exact: int
    normalized: int
    exact_rate: float
    normalized_rate: float
    correct: int | None = None
    correct_rate: float | None = None
    judge: str | None = None
    misses: list[dict[str, Any]] = Field(default_factory=list)


class LocalJobRecord(BaseModel):
    """Everything about one local tuning job, saved as ``job.json`` in its folder.

    Attributes:
        job_id: ``local-`` + a hash of the base model, data and settings: the same job is never
            started twice.
        status: Normalised status.
        phase: ``created``, ``training``, ``interrupted``, ``recall``, ``completed``,
            ``cancelled`` or ``failed``.
        message: Why it stopped, or what to do next.
        base_model: The model folder or hub id that was tuned.
        system_prompt: The answering system prompt the data was formatted with.
        adapter_path: The final LoRA adapter folder, once training finished.
        job_dir: The job's folder.
        data_hash: SHA-256 prefix of the training pairs.
        examples: Training examples used.
        skipped_too_long: Pairs skipped for being longer than ``max_length`` tokens.
        validation_examples: Held-out examples (their loss is recorded at each checkpoint).
        args: The resolved finetune arguments.
        recipe: ``standard`` or ``memory``.
        step: Optimizer steps done.
        max_steps: Optimizer steps planned.
        losses: The training loss curve.
        validation_losses: The held-out loss at each checkpoint.
        tokens_seen: Tokens trained on (prompt and answer, all processes).
        trained_tokens_seen: Of those, the answer tokens that carry the loss.
        wall_time_s: Seconds spent training, summed over resumed runs.
        resumed: How many times training resumed from a checkpoint.
        last_checkpoint: The newest checkpoint folder.
        device: Where it trained (``cpu``, ``cuda``...).
        precision: The dtype the base model was loaded in.
        threads: CPU threads torch trained with.
        world_size: Training processes (``accelerate launch``).
        trainable_parameters: Parameters the adapter trains.
        total_parameters: Parameters of the base model and adapter.
        peak_memory_bytes: Peak GPU memory (CUDA) or peak resident memory of the process.
        recall: Exact recall of the training SQL, when measured.
        created_at: When the job was created (UTC).
        updated_at: When the record was last written (UTC).
        finished_at: When it ended (UTC).
    """

    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: TuningStatus = TuningStatus.QUEUED
    phase: str = "created"
    message: str | None = None
    base_model: str
    system_prompt: str
    adapter_path: str | None = None
    job_dir: str
    data_hash: str
    examples: int = 0
    skipped_too_long: int = 0
    validation_examples: int = 0
    args: dict[str, Any] = Field(default_factory=dict)
    recipe: str = "standard"
    step: int = 0
    max_steps: int = 0
    losses: list[LossPoint] = Field(default_factory=list)
    validation_losses: list[LossPoint] = Field(default_factory=list)
    tokens_seen: int = 0
    trained_tokens_seen: int = 0
    wall_time_s: float = 0.0
    resumed: int = 0
    last_checkpoint: str | None = None
    device: str | None = None
    precision: str | None = None
    threads: int | None = None
    world_size: int = 1
    trainable_parameters: int = 0
    total_parameters: int = 0
    peak_memory_bytes: int | None = None
    recall: RecallSummary | None = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    updated_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def folder(self) -> Path:
        """The job's folder."""
        return Path(self.job_dir)

    def save(self) -> None:
        """Write ``job.json`` atomically (a reader never sees half a record)."""
        self.updated_at = dt.datetime.now(dt.timezone.utc)
        path = self.folder / JOB_FILE
        tmp = path.with_name(f".{JOB_FILE}.{os.getpid()}.tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def to_job(self) -> TuningJob:
        """The record as a :class:`~text2sql_tune.records.TuningJob` (details in ``raw``)."""
        return TuningJob(
            job_id=self.job_id,
            provider="local",
            status=self.status,
            provider_status=self.phase,
            base_model=self.base_model,
            model_name=self.adapter_path,
            dataset_id=self.data_hash,
            message=self.message,
            created_at=self.created_at,
            raw=self.model_dump(mode="json"),
        )


def read_job_record(path: str | Path) -> LocalJobRecord:
    """Read a local job from its folder, its ``job.json``, or a job file that embeds one.

    Args:
        path: The job folder, its ``job.json``, a pipeline's ``tuning_job.json`` or the
            ``--job-file`` written by ``text2sql-tune tune --tuner local``.

    Raises:
        DataError: No such job, or not a local job.
    """
    path = Path(path)
    file = path / JOB_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{path}: no local tuning job here (no {JOB_FILE})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{file}: not a JSON job record: {exc}") from exc
    if isinstance(data, dict) and data.get("provider") == "local" and "raw" in data:
        data = data["raw"]  # a TuningJob written by the pipeline or the CLI
    if isinstance(data, dict) and "job_dir" in data:
        folder = Path(data["job_dir"])
        if (folder / JOB_FILE).is_file() and (folder / JOB_FILE).resolve() != file.resolve():
            return read_job_record(folder)  # the job's own record is the newest
    try:
        return LocalJobRecord.model_validate(data)
    except ValidationError as exc:
        raise DataError(f"{file}: not a local tuning job record: {exc}") from exc


def data_hash(examples: Sequence[tuple[str, str]], system_prompt: str) -> str:
    """SHA-256 prefix of the training data: the system prompt and each question/SQL pair."""
    digest = hashlib.sha256(system_prompt.encode("utf-8"))
    for question, sql in examples:
        digest.update(b"\x01" + question.encode("utf-8") + b"\x00" + sql.encode("utf-8"))
    return digest.hexdigest()[:16]


def job_id_for(base_model: str, data: str, args: LocalFinetuneArgs, recipe: str) -> str:
    """The job id of a base model, a data hash and settings: equal inputs, equal job."""
    key = json.dumps([base_model, data, args.model_dump(mode="json"), recipe], sort_keys=True)
    return "local-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


class JobLock:
    """An exclusive lock on a job folder, held while a process trains it (``flock``).

    The lock is released by the OS when the process dies, so a killed run never leaves a stale
    lock; the pid of the holder is written in the file for error messages.

    Args:
        folder: The job folder.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            ResourceBusyError: Another process holds it.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            holder = self.path.read_text(encoding="utf-8").strip() or "unknown"
            raise ResourceBusyError(
                f"{self.path.parent} is being trained by another process (pid {holder}); "
                "follow it with 'text2sql-tune tune status' or wait for it"
            )
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock right now."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            if _try_lock(fd):
                _unlock(fd)
                return False
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
