"""LLM clients: the chat-client seam, an OpenAI-compatible client, prices, rate limits, outages.

:class:`ChatClient` is what generators, models and judges need from a client;
:class:`OpenAIChatClient` implements it for OpenAI and compatible servers.
"""

from __future__ import annotations

from .openai import (
    DEFAULT_OPENAI_BASE_URL,
    ChatResponse,
    OpenAIChatClient,
    RetryEvent,
    ToolCall,
    resolve_openai_credentials,
)
from .outage import DEFAULT_MAX_CONSECUTIVE_FAILURES, FailureStreak
from .pricing import DEFAULT_PRICES, ModelPrice, PriceTable
from .protocol import ChatClient
from .ratelimit import RateLimiter, parse_retry_after

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_PRICES",
    "ChatClient",
    "ChatResponse",
    "FailureStreak",
    "ModelPrice",
    "OpenAIChatClient",
    "PriceTable",
    "RateLimiter",
    "RetryEvent",
    "ToolCall",
    "parse_retry_after",
    "resolve_openai_credentials",
]
