"""A text-to-SQL model that runs on your machine: a Hugging Face causal LM, with a LoRA adapter.

Example:
    >>> model = LocalModel.from_path("local-tuning/local-1a2b3c4d5e6f")       # doctest: +SKIP
    >>> model.predict("How many users are active?").sql                      # doctest: +SKIP

Concurrent ``apredict`` calls (the evaluator asks several questions at once) are gathered into
batches and answered with one batched greedy ``generate`` call each.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._sync import run_sync
from ..errors import ConfigurationError, DataError, ProviderError
from ..interfaces import Text2SQLModel
from ..prompts import PromptStyle, answering_system_prompt, schema_for_question
from ..records import Prediction, Usage
from ..schema import DatabaseSchema
from ..tuners.local.job import JOB_FILE, LocalJobRecord, read_job_record
from ..tuners.local.runtime import (
    ChatFormat,
    GeneratedAnswer,
    generate_answers,
    import_local,
    import_peft,
    load_base_model,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
)
from ._common import predict_with, resolve_system_prompt

__all__ = ["LocalModel"]

_Waiting = tuple[str, "asyncio.Future[GeneratedAnswer]"]


class LocalModel(Text2SQLModel):
    """A local causal LM (plus an optional LoRA adapter) answering with greedy decoding.

    The question is rendered with the tokenizer's chat template around the answering system
    prompt, exactly like the local tuner's training data; the SQL is extracted from the answer
    with :func:`~text2sql_tune.sql.extract.extract_sql`. Weights load on the first question.

    Args:
        model_path: The base (or merged) model folder, or a hub id.
        system_prompt_or_schema: The answering system prompt, or the schema to build it from;
            use the one the adapter was trained with.
        adapter: A LoRA adapter folder (``adapter_config.json``) to apply on top.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        precision: ``auto`` (bf16 on a GPU or CPU that computes in bf16 in hardware, else
            fp32), ``bf16``, ``fp16``, ``fp32``.
        batch_size: Questions generated at once.
        max_new_tokens: Longest answer, in tokens.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
        name: The model's name in reports (default ``local:<folder>``).
        training: What the job recorded (loss curve, recall), for reports.
        prompt_style: With a schema: render it ``full`` or ``compact``
            (:func:`~text2sql_tune.prompts.answering_system_prompt`).
        prune_schema: With a schema: show each question only the tables it names
            (:func:`~text2sql_tune.prompts.schema_for_question`), a shorter prompt.

    Raises:
        ConfigurationError: ``batch_size`` below 1, or ``prune_schema`` with a prompt text
            instead of a schema.
    """

    def __init__(
        self,
        model_path: str | Path,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        adapter: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 8,
        max_new_tokens: int = 256,
        keep_format: bool = False,
        name: str | None = None,
        training: dict[str, Any] | None = None,
        prompt_style: PromptStyle = "full",
        prune_schema: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError("batch_size must be >= 1")
        self.schema = (
            system_prompt_or_schema if isinstance(system_prompt_or_schema, DatabaseSchema) else None
        )
        if prune_schema and self.schema is None:
            raise ConfigurationError("prune_schema needs the schema, not a system prompt text")
        self.prompt_style: PromptStyle = prompt_style
        self.prune_schema = prune_schema
        self.model_path = str(model_path)
        self.adapter = str(adapter) if adapter is not None else None
        self.system_prompt = (
            answering_system_prompt(self.schema, style=prompt_style)
            if self.schema is not None
            else resolve_system_prompt(system_prompt_or_schema)
        )
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.keep_format = keep_format
        self.name = name or f"local:{Path(self.adapter or self.model_path).name}"
        self.training = training
        self._model: Any = None
        self._tokenizer: Any = None
        self._format: ChatFormat | None = None
        self._load_lock = threading.Lock()
        # Questions waiting for a batch, and the task answering them, per event loop.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self._workers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    @classmethod
    def from_job(
        cls,
        job: str | Path | LocalJobRecord,
        *,
        system_prompt: str | DatabaseSchema | None = None,
        **options: Any,
    ) -> LocalModel:
        """The tuned model of a local job: its base model with its adapter and system prompt.

        Args:
            job: The job folder, its ``job.json``, a job file that embeds it, or the record.
            system_prompt: Overrides the prompt the job was trained with (rarely what you want).
            **options: Other :class:`LocalModel` arguments.

        Raises:
            DataError: Not a job, or the job has no adapter yet.
        """
        record = job if isinstance(job, LocalJobRecord) else read_job_record(job)
        if not record.adapter_path or not Path(record.adapter_path).is_dir():
            raise DataError(
                f"local job {record.job_id} has no adapter yet (phase {record.phase}); "
                "finish training it first"
            )
        training = {
            "job_id": record.job_id,
            "base_model": record.base_model,
            "adapter": record.adapter_path,
            "recipe": record.recipe,
            "step": record.step,
            "wall_time_s": record.wall_time_s,
            "losses": [[p.step, p.loss] for p in record.losses],
            "recall": record.recall.model_dump(mode="json") if record.recall else None,
        }
        options.setdefault("name", f"local:{record.job_id}")
        return cls(
            record.base_model,
            system_prompt if system_prompt is not None else record.system_prompt,
            adapter=record.adapter_path,
            training=training,
            **options,
        )

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        system_prompt_or_schema: str | DatabaseSchema | None = None,
        **options: Any,
    ) -> LocalModel:
        """A model from whatever ``path`` is: a job, an adapter folder, or a model folder.

        - a job folder or job file: base model + adapter + the job's system prompt (the one it
          was trained with; ``system_prompt_or_schema`` is not used);
        - an adapter folder (``adapter_config.json``): its base model (from the adapter's
          config) + the adapter;
        - anything else: a plain (or merged) model folder, or a hub id.

        Raises:
            ConfigurationError: ``system_prompt_or_schema`` is needed (not a job) but missing.
        """
        target = Path(path)
        if (target / JOB_FILE).is_file() or (target.is_file() and target.suffix == ".json"):
            return cls.from_job(target, **options)
        if system_prompt_or_schema is None:
            raise ConfigurationError(
                f"{path} is not a tuning job: give the schema or system prompt"
            )
        config = target / "adapter_config.json"
        if config.is_file():
            try:
                base = json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
            except (ValueError, KeyError) as exc:
                raise DataError(f"{config}: no base_model_name_or_path") from exc
            return cls(base, system_prompt_or_schema, adapter=target, **options)
        return cls(target if target.exists() else str(path), system_prompt_or_schema, **options)

    def load(self) -> None:
        """Load the tokenizer and weights now (otherwise done on the first question)."""
        with self._load_lock:
            if self._model is not None:
                return
            device = resolve_device(self.device)
            dtype = resolve_dtype(self.precision, device)
            tokenizer_source = self.adapter if self._has_tokenizer(self.adapter) else None
            tokenizer = load_tokenizer(tokenizer_source or self.model_path)
            model = load_base_model(self.model_path, dtype=dtype, device=device)
            if self.adapter is not None:
                peft = import_peft()
                model = peft.PeftModel.from_pretrained(model, self.adapter).to(device)
            model.eval()
            model.config.use_cache = True
            self._tokenizer = tokenizer
            self._format = ChatFormat(tokenizer, self.system_prompt)
            self._model = model

    @staticmethod
    def _has_tokenizer(folder: str | None) -> bool:
        return folder is not None and (Path(folder) / "tokenizer_config.json").is_file()

    def prompt(self, question: str) -> str:
        """The exact prompt text the model is given for ``question``."""
        self.load()
        assert self._format is not None
        return self._format.prompt(question, self._system_for(question))

    def _system_for(self, question: str) -> str | None:
        if not self.prune_schema or self.schema is None:
            return None
        pruned = schema_for_question(self.schema, question)
        return answering_system_prompt(pruned, style=self.prompt_style)

    def generate(self, questions: Sequence[str]) -> list[GeneratedAnswer]:
        """Greedy answers (raw text and token counts) to ``questions``, in batches.

        Raises:
            ProviderError: Generation failed (e.g. out of memory); provider ``"local"``.
        """
        self.load()
        assert self._format is not None
        fmt = self._format
        try:
            return generate_answers(
                self._model,
                self._tokenizer,
                [fmt.prompt(q, self._system_for(q)) for q in questions],
                stop_token_ids=fmt.stop_token_ids(),
                max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size,
            )
        except RuntimeError as exc:
            raise ProviderError("local", None, f"generation failed: {exc}") from exc

    async def apredict(self, question: str) -> Prediction:
        """Answer ``question``; questions asked concurrently share a batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GeneratedAnswer] = loop.create_future()
        self._pending.setdefault(loop, []).append((question, future))
        worker = self._workers.get(loop)
        if worker is None or worker.done():
            self._workers[loop] = loop.create_task(self._drain(loop))

        async def call() -> tuple[str, Usage | None]:
            answer = await future
            usage = Usage(
                calls=1,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
            )
            return answer.text, usage

        return await predict_with(question, call, keep_format=self.keep_format)

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending[loop]
        while pending:
            await asyncio.sleep(0)  # let callers that were scheduled together join the batch
            batch = pending[: self.batch_size]
            del pending[: self.batch_size]
            try:
                answers = await asyncio.to_thread(self.generate, [q for q, _ in batch])
            except Exception as exc:  # every waiting caller gets the error, none hangs
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def apredict_many(self, questions: Sequence[str]) -> list[Prediction]:
        """Answer many questions (batched); one prediction per question, in order."""
        return list(await asyncio.gather(*(self.apredict(q) for q in questions)))

    def predict_many(self, questions: Sequence[str]) -> list[Prediction]:
        """Sync twin of :meth:`apredict_many`."""
        return run_sync(self.apredict_many(questions))

    def export(self, output_dir: str | Path, *, merge: bool = True) -> Path:
        """Write the model for serving: merged weights (vLLM, llama.cpp) or the adapter alone.

        Args:
            output_dir: The folder to write (created).
            merge: Fold the adapter into the base weights and save a full model (what
                llama.cpp's ``convert_hf_to_gguf.py`` and ``vllm serve`` take); ``False`` copies
                the adapter (for ``vllm serve BASE --enable-lora --lora-modules``).

        Returns:
            The folder written.

        Raises:
            ConfigurationError: ``merge=False`` without an adapter.
        """
        from .local_export import export_local

        return export_local(self.model_path, self.adapter, output_dir, merge=merge)

    def close(self) -> None:
        """Free the weights (they load again on the next question)."""
        with self._load_lock:
            self._model = self._tokenizer = self._format = None
        torch, _ = import_local()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
