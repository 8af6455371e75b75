"""Tune a model on Lamini with the official ``lamini`` SDK (optional extra ``lamini``).

Example:
    >>> tuner = LaminiTuner(schema)                                  # doctest: +SKIP
    >>> job = tuner.start(clean_pairs)                                # uploads, starts, returns
    >>> job = tuner.wait_until_done(job.job_id)                       # polls with backoff
    >>> tuner.model_for(job).predict("How many users are active?")   # the tuned model
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..errors import DataError, TuningError
from ..interfaces import Tuner
from ..models._common import resolve_system_prompt
from ..records import QAPair, TuningJob, TuningStatus
from ..schema import DatabaseSchema
from ._lamini_sdk import DEFAULT_LAMINI_BASE_MODEL, LaminiSDK

if TYPE_CHECKING:
    from ..models.lamini import LaminiModel

__all__ = [
    "DEFAULT_FINETUNE_ARGS",
    "LaminiTuner",
    "lamini_status",
    "validate_lamini_records",
]

logger = logging.getLogger("text2sql_tune")

DEFAULT_FINETUNE_ARGS: dict[str, Any] = {"max_steps": 50, "learning_rate": 1e-4}
"""What the article used; Lamini's own defaults are 100 steps at 9e-4."""

_LAMINI_STATUSES = {
    "CREATED": TuningStatus.QUEUED,
    "SUBMITTED": TuningStatus.QUEUED,
    "SCHEDULED": TuningStatus.QUEUED,
    "QUEUED": TuningStatus.QUEUED,
    "PENDING": TuningStatus.QUEUED,
    "LOADING": TuningStatus.RUNNING,
    "RUNNING": TuningStatus.RUNNING,
    "TRAINING": TuningStatus.RUNNING,
    "EVALUATING": TuningStatus.RUNNING,
    "COMPLETED": TuningStatus.COMPLETED,
    # The SDK's own wait loop treats a partial completion as done: the model is usable.
    "PARTIALLY COMPLETED": TuningStatus.COMPLETED,
    "FAILED": TuningStatus.FAILED,
    # Jobs stop after 4 hours by default; the SDK's wait loop would poll such a job forever.
    "TIMED OUT": TuningStatus.FAILED,
    "TIMED_OUT": TuningStatus.FAILED,
    "CANCELLED": TuningStatus.CANCELLED,
    "CANCELED": TuningStatus.CANCELLED,
}


def lamini_status(provider_status: str | None) -> TuningStatus:
    """Map a Lamini job status (``CREATED``, ``RUNNING``, ``TIMED OUT``, ...) to a TuningStatus."""
    if not provider_status:
        return TuningStatus.UNKNOWN
    return _LAMINI_STATUSES.get(provider_status.strip().upper(), TuningStatus.UNKNOWN)


def validate_lamini_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Check a Lamini dataset before upload: every record needs non-empty ``input``/``output``.

    Args:
        records: ``{"input": prompt, "output": sql}`` records.

    Returns:
        The records as plain ``{"input", "output"}`` dicts (other keys dropped).

    Raises:
        DataError: The dataset is empty, or naming the first bad record (1-based) and why.
    """
    if not records:
        raise DataError("the Lamini dataset is empty: nothing to tune on")
    clean = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise DataError(f"Lamini record {number} is not an object: {record!r:.80}")
        for key in ("input", "output"):
            value = record.get(key)
            if not isinstance(value, str) or not value.strip():
                found = ", ".join(sorted(map(str, record))) or "none"
                raise DataError(
                    f"Lamini record {number} needs a non-empty string {key!r} "
                    f"(Lamini datasets have 'input' and 'output' keys; found keys: {found})"
                )
        clean.append({"input": record["input"], "output": record["output"]})
    return clean


class LaminiTuner(Tuner):
    """Tunes a model on Lamini (Lamini Memory Tuning by default).

    Pairs are formatted with :func:`text2sql_tune.exports.lamini_records` using the answering
    system prompt, so the tuned model must be asked with the same prompt: use
    :meth:`model_for`.

    Args:
        system_prompt_or_schema: The answering system prompt, or the schema to build it from.
        base_model: The Hugging Face id of the model to tune.
        api_key: Lamini API key; default ``LAMINI_API_KEY`` or ``~/.lamini/configure.yaml``.
        api_url: Lamini API URL; default ``LAMINI_API_URL``, the config file, or
            ``https://api.lamini.ai``.
        finetune_args: Passed through to Lamini, merged over ``{"max_steps": 50,
            "learning_rate": 1e-4}`` (e.g. Memory Tuning's ``r_value``, ``index_k``,
            ``index_method``, ``max_length``).
        gpu_config: Passed through (e.g. ``{"gpus": 2, "nodes": 1}``).
        is_public: Whether Lamini may share the dataset and model.
        custom_model_name: A human-readable name for the tuned model.
        train_type: ``"memory_tuning"`` (Lamini's default), ``"memory_rag"`` or ``"mome_mini"``.
        timeout_s: Time limit of one SDK call.
        max_retries: Retries after 429 / 5xx / network errors.
        retry_backoff_s: First wait between retries.
    """

    name = "lamini"

    def __init__(
        self,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        base_model: str = DEFAULT_LAMINI_BASE_MODEL,
        api_key: str | SecretStr | None = None,
        api_url: str | None = None,
        finetune_args: Mapping[str, Any] | None = None,
        gpu_config: Mapping[str, Any] | None = None,
        is_public: bool | None = None,
        custom_model_name: str | None = None,
        train_type: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        retry_backoff_s: float = 1.0,
    ) -> None:
        self.system_prompt = resolve_system_prompt(system_prompt_or_schema)
        self.base_model = base_model
        self.finetune_args = {**DEFAULT_FINETUNE_ARGS, **(finetune_args or {})}
        self.gpu_config = dict(gpu_config) if gpu_config else None
        self.is_public = is_public
        self.custom_model_name = custom_model_name
        self.train_type = train_type
        self._sdk = LaminiSDK(
            api_key=api_key,
            api_url=api_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            retry_backoff_s=retry_backoff_s,
        )

    @property
    def api_url(self) -> str:
        """The Lamini API URL in use."""
        return self._sdk.api_url

    def records(self, pairs: Sequence[QAPair]) -> list[dict[str, str]]:
        """Format pairs as Lamini records with this tuner's system prompt (Llama 3 template)."""
        from ..exports import lamini_records

        records: list[dict[str, str]] = list(lamini_records(pairs, self.system_prompt))
        return records

    async def astart(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Format the pairs, upload them and start tuning; returns at once.

        Args:
            train: Clean pairs to tune on (rejected pairs are skipped).
            validation: Not supported by Lamini; a warning is logged and it is ignored.

        Raises:
            DataError: No usable pairs, or a record without input/output.
            ProviderError: Lamini refused the upload or the job.
        """
        if validation:
            logger.warning("Lamini takes no validation set; %d pairs ignored", len(validation))
        usable = [pair for pair in train if pair.ok]
        return await self.astart_records(self.records(usable))

    async def astart_records(self, records: Sequence[Mapping[str, Any]]) -> TuningJob:
        """Upload already formatted ``{"input", "output"}`` records as they are and start tuning.

        Args:
            records: Lamini records, e.g. read from a file written by ``text2sql-tune export``.

        Raises:
            DataError: Empty dataset or a record without a non-empty ``input``/``output``.
            ProviderError: Lamini refused the upload or the job.
        """
        data = validate_lamini_records(records)
        lamini = await self._sdk.aclient(self.base_model)
        dataset_id = await self._sdk.call(
            f"upload {len(data)} records",
            lambda: lamini.upload_data(data, is_public=self.is_public),
            idempotent=False,
        )
        answer: dict[str, Any] = await self._sdk.call(
            f"start tuning {self.base_model} on dataset {dataset_id}",
            lambda: lamini.train(
                str(dataset_id),
                finetune_args=self.finetune_args,
                gpu_config=self.gpu_config,
                is_public=self.is_public,
                custom_model_name=self.custom_model_name,
                train_type=self.train_type,
            ),
            idempotent=False,
        )
        if "job_id" not in answer:
            raise TuningError(f"Lamini started no job: {answer!r:.300}")
        job = self._job(answer)
        return job.model_copy(update={"dataset_id": str(dataset_id)})

    def start_records(self, records: Sequence[Mapping[str, Any]]) -> TuningJob:
        """Sync twin of :meth:`astart_records`."""
        from .._sync import run_sync

        return run_sync(self.astart_records(records))

    async def astatus(self, job_id: str) -> TuningJob:
        """Ask Lamini for the job's state (``model_name`` is the tuned model's id once known)."""
        lamini = await self._sdk.aclient(self.base_model)
        answer: dict[str, Any] = await self._sdk.call(
            f"status of job {job_id}", lambda: lamini.check_job_status(job_id)
        )
        return self._job({"job_id": job_id, **answer})

    async def acancel(self, job_id: str) -> TuningJob:
        """Cancel the job and return its state afterwards."""
        lamini = await self._sdk.aclient(self.base_model)
        await self._sdk.call(f"cancel job {job_id}", lambda: lamini.cancel_job(job_id))
        return await self.astatus(job_id)

    def model_for(self, job: TuningJob | str, *, max_new_tokens: int = 256) -> LaminiModel:
        """The tuned model of a completed job, asked with this tuner's system prompt.

        Args:
            job: The job (its ``model_name`` is used) or a tuned model id.
            max_new_tokens: Longest answer.

        Raises:
            TuningError: The job has no tuned model yet.
        """
        from ..models.lamini import LaminiModel

        model_name = job if isinstance(job, str) else job.model_name
        if not model_name:
            job_id = job.job_id if isinstance(job, TuningJob) else None
            raise TuningError("the job has no tuned model yet; wait until it completes", job_id)
        return LaminiModel(
            model_name,
            self.system_prompt,
            api_key=self._sdk.api_key,
            api_url=self._sdk.api_url,
            max_new_tokens=max_new_tokens,
            timeout_s=self._sdk.timeout_s,
            max_retries=self._sdk.max_retries,
            retry_backoff_s=self._sdk.retry_backoff_s,
        )

    def _job(self, answer: Mapping[str, Any]) -> TuningJob:
        provider_status = answer.get("status")
        message = answer.get("error") or answer.get("message") or answer.get("detail")
        return TuningJob(
            job_id=str(answer["job_id"]),
            provider="lamini",
            status=lamini_status(provider_status),
            provider_status=provider_status,
            base_model=answer.get("base_model") or self.base_model,
            model_name=answer.get("model_name") or None,
            dataset_id=str(answer["dataset_id"]) if answer.get("dataset_id") else None,
            message=str(message) if message else None,
            raw=dict(answer),
        )
