"""LLM clients: an OpenAI-compatible chat client, prices, client-side rate limits, outages."""

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
from .ratelimit import RateLimiter, parse_retry_after

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_PRICES",
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
