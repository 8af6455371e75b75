"""Helpers shared by the text-to-SQL models and the tuners."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ..errors import (
    ConfigurationError,
    MissingExtraError,
    ProviderError,
    ProviderUnavailableError,
)
from ..prompts import answering_system_prompt
from ..records import Prediction, Usage
from ..schema import DatabaseSchema
from ..sql.extract import extract_sql

__all__ = ["predict_with", "resolve_system_prompt"]


def resolve_system_prompt(system_prompt_or_schema: str | DatabaseSchema) -> str:
    """The answering system prompt: given as text, or built from a schema.

    Args:
        system_prompt_or_schema: The system prompt itself, or the schema to build the standard
            answering prompt from (:func:`text2sql_tune.prompts.answering_system_prompt`).
    """
    if isinstance(system_prompt_or_schema, DatabaseSchema):
        return answering_system_prompt(system_prompt_or_schema)
    if not system_prompt_or_schema.strip():
        raise ConfigurationError("the system prompt is empty")
    return system_prompt_or_schema


async def predict_with(
    question: str,
    call: Callable[[], Awaitable[tuple[str, Usage | None]]],
    *,
    keep_format: bool = False,
) -> Prediction:
    """Run one model call and turn its answer (or provider error) into a :class:`Prediction`.

    Missing credentials and missing extras still raise: they are set-up mistakes, not answers.
    So does :class:`~text2sql_tune.errors.ProviderUnavailableError` (no answer arrived at all):
    the evaluator counts it towards an outage and a checkpoint never saves it as an answer.

    Args:
        question: The question.
        call: Returns the raw answer and its usage.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
    """
    started = time.perf_counter()
    try:
        raw, usage = await call()
    except (ConfigurationError, MissingExtraError, ProviderUnavailableError):
        raise
    except ProviderError as exc:
        return Prediction(
            question=question, error=str(exc), latency_s=time.perf_counter() - started
        )
    sql = extract_sql(raw, keep_format=keep_format)
    return Prediction(
        question=question,
        sql=sql,
        raw_output=raw,
        latency_s=time.perf_counter() - started,
        usage=usage,
        error=None if sql else "no SQL statement found in the answer",
    )
