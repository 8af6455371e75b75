"""Generators: the OpenAI few-shot generator, the offline template generator and resumable runs."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from text2sql_tune import (
    Column,
    DatabaseSchema,
    FunctionGenerator,
    OpenAIChatClient,
    ProviderError,
    QAPair,
    Table,
    demo_schema,
    read_pairs,
)
from text2sql_tune.generators import (
    GENERATION_TOOL_NAME,
    OpenAIQAGenerator,
    TemplateQAGenerator,
    agenerate_to_file,
    generate_to_file,
    read_checkpoint_state,
)
from text2sql_tune.interfaces import SQLExecutor
from text2sql_tune.testing import FakeOpenAIServer, FakeReply, text_reply, tool_call_reply

SEEDS = [
    QAPair(question=f"Seed question {i}?", sql=f"select {i} from ecommerce.sessions")
    for i in range(6)
]


def shop_schema() -> DatabaseSchema:
    """A small schema of our own (not the demo's): orders and customers sharing customer_id."""
    return DatabaseSchema(
        tables=[
            Table(
                database="shop",
                name="customers",
                description="one row per customer",
                columns=[
                    Column(name="customer_id", type="UInt64"),
                    Column(name="city", type="String", examples=["Paris", "Berlin"]),
                    Column(name="is_vip", type="UInt8"),
                    Column(name="age", type="UInt8", examples=[30, 41]),
                ],
            ),
            Table(
                database="shop",
                name="orders",
                columns=[
                    Column(name="order_id", type="UInt64"),
                    Column(name="customer_id", type="UInt64"),
                    Column(name="created_at", type="DateTime", examples=["2023-02-01 10:00:00"]),
                    Column(name="status", type="LowCardinality(String)", examples=["paid"]),
                    Column(name="amount", type="Decimal(12, 2)", examples=[12.5, 480]),
                    Column(name="is_refunded", type="Bool"),
                ],
            ),
        ]
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def client_for(server: FakeOpenAIServer, **kwargs: Any) -> OpenAIChatClient:
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("max_backoff_s", 0.02)
    return OpenAIChatClient("gpt-4o", base_url=server.url, **kwargs)


def numbered_answers(body: dict[str, Any], n: int) -> FakeReply:
    return tool_call_reply(
        GENERATION_TOOL_NAME,
        {"comments": "c", "question": f"New question {n}?", "sql_query": f" select {n} "},
    )


# -- OpenAIQAGenerator ------------------------------------------------------------------------


def test_openai_generator_prompt_tool_and_records(server: FakeOpenAIServer) -> None:
    server.responder = numbered_answers
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS, k=3, rng_seed=1)
    pairs = generator.generate(4)
    assert len(pairs) == 4 and all(p.ok for p in pairs)
    assert {p.question for p in pairs} == {f"New question {i}?" for i in range(1, 5)}
    assert all(p.sql == p.sql.strip() and p.sql.startswith("select") for p in pairs)
    assert all(p.source == "openai:gpt-4o" and p.comments == "c" for p in pairs)
    assert all(len(p.examples) == 3 for p in pairs)
    assert all(p.usage is not None and p.usage.calls == 1 and p.usage.cost_usd for p in pairs)

    body = server.chat_requests[0].body
    system, user = body["messages"]
    assert system["role"] == "system" and "ecommerce.sessions" in system["content"]
    assert "senior data analyst" in system["content"]
    assert body["tool_choice"]["function"]["name"] == GENERATION_TOOL_NAME
    assert body["tools"][0]["function"]["parameters"]["required"] == [
        "comments",
        "question",
        "sql_query",
    ]
    assert body["temperature"] == 0.5
    # The examples shown are exactly the ones recorded, in the article's format.
    shown = [line for line in user["content"].splitlines() if line.startswith("question: ")]
    assert len(shown) == 3
    recorded = {p.question for p in pairs}
    assert recorded.isdisjoint(shown)
    for line in shown:
        question = line.removeprefix("question: ").split(", sql_query: ")[0]
        assert question in {s.question for s in SEEDS}


def test_example_sampling_is_reproducible_with_a_seed(server: FakeOpenAIServer) -> None:
    def run(seed: int) -> list[list[str]]:
        generator = OpenAIQAGenerator(
            client_for(server), demo_schema(), SEEDS, rng_seed=seed, concurrency=1
        )
        return [p.examples for p in generator.generate(3)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_json_schema_mode(server: FakeOpenAIServer) -> None:
    server.responder = lambda body, n: text_reply(
        json.dumps({"comments": "", "question": "Q?", "sql_query": "select 1"})
    )
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS, mode="json_schema")
    (pair,) = generator.generate(1)
    assert pair.ok and pair.question == "Q?" and pair.comments is None
    body = server.chat_requests[0].body
    assert body["response_format"]["type"] == "json_schema" and "tools" not in body


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (text_reply("Sure! SELECT 1"), "without calling the tool"),
        (tool_call_reply(GENERATION_TOOL_NAME, '{"question": "Q?", '), "not valid JSON"),
        (tool_call_reply(GENERATION_TOOL_NAME, "[1, 2]"), "not an object"),
        (tool_call_reply(GENERATION_TOOL_NAME, {"question": "Q?"}), "no 'sql_query'"),
        (tool_call_reply(GENERATION_TOOL_NAME, {"question": "Q?", "sql_query": "  "}), "empty"),
        (tool_call_reply(GENERATION_TOOL_NAME, {"question": 3, "sql_query": "s"}), "not a string"),
        (
            tool_call_reply(GENERATION_TOOL_NAME, {"question": "Q?", "sql_query": "x" * 30_000}),
            "too long",
        ),
        (tool_call_reply("other_tool", {"question": "Q?", "sql_query": "s"}), "unknown tool"),
    ],
)
def test_malformed_answers_become_rejected_records(
    server: FakeOpenAIServer, reply: FakeReply, reason: str
) -> None:
    server.responder = lambda body, n: reply
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS)
    (pair,) = generator.generate(1)
    assert not pair.ok and reason in (pair.rejected or "")
    assert pair.usage is not None and pair.usage.calls == 1  # the call was paid for
    assert len(pair.examples) == 3


def test_a_call_without_an_answer_is_not_a_record_and_is_made_again(
    server: FakeOpenAIServer,
) -> None:
    server.fail_next(3, status=500)  # the first call fails on each of its 3 attempts
    server.responder = numbered_answers
    generator = OpenAIQAGenerator(
        client_for(server, max_retries=2), demo_schema(), SEEDS, concurrency=1
    )
    pairs = generator.generate(2)
    assert [p.ok for p in pairs] == [True, True]
    assert server.chat_calls == 5  # 3 failed attempts, then two answered calls


def test_an_answered_error_becomes_a_rejected_record(server: FakeOpenAIServer) -> None:
    server.fail_next(1, status=400, message="maximum context length exceeded")
    server.responder = numbered_answers
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS, concurrency=1)
    pairs = generator.generate(2)
    assert not pairs[0].ok and "context length" in (pairs[0].rejected or "")
    assert pairs[1].ok and server.chat_calls == 2


def test_authentication_error_stops_the_run(server: FakeOpenAIServer) -> None:
    server.api_key = "right"
    client = OpenAIChatClient("gpt-4o", base_url=server.url, api_key="wrong")
    generator = OpenAIQAGenerator(client, demo_schema(), SEEDS, concurrency=2)
    with pytest.raises(ProviderError) as info:
        generator.generate(10)
    assert info.value.status == 401
    assert server.chat_calls <= 2


def test_pairs_are_yielded_as_they_arrive(server: FakeOpenAIServer) -> None:
    def slow_first(body: dict[str, Any], n: int) -> FakeReply:
        if n == 1:
            time.sleep(0.5)
        return numbered_answers(body, n)

    server.responder = slow_first
    generator = OpenAIQAGenerator(client_for(server, concurrency=4), demo_schema(), SEEDS)
    questions = [p.question for p in generator.generate(8)]
    # The slow first call does not hold back the answers that came after it.
    assert sorted(questions) == sorted(f"New question {i}?" for i in range(1, 9))
    assert questions.index("New question 1?") > 0


# -- resumable runs ---------------------------------------------------------------------------


class StopRunError(Exception):  # stands in for Ctrl-C
    pass


def test_resume_never_pays_twice(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.responder = numbered_answers
    path = tmp_path / "raw.jsonl"
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS, concurrency=1)
    seen: list[QAPair] = []

    def stop_after_four(pair: QAPair) -> None:
        seen.append(pair)
        if len(seen) == 4:
            raise StopRunError

    with pytest.raises(StopRunError):
        generate_to_file(generator, 10, path, on_record=stop_after_four)
    assert read_checkpoint_state(path).records == 4

    summary = generate_to_file(generator, 10, path)
    assert summary.resumed_from == 4 and summary.generated == 6 and summary.complete
    assert server.chat_calls == 10
    assert len(read_pairs(path)) == 10
    assert summary.total_usage.calls == 10
    # Nothing left to do: no call at all.
    again = generate_to_file(generator, 10, path)
    assert again.generated == 0 and server.chat_calls == 10


def test_rejected_records_count_toward_the_checkpoint(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.responder = lambda body, n: text_reply("no tool") if n % 2 else numbered_answers(body, n)
    path = tmp_path / "raw.jsonl"
    generator = OpenAIQAGenerator(client_for(server), demo_schema(), SEEDS, concurrency=1)
    summary = generate_to_file(generator, 6, path)
    assert (summary.ok, summary.rejected) == (3, 3)
    assert sum(summary.rejections.values()) == 3
    state = read_checkpoint_state(path)
    assert (state.ok, state.rejected, state.usage.calls) == (3, 3, 6)


async def test_torn_last_line_is_dropped_and_regenerated(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_text('{"question": "a?", "sql": "select 1", "source": "f"}\n{"question": "b?", "sq')
    calls: list[int] = []

    def make(index: int) -> tuple[str, str]:
        calls.append(index)
        return f"q{index}?", f"select {index}"

    summary = await agenerate_to_file(FunctionGenerator(make), 3, path)
    assert summary.resumed_from == 1 and summary.generated == 2 and len(calls) == 2
    assert [p.question for p in read_pairs(path)] == ["a?", "q0?", "q1?"]


# -- TemplateQAGenerator ----------------------------------------------------------------------


def test_template_generator_is_deterministic_and_varied() -> None:
    first = TemplateQAGenerator(demo_schema(), seed=5).generate(120)
    again = TemplateQAGenerator(demo_schema(), seed=5).generate(120)
    other = TemplateQAGenerator(demo_schema(), seed=6).generate(120)
    assert [p.sql for p in first] == [p.sql for p in again]
    assert [p.sql for p in first] != [p.sql for p in other]
    assert len({p.sql for p in first}) == 120
    kinds = Counter(p.metadata["template"] for p in first)
    assert len(kinds) >= 10
    assert all(p.ok and p.source == "template" for p in first)


def test_template_generator_speaks_naturally_about_the_demo_schema() -> None:
    questions = [p.question for p in TemplateQAGenerator(demo_schema(), seed=0).generate(400)]
    text = "\n".join(questions)
    assert any(q.startswith("How many sessions used Safari in ") for q in questions)
    assert any(q.startswith("What was the total revenue from users in ") for q in questions)
    assert any(q.startswith("Top ") and "fraudulent sessions" in q for q in questions)
    assert "were marked as fraud, in percent?" in text
    assert "users in the United Kingdom" in text or "users in the Netherlands" in text
    joins = [
        p for p in TemplateQAGenerator(demo_schema(), seed=0).generate(400) if " join " in p.sql
    ]
    assert joins and all("s.user_id = u.user_id" in p.sql for p in joins)


def test_template_generator_works_on_another_schema() -> None:
    pairs = TemplateQAGenerator(
        shop_schema(), seed=1, date_range=(date(2023, 1, 1), date(2023, 12, 31))
    ).generate(150)
    sqls = "\n".join(p.sql for p in pairs)
    assert "from shop.orders" in sqls and "from shop.customers" in sqls
    assert "o.customer_id = c.customer_id" in sqls  # joined on the shared key
    assert "toStartOfMonth(created_at) = '2023-" in sqls
    assert "countIf(is_refunded = 1)" in sqls
    assert all("2024" not in p.question for p in pairs)  # windows stay inside the date range
    assert any("in Paris" in p.question or "in Berlin" in p.question for p in pairs)


def test_template_generator_without_usable_columns_rejects() -> None:
    schema = DatabaseSchema(
        tables=[Table(database="d", name="blobs", columns=[Column(name="id", type="UUID")])]
    )
    pairs = TemplateQAGenerator(schema).generate(2)
    assert all(not p.ok and "no template" in (p.rejected or "") for p in pairs)


def test_template_resume_continues_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    generate_to_file(TemplateQAGenerator(demo_schema(), seed=2), 15, path)
    generate_to_file(TemplateQAGenerator(demo_schema(), seed=2), 40, path)
    one_go = TemplateQAGenerator(demo_schema(), seed=2).generate(40)
    assert [p.sql for p in read_pairs(path)] == [p.sql for p in one_go]


def test_template_sql_runs_on_the_demo_database(demo_executor: SQLExecutor) -> None:
    generator = TemplateQAGenerator.afrom_database  # values and dates from the data
    built = _run(generator(demo_executor, demo_schema(), seed=4))
    assert built.date_range[1] >= date(2024, 12, 1)
    assert len(built.values.get("ecommerce.users.country", [])) == 4
    pairs = built.generate(80)
    outcomes = demo_executor.execute_many([p.sql for p in pairs], max_rows=100)
    failed = [(p.sql, o.error) for p, o in zip(pairs, outcomes, strict=True) if not o.executed]
    assert not failed
    in_range = sum(1 for o in outcomes if o.ok and o.row_count and 1 <= o.row_count <= 100)
    assert in_range >= 0.9 * len(pairs)


def _run(coro: Any) -> Any:
    from text2sql_tune._sync import run_sync

    return run_sync(coro)
