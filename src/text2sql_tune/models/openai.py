"""Ask an OpenAI chat model (e.g. a fine-tuned one) for SQL, with the tuning data's prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from ..interfaces import Text2SQLModel
from ..prompts import chat_messages
from ..records import Prediction, Usage
from ..schema import DatabaseSchema
from ._common import predict_with, resolve_system_prompt

if TYPE_CHECKING:
    from ..llm.protocol import ChatClient

__all__ = ["OpenAIText2SQL"]


class OpenAIText2SQL(Text2SQLModel):
    """A text-to-SQL model answered by an OpenAI-compatible chat model.

    The question is sent as the same chat turn as the training data written by
    :func:`text2sql_tune.exports.openai_chat_records` (system prompt + user question), so a model
    fine-tuned by :class:`~text2sql_tune.tuners.OpenAITuner` sees what it was trained on.

    Args:
        model: The model name, e.g. ``ft:gpt-4o-mini-2024-07-18:org:text2sql:abc123``.
        system_prompt_or_schema: The answering system prompt, or the schema to build it from.
        client: A chat client to share (its model is overridden per call); default: a new
            :class:`~text2sql_tune.llm.openai.OpenAIChatClient` with the key and URL below.
        api_key: OpenAI key (default ``OPENAI_API_KEY``), when no client is given.
        base_url: API base URL, when no client is given.
        temperature: Sampling temperature.
        max_tokens: Longest answer.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
        transport: An httpx transport for the new client (tests).
    """

    def __init__(
        self,
        model: str,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        client: ChatClient | None = None,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        keep_format: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.system_prompt = resolve_system_prompt(system_prompt_or_schema)
        if client is None:
            from ..llm.openai import OpenAIChatClient

            client = OpenAIChatClient(
                model, api_key=api_key, base_url=base_url, transport=transport
            )
        self.client: ChatClient = client
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.keep_format = keep_format

    async def apredict(self, question: str) -> Prediction:
        """Ask the model; provider errors go in ``Prediction.error``."""

        async def call() -> tuple[str, Usage | None]:
            response = await self.client.achat(
                chat_messages(question, self.system_prompt),
                model=self.model,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
            return response.content or "", response.usage

        return await predict_with(question, call, keep_format=self.keep_format)
