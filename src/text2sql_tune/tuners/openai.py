"""Fine-tune an OpenAI chat model over the files and fine-tuning HTTP API (httpx).

The wire format: ``POST /files`` (multipart, ``purpose=fine-tune``) uploads the chat JSONL,
``POST /fine_tuning/jobs`` starts the job, ``GET /fine_tuning/jobs/{id}`` and
``GET /fine_tuning/jobs/{id}/events`` follow it, ``POST /fine_tuning/jobs/{id}/cancel`` stops it.
The finished job's ``fine_tuned_model`` is answered by :class:`OpenAIText2SQL`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from .._sync import run_sync
from ..errors import DataError, TuningError
from ..interfaces import Tuner
from ..llm.connection import OpenAIConnection, resolve_openai_credentials
from ..llm.retry import RetryPolicy, TransientError, call_with_retries
from ..models._common import resolve_system_prompt
from ..records import QAPair, TuningJob, TuningStatus
from ..schema import DatabaseSchema

if TYPE_CHECKING:
    from ..llm.protocol import ChatClient
    from ..models.openai import OpenAIText2SQL

__all__ = [
    "DEFAULT_OPENAI_BASE_MODEL",
    "OpenAITuner",
    "openai_status",
    "validate_chat_records",
]

logger = logging.getLogger("text2sql_tune")

DEFAULT_OPENAI_BASE_MODEL = "gpt-4o-mini-2024-07-18"

_OPENAI_STATUSES = {
    "validating_files": TuningStatus.QUEUED,
    "queued": TuningStatus.QUEUED,
    "running": TuningStatus.RUNNING,
    "succeeded": TuningStatus.COMPLETED,
    "failed": TuningStatus.FAILED,
    "cancelled": TuningStatus.CANCELLED,
}


def openai_status(provider_status: str | None) -> TuningStatus:
    """Map an OpenAI fine-tuning status (``validating_files`` ... ``cancelled``) to TuningStatus."""
    return _OPENAI_STATUSES.get((provider_status or "").lower(), TuningStatus.UNKNOWN)


def validate_chat_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check chat fine-tuning records: each needs ``messages`` ending with an assistant answer.

    Args:
        records: ``{"messages": [{"role", "content"}, ...]}`` records.

    Returns:
        The records as plain dicts.

    Raises:
        DataError: The dataset is empty, or naming the first bad record (1-based) and why.
    """
    if not records:
        raise DataError("the OpenAI fine-tuning dataset is empty: nothing to tune on")
    clean = []
    for number, record in enumerate(records, start=1):
        messages = record.get("messages") if isinstance(record, Mapping) else None
        if not isinstance(messages, list) or not messages:
            raise DataError(f"OpenAI record {number} needs a non-empty 'messages' list")
        for message in messages:
            if not isinstance(message, Mapping) or not str(message.get("content") or "").strip():
                raise DataError(f"OpenAI record {number} has a message without content")
        if messages[-1].get("role") != "assistant":
            raise DataError(f"OpenAI record {number} must end with the assistant's answer")
        clean.append(dict(record))
    return clean


def _rate_limited(error: TransientError) -> bool:
    # A 429 is answered before the server does anything: the one failure after which an upload
    # or a job creation is safe to send again.
    return error.status == 429


class OpenAITuner(Tuner):
    """Fine-tunes an OpenAI chat model on the pairs (supervised fine-tuning).

    Args:
        system_prompt_or_schema: The answering system prompt, or the schema to build it from.
        base_model: The model to fine-tune.
        api_key: OpenAI key; default ``OPENAI_API_KEY``.
        base_url: API base URL; default ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        hyperparameters: ``n_epochs``, ``batch_size``, ``learning_rate_multiplier`` (sent as the
            supervised method's hyperparameters; omitted: OpenAI picks).
        suffix: Up to 18 characters added to the fine-tuned model's name.
        seed: Seed for reproducible jobs.
        timeout_s: HTTP timeout of one call.
        max_retries: Retries after 429 / 5xx / network errors (uploads and job creation are
            resent only after a 429).
        retry_backoff_s: First wait between retries when the server sends no ``Retry-After``
            (doubles each time, at most 60 s, with jitter).
        transport: An httpx transport (tests).

    Raises:
        ConfigurationError: No API key was found (fine-tuning always needs one).
    """

    name = "openai"

    def __init__(
        self,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        base_model: str = DEFAULT_OPENAI_BASE_MODEL,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        retry_backoff_s: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.system_prompt = resolve_system_prompt(system_prompt_or_schema)
        self.base_model = base_model
        self.api_key, self.base_url = resolve_openai_credentials(
            api_key, base_url, require_key=True
        )
        self.hyperparameters = dict(hyperparameters or {})
        self.suffix = suffix
        self.seed = seed
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.transport = transport

    def records(self, pairs: Sequence[QAPair]) -> list[dict[str, Any]]:
        """Format pairs as chat records with this tuner's system prompt."""
        from ..exports import openai_chat_records

        records: list[dict[str, Any]] = list(openai_chat_records(pairs, self.system_prompt))
        return records

    async def _request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        connection = OpenAIConnection(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout_s=self.timeout_s,
            transport=self.transport,
        )
        label = f"{method} {path}"

        async def attempt() -> Any:
            reply = await connection.send(method, path, label=label, **kwargs)
            logger.info("openai %s status=%d latency=%.2fs", label, reply.status, reply.latency_s)
            answer = reply.json()
            if not isinstance(answer, dict):
                kind = type(answer).__name__
                raise TransientError("openai", reply.status, f"the answer is a JSON {kind}")
            return answer

        policy = RetryPolicy(
            max_retries=self.max_retries, backoff_base_s=self.retry_backoff_s, max_backoff_s=60.0
        )
        try:
            done = await call_with_retries(
                attempt, policy, provider="openai", resend=None if idempotent else _rate_limited
            )
        finally:
            await connection.aclose()
        return done.value

    async def aupload(self, records: Sequence[Mapping[str, Any]], filename: str) -> str:
        """Upload chat records as a JSONL file for fine-tuning; returns the file id."""
        content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        answer = await self._request(
            "POST",
            "/files",
            idempotent=False,
            data={"purpose": "fine-tune"},
            files={"file": (filename, content.encode("utf-8"), "application/jsonl")},
        )
        return str(answer["id"])

    def upload(self, records: Sequence[Mapping[str, Any]], filename: str) -> str:
        """Sync twin of :meth:`aupload`."""
        return run_sync(self.aupload(records, filename))

    async def astart(
        self, train: Sequence[QAPair], *, validation: Sequence[QAPair] | None = None
    ) -> TuningJob:
        """Format the pairs, upload them and start fine-tuning; returns at once.

        Args:
            train: Clean pairs to tune on (rejected pairs are skipped).
            validation: Optional pairs OpenAI reports validation loss on.

        Raises:
            DataError: No usable pairs.
            ProviderError: OpenAI refused the file or the job.
        """
        train_records = self.records([p for p in train if p.ok])
        validation_records = self.records([p for p in validation if p.ok]) if validation else None
        return await self.astart_records(train_records, validation_records)

    async def astart_records(
        self,
        records: Sequence[Mapping[str, Any]],
        validation_records: Sequence[Mapping[str, Any]] | None = None,
    ) -> TuningJob:
        """Upload already formatted chat records as they are and start fine-tuning.

        Raises:
            DataError: Empty dataset or a malformed record.
            ProviderError: OpenAI refused the file or the job.
        """
        train_data = validate_chat_records(records)
        validation_data = validate_chat_records(validation_records) if validation_records else None
        body: dict[str, Any] = {
            "model": self.base_model,
            "training_file": await self.aupload(train_data, "train.jsonl"),
        }
        if validation_data:
            body["validation_file"] = await self.aupload(validation_data, "validation.jsonl")
        if self.hyperparameters:
            body["method"] = {
                "type": "supervised",
                "supervised": {"hyperparameters": self.hyperparameters},
            }
        if self.suffix:
            body["suffix"] = self.suffix
        if self.seed is not None:
            body["seed"] = self.seed
        answer = await self._request("POST", "/fine_tuning/jobs", idempotent=False, json=body)
        if "id" not in answer:
            raise TuningError(f"OpenAI started no job: {answer!r:.300}")
        return self._job(answer)

    def start_records(
        self,
        records: Sequence[Mapping[str, Any]],
        validation_records: Sequence[Mapping[str, Any]] | None = None,
    ) -> TuningJob:
        """Sync twin of :meth:`astart_records`."""
        return run_sync(self.astart_records(records, validation_records))

    async def aevents(self, job_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The job's latest events, newest first (``{"created_at", "level", "message", ...}``)."""
        answer = await self._request(
            "GET", f"/fine_tuning/jobs/{job_id}/events", params={"limit": limit}
        )
        return list(answer.get("data") or [])

    def events(self, job_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Sync twin of :meth:`aevents`."""
        return run_sync(self.aevents(job_id, limit=limit))

    async def astatus(self, job_id: str) -> TuningJob:
        """The job's state; ``message`` is its error, else its latest event."""
        answer = await self._request("GET", f"/fine_tuning/jobs/{job_id}")
        job = self._job(answer)
        if job.message is None:
            events = await self.aevents(job_id, limit=1)
            if events and events[0].get("message"):
                job = job.model_copy(update={"message": str(events[0]["message"])})
        return job

    async def acancel(self, job_id: str) -> TuningJob:
        """Cancel the job and return its state."""
        answer = await self._request("POST", f"/fine_tuning/jobs/{job_id}/cancel")
        return self._job(answer)

    def model_for(
        self,
        job: TuningJob | str,
        *,
        max_tokens: int = 512,
        client: ChatClient | None = None,
    ) -> OpenAIText2SQL:
        """The fine-tuned model of a completed job, asked with this tuner's system prompt.

        Args:
            job: The job (its ``model_name`` is used) or a fine-tuned model name.
            max_tokens: Longest answer.
            client: A chat client to use; default: a new ``OpenAIChatClient`` with this tuner's
                key, URL and transport.

        Raises:
            TuningError: The job has no fine-tuned model yet.
        """
        from ..models.openai import OpenAIText2SQL

        model_name = job if isinstance(job, str) else job.model_name
        if not model_name:
            job_id = job.job_id if isinstance(job, TuningJob) else None
            raise TuningError("the job has no fine-tuned model yet; wait until it succeeds", job_id)
        return OpenAIText2SQL(
            model_name,
            self.system_prompt,
            client=client,
            api_key=self.api_key,
            base_url=self.base_url,
            max_tokens=max_tokens,
            transport=self.transport,
        )

    def _job(self, answer: Mapping[str, Any]) -> TuningJob:
        import datetime as dt

        provider_status = answer.get("status")
        error = answer.get("error")
        message = None
        if isinstance(error, Mapping) and error.get("message"):
            message = str(error["message"])
        created = answer.get("created_at")
        return TuningJob(
            job_id=str(answer["id"]),
            provider="openai",
            status=openai_status(provider_status),
            provider_status=provider_status,
            base_model=answer.get("model") or self.base_model,
            model_name=answer.get("fine_tuned_model") or None,
            dataset_id=answer.get("training_file"),
            message=message,
            created_at=(
                dt.datetime.fromtimestamp(created, dt.timezone.utc)
                if isinstance(created, (int, float))
                else None
            ),
            raw=dict(answer),
        )
