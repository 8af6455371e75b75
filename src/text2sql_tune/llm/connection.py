"""One OpenAI-compatible API over httpx: credentials, connections, one attempt, typed errors.

:class:`OpenAIConnection` is the transport the chat client and the fine-tuning client share. It
resolves the key and base URL (:func:`resolve_openai_credentials`), keeps a connection pool per
event loop (:meth:`OpenAIConnection.aclose` closes it), and sends one request with a read
timeout, a deadline for the whole answer and a size cap. A status of 300 or more becomes an
error: a :class:`~text2sql_tune.llm.retry.TransientError` when another attempt may succeed (429,
5xx, 408, 409, timeouts, network errors, a body cut off or too large), else a
:class:`~text2sql_tune.errors.ProviderError` (a redirect, 400, 401, 403, 404). The wire formats
on top (chat completions, files, fine-tuning jobs) and the retries
(:func:`~text2sql_tune.llm.retry.call_with_retries`) are the callers' part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import SecretStr

from ..errors import ConfigurationError, ProviderError
from ._wire import NotACompletionError, load_json
from .ratelimit import parse_retry_after
from .retry import TransientError

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "HTTPReply",
    "OpenAIConnection",
    "resolve_openai_credentials",
]

logger = logging.getLogger("text2sql_tune")

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
"""The official OpenAI API, used when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set."""

_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_AUTH_HINTS = {
    401: "check the key: set OPENAI_API_KEY or pass api_key=...",
    403: "the key is not allowed to use this model or endpoint",
}


def _is_official_openai(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")


def resolve_openai_credentials(
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
    *,
    require_key: bool = False,
) -> tuple[SecretStr | None, str]:
    """Resolve the API key and base URL the way every OpenAI-compatible part of the library does.

    The key is the argument, else the ``OPENAI_API_KEY`` environment variable; the URL is the
    argument, else ``OPENAI_BASE_URL``, else the official API. A key is required for the official
    API (and wherever ``require_key`` says so): local servers (vLLM, Ollama, llama.cpp) usually
    need none.

    Args:
        api_key: An explicit key.
        base_url: An explicit base URL, e.g. ``http://localhost:8000/v1``.
        require_key: Refuse to go on without a key whatever the URL (fine-tuning).

    Returns:
        ``(key or None, base URL without a trailing slash)``.

    Raises:
        ConfigurationError: No key was found where one is needed.
    """
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    key = api_key or os.environ.get("OPENAI_API_KEY") or None
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL).rstrip("/")
    if key is None and (require_key or _is_official_openai(url)):
        local = "" if require_key else "; for a local OpenAI-compatible server pass base_url=..."
        raise ConfigurationError(
            "no OpenAI API key found: set the OPENAI_API_KEY environment variable "
            "(export OPENAI_API_KEY=sk-...) or pass api_key=... "
            f"(create one at https://platform.openai.com/api-keys){local}"
        )
    return (SecretStr(key) if key else None), url


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


class _ResponseTooLargeError(Exception):
    pass


@dataclass
class HTTPReply:
    """A response with a status below 300.

    Attributes:
        status: The HTTP status.
        body: The whole body.
        headers: The response headers.
        latency_s: Seconds from sending the request to the last byte.
    """

    status: int
    body: bytes
    headers: httpx.Headers
    latency_s: float

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            TransientError: The body is not JSON (a gateway's page, a cut-off answer).
        """
        try:
            return load_json(self.body)
        except NotACompletionError as exc:
            shown = self.body[:300].decode("utf-8", "replace")
            message = f"unreadable answer ({exc}): {shown!r}"
            raise TransientError("openai", self.status, message) from exc


class OpenAIConnection:
    """Sends requests to one OpenAI-compatible API, one attempt at a time.

    Args:
        api_key: The key; default ``OPENAI_API_KEY``.
        base_url: API root; default ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        require_key: Refuse to start without a key whatever the URL.
        timeout_s: Longest silence: to connect, or between two reads of the answer.
        attempt_timeout_s: Longest one attempt may take in all, from the request to the last
            byte of the answer; ``None``: no limit.
        max_response_bytes: A longer answer is cut off and treated as unreadable.
        concurrency: Requests in flight at once.
        transport: An httpx transport (``httpx.MockTransport`` in tests).
        extra_headers: Sent with every request.

    Raises:
        ConfigurationError: No key was found where one is needed.
    """

    provider = "openai"

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        require_key: bool = False,
        timeout_s: float = 60.0,
        attempt_timeout_s: float | None = None,
        max_response_bytes: int = 16 * 2**20,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.api_key, self.base_url = resolve_openai_credentials(
            api_key, base_url, require_key=require_key
        )
        self.timeout_s = timeout_s
        self.attempt_timeout_s = attempt_timeout_s
        self.max_response_bytes = max_response_bytes
        self.concurrency = concurrency
        self.transport = transport
        self._headers = dict(extra_headers or {})
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        """Whether a connection pool is open."""
        return self._http is not None

    def _client(self) -> httpx.AsyncClient:
        headers = dict(self._headers)
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=limits,
            transport=self.transport,
        )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[httpx.AsyncClient]:
        # httpx pools and semaphores belong to one event loop; a connection used from a new
        # loop (sync twins on the portal loop, then asyncio.run elsewhere) gets fresh ones.
        loop = asyncio.get_running_loop()
        if self._http is None or self._semaphore is None or self._loop is not loop:
            self._http = self._client()
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._loop = loop
        http, semaphore = self._http, self._semaphore
        async with semaphore:
            yield http

    async def send(self, method: str, path: str, *, label: str, **request: Any) -> HTTPReply:
        """Send one request and read the whole answer.

        Args:
            method: ``GET``, ``POST``, ...
            path: Below the base URL, e.g. ``/chat/completions``.
            label: Names the request in log lines (never the key).
            **request: Passed to httpx (``json=``, ``data=``, ``files=``, ``params=``).

        Returns:
            The answer, when its status is below 300.

        Raises:
            TransientError: Another attempt may succeed (429, 5xx, 408, 409, a timeout, a network
                error, a body cut off or larger than ``max_response_bytes``).
            ProviderError: A redirect or any other error status (400, 401, 403, 404).
        """
        seen: list[int] = []  # the status, once the headers arrived
        async with self._slot() as http:
            started = time.perf_counter()
            try:
                status, raw, headers = await asyncio.wait_for(
                    self._exchange(http, method, path, seen, request),
                    timeout=self.attempt_timeout_s,
                )
            except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
                took = time.perf_counter() - started
                logger.info("openai %s status=timeout after %.1fs", label, took)
                if isinstance(exc, httpx.TimeoutException):
                    message = f"timed out: no data for {self.timeout_s:g} s"
                else:
                    message = f"timed out: no complete answer within {self.attempt_timeout_s:g} s"
                raise self._without_answer(seen, message) from exc
            except _ResponseTooLargeError as exc:
                message = f"the answer is larger than {self.max_response_bytes:,} bytes"
                raise self._without_answer(seen, message) from exc
            except httpx.RequestError as exc:  # network, protocol (cut-off body), decoding
                logger.info("openai %s status=network-error (%s)", label, exc)
                message = f"network error: {type(exc).__name__}: {exc}"
                raise self._without_answer(seen, message) from exc
            latency = time.perf_counter() - started
        if status >= 300:
            logger.info("openai %s status=%d latency=%.2fs", label, status, latency)
            raise self._status_error(status, raw, headers)
        return HTTPReply(status, raw, headers, latency)

    async def _exchange(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        seen: list[int],
        request: dict[str, Any],
    ) -> tuple[int, bytes, httpx.Headers]:
        async with http.stream(method, path, **request) as response:
            seen.append(response.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _ResponseTooLargeError
                chunks.append(chunk)
            return response.status_code, b"".join(chunks), response.headers

    def _without_answer(self, seen: list[int], message: str) -> TransientError:
        status = seen[0] if seen else None
        if status is not None:
            message = f"HTTP {status} but {message}"
        paid = status is not None and status < 300
        return TransientError(self.provider, status, message, paid=paid)

    def _status_error(self, status: int, raw: bytes, headers: httpx.Headers) -> ProviderError:
        text = _error_text(status, raw)
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        if len(key) >= 8:  # some servers quote the key they refused
            text = text.replace(key, "***")
        if status < 400:
            where = headers.get("location") or "another address"
            text = f"redirected to {where}: set base_url to the final address ({text[:200]})"
        elif status in _RETRY_STATUSES or status >= 500:
            return TransientError(self.provider, status, text, parse_retry_after(headers))
        elif status in _AUTH_HINTS:
            text = f"{text} ({_AUTH_HINTS[status]})"
        return ProviderError(self.provider, status, text)

    async def aclose(self) -> None:
        """Close the pooled connections (a later request opens new ones)."""
        http, self._http, self._semaphore, self._loop = self._http, None, None, None
        if http is not None:
            await http.aclose()

    def forget(self) -> None:
        """Drop the pool without closing it (its event loop has ended: nothing is left open)."""
        self._http, self._semaphore, self._loop = None, None, None
