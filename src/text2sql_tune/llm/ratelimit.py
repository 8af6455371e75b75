"""Client-side rate limiting (requests and tokens per minute) and ``Retry-After`` parsing.

The limiter is a pair of token buckets. A caller reserves capacity before sending a request and
sleeps until the reservation is due; reservations are taken in call order without awaiting, so the
limiter needs no lock and is fair. Token counts are estimated before a call and corrected with the
usage the provider reports afterwards.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone

__all__ = ["RateLimiter", "parse_retry_after"]


class _Bucket:
    """A token bucket that may go into debt: large reservations queue later callers behind them."""

    def __init__(self, per_minute: float, burst_s: float, clock: Callable[[], float]) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate * burst_s, 1e-9)
        self.level = self.capacity
        self.clock = clock
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def reserve(self, amount: float) -> float:
        """Take ``amount`` now and return how many seconds the caller must wait first."""
        self._refill()
        needed = min(amount, self.capacity)
        wait = max(0.0, (needed - self.level) / self.rate)
        self.level -= amount
        return wait

    def refund(self, amount: float) -> None:
        """Give back (positive) or take more (negative) capacity after the fact."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Keeps a client under a requests-per-minute and/or tokens-per-minute budget.

    Args:
        requests_per_minute: Most requests started per minute; ``None`` for no limit.
        tokens_per_minute: Most tokens (prompt + completion) per minute; ``None`` for no limit.
        burst_s: How many seconds' worth of budget may be spent at once after an idle period.
        clock: Monotonic clock (seconds); replaceable for tests.
        sleep: Async sleep; replaceable for tests.

    Example:
        >>> limiter = RateLimiter(requests_per_minute=600)
        >>> # await limiter.acquire(estimated_tokens) before each request
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._requests = (
            _Bucket(requests_per_minute, burst_s, clock) if requests_per_minute else None
        )
        self._tokens = _Bucket(tokens_per_minute, burst_s, clock) if tokens_per_minute else None
        self._sleep = sleep

    @property
    def active(self) -> bool:
        """True when at least one limit is set."""
        return self._requests is not None or self._tokens is not None

    def reserve(self, tokens: int = 0) -> float:
        """Reserve one request and ``tokens`` tokens; return the seconds to wait before sending."""
        wait = 0.0
        if self._requests is not None:
            wait = max(wait, self._requests.reserve(1))
        if self._tokens is not None:
            wait = max(wait, self._tokens.reserve(tokens))
        return wait

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until one request with about ``tokens`` tokens may be sent.

        Returns:
            The seconds waited.
        """
        wait = self.reserve(tokens)
        if wait > 0:
            await self._sleep(wait)
        return wait

    def correct(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct a reservation once the provider reported the real token count."""
        if self._tokens is not None and actual_tokens != estimated_tokens:
            self._tokens.refund(estimated_tokens - actual_tokens)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asked to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date; ``retry-after-ms`` (sent by OpenAI
    and Azure OpenAI) wins when present.

    Args:
        headers: Response headers (any case; an ``httpx.Headers`` works).
        now: The current time for HTTP dates (default: now, UTC).

    Returns:
        Seconds (never negative), or ``None`` when no usable header is present.

    Example:
        >>> parse_retry_after({"Retry-After": "2"})
        2.0
        >>> parse_retry_after({"retry-after-ms": "150"})
        0.15
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())
