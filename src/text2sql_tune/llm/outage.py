"""Stop a run when the provider is down instead of burning every remaining attempt.

A call that got no usable answer after all of its retries (connection refused, DNS, timeouts,
5xx or 429 on every attempt) raises :class:`~text2sql_tune.errors.ProviderUnavailableError`. One
such failure is a lost call that the run makes again; several in a row mean an outage. A
:class:`FailureStreak` counts them and raises :class:`~text2sql_tune.errors.ProviderOutageError`
at the limit, so a generation or an evaluation stops with exit code 4, keeps everything it
completed, and resumes cleanly when run again.
"""

from __future__ import annotations

from ..errors import ConfigurationError, ProviderOutageError, ProviderUnavailableError

__all__ = ["DEFAULT_MAX_CONSECUTIVE_FAILURES", "FailureStreak"]

DEFAULT_MAX_CONSECUTIVE_FAILURES = 5
"""Calls in a row without a usable answer before a run stops (each already retried)."""


class FailureStreak:
    """Counts calls in a row that got no usable answer; raises at ``limit``.

    Args:
        limit: Failures in a row that stop the run; ``None`` never stops (every failure is
            only counted).

    Attributes:
        count: Failures since the last success.
        total: Failures seen in all.
        last: The last failure, if any.

    Raises:
        ConfigurationError: ``limit`` is below 1.

    Example:
        >>> streak = FailureStreak(limit=2)
        >>> streak.success()
        >>> streak.count
        0
    """

    def __init__(self, limit: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES) -> None:
        if limit is not None and limit < 1:
            raise ConfigurationError("the consecutive-failure limit must be at least 1")
        self.limit = limit
        self.count = 0
        self.total = 0
        self.last: ProviderUnavailableError | None = None
        self.stopped: ProviderOutageError | None = None

    def success(self) -> None:
        """A call was answered: the streak starts over."""
        self.count = 0

    def failure(self, exc: ProviderUnavailableError) -> None:
        """Count a call that got no usable answer.

        Raises:
            ProviderOutageError: This failure reached the limit (also kept in ``stopped``; every
                later failure raises it again).
        """
        self.count += 1
        self.total += 1
        self.last = exc
        if self.stopped is None and self.limit is not None and self.count >= self.limit:
            self.stopped = ProviderOutageError(exc.provider, self.count, exc)
        if self.stopped is not None:
            raise self.stopped
