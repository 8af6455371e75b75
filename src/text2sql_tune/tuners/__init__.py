"""Tuners: start and follow fine-tuning jobs at Lamini or OpenAI, or tune LoRA adapters locally.

Each is a :class:`~text2sql_tune.interfaces.Tuner`: ``start(pairs)`` formats and uploads the data
and returns a :class:`~text2sql_tune.records.TuningJob` at once; ``status``, ``cancel`` and
``wait_until_done`` follow it; ``model_for(job)`` gives the tuned
:class:`~text2sql_tune.interfaces.Text2SQLModel`. Configuration files and ``tune --tuner`` name
them ``lamini``, ``openai`` and ``local`` in the :mod:`~text2sql_tune.registry`.
"""

from __future__ import annotations

from ._lamini_sdk import DEFAULT_LAMINI_BASE_MODEL, resolve_lamini_credentials
from .lamini import DEFAULT_FINETUNE_ARGS, LaminiTuner, lamini_status, validate_lamini_records
from .local.job import MEMORY_TUNING_ARGS, LocalFinetuneArgs, LocalJobRecord, RecallSummary
from .local.recall import atraining_recall, training_recall
from .local.sft import TrainingProgress
from .local.tuner import LocalLoRATuner
from .openai import DEFAULT_OPENAI_BASE_MODEL, OpenAITuner, openai_status, validate_chat_records

__all__ = [
    "DEFAULT_FINETUNE_ARGS",
    "DEFAULT_LAMINI_BASE_MODEL",
    "DEFAULT_OPENAI_BASE_MODEL",
    "MEMORY_TUNING_ARGS",
    "LaminiTuner",
    "LocalFinetuneArgs",
    "LocalJobRecord",
    "LocalLoRATuner",
    "OpenAITuner",
    "RecallSummary",
    "TrainingProgress",
    "atraining_recall",
    "lamini_status",
    "openai_status",
    "resolve_lamini_credentials",
    "training_recall",
    "validate_chat_records",
    "validate_lamini_records",
]
