"""Malformed provider replies, driven through the fake server on the real wire.

Every fault mode of ``FAULT_MODES`` (``tests/fakes/faults.py``) runs through the LLM generator
into a checkpoint file. Each must end as it is documented in docs/llm-client.md: a usable pair, a
rejected record with a typed reason (the call was answered and paid), a retry (nothing usable
arrived), or a stop (an error every call would get). None may crash the run or lose the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fakes.faults import FAULT_MODES, FaultyOpenAIServer
from text2sql_tune import OpenAIChatClient, ProviderError, QAPair, demo_schema, read_pairs
from text2sql_tune.generators import GENERATION_TOOL_NAME, OpenAIQAGenerator, generate_to_file
from text2sql_tune.testing import FakeReply, tool_call_reply

DOCS = Path(__file__).resolve().parents[1] / "docs" / "llm-client.md"
SEEDS = [QAPair(question=f"Seed {i}?", sql=f"SELECT {i}") for i in range(4)]


@dataclass(frozen=True)
class Expect:
    """How one fault mode must end."""

    outcome: str  # ok | rejected | retried | stop
    reason: str = ""  # rejected: part of the reason; stop: the status
    paid: bool = True  # retried: the failed attempt was answered with a 200 (billed)
    tokens: bool = True  # ok: the usage report's tokens are believed
    params: dict[str, Any] = field(default_factory=dict)


OK = Expect("ok")
UNBELIEVABLE_USAGE = Expect("ok", tokens=False)
RETRIED_PAID = Expect("retried")
RETRIED_UNPAID = Expect("retried", paid=False)
NO_TOOL_CALL = Expect("rejected", "without calling the tool")

FAULTS: dict[str, Expect] = {
    # nothing usable arrived: the call is made again
    "drop": RETRIED_UNPAID,
    "reset_mid_body": RETRIED_PAID,
    "close_mid_body": RETRIED_PAID,
    "headers_then_close": RETRIED_PAID,
    "trickle": Expect("retried", params={"byte_interval_s": 0.05}),
    "stall": Expect("retried", paid=False, params={"delay_s": 3.0}),
    "gzip_plain": RETRIED_PAID,
    "gzip_truncated": RETRIED_PAID,
    "truncated_json": RETRIED_PAID,
    "empty_body": RETRIED_PAID,
    "html_200": RETRIED_PAID,
    "text_plain_error": RETRIED_PAID,
    "event_stream": RETRIED_PAID,
    "json_array": RETRIED_PAID,
    "missing_choices": RETRIED_PAID,
    "empty_choices": RETRIED_PAID,
    "choices_not_list": RETRIED_PAID,
    "null_message": RETRIED_PAID,
    "invalid_utf8": RETRIED_PAID,
    "deep_nesting": RETRIED_PAID,
    "huge_integer": RETRIED_PAID,
    "huge_body": Expect("retried", params={"size": 3 * 2**20}),
    "http_500_html": RETRIED_UNPAID,
    "http_503_empty": RETRIED_UNPAID,
    "retry_after_day": RETRIED_UNPAID,  # the day-long wait is capped by max_retry_after_s
    # an error every call would get: the run stops at once
    "redirect": Expect("stop", "302"),
    # a real answer, read as it is
    "wrong_content_type": OK,
    "extra_fields": OK,
    "multiple_choices": OK,
    "duplicate_keys_body": OK,
    "args_as_object": OK,
    "finish_reason_number": OK,
    "finish_reason_object": OK,
    "usage_missing": Expect("ok", tokens=False),
    # a real answer whose usage report is not believed: the call counts, its tokens do not
    "usage_infinity": UNBELIEVABLE_USAGE,
    "usage_1e400": UNBELIEVABLE_USAGE,
    "usage_nan": UNBELIEVABLE_USAGE,
    "usage_negative": UNBELIEVABLE_USAGE,
    "usage_absurd": UNBELIEVABLE_USAGE,
    "usage_fraction": UNBELIEVABLE_USAGE,
    "usage_string": UNBELIEVABLE_USAGE,
    "usage_not_object": UNBELIEVABLE_USAGE,
    # a real answer that cannot be used: a rejected record (paid, so never asked again)
    "lone_surrogate_body": Expect("rejected", "invalid Unicode"),
    "lone_surrogate_args": Expect("rejected", "invalid Unicode"),
    "args_not_json": Expect("rejected", "not valid JSON"),
    "args_json_array": Expect("rejected", "not an object"),
    "args_json_string": Expect("rejected", "not an object"),
    "duplicate_keys_args": Expect("rejected", "'sql_query' twice"),
    "nan_in_args": Expect("rejected", "not a string"),
    "deep_args": Expect("rejected", "nested too deeply"),
    "huge_integer_args": Expect("rejected", "5,000 digits"),
    "control_chars_args": Expect("rejected", "control characters"),
    "empty_sql": Expect("rejected", "'sql_query' is empty"),
    "wrong_tool_name": Expect("rejected", "unknown tool 'delete_everything'"),
    "tool_calls_not_list": NO_TOOL_CALL,
    "malformed_tool_call": NO_TOOL_CALL,
    "no_tool_call": NO_TOOL_CALL,
    "content_not_string": NO_TOOL_CALL,
    "content_filter": Expect("rejected", "content filter"),
    "length_cut": Expect("rejected", "cut off at max_tokens"),
    "refusal": Expect("rejected", "refused: \"I can't help"),
}


def answers(body: dict[str, Any], n: int) -> FakeReply:
    arguments = {"comments": "c", "question": f"Question {n}?", "sql_query": f"SELECT {n}"}
    return tool_call_reply(GENERATION_TOOL_NAME, arguments)


@pytest.fixture
def server() -> Iterator[FaultyOpenAIServer]:
    with FaultyOpenAIServer(answers) as fake:
        yield fake


def generator_for(server: FaultyOpenAIServer) -> OpenAIQAGenerator:
    client = OpenAIChatClient(
        "gpt-4o-mini",
        base_url=server.url,
        timeout_s=0.5,
        attempt_timeout_s=0.8,
        max_retry_after_s=0.05,
        backoff_base_s=0.01,
        max_backoff_s=0.02,
        max_response_bytes=2**20,
    )
    return OpenAIQAGenerator(client, demo_schema(), SEEDS, concurrency=1)


def test_the_fault_table_covers_every_mode_and_is_documented() -> None:
    assert set(FAULTS) == set(FAULT_MODES)
    assert len(FAULTS) >= 30
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` +\|", DOCS.read_text(), re.MULTILINE))
    assert set(FAULT_MODES) <= documented


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_fault_mode(server: FaultyOpenAIServer, tmp_path: Path, mode: str) -> None:
    expect = FAULTS[mode]
    server.fault_next(mode, **expect.params)
    path = tmp_path / "raw.jsonl"
    generator = generator_for(server)

    if expect.outcome == "stop":
        with pytest.raises(ProviderError) as info:
            generate_to_file(generator, 1, path)
        assert str(info.value.status) == expect.reason
        assert not path.exists()
        assert server.chat_calls == 1  # not retried: every call would get the same
        return

    summary = generate_to_file(generator, 1, path)
    (pair,) = read_pairs(path)  # written and readable back, whatever the reply held
    assert summary.total_records == 1
    assert pair.usage is not None
    if expect.outcome == "retried":
        assert pair.ok and server.chat_calls == 2
        # An unreadable 200 was billed: it counts as a call, on the pair and on the client.
        calls = 2 if expect.paid else 1
        assert pair.usage.calls == calls and generator.client.usage.calls == calls
        return
    assert server.chat_calls == 1 and pair.usage.calls == 1
    if expect.outcome == "rejected":
        assert not pair.ok
        assert expect.reason in (pair.rejected or "")
        return
    assert expect.outcome == "ok" and pair.ok, pair.rejected
    assert pair.question.startswith("Question") and pair.sql.startswith("SELECT")
    if expect.tokens:
        assert pair.usage.prompt_tokens > 0 and pair.usage.cost_usd is not None
    else:  # never accepted into the costs
        assert pair.usage.total_tokens == 0 and pair.usage.cost_usd is None


def test_a_fault_on_every_attempt_is_no_answer_and_nothing_is_saved(
    server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    server.fault_next("html_200", times=3)
    client = OpenAIChatClient(
        "gpt-4o-mini", base_url=server.url, max_retries=2, backoff_base_s=0.01
    )
    generator = OpenAIQAGenerator(
        client, demo_schema(), SEEDS, concurrency=1, max_consecutive_failures=1
    )
    path = tmp_path / "raw.jsonl"
    with pytest.raises(ProviderError, match="in a row got no usable answer") as info:
        generate_to_file(generator, 2, path)
    assert info.value.status == 200
    assert not path.exists()  # an unreadable page is not an answer: nothing to resume past
    assert client.usage.calls == 3  # ... but the three 200s were billed and are counted


def test_unknown_fault_mode_names_the_known_ones(server: FaultyOpenAIServer) -> None:
    with pytest.raises(KeyError, match="trickle"):
        server.fault_next("no-such-fault")
