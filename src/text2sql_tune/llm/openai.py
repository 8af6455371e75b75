"""An OpenAI-compatible chat-completions client on httpx.

Works with OpenAI and anything that speaks its ``/chat/completions`` wire format (Azure-style
gateways, vLLM, Ollama, llama.cpp servers): set ``base_url``. It adds what a generation run needs:
tool calls and JSON-schema output, retries on 429 / 5xx / timeouts that honour ``Retry-After``,
a concurrency limit, optional requests- and tokens-per-minute limits, and token usage with a cost
estimate.

Example:
    >>> client = OpenAIChatClient("gpt-4o-mini")                      # doctest: +SKIP
    >>> reply = client.chat([{"role": "user", "content": "Say hi"}])  # doctest: +SKIP
    >>> reply.content, reply.usage.cost_usd                           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, Field, SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .._sync import run_sync
from ..errors import ConfigurationError, DataError, ProviderError, RateLimitError
from ..models import Usage
from .pricing import PriceTable
from .ratelimit import RateLimiter, parse_retry_after

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "ChatResponse",
    "OpenAIChatClient",
    "RetryEvent",
    "ToolCall",
    "resolve_openai_credentials",
]

logger = logging.getLogger("text2sql_tune")

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
"""The official OpenAI API, used when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set."""

_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_MAX_RETRY_AFTER_S = 120.0
# Models that refuse ``max_tokens`` and want ``max_completion_tokens``.
_COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def _is_official_openai(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")


def resolve_openai_credentials(
    api_key: str | SecretStr | None = None, base_url: str | None = None
) -> tuple[SecretStr | None, str]:
    """Resolve the API key and base URL the way every OpenAI-compatible part of the library does.

    The key is the argument, else the ``OPENAI_API_KEY`` environment variable; the URL is the
    argument, else ``OPENAI_BASE_URL``, else the official API. A key is required for the official
    API only: local servers (vLLM, Ollama, llama.cpp) usually need none.

    Args:
        api_key: An explicit key.
        base_url: An explicit base URL, e.g. ``http://localhost:8000/v1``.

    Returns:
        ``(key or None, base URL without a trailing slash)``.

    Raises:
        ConfigurationError: No key was found for the official OpenAI API.
    """
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    key = api_key or os.environ.get("OPENAI_API_KEY") or None
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL).rstrip("/")
    if key is None and _is_official_openai(url):
        raise ConfigurationError(
            "no OpenAI API key found: set the OPENAI_API_KEY environment variable "
            "(export OPENAI_API_KEY=sk-...) or pass api_key=...; "
            "for a local OpenAI-compatible server pass base_url=... instead"
        )
    return (SecretStr(key) if key else None), url


class ToolCall(BaseModel):
    """One function call the model asked for.

    Attributes:
        id: The call id.
        name: The function name.
        arguments: The arguments as the model wrote them (JSON text, possibly invalid).
    """

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict.

        Raises:
            DataError: They are not valid JSON or not a JSON object.
        """
        try:
            value = json.loads(self.arguments)
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(
                f"tool call {self.name!r}: arguments are not valid JSON: {exc}"
            ) from exc
        if not isinstance(value, dict):
            raise DataError(
                f"tool call {self.name!r}: arguments are a JSON {type(value).__name__}, "
                "not an object"
            )
        return value


class ChatResponse(BaseModel):
    """The first choice of a chat completion, with usage.

    Attributes:
        content: The message text (``None`` when the model only called tools).
        tool_calls: Function calls the model asked for.
        usage: Tokens and estimated cost of this call (``calls=1``).
        model: The model that answered (as reported by the server).
        finish_reason: ``stop``, ``length``, ``tool_calls``, ... when reported.
        raw: The full response body.
        latency_s: Seconds from the first attempt to the answer, retries included.
        attempts: HTTP attempts it took (1 when no retry was needed).
    """

    content: str | None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage
    model: str
    finish_reason: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    latency_s: float = 0.0
    attempts: int = 1


class RetryEvent(BaseModel):
    """Passed to ``on_retry`` before the client sleeps and retries a call.

    Attributes:
        attempt: The attempt that failed (1-based).
        wait_s: Seconds the client will sleep before the next attempt.
        status: The HTTP status, or ``None`` for a timeout / network error.
        reason: Short description of the failure.
        from_retry_after: True when the wait came from the server's ``Retry-After``.
    """

    attempt: int
    wait_s: float
    status: int | None
    reason: str
    from_retry_after: bool


class _TransientError(ProviderError):
    """A failure worth retrying; ``retry_after`` is the server's hint, when it gave one."""

    def __init__(self, status: int | None, body: str, retry_after: float | None) -> None:
        super().__init__("openai", status, body)
        self.retry_after = retry_after


class _TransientRateLimitError(_TransientError, RateLimitError):
    """HTTP 429; stays a :class:`RateLimitError` when retries run out."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TransientError)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:1000]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return response.text[:1000]


def _estimate_tokens(body: Mapping[str, Any]) -> int:
    # About four characters per token, plus the answer budget: only used for the TPM limiter,
    # which is corrected with the real usage afterwards.
    prompt_chars = len(json.dumps(body.get("messages", []))) + len(
        json.dumps(body.get("tools", []))
    )
    answer = body.get("max_tokens") or body.get("max_completion_tokens") or 256
    return prompt_chars // 4 + int(answer)


def _tool_calls(message: Mapping[str, Any]) -> list[ToolCall]:
    calls = []
    for index, item in enumerate(message.get("tool_calls") or []):
        if not isinstance(item, Mapping):
            raise TypeError("a tool call is not an object")
        function = item.get("function") or {}
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some servers send an object instead of JSON text
            arguments = json.dumps(arguments)
        calls.append(
            ToolCall(
                id=str(item.get("id") or f"call_{index}"),
                name=str(function.get("name") or ""),
                arguments=arguments,
            )
        )
    return calls


class OpenAIChatClient:
    """An async chat-completions client for OpenAI and compatible servers, with a sync twin.

    Args:
        model: Default model for :meth:`achat`.
        api_key: The key; default ``OPENAI_API_KEY``. Required for the official API only.
        base_url: API root, e.g. ``http://localhost:11434/v1``; default ``OPENAI_BASE_URL`` or
            ``https://api.openai.com/v1``.
        timeout_s: Seconds one HTTP attempt may take.
        max_retries: Retries after the first attempt on 429, 5xx, timeouts and network errors.
        concurrency: HTTP requests in flight at once (a client waiting out a ``Retry-After`` does
            not hold a slot).
        requests_per_minute: Client-side request budget; ``None`` for none.
        tokens_per_minute: Client-side token budget (estimated before, corrected after each call).
        prices: Price table for the cost estimate; default :class:`PriceTable` with list prices.
        transport: An httpx transport (``httpx.MockTransport`` in tests).
        extra_headers: Sent with every request (e.g. ``api-key`` for Azure-style gateways).
        backoff_base_s: First backoff when the server gives no ``Retry-After``; doubles per retry.
        max_backoff_s: Longest backoff without a ``Retry-After``.
        on_retry: Called with a :class:`RetryEvent` before each retry (progress displays).

    Attributes:
        usage: Running total of tokens and cost over every successful call.
        retries: Number of retries made so far.
    """

    def __init__(
        self,
        model: str = "gpt-4o",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 6,
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        prices: PriceTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_headers: Mapping[str, str] | None = None,
        backoff_base_s: float = 0.5,
        max_backoff_s: float = 30.0,
        on_retry: Callable[[RetryEvent], Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        self.model = model
        self.api_key, self.base_url = resolve_openai_credentials(api_key, base_url)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.prices = prices or PriceTable()
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.on_retry = on_retry
        self.usage = Usage()
        self.retries = 0
        self._transport = transport
        self._headers = {"Content-Type": "application/json", **dict(extra_headers or {})}
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAIChatClient(model={self.model!r}, base_url={self.base_url!r})"

    def _bind(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        # httpx pools and semaphores belong to one event loop; a client used from a new loop
        # (sync twins on the portal loop, then asyncio.run elsewhere) gets fresh ones.
        loop = asyncio.get_running_loop()
        if self._http is None or self._semaphore is None or self._loop is not loop:
            headers = dict(self._headers)
            if self.api_key is not None:
                headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self.timeout_s),
                limits=limits,
                transport=self._transport,
            )
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._loop = loop
        return self._http, self._semaphore

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
            ProviderError: Any other error status, a timeout or network failure after every retry,
                or a body that is not a chat completion.
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
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        attempts = 0
        async for attempt in retrying:
            with attempt:
                attempts += 1
                response = await self._send(body, estimated)
        result = response.model_copy(
            update={"latency_s": time.perf_counter() - started, "attempts": attempts}
        )
        self.usage = self.usage + result.usage
        return result

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

    async def _send(self, body: dict[str, Any], estimated: int) -> ChatResponse:
        http, slot = self._bind()
        if self.limiter.active:
            await self.limiter.acquire(estimated)
        model = body["model"]
        async with slot:
            started = time.perf_counter()
            try:
                response = await http.post("/chat/completions", json=body)
            except httpx.TimeoutException as exc:
                logger.info(
                    "openai chat model=%s status=timeout after %.1fs", model, self.timeout_s
                )
                message = f"timed out after {self.timeout_s:g} s"
                raise _TransientError(None, message, None) from exc
            except httpx.TransportError as exc:
                logger.info("openai chat model=%s status=network-error (%s)", model, exc)
                message = f"network error: {type(exc).__name__}: {exc}"
                raise _TransientError(None, message, None) from exc
            latency = time.perf_counter() - started
        status = response.status_code
        if status >= 400:
            logger.info("openai chat model=%s status=%d latency=%.2fs", model, status, latency)
            text = _error_text(response)
            if status == 429:
                raise _TransientRateLimitError(status, text, parse_retry_after(response.headers))
            if status in _RETRY_STATUSES or status >= 500:
                raise _TransientError(status, text, parse_retry_after(response.headers))
            raise ProviderError("openai", status, text)
        parsed = self._parse(response, model)
        if estimated:
            self.limiter.correct(estimated, parsed.usage.total_tokens)
        logger.info(
            "openai chat model=%s status=%d prompt_tokens=%d completion_tokens=%d latency=%.2fs",
            parsed.model,
            status,
            parsed.usage.prompt_tokens,
            parsed.usage.completion_tokens,
            latency,
        )
        return parsed

    def _parse(self, response: httpx.Response, requested_model: str) -> ChatResponse:
        status = response.status_code
        try:
            data = response.json()
            if not isinstance(data, dict):
                raise TypeError("the body is not a JSON object")
            choice = data["choices"][0]
            message = choice["message"]
            if not isinstance(message, Mapping):
                raise TypeError("choices[0].message is not an object")
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                content = json.dumps(content)
            tool_calls = _tool_calls(message)
            raw_usage = data.get("usage") or {}
            prompt_tokens = int(raw_usage.get("prompt_tokens") or 0)
            completion_tokens = int(raw_usage.get("completion_tokens") or 0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            logger.info("openai chat model=%s status=%d unreadable body", requested_model, status)
            raise ProviderError(
                "openai",
                status,
                f"the answer is not a chat completion ({type(exc).__name__}: {exc}): "
                f"{response.text[:300]!r}",
            ) from exc
        model = str(data.get("model") or requested_model)
        cost = self.prices.cost(requested_model, prompt_tokens, completion_tokens)
        if cost is None and model != requested_model:
            cost = self.prices.cost(model, prompt_tokens, completion_tokens)
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )
        return ChatResponse(
            content=content,
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=choice.get("finish_reason"),
            raw=data,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = exc.retry_after if isinstance(exc, _TransientError) else None
        if hint is not None:
            # A little jitter so that callers told the same Retry-After do not return in lockstep.
            return min(hint, _MAX_RETRY_AFTER_S) * random.uniform(1.0, 1.1)
        ceiling = min(self.max_backoff_s, self.backoff_base_s * 2.0 ** (state.attempt_number - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        status = exc.status if isinstance(exc, ProviderError) else None
        hinted = isinstance(exc, _TransientError) and exc.retry_after is not None
        logger.info(
            "openai chat attempt %d failed (%s); retrying in %.2fs",
            state.attempt_number,
            status if status is not None else "no response",
            wait,
        )
        if self.on_retry is not None:
            self.on_retry(
                RetryEvent(
                    attempt=state.attempt_number,
                    wait_s=wait,
                    status=status,
                    reason=exc.body[:200] if isinstance(exc, ProviderError) else str(exc),
                    from_retry_after=hinted,
                )
            )

    async def aclose(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        http, self._http, self._semaphore, self._loop = self._http, None, None, None
        if http is not None:
            await http.aclose()

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        if self._http is None:
            return
        try:
            run_sync(self.aclose())
        except Exception:
            # The pool belonged to an event loop that has ended: nothing is left to close.
            self._http = None

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
