"""The OpenAI-compatible chat client against the fake server and httpx.MockTransport."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from fakes.faults import FaultyOpenAIServer
from text2sql_tune import (
    ConfigurationError,
    DataError,
    OpenAIChatClient,
    ProviderError,
    RateLimitError,
)
from text2sql_tune.errors import ProviderUnavailableError
from text2sql_tune.generators import OpenAIQAGenerator
from text2sql_tune.llm import (
    ChatResponse,
    PriceTable,
    RateLimiter,
    RetryEvent,
    ToolCall,
    parse_retry_after,
    resolve_openai_credentials,
)
from text2sql_tune.records import Usage
from text2sql_tune.testing import FakeOpenAIServer, FakeReply, text_reply, tool_call_reply

USER = [{"role": "user", "content": "How many sessions were there yesterday?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "answer",
        "parameters": {
            "type": "object",
            "properties": {"question": {"type": "string"}, "sql_query": {"type": "string"}},
            "required": ["question", "sql_query"],
        },
    },
}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def make_client(server: FakeOpenAIServer, **kwargs: Any) -> OpenAIChatClient:
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("max_backoff_s", 0.05)
    return OpenAIChatClient("gpt-4o-mini", base_url=server.url, **kwargs)


# -- credentials ----------------------------------------------------------------------------


def test_missing_key_for_official_api_is_an_actionable_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY") as info:
        OpenAIChatClient()
    assert "api_key=" in str(info.value)


def test_local_server_needs_no_key_and_sends_no_authorization(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with make_client(server) as client:
        client.chat(USER)
    assert "authorization" not in server.chat_requests[0].headers


def test_key_from_environment_is_sent_as_bearer_and_never_shown(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    server.api_key = "sk-env-secret"
    caplog.set_level(logging.INFO, logger="text2sql_tune")
    with make_client(server) as client:
        client.chat(USER)
        assert "sk-env-secret" not in repr(client)
    assert server.chat_requests[0].headers["authorization"] == "Bearer sk-env-secret"
    assert "sk-env-secret" not in caplog.text
    assert any("status=200" in r.getMessage() for r in caplog.records)


def test_resolve_credentials_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9/v1/")
    key, url = resolve_openai_credentials()
    assert isinstance(key, SecretStr) and key.get_secret_value() == "sk-env"
    assert url == "http://localhost:9/v1"
    key, url = resolve_openai_credentials(SecretStr("sk-arg"), "https://api.openai.com/v1")
    assert key is not None and key.get_secret_value() == "sk-arg"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert resolve_openai_credentials(None, "http://127.0.0.1:1/v1")[0] is None


def test_extra_headers_are_sent(server: FakeOpenAIServer) -> None:
    with make_client(server, extra_headers={"api-key": "azure-style"}) as client:
        client.chat(USER)
    assert server.chat_requests[0].headers["api-key"] == "azure-style"


# -- wire format ------------------------------------------------------------------------------


def test_tool_call_round_trip_and_request_body(server: FakeOpenAIServer) -> None:
    server.responder = lambda body, n: tool_call_reply(
        "answer", {"question": "q?", "sql_query": "SELECT 1"}
    )
    with make_client(server) as client:
        reply = client.chat(
            USER, tools=[TOOL], tool_choice="answer", temperature=0.2, max_tokens=50
        )
    body = server.chat_requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "answer"}}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    assert body["tools"][0]["function"]["name"] == "answer"
    assert isinstance(reply, ChatResponse)
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls[0].name == "answer"
    assert reply.tool_calls[0].parsed_arguments() == {"question": "q?", "sql_query": "SELECT 1"}
    assert reply.raw["object"] == "chat.completion"


def test_json_schema_response_format_is_passed_through(server: FakeOpenAIServer) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "x",
            "schema": {"type": "object", "properties": {"question": {"type": "string"}}},
        },
    }
    with make_client(server) as client:
        reply = client.chat(USER, response_format=fmt)
    assert server.chat_requests[0].body["response_format"] == fmt
    assert json.loads(reply.content or "")["question"].startswith("What is")


def test_reasoning_models_get_max_completion_tokens(server: FakeOpenAIServer) -> None:
    with make_client(server) as client:
        client.chat(USER, max_tokens=10, model="o3-mini")
    body = server.chat_requests[0].body
    assert body["model"] == "o3-mini" and body["max_completion_tokens"] == 10
    assert "max_tokens" not in body


def test_usage_and_cost_accumulate(server: FakeOpenAIServer) -> None:
    server.responder = lambda body, n: FakeReply(
        content="SELECT 1", prompt_tokens=1_000_000, completion_tokens=500_000
    )
    with make_client(server) as client:
        first = client.chat(USER)
        client.chat(USER)
    assert first.usage.calls == 1 and first.usage.prompt_tokens == 1_000_000
    assert first.usage.cost_usd == pytest.approx(0.15 + 0.30)
    assert client.usage.calls == 2
    assert client.usage.total_tokens == 3_000_000
    assert client.usage.cost_usd == pytest.approx(0.90)


def test_unknown_model_has_no_cost_and_user_prices_override(server: FakeOpenAIServer) -> None:
    server.responder = lambda body, n: FakeReply(
        content="x", prompt_tokens=2_000_000, completion_tokens=0
    )
    with OpenAIChatClient("my-llama", base_url=server.url) as client:
        assert client.chat(USER).usage.cost_usd is None
    prices = PriceTable({"my-llama": (0.5, 1.0)})
    with OpenAIChatClient("my-llama", base_url=server.url, prices=prices) as client:
        assert client.chat(USER).usage.cost_usd == pytest.approx(1.0)


def test_price_table_lookup_rules(tmp_path: Any) -> None:
    table = PriceTable()
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert table.cost("gpt-4o-mini-2024-07-18", 0, 1_000_000) == pytest.approx(0.6)
    assert table.cost("ft:gpt-4o-mini-2024-07-18:org::abc", 10, 10) is None
    assert "gpt-4o" in table and "nope" not in table
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"local": [1, 2]}))
    own = PriceTable.from_file(path, include_defaults=False)
    assert own.models() == ["local"]
    assert own.cost("local", 1_000_000, 1_000_000) == pytest.approx(3.0)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigurationError):
        PriceTable.from_file(path)


def test_tool_call_arguments_parse_errors() -> None:
    assert ToolCall(id="1", name="f", arguments='{"a": 1}').parsed_arguments() == {"a": 1}
    with pytest.raises(DataError, match="not valid JSON"):
        ToolCall(id="1", name="f", arguments='{"a": ').parsed_arguments()
    with pytest.raises(DataError, match="not an object"):
        ToolCall(id="1", name="f", arguments="[1, 2]").parsed_arguments()


# -- retries and errors ---------------------------------------------------------------------------


def test_429_with_retry_after_ms_is_retried_with_that_wait(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.fail_next(2, status=429, retry_after_ms=20)
    with make_client(server, on_retry=events.append) as client:
        reply = client.chat(USER)
    assert reply.content and reply.attempts == 3
    assert server.chat_calls == 3 and client.retries == 2
    assert [e.status for e in events] == [429, 429]
    assert all(e.from_retry_after and 0.02 <= e.wait_s <= 0.022 for e in events)


def test_retry_after_seconds_header_is_honoured(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.fail_next(1, status=429, retry_after="0.05")
    with make_client(server, on_retry=events.append) as client:
        client.chat(USER)
    assert events[0].from_retry_after and events[0].wait_s >= 0.05


def test_5xx_is_retried_with_backoff(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.fail_next(1, status=500)
    server.fail_next(1, status=503)
    with make_client(server, on_retry=events.append) as client:
        assert client.chat(USER).attempts == 3
    assert [e.status for e in events] == [500, 503]
    assert not any(e.from_retry_after for e in events)


def test_persistent_429_raises_rate_limit_error(server: FakeOpenAIServer) -> None:
    server.fail_next(10, status=429, retry_after_ms=1)
    with make_client(server, max_retries=2) as client, pytest.raises(RateLimitError) as info:
        client.chat(USER)
    assert info.value.status == 429 and server.chat_calls == 3
    assert "Rate limit" in info.value.body


def test_client_errors_are_not_retried(server: FakeOpenAIServer) -> None:
    server.fail_next(1, status=400, message="bad 'messages'")
    with make_client(server) as client, pytest.raises(ProviderError) as info:
        client.chat(USER)
    assert info.value.status == 400 and info.value.provider == "openai"
    assert "bad 'messages'" in str(info.value)
    assert not isinstance(info.value, RateLimitError)
    assert server.chat_calls == 1


def test_wrong_key_is_a_401_provider_error(server: FakeOpenAIServer) -> None:
    server.api_key = "right"
    client = OpenAIChatClient("m", base_url=server.url, api_key="wrong")
    with client, pytest.raises(ProviderError) as info:
        client.chat(USER)
    assert info.value.status == 401 and "wrong" not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [b"<html>bad gateway</html>", b'{"choices": []}', b'{"choices": [{"message": 3}]}', b"[1]"],
)
def test_bodies_that_are_not_an_answer_are_retried_and_billed(
    server: FakeOpenAIServer, body: bytes
) -> None:
    server.garbage_next(3, body=body)
    with (
        make_client(server, max_retries=2) as client,
        pytest.raises(ProviderUnavailableError) as info,
    ):
        client.chat(USER)
    assert info.value.status == 200 and "not a chat completion" in info.value.body
    assert server.chat_calls == 3
    # Each 200 was billed by the provider: counted as a call, with unknown tokens and cost.
    assert info.value.usage == Usage(calls=3) and client.usage == Usage(calls=3)


def test_an_unreadable_attempt_before_an_answer_counts_in_the_calls_usage(
    server: FakeOpenAIServer,
) -> None:
    server.garbage_next(1, body=b"<html>oops</html>")
    with make_client(server) as client:
        reply = client.chat(USER)
    assert reply.attempts == 2 and reply.usage.calls == 2 and reply.usage.prompt_tokens > 0
    assert client.usage == reply.usage


def test_slow_answer_times_out_and_is_retried(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.slow_next(1, delay_s=1.0)
    with make_client(server, timeout_s=0.2, on_retry=events.append) as client:
        assert client.chat(USER).attempts == 2
    assert events[0].status is None and "timed out" in events[0].reason


def test_dropped_connection_is_retried(server: FakeOpenAIServer) -> None:
    server.disconnect_next(1)
    with make_client(server) as client:
        assert client.chat(USER).attempts == 2


def test_timeouts_after_all_retries_raise_provider_error_without_status(
    server: FakeOpenAIServer,
) -> None:
    server.slow_next(3, delay_s=0.6)
    client = make_client(server, timeout_s=0.1, max_retries=1)
    with client, pytest.raises(ProviderError) as info:
        client.chat(USER)
    assert info.value.status is None


# -- concurrency and rate limits --------------------------------------------------------------


async def test_concurrency_limit_caps_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        body = {
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
        return httpx.Response(200, json=body)

    client = OpenAIChatClient(
        "m", base_url="http://fake/v1", concurrency=3, transport=httpx.MockTransport(handler)
    )
    async with client:
        replies = await asyncio.gather(*(client.achat(USER) for _ in range(12)))
    assert len(replies) == 12 and peak == 3
    assert client.usage.calls == 12


def test_rate_limiter_spaces_requests_and_tokens() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(
        requests_per_minute=60, tokens_per_minute=6000, clock=lambda: now[0], sleep=fake_sleep
    )
    # 1 request/s with a burst of one: the first goes at once, the next ones queue 1 s apart.
    assert limiter.reserve(0) == 0.0
    assert limiter.reserve(0) == pytest.approx(1.0)
    assert limiter.reserve(0) == pytest.approx(2.0)
    now[0] = 10.0
    # 100 tokens/s: a 300-token call goes at once (debt), the next waits for the debt to clear.
    assert limiter.reserve(300) == 0.0
    assert limiter.reserve(100) == pytest.approx(3.0)
    limiter.correct(estimated_tokens=300, actual_tokens=100)  # the first call used fewer
    assert asyncio.run(limiter.acquire(0)) > 0 and slept


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after({"Retry-After": later}, now=now) == pytest.approx(30.0)
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0


def test_sync_twin_and_async_loop_both_work(server: FakeOpenAIServer) -> None:
    client = make_client(server)
    assert client.chat(USER).content

    async def use() -> str | None:
        return (await client.achat(USER)).content

    assert asyncio.run(use())
    client.close()
    assert server.answered == 2


def test_fake_server_logs_requests_and_serves_models(server: FakeOpenAIServer) -> None:
    server.responder = lambda body, n: text_reply(f"answer {n}")
    with make_client(server) as client:
        assert client.chat(USER).content == "answer 1"
    response = httpx.get(server.url + "/models")
    assert response.json()["data"][0]["id"] == "fake-model"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/models"]
    assert httpx.post(server.url + "/nope").status_code == 404


# -- deadlines, waits and what the client says while it waits -----------------------------------


def test_a_trickle_is_cut_off_by_the_attempt_deadline() -> None:
    # One byte every 0.1 s never trips the 1 s read timeout: only the total deadline ends it.
    events: list[RetryEvent] = []
    with FaultyOpenAIServer() as server:
        server.fault_next("trickle", byte_interval_s=0.1)
        client = make_client(server, timeout_s=1.0, attempt_timeout_s=0.5, on_retry=events.append)
        started = time.perf_counter()
        with client:
            reply = client.chat(USER)
    assert reply.attempts == 2 and time.perf_counter() - started < 3.0
    assert "no complete answer within 0.5 s" in events[0].reason and events[0].status == 200


def test_retry_after_is_capped_by_max_retry_after(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.fail_next(1, status=429, retry_after="3600")
    with make_client(server, max_retry_after_s=0.05, on_retry=events.append) as client:
        client.chat(USER)
    assert events[0].from_retry_after and 0.05 <= events[0].wait_s <= 0.056


def test_the_call_deadline_stops_retrying_instead_of_waiting_past_it(
    server: FakeOpenAIServer,
) -> None:
    server.fail_next(5, status=429, retry_after="30")
    client = make_client(server, call_timeout_s=5.0)
    started = time.perf_counter()
    with client, pytest.raises(RateLimitError, match="call's 5 s limit") as info:
        client.chat(USER)
    assert time.perf_counter() - started < 2.0  # it did not sleep the 30 s
    assert server.chat_calls == 1 and info.value.status == 429


def test_each_wait_is_described_on_one_line(server: FakeOpenAIServer) -> None:
    events: list[RetryEvent] = []
    server.fail_next(1, status=503, retry_after_ms=10)
    with make_client(server, max_retries=4, on_retry=events.append) as client:
        client.chat(USER, model="gpt-4o")
    line = events[0].describe()
    assert line.startswith("openai gpt-4o: HTTP 503 (injected HTTP 503); waiting 0.0 s")
    assert line.endswith("(Retry-After) before attempt 2 of 5")
    assert "\n" not in line


def test_a_failing_on_retry_callback_does_not_fail_the_call(server: FakeOpenAIServer) -> None:
    def broken(event: RetryEvent) -> None:
        raise RuntimeError("the progress display broke")

    server.fail_next(1, status=500)
    with make_client(server, on_retry=broken) as client:
        assert client.chat(USER).attempts == 2


def test_an_unreachable_endpoint_is_unavailable_without_a_status() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAIChatClient(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_base_s=0.01
    )
    with client, pytest.raises(ProviderUnavailableError) as info:
        client.chat(USER)
    assert info.value.status is None and "ConnectError" in info.value.body


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_s": 0}, {"attempt_timeout_s": -1}, {"call_timeout_s": 0}, {"max_retry_after_s": -1}],
)
def test_limits_out_of_range_are_configuration_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        OpenAIChatClient("m", base_url="http://127.0.0.1:9/v1", **kwargs)


def test_the_cli_and_configuration_defaults_are_the_clients() -> None:
    from text2sql_tune import Evaluator, Pipeline
    from text2sql_tune.cli import _llm_options as cli
    from text2sql_tune.config import LLMConfig
    from text2sql_tune.llm import DEFAULT_MAX_CONSECUTIVE_FAILURES

    defaults = inspect.signature(OpenAIChatClient).parameters
    options = LLMConfig().client_options()
    assert options == {
        name: defaults[name].default
        for name in ("max_retries", "max_retry_after_s", "attempt_timeout_s", "call_timeout_s")
    }
    assert LLMConfig().model_dump() == dataclasses.asdict(cli.DEFAULTS)
    limit = DEFAULT_MAX_CONSECUTIVE_FAILURES
    assert LLMConfig().max_failures == limit
    evaluator_default = inspect.signature(Evaluator).parameters["max_consecutive_failures"]
    assert evaluator_default.default == limit
    assert Pipeline(None, None).config.llm.max_failures == limit  # type: ignore[arg-type]
    generator_default = inspect.signature(OpenAIQAGenerator).parameters["max_consecutive_failures"]
    assert generator_default.default == limit
