"""An OpenAI-compatible chat-completions client on httpx.

Works with OpenAI and anything that speaks its ``/chat/completions`` wire format (Azure-style
gateways, vLLM, Ollama, llama.cpp servers): set ``base_url``. It adds what a generation run needs:
tool calls and JSON-schema output, retries on 429 / 5xx / timeouts / unreadable answers that
honour ``Retry-After`` within a cap, a deadline per attempt and per call, a concurrency limit,
optional requests- and tokens-per-minute limits, and token usage with a cost estimate.

Every byte a server sends is treated as hostile input: a body that is not a chat completion is
retried (and, when it came with a 200, counted as a paid call), and a real answer with broken
parts is repaired and described in :attr:`ChatResponse.warnings` rather than raising.

Example:
    >>> client = OpenAIChatClient("gpt-4o-mini")                      # doctest: +SKIP
    >>> reply = client.chat([{"role": "user", "content": "Say hi"}])  # doctest: +SKIP
    >>> reply.content, reply.usage.cost_usd                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from .._sync import run_sync
from ..errors import ConfigurationError
from ..records import Usage
from ._wire import NotACompletionError, parse_completion
from .connection import DEFAULT_OPENAI_BASE_URL, OpenAIConnection, resolve_openai_credentials
from .messages import ChatResponse, RetryEvent, ToolCall
from .pricing import PriceTable
from .ratelimit import RateLimiter
from .retry import RetryPolicy, TransientError, call_with_retries

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "ChatResponse",
    "OpenAIChatClient",
    "RetryEvent",
    "ToolCall",
    "resolve_openai_credentials",
]

logger = logging.getLogger("text2sql_tune")

# Models that refuse ``max_tokens`` and want ``max_completion_tokens``.
_COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def _estimate_tokens(body: Mapping[str, Any]) -> int:
    # About four characters per token, plus the answer budget: only used for the TPM limiter,
    # which is corrected with the real usage afterwards.
    prompt_chars = len(json.dumps(body.get("messages", []))) + len(
        json.dumps(body.get("tools", []))
    )
    answer = body.get("max_tokens") or body.get("max_completion_tokens") or 256
    return prompt_chars // 4 + int(answer)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"{name} must be above 0 (or None for no limit)")


class OpenAIChatClient:
    """An async chat-completions client for OpenAI and compatible servers, with a sync twin.

    It is a :class:`~text2sql_tune.llm.ChatClient`.

    Args:
        model: Default model for :meth:`achat`.
        api_key: The key; default ``OPENAI_API_KEY``. Required for the official API only.
        base_url: API root, e.g. ``http://localhost:11434/v1``; default ``OPENAI_BASE_URL`` or
            ``https://api.openai.com/v1``.
        timeout_s: Longest silence: to connect, or between two reads of the answer.
        attempt_timeout_s: Longest one HTTP attempt may take in all, from sending the request to
            the last byte of the answer (a server trickling bytes is cut off); ``None``: no limit.
        call_timeout_s: Longest one call may take with every retry and wait; a retry whose wait
            would end past it is not made. ``None``: no limit.
        max_retries: Retries after the first attempt on 429, 5xx, timeouts, network errors and
            unreadable answers.
        max_retry_after_s: The longest wait honoured from a ``Retry-After`` header; longer hints
            are capped to it.
        concurrency: HTTP requests in flight at once (a client waiting out a ``Retry-After`` does
            not hold a slot).
        requests_per_minute: Client-side request budget; ``None`` for none.
        tokens_per_minute: Client-side token budget (estimated before, corrected after each call).
        prices: Price table for the cost estimate; default :class:`PriceTable` with list prices.
        transport: An httpx transport (``httpx.MockTransport`` in tests).
        extra_headers: Sent with every request (e.g. ``api-key`` for Azure-style gateways).
        backoff_base_s: First backoff when the server gives no ``Retry-After``; doubles per retry.
        max_backoff_s: Longest backoff without a ``Retry-After``.
        max_response_bytes: A longer answer is cut off and treated as unreadable.
        on_retry: Called with a :class:`RetryEvent` before each retry (progress displays).

    Attributes:
        usage: Running total of tokens and cost over every call, counting the attempts that got
            an unreadable 200 (they are billed).
        retries: Number of retries made so far.
        connection: The HTTP transport, shared in kind with the fine-tuning client
            (:class:`~text2sql_tune.llm.connection.OpenAIConnection`).

    Raises:
        ConfigurationError: A limit is out of range, or the official API has no key.
    """

    def __init__(
        self,
        model: str = "gpt-4o",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        attempt_timeout_s: float | None = 180.0,
        call_timeout_s: float | None = 300.0,
        max_retries: int = 6,
        max_retry_after_s: float = 120.0,
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        prices: PriceTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_headers: Mapping[str, str] | None = None,
        backoff_base_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_response_bytes: int = 16 * 2**20,
        on_retry: Callable[[RetryEvent], Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        for name, value in (
            ("timeout_s", timeout_s),
            ("attempt_timeout_s", attempt_timeout_s),
            ("call_timeout_s", call_timeout_s),
        ):
            _positive(name, value)
        if max_retry_after_s < 0:
            raise ConfigurationError("max_retry_after_s must be 0 or more")
        self.model = model
        self.connection = OpenAIConnection(
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            attempt_timeout_s=attempt_timeout_s,
            max_response_bytes=max_response_bytes,
            concurrency=concurrency,
            transport=transport,
            extra_headers=extra_headers,
        )
        self.call_timeout_s = call_timeout_s
        self.max_retries = max_retries
        self.max_retry_after_s = max_retry_after_s
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.prices = prices or PriceTable()
        self.on_retry = on_retry
        self.usage = Usage()
        self.retries = 0

    def __repr__(self) -> str:
        return f"OpenAIChatClient(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def api_key(self) -> SecretStr | None:
        """The key sent as ``Authorization: Bearer``, if any."""
        return self.connection.api_key

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self.connection.base_url

    @property
    def concurrency(self) -> int:
        """HTTP requests in flight at once."""
        return self.connection.concurrency

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            max_backoff_s=self.max_backoff_s,
            max_retry_after_s=self.max_retry_after_s,
            call_timeout_s=self.call_timeout_s,
        )

    def _body(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: str | Mapping[str, Any] | None,
        response_format: Mapping[str, Any] | None,
        temperature: float | None,
        max_tokens: int | None,
        extra_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
        if tools:
            body["tools"] = [dict(t) for t in tools]
        if tool_choice is not None:
            if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
                # A bare tool name forces that tool.
                tool_choice = {"type": "function", "function": {"name": tool_choice}}
            body["tool_choice"] = tool_choice
        if response_format is not None:
            body["response_format"] = dict(response_format)
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            field = (
                "max_completion_tokens"
                if model.startswith(_COMPLETION_TOKENS_PREFIXES)
                else "max_tokens"
            )
            body[field] = max_tokens
        body.update(extra_body or {})
        return body

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
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResponse:
        """Send one chat completion and return its first choice.

        Args:
            messages: OpenAI chat messages (``{"role": ..., "content": ...}``).
            tools: Function tools in OpenAI's format (``{"type": "function", "function": ...}``).
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, a tool name (forces it) or
                OpenAI's object form.
            response_format: e.g. ``{"type": "json_schema", "json_schema": {...}}``.
            temperature: Sampling temperature; server default when ``None``.
            max_tokens: Longest answer (sent as ``max_completion_tokens`` for o-series / gpt-5).
            model: Overrides the client's default model for this call.
            extra_body: More request fields, passed through (e.g. ``{"seed": 1}``).

        Returns:
            The answer with its usage and cost.

        Raises:
            RateLimitError: The server still answered 429 after every retry.
            ProviderUnavailableError: No usable answer after every retry (5xx, timeouts, network
                errors, unreadable bodies), or the call's deadline passed; ``.usage`` has the
                billed but unreadable attempts.
            ProviderError: Any other error status (400, 401, 403, 404, a redirect), at once.
        """
        body = self._body(
            messages,
            model=model or self.model,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            temperature=temperature,
            max_tokens=max_tokens,
            extra_body=extra_body,
        )
        estimated = _estimate_tokens(body) if self.limiter.tokens_per_minute else 0
        started = time.perf_counter()
        done = await call_with_retries(
            lambda: self._attempt(body, estimated),
            self._policy(),
            provider="openai",
            model=body["model"],
            on_retry=self._count_retry,
        )
        response = done.value
        self.usage = self.usage + response.usage
        return response.model_copy(
            update={
                "latency_s": time.perf_counter() - started,
                "attempts": done.attempts,
                # Attempts answered with an unreadable 200 were billed with nothing to show.
                "usage": Usage(calls=done.paid_calls) + response.usage,
            }
        )

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        model: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResponse:
        """Sync twin of :meth:`achat`."""
        return run_sync(
            self.achat(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                response_format=response_format,
                temperature=temperature,
                max_tokens=max_tokens,
                model=model,
                extra_body=extra_body,
            )
        )

    async def _attempt(self, body: dict[str, Any], estimated: int) -> ChatResponse:
        if self.limiter.active:
            await self.limiter.acquire(estimated)
        model = body["model"]
        try:
            reply = await self.connection.send(
                "POST", "/chat/completions", label=f"chat model={model}", json=body
            )
            parsed = self._parse(reply.status, reply.body, model)
        except TransientError as exc:
            if exc.paid:
                self.usage = self.usage + Usage(calls=1)
            raise
        if estimated:
            self.limiter.correct(estimated, parsed.usage.total_tokens)
        logger.info(
            "openai chat model=%s status=%d prompt_tokens=%d completion_tokens=%d latency=%.2fs",
            parsed.model,
            reply.status,
            parsed.usage.prompt_tokens,
            parsed.usage.completion_tokens,
            reply.latency_s,
        )
        return parsed

    def _parse(self, status: int, raw: bytes, requested_model: str) -> ChatResponse:
        try:
            parsed = parse_completion(raw)
        except NotACompletionError as exc:
            logger.info("openai chat model=%s status=%d unreadable body", requested_model, status)
            shown = raw[:300].decode("utf-8", "replace")
            message = f"the answer is not a chat completion ({exc}): {shown!r}"
            raise TransientError("openai", status, message, paid=True) from exc
        for warning in parsed.warnings:
            logger.warning("openai chat model=%s: %s", requested_model, warning)
        model = parsed.model or requested_model
        prompt_tokens, completion_tokens = parsed.prompt_tokens, parsed.completion_tokens
        cost = None
        if parsed.usage_valid:
            cost = self.prices.cost(requested_model, prompt_tokens, completion_tokens)
            if cost is None and model != requested_model:
                cost = self.prices.cost(model, prompt_tokens, completion_tokens)
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )
        tool_calls = [
            ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in parsed.tool_calls
        ]
        return ChatResponse(
            content=parsed.content,
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=parsed.finish_reason,
            refusal=parsed.refusal,
            warnings=parsed.warnings,
            raw=parsed.data,
        )

    def _count_retry(self, event: RetryEvent) -> None:
        self.retries += 1
        if self.on_retry is not None:
            self.on_retry(event)

    async def aclose(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        await self.connection.aclose()

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        if not self.connection.is_open:
            return
        try:
            run_sync(self.aclose())
        except Exception:
            # The pool belonged to an event loop that has ended: nothing is left to close.
            self.connection.forget()

    async def __aenter__(self) -> OpenAIChatClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> OpenAIChatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
