"""Text-to-SQL models: tuned models (Lamini, OpenAI, local LoRA) and prompt-only baselines.

Every model is a :class:`~text2sql_tune.interfaces.Text2SQLModel`: ``await model.apredict(q)``
(or ``model.predict(q)``) returns a :class:`~text2sql_tune.models.Prediction` whose ``sql`` was
extracted from the answer by :func:`~text2sql_tune.sql_extract.extract_sql`. Provider errors end up
in ``Prediction.error``; missing credentials raise, and so does a provider that gave no answer at
all (:class:`~text2sql_tune.errors.ProviderUnavailableError`). :class:`CheckpointedModel` saves
any model's answers as they arrive so that a stopped evaluation never asks twice.
"""

from __future__ import annotations

from .baselines import FewShotModel, SelfReflectionModel, ZeroShotModel, reflection_message
from .checkpoint import CheckpointedModel, answers_key
from .lamini import LaminiModel
from .local import LocalModel
from .openai import OpenAIText2SQL
from .spec import MODEL_KINDS, model_from_spec

__all__ = [
    "MODEL_KINDS",
    "CheckpointedModel",
    "FewShotModel",
    "LaminiModel",
    "LocalModel",
    "OpenAIText2SQL",
    "SelfReflectionModel",
    "ZeroShotModel",
    "answers_key",
    "model_from_spec",
    "reflection_message",
]
