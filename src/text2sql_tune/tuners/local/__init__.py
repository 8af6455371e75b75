"""LoRA tuning on your own CPU or GPU (the ``local`` extra): tuner, job record, training loop.

- :class:`LocalLoRATuner`: the :class:`~text2sql_tune.interfaces.Tuner` that runs jobs here.
- :mod:`~text2sql_tune.tuners.local.job`: the job folder's ``job.json`` and its arguments.
- :mod:`~text2sql_tune.tuners.local.sft`: the supervised (LoRA SFT) training loop.
- :mod:`~text2sql_tune.tuners.local.runtime`: device, precision, model and tokenizer loading.
- :mod:`~text2sql_tune.tuners.local.recall`: how much of the training SQL a tuned model recalls.

torch, transformers and peft are imported only when a job runs.
"""

from __future__ import annotations

from .job import MEMORY_TUNING_ARGS, LocalFinetuneArgs, LocalJobRecord, RecallSummary
from .recall import atraining_recall, training_recall
from .sft import TrainingProgress
from .tuner import DEFAULT_LOCAL_OUTPUT_DIR, LocalLoRATuner

__all__ = [
    "DEFAULT_LOCAL_OUTPUT_DIR",
    "MEMORY_TUNING_ARGS",
    "LocalFinetuneArgs",
    "LocalJobRecord",
    "LocalLoRATuner",
    "RecallSummary",
    "TrainingProgress",
    "atraining_recall",
    "training_recall",
]
