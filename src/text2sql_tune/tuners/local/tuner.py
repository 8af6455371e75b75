"""LoRA / QLoRA tuning of any Hugging Face causal LM on your own hardware (extra ``local``).

Example:
    >>> tuner = LocalLoRATuner(schema, base_model="models/qwen2.5-coder-0.5b")  # doctest: +SKIP
    >>> job = tuner.start(clean_pairs)              # trains here; returns at the end
    >>> model = tuner.model_for(job)                # a LocalModel: base + adapter
    >>> model.predict("How many users are active?").sql                     # doctest: +SKIP

A job is named by a hash of the base model, the data and the settings and lives in its own
folder under ``output_dir``: starting the same job again resumes it from its last checkpoint (or
returns it, when it is finished); it is never trained twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DataError, TuningError
from ...interfaces import Judge, Tuner
from ...io.records import read_pairs, write_jsonl
from ...models._common import resolve_system_prompt
from ...records import QAPair, TuningJob, TuningStatus
from ...schema import DatabaseSchema
from .job import (
    JOB_FILE,
    JobLock,
    LocalFinetuneArgs,
    LocalJobRecord,
    data_hash,
    job_id_for,
    read_job_record,
)
from .sft import CANCEL_FILE, TrainingProgress, train_job

if TYPE_CHECKING:
    from ...models.local import LocalModel

__all__ = ["DEFAULT_LOCAL_OUTPUT_DIR", "LocalLoRATuner"]

logger = logging.getLogger("text2sql_tune")

DEFAULT_LOCAL_OUTPUT_DIR = Path("local-tuning")
_TRAIN_FILE = "train.jsonl"
_VALIDATION_FILE = "validation.jsonl"
_RECALL_FILE = "recall.jsonl"


def _is_main_process() -> bool:
    # Under ``accelerate launch`` every process runs this code; only rank 0 owns the job files.
    return os.environ.get("RANK", "0") == "0"


class LocalLoRATuner(Tuner):
    """Tunes a LoRA adapter for a local Hugging Face causal LM, on CPU or GPU.

    Pairs are rendered with the model's own chat template around the answering system prompt,
    with the loss on the SQL only. Training runs in this process (``start`` returns when it
    ends); progress goes to ``on_progress`` and to the job record, checkpoints every
    ``save_steps`` steps. A stopped or killed job resumes from its last checkpoint when it is
    started again (or followed with :meth:`wait_until_done`).

    Args:
        system_prompt_or_schema: The answering system prompt, or the schema to build it from.
        base_model: A model folder (no hub access needed) or a hub id.
        output_dir: Where job folders go (``<output_dir>/<job id>/``).
        finetune_args: Settings over the defaults or the recipe (see
            :class:`~text2sql_tune.tuners.local.job.LocalFinetuneArgs`); Lamini's ``r_value`` is
            accepted for ``r``.
        recipe: ``"standard"`` (default) or ``"memory"``: the memory-tuning recipe
            (:data:`~text2sql_tune.tuners.local.job.MEMORY_TUNING_ARGS`).
        device: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``mps``.
        on_progress: Called with a :class:`~text2sql_tune.tuners.local.sft.TrainingProgress`
            after every logged step (progress bars).
        recall_judge: Judges the recall check's answers by their results too (e.g. an
            :class:`~text2sql_tune.evaluate.judges.ExecutionMatchJudge` on the database the
            pairs come from), so a query written differently with the same answer counts.

    Raises:
        ConfigurationError: Unknown or invalid ``finetune_args``, or an unknown recipe.
    """

    name = "local"

    def __init__(
        self,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        base_model: str | Path,
        output_dir: str | Path = DEFAULT_LOCAL_OUTPUT_DIR,
        finetune_args: Mapping[str, Any] | None = None,
        recipe: str | None = None,
        device: str = "auto",
        on_progress: Callable[[TrainingProgress], None] | None = None,
        recall_judge: Judge | None = None,
    ) -> None:
        self.system_prompt = resolve_system_prompt(system_prompt_or_schema)
        # Local folders are recorded absolute, so a job can be followed from any directory.
        local = Path(base_model).expanduser()
        self.base_model = str(local.resolve()) if local.exists() else str(base_model)
        self.output_dir = Path(output_dir).expanduser().resolve()
        self.recipe = recipe or "standard"
        self.args = LocalFinetuneArgs.parse(finetune_args, recipe=self.recipe)
        self.device = device
        self.on_progress = on_progress
        self.recall_judge = recall_judge

    @property
    def finetune_args(self) -> dict[str, Any]:
        """The resolved settings (defaults, recipe and yours)."""
        return self.args.model_dump(mode="json")

    def job_id(self, train: Sequence[QAPair], validation: Sequence[QAPair] | None = None) -> str:
        """The id the job for these pairs gets (the same pairs and settings, the same job)."""
        data = data_hash(_examples(train), self.system_prompt)
        held_out = data_hash(_examples(validation or []), "")
        return job_id_for(self.base_model, data + held_out, self.args, self.recipe)

    def job_dir(self, job_id: str) -> Path:
        """The folder of a job (``job_id`` may already be a folder)."""
        path = Path(job_id)
        if (path / JOB_FILE).is_file():
            return path
        return self.output_dir / job_id

    async def astart(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Train on the pairs here and return the job when training ends.

        The same pairs, base model and settings are the same job: a finished job is returned as
        it is, an interrupted or failed one resumes from its last checkpoint, and one that another
        process is training is returned (``running``) without touching it.

        Args:
            train: Clean pairs (rejected pairs are skipped).
            validation: Held-out pairs whose loss is recorded at each checkpoint.

        Raises:
            DataError: No usable pairs, or every pair is longer than ``max_length``.
            ConfigurationError: The base model cannot be loaded, or the device is unavailable.
            MissingExtraError: The ``local`` extra is not installed.
            TuningError: Training failed (the job is marked ``failed`` and resumes next time).
        """
        pairs = [p for p in train if p.ok]
        if not pairs:
            raise DataError("no usable training pairs: nothing to tune on")
        held_out = [p for p in validation or [] if p.ok]
        job_id = self.job_id(pairs, held_out)
        folder = self.output_dir / job_id
        if (folder / JOB_FILE).is_file():
            record = read_job_record(folder)
            if record.status in (TuningStatus.COMPLETED, TuningStatus.CANCELLED):
                logger.info("local job %s is already %s", job_id, record.status.value)
                return record.to_job()
            if JobLock(folder).held_elsewhere():
                return record.to_job()
        else:
            folder.mkdir(parents=True, exist_ok=True)
            write_jsonl(
                folder / _TRAIN_FILE, ({"question": p.question, "sql": p.sql} for p in pairs)
            )
            write_jsonl(
                folder / _VALIDATION_FILE,
                ({"question": p.question, "sql": p.sql} for p in held_out),
            )
            record = LocalJobRecord(
                job_id=job_id,
                base_model=self.base_model,
                system_prompt=self.system_prompt,
                job_dir=str(folder),
                data_hash=data_hash(_examples(pairs), self.system_prompt),
                args=self.finetune_args,
                recipe=self.recipe,
            )
            if _is_main_process():
                record.save()
        return await self._arun(record)

    async def _arun(self, record: LocalJobRecord) -> TuningJob:
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._train_locked, record, stop))
        try:
            finished = await asyncio.shield(work)
        except asyncio.CancelledError:
            # Ctrl-C or a cancelled task: the training thread stops after its current step and
            # saves a checkpoint; the process waits for it before exiting.
            stop.set()
            raise
        if finished.status is TuningStatus.COMPLETED and _is_main_process():
            await self._ajudge_recall(finished)
        return finished.to_job()

    def _train_locked(self, record: LocalJobRecord, stop: threading.Event) -> LocalJobRecord:
        folder = record.folder
        train = _read_examples(folder / _TRAIN_FILE)
        validation = _read_examples(folder / _VALIDATION_FILE)
        args = LocalFinetuneArgs.parse(record.args)
        lock = JobLock(folder)
        main = _is_main_process()
        if main:
            lock.acquire()
        try:
            (folder / CANCEL_FILE).unlink(missing_ok=True)
            return train_job(
                record,
                args,
                train,
                validation,
                device=self.device,
                on_progress=self.on_progress,
                stop=stop,
                recall_check=self._recall_check,
            )
        except Exception as exc:
            record.status, record.phase, record.message = TuningStatus.FAILED, "failed", str(exc)
            if main:
                record.save()
            if isinstance(exc, TuningError) or not isinstance(exc, RuntimeError):
                raise
            raise TuningError(f"local training failed: {exc}", record.job_id) from exc
        finally:
            if main:
                lock.release()

    def _recall_check(
        self,
        model: Any,
        tokenizer: Any,
        record: LocalJobRecord,
        trained: list[tuple[str, str]],
    ) -> None:
        from ...sql.extract import extract_sql
        from .recall import recall_summary, sample_pairs
        from .runtime import ChatFormat, generate_answers

        args = LocalFinetuneArgs.parse(record.args)
        pairs = sample_pairs(
            [QAPair(question=q, sql=sql) for q, sql in trained], args.recall_pairs, seed=args.seed
        )
        fmt = ChatFormat(tokenizer, record.system_prompt)
        model.eval()
        model.config.use_cache = True
        answers = generate_answers(
            model,
            tokenizer,
            [fmt.prompt(p.question) for p in pairs],
            stop_token_ids=fmt.stop_token_ids(),
            max_new_tokens=args.max_new_tokens,
            batch_size=max(args.batch_size, 8),
        )
        predicted = [extract_sql(a.text) or "" for a in answers]
        write_jsonl(
            record.folder / _RECALL_FILE,
            (
                {"question": p.question, "sql": p.sql, "predicted": a}
                for p, a in zip(pairs, predicted, strict=True)
            ),
        )
        record.recall = recall_summary([(p.question, p.sql) for p in pairs], predicted)

    async def _ajudge_recall(self, record: LocalJobRecord) -> None:
        """Judge the recall answers by their results (here, on the caller's event loop)."""
        from ...io.records import iter_records
        from .recall import ajudge_answers, recall_summary

        path = record.folder / _RECALL_FILE
        if self.recall_judge is None or record.recall is None or not path.is_file():
            return
        rows = list(iter_records(path))
        expected = [(r["question"], r["sql"]) for r in rows]
        predicted = [r["predicted"] or None for r in rows]
        verdicts = await ajudge_answers(self.recall_judge, expected, predicted)
        record.recall = recall_summary(expected, predicted, verdicts, judge=self.recall_judge.name)
        record.save()

    def record(self, job_id: str) -> LocalJobRecord:
        """The job's full record (loss curve, recall, wall time...).

        A job marked running whose folder nobody holds any more was stopped (Ctrl-C, a kill):
        its phase reads ``interrupted``.

        Raises:
            DataError: No such job.
        """
        folder = self.job_dir(job_id)
        record = read_job_record(folder)
        if record.status is TuningStatus.RUNNING and not JobLock(folder).held_elsewhere():
            record.phase = "interrupted"
            record.message = (
                f"training stopped at step {record.step} of {record.max_steps}; "
                "'tune wait' (or starting the same job) resumes it"
            )
        return record

    async def astatus(self, job_id: str) -> TuningJob:
        """The job's state from its record (readable while another process trains it)."""
        return self.record(job_id).to_job()

    async def acancel(self, job_id: str) -> TuningJob:
        """Cancel the job: a running trainer stops at its next step; a stopped job is closed."""
        folder = self.job_dir(job_id)
        record = read_job_record(folder)
        if record.status.terminal:
            return record.to_job()
        if JobLock(folder).held_elsewhere():
            (folder / CANCEL_FILE).write_text("cancel requested\n", encoding="utf-8")
            record.message = "cancel requested; the trainer stops after its current step"
            return record.to_job()
        record.status, record.phase = TuningStatus.CANCELLED, "cancelled"
        record.message = f"cancelled at step {record.step}"
        record.save()
        return record.to_job()

    async def await_until_done(
        self,
        job_id: str,
        *,
        poll_interval_s: float = 30.0,
        max_interval_s: float = 300.0,
        timeout_s: float | None = None,
        on_update: Callable[[TuningJob], Any] | None = None,
    ) -> TuningJob:
        """Follow a job to its end, resuming it here when no process is training it.

        Raises:
            TuningError: The job failed or was cancelled, or the timeout passed while another
                process trained it.
        """
        folder = self.job_dir(job_id)
        record = self.record(str(folder))
        if not record.status.terminal and not JobLock(folder).held_elsewhere():
            job = await self._arun(read_job_record(folder))
            if on_update is not None:
                on_update(job)
            if job.status is not TuningStatus.COMPLETED:
                reason = job.message or job.status.value
                raise TuningError(f"tuning job ended {job.status.value}: {reason}", job.job_id)
            return job
        return await super().await_until_done(
            str(folder),
            poll_interval_s=poll_interval_s,
            max_interval_s=max_interval_s,
            timeout_s=timeout_s,
            on_update=on_update,
        )

    def model_for(
        self,
        job: TuningJob | str,
        *,
        batch_size: int = 8,
        max_new_tokens: int = 256,
        precision: str = "auto",
    ) -> LocalModel:
        """The tuned model of a completed job: the base model with the job's adapter.

        Args:
            job: The job, its id or its folder.
            batch_size: Questions generated at once.
            max_new_tokens: Longest answer.
            precision: ``auto``, ``bf16``, ``fp16`` or ``fp32`` (see
                :class:`~text2sql_tune.models.LocalModel`).

        Raises:
            TuningError: The job has not finished.
        """
        from ...models.local import LocalModel

        job_id = job.job_id if isinstance(job, TuningJob) else job
        record = self.record(job_id)
        if record.status is not TuningStatus.COMPLETED or not record.adapter_path:
            raise TuningError("the job has no tuned adapter yet; wait until it completes", job_id)
        return LocalModel.from_job(
            record.folder,
            system_prompt=self.system_prompt,
            device=self.device,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            precision=precision,
        )


def _examples(pairs: Sequence[QAPair]) -> list[tuple[str, str]]:
    return [(p.question, p.sql) for p in pairs if p.ok]


def _read_examples(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    try:
        return [(p.question, p.sql) for p in read_pairs(path, allow_empty=True)]
    except DataError as exc:
        raise TuningError(f"the job's data file {path} is damaged: {exc}") from exc
