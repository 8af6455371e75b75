"""A thin, safe wrapper around the optional ``lamini`` SDK.

The SDK is imported lazily (it is heavy and an optional extra). Its calls are synchronous
``requests`` calls with no timeout and no retry, so every call here runs in a worker thread with a
time limit, is retried on 429 / 503 / 5xx / network errors the way the OpenAI clients retry
(:func:`~text2sql_tune.llm.retry.call_with_retries`: ``Retry-After`` or backoff with jitter),
and has its errors mapped to :class:`~text2sql_tune.errors.ProviderError`. Credentials are
resolved here (argument, environment, Lamini's own config file) and passed to the SDK
explicitly, because the SDK reads ``LAMINI_API_KEY`` / ``LAMINI_API_URL`` only once, when it is
first imported.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pydantic import SecretStr

from ..errors import ConfigurationError, MissingExtraError, ProviderError
from ..llm.ratelimit import parse_retry_after
from ..llm.retry import RetryPolicy, TransientError, call_with_retries

__all__ = [
    "DEFAULT_LAMINI_BASE_MODEL",
    "DEFAULT_LAMINI_URL",
    "LaminiSDK",
    "lamini_config_path",
    "resolve_lamini_credentials",
]

logger = logging.getLogger("text2sql_tune")

T = TypeVar("T")

DEFAULT_LAMINI_URL = "https://api.lamini.ai"
DEFAULT_LAMINI_BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"

# Status codes of the SDK's error classes (see lamini.api.rest_requests.make_web_request).
_STATUS_BY_ERROR = {
    "UserError": 400,
    "AuthenticationError": 401,
    "APIUnprocessableContentError": 422,
    "RateLimitError": 429,
    "DuplicateResourceError": 497,
    "ProjectNotFoundError": 499,
    "UnavailableResourceError": 503,
    "DownloadingModelError": 513,
    "RequestTimeoutError": 524,
    "ModelNotFoundError": 594,
}
_RETRYABLE = frozenset({429, 500, 502, 503, 504, 513, 524})
_NOT_STARTED = frozenset({429, 503})  # the server refused before doing anything: safe to resend

# The SDK reports progress with print(); these modules get a module-level ``print`` that logs at
# DEBUG instead, so `--json` output stays clean. (Swapping sys.stdout would be process-wide and
# would stay swapped while a timed-out SDK call hangs in its thread.)
_CHATTY_MODULES = (
    "lamini.api.lamini",
    "lamini.api.train",
    "lamini.api.rest_requests",
    "lamini.api.utils.completion",
    "lamini.api.utils.upload_client",
)


def _log_print(*args: Any, **kwargs: Any) -> None:
    logger.debug("lamini: %s", " ".join(str(a) for a in args))


def lamini_config_path() -> Path:
    """Lamini's own config file, ``~/.lamini/configure.yaml`` (what ``lamini`` reads)."""
    return Path.home() / ".lamini" / "configure.yaml"


def _environment_section() -> str:
    # The SDK picks the config section from LLAMA_ENVIRONMENT: LOCAL, STAGING or production.
    environment = os.environ.get("LLAMA_ENVIRONMENT", "").upper()
    return {"LOCAL": "local", "STAGING": "staging"}.get(environment, "production")


def _from_config_file(key: str) -> str | None:
    path = lamini_config_path()
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read Lamini's config file {path}: {exc}") from exc
    section = data.get(_environment_section()) if isinstance(data, dict) else None
    value = section.get(key) if isinstance(section, dict) else None
    return str(value) if value else None


def resolve_lamini_credentials(
    api_key: str | SecretStr | None = None, api_url: str | None = None
) -> tuple[SecretStr, str]:
    """Find the Lamini API key and URL.

    The key comes from the argument, else ``LAMINI_API_KEY``, else Lamini's config file
    (``~/.lamini/configure.yaml``, ``production.key``; the section follows ``LLAMA_ENVIRONMENT``
    like the SDK). The URL likewise from the argument, ``LAMINI_API_URL``, the config file's
    ``url``, else ``https://api.lamini.ai``.

    Args:
        api_key: An explicit key.
        api_url: An explicit API URL.

    Returns:
        The key (secret) and the URL without a trailing slash.

    Raises:
        ConfigurationError: No key was found anywhere.
    """
    if isinstance(api_key, SecretStr):
        key: str | None = api_key.get_secret_value()
    else:
        key = api_key or os.environ.get("LAMINI_API_KEY") or _from_config_file("key")
    if not key:
        raise ConfigurationError(
            "no Lamini API key found: pass api_key=..., set LAMINI_API_KEY, or put it in "
            f"{lamini_config_path()} under production.key "
            "(find your key at https://app.lamini.ai/account)"
        )
    url = (
        api_url
        or os.environ.get("LAMINI_API_URL")
        or _from_config_file("url")
        or DEFAULT_LAMINI_URL
    )
    return SecretStr(key), url.rstrip("/")


def require_lamini() -> None:
    """Raise :class:`MissingExtraError` when the ``lamini`` package is not installed (cheap)."""
    if importlib.util.find_spec("lamini") is None:
        raise MissingExtraError("lamini", "lamini")


def _import_lamini() -> ModuleType:
    try:
        lamini = importlib.import_module("lamini")
    except ImportError as exc:
        raise MissingExtraError("lamini", "lamini") from exc
    for name in _CHATTY_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            module.print = _log_print  # type: ignore[attr-defined]
    return lamini


def _response(exc: BaseException) -> Any:
    # make_web_request raises the Lamini error inside `except HTTPError`, so the HTTP response
    # is reachable through the implicit exception context.
    return getattr(exc.__context__, "response", None)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(_response(exc), "status_code", None)
    if isinstance(status, int):
        return status
    status = _STATUS_BY_ERROR.get(type(exc).__name__)
    if status is not None:
        return status
    match = re.search(r"API error (\d{3})\b", str(exc))
    return int(match.group(1)) if match else None


def _to_provider_error(exc: BaseException) -> ProviderError:
    module = type(exc).__module__
    if module.startswith("lamini"):
        detail = f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"
        status = _status_of(exc)
        if status in _RETRYABLE:  # the API had no answer (429, 5xx, timeout): not a final one
            headers = getattr(_response(exc), "headers", None)
            retry_after = parse_retry_after(headers) if headers is not None else None
            return TransientError("lamini", status, detail, retry_after)
        return ProviderError("lamini", status, detail)
    # requests' network errors (connection refused / reset) never reached the API handler.
    return TransientError("lamini", None, f"{type(exc).__name__}: {exc}")


def _not_started(error: TransientError) -> bool:
    return error.status in _NOT_STARTED


def _is_transport_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("requests", "urllib3")) or isinstance(exc, OSError)


class LaminiSDK:
    """Calls the ``lamini`` SDK safely from async code.

    Args:
        api_key: The key (see :func:`resolve_lamini_credentials`).
        api_url: The API URL.
        timeout_s: Time limit of one SDK call.
        max_retries: Retries after a 429 / 503 / 5xx / network error.
        retry_backoff_s: First wait between retries without a ``Retry-After`` (doubles each
            time, at most 60 s, with jitter).
    """

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        api_url: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        retry_backoff_s: float = 1.0,
    ) -> None:
        require_lamini()
        self.api_key, self.api_url = resolve_lamini_credentials(api_key, api_url)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self._clients: dict[str, Any] = {}

    def client(self, model_name: str) -> Any:
        """A ``lamini.Lamini`` client for ``model_name`` with this key and URL (imports lamini)."""
        lamini = _import_lamini()
        return lamini.Lamini(
            model_name, api_key=self.api_key.get_secret_value(), api_url=self.api_url
        )

    async def aclient(self, model_name: str) -> Any:
        """Like :meth:`client`, created once per model in a thread (importing lamini takes ~2 s)."""
        if model_name not in self._clients:
            self._clients[model_name] = await asyncio.to_thread(self.client, model_name)
        return self._clients[model_name]

    async def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        idempotent: bool = True,
    ) -> T:
        """Run one blocking SDK call in a thread, with a time limit, retries and error mapping.

        Args:
            what: A short description for the log line (never contains the key).
            fn: The blocking call.
            idempotent: Whether resending is harmless; otherwise only 429 / 503 answers (the
                server did nothing) are retried.

        Returns:
            What ``fn`` returned.

        Raises:
            RateLimitError: The API kept answering 429.
            ProviderUnavailableError: No answer after all retries (5xx, the time limit, the
                network), or a failure after which a call that is not idempotent is not resent.
            ProviderError: The API answered another error (``status`` is the HTTP status).
        """
        policy = RetryPolicy(
            max_retries=self.max_retries, backoff_base_s=self.retry_backoff_s, max_backoff_s=60.0
        )
        done = await call_with_retries(
            lambda: self._once(what, fn),
            policy,
            provider="lamini",
            resend=None if idempotent else _not_started,
        )
        return done.value

    async def _once(self, what: str, fn: Callable[[], T]) -> T:
        logger.info("lamini: %s (%s)", what, self.api_url)
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), timeout=self.timeout_s)
        except asyncio.TimeoutError as exc:
            message = f"{what}: no answer within {self.timeout_s:g} s"
            raise TransientError("lamini", None, message) from exc
        except ProviderError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("lamini") or _is_transport_error(exc):
                raise _to_provider_error(exc) from exc
            raise
