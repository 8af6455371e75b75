"""Prompt-only baselines to compare tuned models with: zero-shot, few-shot, self-reflection.

These are the article's steps before tuning: ask a general chat model with the annotated schema
(zero-shot), add the most similar known examples to the prompt (few-shot), and, when the query
fails to run, show the model the error once and ask for a fix (self-reflection).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ProviderUnavailableError
from ..interfaces import SQLExecutor, Text2SQLModel
from ..records import EvalCase, Prediction, QAPair, Usage
from ..schema import DatabaseSchema
from ._common import predict_with, resolve_system_prompt
from .retrieval import LexicalIndex

if TYPE_CHECKING:
    from ..llm.protocol import ChatClient

__all__ = ["FewShotModel", "SelfReflectionModel", "ZeroShotModel", "reflection_message"]

Message = dict[str, str]


def reflection_message(error: str) -> str:
    """The follow-up turn that shows the model its query's execution error."""
    return (
        "Running this query on the database failed with the error below. "
        "Fix the query and answer with the corrected SQL query only.\n\n"
        f"Error: {error}"
    )


def _add_usage(first: Usage | None, second: Usage | None) -> Usage | None:
    if first is None or second is None:
        return first or second
    return first + second


class ZeroShotModel(Text2SQLModel):
    """Ask a chat model with the annotated schema in the system prompt and nothing else.

    Args:
        client: The chat client (its default model is used unless ``model`` is given).
        schema: The annotated schema, or a ready system prompt.
        model: Model name overriding the client's default.
        temperature: Sampling temperature.
        max_tokens: Longest answer.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
    """

    def __init__(
        self,
        client: ChatClient,
        schema: DatabaseSchema | str,
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        keep_format: bool = False,
    ) -> None:
        self.client = client
        self.system_prompt = resolve_system_prompt(schema)
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.keep_format = keep_format
        self.name = f"zero-shot:{model or client.model}"

    def messages(self, question: str) -> list[Message]:
        """The chat messages sent for ``question``."""
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": question},
        ]

    async def _ask(self, messages: list[Message]) -> tuple[str, Usage | None]:
        response = await self.client.achat(
            messages, model=self.model, temperature=self.temperature, max_tokens=self.max_tokens
        )
        return response.content or "", response.usage

    async def apredict(self, question: str) -> Prediction:
        """Ask the model; provider errors go in ``Prediction.error``."""
        messages = self.messages(question)
        return await predict_with(
            question, lambda: self._ask(messages), keep_format=self.keep_format
        )


class FewShotModel(ZeroShotModel):
    """Zero-shot plus the ``k`` known examples most similar to the question.

    Similarity is TF-IDF cosine over question words and word pairs
    (:class:`~text2sql_tune.models.retrieval.LexicalIndex`): no model download. The examples are
    sent
    as earlier user/assistant turns, most similar last (closest to the question).

    Args:
        client: The chat client.
        schema: The annotated schema, or a ready system prompt.
        examples: Seed question/SQL pairs (or golden-style cases) to pick from.
        k: How many examples to show.
        model: Model name overriding the client's default.
        temperature: Sampling temperature.
        max_tokens: Longest answer.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
    """

    def __init__(
        self,
        client: ChatClient,
        schema: DatabaseSchema | str,
        examples: Sequence[QAPair | EvalCase],
        *,
        k: int = 3,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        keep_format: bool = False,
    ) -> None:
        super().__init__(
            client,
            schema,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            keep_format=keep_format,
        )
        if k < 0:
            raise ValueError("k must be >= 0")
        self.examples = [e for e in examples if not isinstance(e, QAPair) or e.ok]
        self.k = k
        self._index = LexicalIndex([e.question for e in self.examples])
        self.name = self.name.replace("zero-shot", f"few-shot-{k}", 1)

    def similar(self, question: str) -> list[QAPair | EvalCase]:
        """The ``k`` most similar examples, most similar first."""
        if self.k == 0 or not self.examples:
            return []
        return [self.examples[i] for i, _ in self._index.search(question, k=self.k)]

    def messages(self, question: str) -> list[Message]:
        """System prompt, the examples as earlier turns, then the question."""
        turns: list[Message] = [{"role": "system", "content": self.system_prompt}]
        for example in reversed(self.similar(question)):
            turns.append({"role": "user", "content": example.question})
            turns.append({"role": "assistant", "content": example.sql})
        turns.append({"role": "user", "content": question})
        return turns


class SelfReflectionModel(Text2SQLModel):
    """Ask once; if the SQL fails to run, send the error back once and take the corrected query.

    Args:
        client: The chat client.
        schema: The annotated schema, or a ready system prompt.
        executor: Runs the first answer (``atry_execute``) to find execution errors.
        examples: When given, the first answer is few-shot (``k`` most similar examples).
        k: Examples shown when ``examples`` are given.
        model: Model name overriding the client's default.
        temperature: Sampling temperature.
        max_tokens: Longest answer.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
    """

    def __init__(
        self,
        client: ChatClient,
        schema: DatabaseSchema | str,
        executor: SQLExecutor,
        *,
        examples: Sequence[QAPair | EvalCase] | None = None,
        k: int = 3,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        keep_format: bool = False,
    ) -> None:
        self.executor = executor
        self.keep_format = keep_format
        chat: dict[str, Any] = {
            "model": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "keep_format": keep_format,
        }
        self.first = (
            FewShotModel(client, schema, examples, k=k, **chat)
            if examples
            else ZeroShotModel(client, schema, **chat)
        )
        self.name = f"self-reflection:{self.first.name}"

    async def apredict(self, question: str) -> Prediction:
        """Answer; on an execution error (or no SQL at all), ask once more with the error."""
        started = time.perf_counter()
        messages = self.first.messages(question)
        first = await predict_with(
            question, lambda: self.first._ask(messages), keep_format=self.keep_format
        )
        if first.raw_output is None:  # the provider failed: nothing to reflect on
            return first
        if first.sql:
            outcome = await self.executor.atry_execute(first.sql, min_rows=0)
            if outcome.executed:
                return first
            error = outcome.error or outcome.status.value
        else:
            error = "the answer contains no SQL query"
        retry_messages = [
            *messages,
            {"role": "assistant", "content": first.raw_output},
            {"role": "user", "content": reflection_message(error)},
        ]
        try:
            second = await predict_with(
                question, lambda: self.first._ask(retry_messages), keep_format=self.keep_format
            )
        except ProviderUnavailableError:  # no answer to the retry: the first one still counts
            second = Prediction(question=question)
        if second.raw_output is None:  # the retry failed at the provider: keep the first answer
            return first.model_copy(update={"latency_s": time.perf_counter() - started})
        return second.model_copy(
            update={
                "latency_s": time.perf_counter() - started,
                "usage": _add_usage(first.usage, second.usage),
            }
        )
