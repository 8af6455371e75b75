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
from pydantic import SecretStr

from .._sync import run_sync
from ..errors import (
    ConfigurationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ..records import Usage
from ._wire import NotACompletionError, parse_completion
from .messages import ChatResponse, RetryEvent, ToolCall
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


class _TransientError(ProviderError):
    """A failure worth retrying; ``retry_after`` is the server's hint, when it gave one."""

    def __init__(
        self, status: int | None, body: str, retry_after: float | None, *, paid: bool = False
    ) -> None:
        super().__init__("openai", status, body)
        self.retry_after = retry_after
        self.paid = paid


class _ResponseTooLargeError(Exception):
    pass


def _error_text(status: int, raw: bytes) -> str:
    text = raw[:4000].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text[:1000] or f"HTTP {status} with an empty body"
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message[:1000]
    if isinstance(error, str):
        return error[:1000]
    return text[:1000]


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

    Raises:
        ConfigurationError: A limit is out of range.
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
        self.api_key, self.base_url = resolve_openai_credentials(api_key, base_url)
        self.timeout_s = timeout_s
        self.attempt_timeout_s = attempt_timeout_s
        self.call_timeout_s = call_timeout_s
        self.max_retries = max_retries
        self.max_retry_after_s = max_retry_after_s
        self.concurrency = concurrency
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.prices = prices or PriceTable()
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.max_response_bytes = max_response_bytes
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
        paid = Usage()  # attempts answered with an unreadable 200: billed, nothing to show
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(body, estimated)
                break
            except _TransientError as exc:
                if exc.paid:
                    paid = paid + Usage(calls=1)
                    self.usage = self.usage + Usage(calls=1)
                wait = self._wait_s(exc, attempt)
                elapsed = time.perf_counter() - started
                if attempt > self.max_retries:
                    raise self._unavailable(exc, paid, f"after {attempt} attempts") from exc
                if self.call_timeout_s is not None and elapsed + wait > self.call_timeout_s:
                    limit = f"the call's {self.call_timeout_s:g} s limit"
                    raise self._unavailable(
                        exc, paid, f"gave up after {attempt} attempts: {limit} is near"
                    ) from exc
                self._notify(exc, attempt, wait, body["model"])
                await asyncio.sleep(wait)
        self.usage = self.usage + response.usage
        return response.model_copy(
            update={
                "latency_s": time.perf_counter() - started,
                "attempts": attempt,
                "usage": paid + response.usage,
            }
        )

    @staticmethod
    def _unavailable(exc: _TransientError, paid: Usage, why: str) -> ProviderUnavailableError:
        error_class = RateLimitError if exc.status == 429 else ProviderUnavailableError
        return error_class("openai", exc.status, f"{exc.body} ({why})", usage=paid)

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
        seen: list[int] = []  # the status, once the headers arrived
        async with slot:
            started = time.perf_counter()
            try:
                status, raw, headers = await asyncio.wait_for(
                    self._exchange(http, body, seen), timeout=self.attempt_timeout_s
                )
            except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
                took = time.perf_counter() - started
                logger.info("openai chat model=%s status=timeout after %.1fs", model, took)
                if isinstance(exc, httpx.TimeoutException):
                    message = f"timed out: no data for {self.timeout_s:g} s"
                else:
                    message = f"timed out: no complete answer within {self.attempt_timeout_s:g} s"
                raise self._transient_without_answer(seen, message) from exc
            except _ResponseTooLargeError as exc:
                message = f"the answer is larger than {self.max_response_bytes:,} bytes"
                raise self._transient_without_answer(seen, message) from exc
            except httpx.RequestError as exc:  # network, protocol (cut-off body), decoding
                logger.info("openai chat model=%s status=network-error (%s)", model, exc)
                message = f"network error: {type(exc).__name__}: {exc}"
                raise self._transient_without_answer(seen, message) from exc
            latency = time.perf_counter() - started
        if status >= 300:
            logger.info("openai chat model=%s status=%d latency=%.2fs", model, status, latency)
            text = _error_text(status, raw)
            if status < 400:
                where = headers.get("location") or "another address"
                text = f"redirected to {where}: set base_url to the final address ({text[:200]})"
            elif status == 429 or status in _RETRY_STATUSES or status >= 500:
                raise _TransientError(status, text, parse_retry_after(headers))
            raise ProviderError("openai", status, text)
        parsed = self._parse(status, raw, model)
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

    async def _exchange(
        self, http: httpx.AsyncClient, body: dict[str, Any], seen: list[int]
    ) -> tuple[int, bytes, httpx.Headers]:
        async with http.stream("POST", "/chat/completions", json=body) as response:
            seen.append(response.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _ResponseTooLargeError
                chunks.append(chunk)
            return response.status_code, b"".join(chunks), response.headers

    @staticmethod
    def _transient_without_answer(seen: list[int], message: str) -> _TransientError:
        status = seen[0] if seen else None
        if status is not None:
            message = f"HTTP {status} but {message}"
        return _TransientError(status, message, None, paid=status is not None and status < 300)

    def _parse(self, status: int, raw: bytes, requested_model: str) -> ChatResponse:
        try:
            parsed = parse_completion(raw)
        except NotACompletionError as exc:
            logger.info("openai chat model=%s status=%d unreadable body", requested_model, status)
            shown = raw[:300].decode("utf-8", "replace")
            raise _TransientError(
                status, f"the answer is not a chat completion ({exc}): {shown!r}", None, paid=True
            ) from exc
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

    def _wait_s(self, exc: _TransientError, attempt: int) -> float:
        if exc.retry_after is not None:
            # A little jitter so that callers told the same Retry-After do not return in lockstep.
            return min(exc.retry_after, self.max_retry_after_s) * random.uniform(1.0, 1.1)
        ceiling = min(self.max_backoff_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def _notify(self, exc: _TransientError, attempt: int, wait: float, model: str) -> None:
        self.retries += 1
        event = RetryEvent(
            attempt=attempt,
            max_attempts=self.max_retries + 1,
            wait_s=wait,
            status=exc.status,
            reason=exc.body[:200],
            from_retry_after=exc.retry_after is not None,
            model=model,
        )
        logger.info("openai chat: %s", event.describe())
        if self.on_retry is not None:
            try:
                self.on_retry(event)
            except Exception:  # a broken progress display must not fail the call
                logger.exception("on_retry callback failed")

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
