"""One OpenAI HTTP stack: the chat and fine-tuning clients retry alike and raise the same errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from text2sql_tune import OpenAIChatClient, OpenAITuner, ProviderError, RateLimitError
from text2sql_tune.errors import ProviderUnavailableError
from text2sql_tune.llm import RateLimiter, RetryEvent

USER = [{"role": "user", "content": "How many users?"}]
COMPLETION = {
    "model": "m",
    "choices": [{"message": {"role": "assistant", "content": "SELECT 1"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
JOB = {"id": "ftjob-1", "status": "running", "model": "gpt-4o-mini", "error": None}
Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*failures: httpx.Response | Exception, answer: dict[str, Any]) -> Handler:
    """Answer with each failure in turn, then with ``answer`` for good."""
    queue = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        if queue:
            failure = queue.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        return httpx.Response(200, json=answer)

    return handler


def chat_client(handler: Handler, **kwargs: Any) -> OpenAIChatClient:
    kwargs.setdefault("backoff_base_s", 0.001)
    kwargs.setdefault("max_backoff_s", 0.002)
    return OpenAIChatClient(
        "m", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler), **kwargs
    )


def tuner(handler: Handler, **kwargs: Any) -> OpenAITuner:
    kwargs.setdefault("retry_backoff_s", 0.001)
    return OpenAITuner(
        "Answer in SQL.",
        api_key="sk-test-tuner",
        base_url="http://llm.test/v1",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield


# -- the same fault, the same error, from both clients --------------------------------------


def _error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message}}, headers=headers)


FAULTS: dict[str, tuple[Callable[[], httpx.Response | Exception], type[Exception], int | None]] = {
    "429 on every attempt": (
        lambda: _error(429, "Rate limit reached", **{"retry-after-ms": "1"}),
        RateLimitError,
        429,
    ),
    "503 on every attempt": (lambda: _error(503, "overloaded"), ProviderUnavailableError, 503),
    "network down": (lambda: httpx.ConnectError("refused"), ProviderUnavailableError, None),
    "read timeout": (lambda: httpx.ReadTimeout("slow"), ProviderUnavailableError, None),
    "gateway page with 200": (
        lambda: httpx.Response(200, text="<html>bad gateway</html>"),
        ProviderUnavailableError,
        200,
    ),
}


def _always(fault: Callable[[], httpx.Response | Exception]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        failure = fault()
        if isinstance(failure, Exception):
            raise failure
        return failure

    return handler


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_chat_and_fine_tuning_raise_the_same_error_for_the_same_fault(name: str) -> None:
    fault, error_class, status = FAULTS[name]
    with (
        chat_client(_always(fault), max_retries=2) as client,
        pytest.raises(ProviderError) as chat,
    ):
        client.chat(USER)
    with pytest.raises(ProviderError) as tuning:
        tuner(_always(fault), max_retries=2).status("ftjob-1")
    for info in (chat, tuning):
        assert type(info.value) is error_class
        assert info.value.status == status
        assert "(after 3 attempts)" in str(info.value)


def test_a_wrong_key_is_an_actionable_provider_error_from_both_clients() -> None:
    refused = _always(lambda: _error(401, "Incorrect API key provided: sk-test-tuner."))
    with (
        chat_client(refused, api_key="sk-test-tuner") as client,
        pytest.raises(ProviderError) as chat,
    ):
        client.chat(USER)
    with pytest.raises(ProviderError) as tuning:
        tuner(refused).status("ftjob-1")
    for info in (chat, tuning):
        assert not isinstance(info.value, ProviderUnavailableError)  # no retry would fix it
        assert info.value.status == 401
        assert "set OPENAI_API_KEY or pass api_key=" in str(info.value)
        assert "sk-test-tuner" not in str(info.value) and "***" in str(info.value)


# -- waits ---------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    events: list[RetryEvent] = []
    handler = scripted(*[_error(503, "busy") for _ in range(4)], answer=COMPLETION)
    client = chat_client(handler, backoff_base_s=0.01, max_backoff_s=0.03, on_retry=events.append)
    with client:
        assert client.chat(USER).attempts == 5
    ceilings = [0.01, 0.02, 0.03, 0.03]
    assert [e.attempt for e in events] == [1, 2, 3, 4]
    assert all(e.max_attempts == 7 and not e.from_retry_after for e in events)
    for event, ceiling in zip(events, ceilings, strict=True):
        assert ceiling / 2 <= event.wait_s <= ceiling


def test_no_retries_means_one_attempt() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _error(502, "bad gateway")

    with (
        chat_client(handler, max_retries=0) as client,
        pytest.raises(ProviderUnavailableError, match=r"\(after 1 attempt\)"),
    ):
        client.chat(USER)
    assert len(calls) == 1


def test_every_attempt_waits_for_the_rate_limiter() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    client = chat_client(scripted(_error(500, "oops"), answer=COMPLETION))
    # One request per second, and a clock that never moves: each reservation queues 1 s later.
    client.limiter = RateLimiter(requests_per_minute=60, clock=lambda: 0.0, sleep=fake_sleep)
    with client:
        assert client.chat(USER).attempts == 2
    assert slept == [pytest.approx(1.0)]  # the first attempt went at once, the retry waited


def test_fine_tuning_honours_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="text2sql_tune")
    handler = scripted(_error(429, "slow down", **{"retry-after-ms": "20"}), answer=JOB)
    assert tuner(handler).status("ftjob-1").job_id == "ftjob-1"
    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(waits) == 1 and "HTTP 429 (slow down)" in waits[0]
    assert "(Retry-After) before attempt 2 of 5" in waits[0]


# -- requests that must not be sent twice ---------------------------------------------------


def test_an_upload_is_not_resent_after_a_server_error() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return _error(503, "upstream failed")

    with pytest.raises(ProviderUnavailableError, match="may have taken effect") as info:
        tuner(handler).upload([{"messages": USER}], "train.jsonl")
    assert info.value.status == 503 and calls == ["/v1/files"]


def test_an_upload_refused_with_429_is_sent_again() -> None:
    handler = scripted(_error(429, "slow down"), answer={"id": "file-1", "object": "file"})
    assert tuner(handler).upload([{"messages": USER}], "train.jsonl") == "file-1"


def test_an_unreadable_answer_to_a_status_request_is_retried() -> None:
    handler = scripted(httpx.Response(200, text="<html>oops</html>"), answer=JOB)
    assert tuner(handler).status("ftjob-1").job_id == "ftjob-1"
