"""Text-to-SQL models: tuned (Lamini, OpenAI, local LoRA), prompt-only and retrieval baselines.

Every model is a :class:`~text2sql_tune.interfaces.Text2SQLModel`: ``await model.apredict(q)``
(or ``model.predict(q)``) returns a :class:`~text2sql_tune.records.Prediction` whose ``sql`` was
extracted from the answer by :func:`~text2sql_tune.sql.extract.extract_sql`. Provider errors end up
in ``Prediction.error``; missing credentials raise, and so does a provider that gave no answer at
all (:class:`~text2sql_tune.errors.ProviderUnavailableError`). :class:`CheckpointedModel` saves
any model's answers as they arrive so that a stopped evaluation never asks twice.
"""

from __future__ import annotations

import warnings
from typing import Any

from .baselines import FewShotModel, SelfReflectionModel, ZeroShotModel, reflection_message
from .checkpoint import CheckpointedModel, answers_key
from .lamini import LaminiModel
from .local import LocalModel
from .openai import OpenAIText2SQL
from .retrieval import LexicalIndex, RetrievalModel
from .spec import MODEL_KINDS, model_from_spec

__all__ = [
    "MODEL_KINDS",
    "CheckpointedModel",
    "FewShotModel",
    "LaminiModel",
    "LexicalIndex",
    "LocalModel",
    "OpenAIText2SQL",
    "RetrievalModel",
    "SelfReflectionModel",
    "ZeroShotModel",
    "answers_key",
    "model_from_spec",
    "reflection_message",
]


def __getattr__(name: str) -> Any:
    # Until 0.1 this path held the records (QAPair, EvalReport, ...); they live in
    # text2sql_tune.records now. Old imports keep working, with a warning, for one release.
    from .. import records

    if name in records.__all__:
        warnings.warn(
            f"text2sql_tune.models.{name} moved to text2sql_tune.records.{name} "
            "(text2sql_tune.models now holds the text-to-SQL models); the old path goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
