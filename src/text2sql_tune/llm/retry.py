"""Retrying provider calls: which failures are retried, how long to wait, when to give up.

One attempt that got no usable answer raises :class:`TransientError`. :func:`call_with_retries`
runs the attempts with tenacity under a :class:`RetryPolicy`: it waits what the server's
``Retry-After`` asked (capped), or an exponential backoff with jitter; it never starts a wait
that would end past the call's deadline; it resends a request that is not idempotent only when
the failure says the server did nothing; and when it gives up it raises
:class:`~text2sql_tune.errors.RateLimitError` (the last answer was a 429) or
:class:`~text2sql_tune.errors.ProviderUnavailableError`, with the attempts that were answered
but unreadable (and billed) in ``usage``. Errors that every attempt would get (400, 401, 404, a
redirect) are :class:`~text2sql_tune.errors.ProviderError` and pass through at once.

The OpenAI chat client, the OpenAI fine-tuning client and the Lamini SDK wrapper all retry here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    stop_never,
    wait_exponential,
)

from ..errors import ProviderError, ProviderUnavailableError, RateLimitError
from ..records import Usage
from .messages import RetryEvent

__all__ = ["Retried", "RetryPolicy", "TransientError", "call_with_retries"]

logger = logging.getLogger("text2sql_tune")

T = TypeVar("T")


class TransientError(ProviderError):
    """One attempt got no usable answer: worth another one.

    Args:
        provider: Short provider name.
        status: The HTTP status, or ``None`` when no response arrived.
        body: What went wrong.
        retry_after: The server's ``Retry-After`` hint in seconds, when it gave one.
        paid: The server answered 200 (the attempt is billed) but the answer was unreadable.
    """

    def __init__(
        self,
        provider: str,
        status: int | None,
        body: str,
        retry_after: float | None = None,
        *,
        paid: bool = False,
    ) -> None:
        super().__init__(provider, status, body)
        self.retry_after = retry_after
        self.paid = paid


@dataclass(frozen=True)
class RetryPolicy:
    """How a call retries.

    Attributes:
        max_retries: Retries after the first attempt.
        backoff_base_s: First backoff when the server gives no ``Retry-After``; doubles per retry.
        max_backoff_s: Longest backoff without a ``Retry-After``.
        max_retry_after_s: The longest ``Retry-After`` honoured; longer hints are capped to it.
        call_timeout_s: Longest the call may take with every attempt and wait; a retry whose wait
            would end past it is not made. ``None``: no limit.
    """

    max_retries: int = 6
    backoff_base_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    call_timeout_s: float | None = None

    def wait(self, state: RetryCallState) -> float:
        """Seconds to wait after the attempt that just failed (tenacity's ``wait``)."""
        error = _failure(state)
        if error.retry_after is not None:
            # A little jitter so that callers told the same Retry-After do not return in lockstep.
            return min(error.retry_after, self.max_retry_after_s) * random.uniform(1.0, 1.1)
        backoff = wait_exponential(multiplier=self.backoff_base_s, max=self.max_backoff_s)
        return backoff(state) * random.uniform(0.5, 1.0)


@dataclass
class Retried(Generic[T]):
    """What :func:`call_with_retries` returns.

    Attributes:
        value: What the successful attempt returned.
        attempts: Attempts it took (1 when no retry was needed).
        paid_calls: Failed attempts that were answered with a 200 (and so billed).
    """

    value: T
    attempts: int
    paid_calls: int


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    provider: str,
    model: str = "",
    resend: Callable[[TransientError], bool] | None = None,
    on_retry: Callable[[RetryEvent], Any] | None = None,
) -> Retried[T]:
    """Run ``attempt`` until it succeeds, fails for good, or the policy gives up.

    Args:
        attempt: One try; raises :class:`TransientError` for a failure worth retrying.
        policy: Retries, waits and the call's deadline.
        provider: Short provider name for the errors and events.
        model: The model asked, for the retry events.
        resend: For a request that is not idempotent: whether this failure leaves it safe to
            send again (the server did nothing, e.g. a 429). ``None``: always safe.
        on_retry: Called with a :class:`RetryEvent` before each wait; its own errors are logged,
            never raised.

    Returns:
        The value, the attempts and the paid failed attempts.

    Raises:
        RateLimitError: The last attempt got a 429 and no retry is left or allowed.
        ProviderUnavailableError: Any other transient failure when no retry is left or allowed.
        ProviderError: A failure no retry would fix, at once.
    """
    paid = 0

    async def once() -> T:
        nonlocal paid
        try:
            return await attempt()
        except TransientError as exc:
            paid += exc.paid
            raise

    def unsafe(state: RetryCallState) -> bool:
        return resend is not None and not resend(_failure(state))

    def notify(state: RetryCallState) -> None:
        error = _failure(state)
        event = RetryEvent(
            attempt=state.attempt_number,
            max_attempts=policy.max_retries + 1,
            wait_s=state.upcoming_sleep,
            status=error.status,
            reason=error.body[:200],
            from_retry_after=error.retry_after is not None,
            provider=provider,
            model=model,
        )
        logger.info("retry: %s", event.describe())
        if on_retry is not None:
            try:
                on_retry(event)
            except Exception:  # a broken progress display must not fail the call
                logger.exception("on_retry callback failed")

    def give_up(state: RetryCallState) -> NoReturn:
        error = _failure(state)
        attempts = state.attempt_number
        tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if unsafe(state):
            why = f"not resent after {tried}: the request may have taken effect"
        elif attempts > policy.max_retries:
            why = f"after {tried}"
        else:
            why = f"gave up after {tried}: the call's {policy.call_timeout_s:g} s limit is near"
        error_class = RateLimitError if error.status == 429 else ProviderUnavailableError
        raise error_class(
            provider, error.status, f"{error.body} ({why})", usage=Usage(calls=paid)
        ) from error

    used_up = stop_after_attempt(policy.max_retries + 1)
    limit = policy.call_timeout_s
    deadline = stop_never if limit is None else stop_before_delay(limit)

    def stop(state: RetryCallState) -> bool:
        return used_up(state) or unsafe(state) or deadline(state)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        wait=policy.wait,
        stop=stop,
        before_sleep=notify,
        retry_error_callback=give_up,
    )
    attempts = 0
    async for trial in retrying:
        with trial:
            value = await once()
        attempts = trial.retry_state.attempt_number
    return Retried(value, attempts, paid)


def _failure(state: RetryCallState) -> TransientError:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, TransientError)  # only these are retried
    return error
