"""The chat-client seam: what generators, models and judges need from an LLM client.

:class:`ChatClient` is the one declaration of it. :class:`~text2sql_tune.llm.OpenAIChatClient`
implements it; so can a client for another provider, or a test double that answers from a
script. Every answer is a :class:`~text2sql_tune.llm.ChatResponse`.

Example:
    A scripted client for tests::

        from text2sql_tune.llm import ChatResponse
        from text2sql_tune.records import Usage

        class Scripted:
            model = "scripted"

            async def achat(self, messages, **options):
                return ChatResponse(content="SELECT 1", usage=Usage(calls=1), model=self.model)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .messages import ChatResponse

__all__ = ["ChatClient"]


class ChatClient(Protocol):
    """An async chat-completions client (OpenAI's message and tool formats).

    Implementations raise :class:`~text2sql_tune.errors.ProviderError` for an error answer,
    :class:`~text2sql_tune.errors.ProviderUnavailableError` when no usable answer arrived after
    their retries, and :class:`~text2sql_tune.errors.RateLimitError` when the provider kept
    answering 429: generators, models and judges decide what each means for a run.
    """

    @property
    def model(self) -> str:
        """The model asked when a call names none."""

    async def achat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        model: str | None = None,
    ) -> ChatResponse:
        """Send one chat completion and return its first choice.

        Args:
            messages: OpenAI chat messages (``{"role": ..., "content": ...}``).
            tools: Function tools in OpenAI's format.
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, a tool name or OpenAI's
                object form.
            response_format: e.g. ``{"type": "json_schema", "json_schema": {...}}``.
            temperature: Sampling temperature; the server's default when ``None``.
            max_tokens: Longest answer.
            model: Overrides the client's default model for this call.

        Returns:
            The answer, with its usage.
        """
