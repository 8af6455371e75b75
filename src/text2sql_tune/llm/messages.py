"""The records the chat client returns: replies, their tool calls, and retry events.

:class:`ChatResponse` is one reply, :class:`ToolCall` a function call in it, and
:class:`RetryEvent` what ``on_retry`` receives before the client waits and tries again. They are
re-exported by :mod:`text2sql_tune.llm.openai` and :mod:`text2sql_tune.llm`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ..errors import DataError
from ..records import Usage
from ._wire import bounded_int

__all__ = ["ChatResponse", "RetryEvent", "ToolCall"]


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


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
            DataError: They are not valid JSON, not a JSON object, nested too deeply, or give
                the same key twice (which value the model meant is unknown).
        """
        where = f"tool call {self.name!r}"
        try:
            value = json.loads(
                self.arguments, object_pairs_hook=_refuse_duplicates, parse_int=bounded_int
            )
        except _DuplicateKeyError as exc:
            raise DataError(f"{where}: arguments give the key {exc.key!r} twice") from exc
        except RecursionError as exc:
            raise DataError(f"{where}: arguments are nested too deeply") from exc
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: arguments are not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise DataError(f"{where}: arguments are a JSON {type(value).__name__}, not an object")
        return value


class ChatResponse(BaseModel):
    """The first choice of a chat completion, with usage.

    Attributes:
        content: The message text (``None`` when the model only called tools).
        tool_calls: Function calls the model asked for.
        usage: Tokens and estimated cost of this call. ``calls`` counts every attempt the
            server answered with a 200, including unreadable ones that were retried (they are
            billed too); tokens of an unbelievable usage report are not counted.
        model: The model that answered (as reported by the server).
        finish_reason: ``stop``, ``length``, ``tool_calls``, ``content_filter``, ... when reported.
        refusal: The model's refusal message, when it refused.
        warnings: Repairs made to the answer (lone surrogates replaced, an invalid usage or
            ``finish_reason`` ignored, malformed tool calls skipped).
        raw: The full response body (lone surrogates replaced).
        latency_s: Seconds from the first attempt to the answer, retries included.
        attempts: HTTP attempts it took (1 when no retry was needed).
    """

    content: str | None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage
    model: str
    finish_reason: str | None = None
    refusal: str | None = None
    warnings: list[str] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)
    latency_s: float = 0.0
    attempts: int = 1


class RetryEvent(BaseModel):
    """Passed to ``on_retry`` before the client sleeps and retries a call.

    Attributes:
        attempt: The attempt that failed (1-based).
        max_attempts: Attempts the call may take in all.
        wait_s: Seconds the client will sleep before the next attempt.
        status: The HTTP status, or ``None`` for a timeout / network error.
        reason: Short description of the failure.
        from_retry_after: True when the wait came from the server's ``Retry-After``.
        provider: The provider's short name.
        model: The model asked.
    """

    attempt: int
    max_attempts: int = 0
    wait_s: float
    status: int | None
    reason: str
    from_retry_after: bool
    provider: str = "openai"
    model: str = ""

    def describe(self) -> str:
        """One line for a progress display: provider, status, how long, which attempt."""
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        why = "Retry-After" if self.from_retry_after else "backoff"
        reason = " ".join(self.reason.split())[:80]
        upto = f" of {self.max_attempts}" if self.max_attempts else ""
        who = f"{self.provider} {self.model}" if self.model else self.provider
        return (
            f"{who}: {what} ({reason}); waiting {self.wait_s:.1f} s "
            f"({why}) before attempt {self.attempt + 1}{upto}"
        )
