"""Prompt-only baselines and the OpenAI text-to-SQL model."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from text2sql_tune import (
    ConfigurationError,
    FunctionExecutor,
    ProviderError,
    QAPair,
    QueryResult,
    SQLExecutionError,
    demo_schema,
)
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.generators import GENERATION_TOOL_NAME, OpenAIQAGenerator
from text2sql_tune.llm import ChatResponse, ToolCall
from text2sql_tune.models import (
    FewShotModel,
    SelfReflectionModel,
    ZeroShotModel,
    reflection_message,
)
from text2sql_tune.records import Usage

SYSTEM = "You are an analyst. Answer with ClickHouse SQL only."
SEEDS = [
    QAPair(question="How many users are there?", sql="SELECT count() FROM ecommerce.users"),
    QAPair(
        question="What was the revenue from Windows users yesterday?",
        sql="SELECT sum(revenue) FROM ecommerce.sessions WHERE os = 'Windows'",
    ),
    QAPair(
        question="How many fraud sessions were there yesterday?",
        sql="SELECT countIf(is_fraud = 1) FROM ecommerce.sessions",
    ),
    QAPair(question="What is the average age of users?", sql="SELECT avg(age) FROM users"),
    QAPair(rejected="no SQL in the answer"),
]


@dataclass
class ScriptedChat:
    """A chat client that answers from a script and records what it was sent."""

    answers: list[str | Exception]
    calls: list[dict[str, Any]] = field(default_factory=list)
    model: str = "scripted"

    async def achat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> ChatResponse:
        self.calls.append({"messages": messages, "model": model, "max_tokens": max_tokens})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        usage = Usage(calls=1, prompt_tokens=100, completion_tokens=20)
        return ChatResponse(content=answer, usage=usage, model=model or self.model)


def test_zero_shot_sends_schema_prompt_and_question() -> None:
    chat = ScriptedChat(["```sql\nSELECT count() FROM ecommerce.users;\n```"])
    model = ZeroShotModel(chat, SYSTEM, model="gpt-4o-mini", max_tokens=100)
    prediction = model.predict("How many users?")
    assert prediction.sql == "SELECT count() FROM ecommerce.users"
    assert prediction.error is None
    assert prediction.usage == Usage(calls=1, prompt_tokens=100, completion_tokens=20)
    assert chat.calls == [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "How many users?"},
            ],
            "model": "gpt-4o-mini",
            "max_tokens": 100,
        }
    ]


def test_provider_errors_become_prediction_errors_but_missing_keys_raise() -> None:
    chat = ScriptedChat([ProviderError("openai", 500, "boom")])
    prediction = ZeroShotModel(chat, SYSTEM).predict("q")
    assert prediction.sql == "" and prediction.raw_output is None
    assert prediction.error is not None and "HTTP 500" in prediction.error
    chat = ScriptedChat([ConfigurationError("no OpenAI API key found")])
    with pytest.raises(ConfigurationError):
        ZeroShotModel(chat, SYSTEM).predict("q")


def test_answer_without_sql_is_an_error() -> None:
    prediction = ZeroShotModel(ScriptedChat(["I don't know."]), SYSTEM).predict("q")
    assert prediction.sql == ""
    assert prediction.raw_output == "I don't know."
    assert prediction.error == "no SQL statement found in the answer"


def test_few_shot_shows_the_k_most_similar_examples_most_similar_last() -> None:
    chat = ScriptedChat(["SELECT 1"])
    model = FewShotModel(chat, SYSTEM, SEEDS, k=2)
    question = "How many fraud sessions were there from Windows users yesterday?"
    assert [e.question for e in model.similar(question)] == [
        "How many fraud sessions were there yesterday?",
        "What was the revenue from Windows users yesterday?",
    ]
    model.predict(question)
    messages = chat.calls[0]["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert messages[1]["content"] == "What was the revenue from Windows users yesterday?"
    assert messages[3]["content"] == "How many fraud sessions were there yesterday?"
    assert messages[4]["content"] == "SELECT countIf(is_fraud = 1) FROM ecommerce.sessions"
    assert messages[-1] == {"role": "user", "content": question}


def test_few_shot_with_k_zero_is_zero_shot() -> None:
    chat = ScriptedChat(["SELECT 1"])
    FewShotModel(chat, SYSTEM, SEEDS, k=0).predict("How many users are there?")
    assert len(chat.calls[0]["messages"]) == 2


@pytest.fixture
def executor(chdb_executor: ChDBExecutor) -> Iterator[ChDBExecutor]:
    yield chdb_executor


def test_self_reflection_fixes_an_execution_error_on_chdb(executor: ChDBExecutor) -> None:
    chat = ScriptedChat(["SELECT count() FROM no_such_db.no_such_table", "SELECT 1 AS fixed"])
    model = SelfReflectionModel(chat, SYSTEM, executor)
    prediction = model.predict("How many users?")
    assert prediction.sql == "SELECT 1 AS fixed"
    assert prediction.error is None
    assert prediction.usage == Usage(calls=2, prompt_tokens=200, completion_tokens=40)
    retry = chat.calls[1]["messages"]
    assert retry[-2] == {
        "role": "assistant",
        "content": "SELECT count() FROM no_such_db.no_such_table",
    }
    assert retry[-1]["role"] == "user"
    assert retry[-1]["content"].startswith(reflection_message("")[:40])
    assert "no_such_db" in retry[-1]["content"]  # the engine's error text is sent back


def test_self_reflection_keeps_a_query_that_runs(executor: ChDBExecutor) -> None:
    chat = ScriptedChat(["SELECT 1"])
    prediction = SelfReflectionModel(chat, SYSTEM, executor).predict("q")
    assert prediction.sql == "SELECT 1"
    assert len(chat.calls) == 1


def test_self_reflection_asks_again_when_there_is_no_sql() -> None:
    executed: list[str] = []

    def run(sql: str) -> QueryResult:
        executed.append(sql)
        return QueryResult(sql=sql, columns=["x"], rows=[[1]])

    chat = ScriptedChat(["Sorry, what table?", "SELECT 2"])
    prediction = SelfReflectionModel(chat, SYSTEM, FunctionExecutor(run)).predict("q")
    assert prediction.sql == "SELECT 2"
    assert "no SQL query" in chat.calls[1]["messages"][-1]["content"]
    assert executed == []


def test_self_reflection_sends_the_error_only_once() -> None:
    def fail(sql: str) -> QueryResult:
        raise SQLExecutionError(sql, 47, "UNKNOWN_IDENTIFIER", "Missing column: 'x'")

    chat = ScriptedChat(["SELECT x FROM t", "SELECT y FROM t"])
    prediction = SelfReflectionModel(chat, SYSTEM, FunctionExecutor(fail)).predict("q")
    assert prediction.sql == "SELECT y FROM t"  # taken even though it may still fail
    assert len(chat.calls) == 2
    assert "Missing column" in chat.calls[1]["messages"][-1]["content"]


def test_self_reflection_keeps_the_first_answer_when_the_retry_fails() -> None:
    def fail(sql: str) -> QueryResult:
        raise SQLExecutionError(sql, 47, "UNKNOWN_IDENTIFIER", "Missing column")

    chat = ScriptedChat(["SELECT x FROM t", ProviderError("openai", 503, "busy")])
    prediction = SelfReflectionModel(chat, SYSTEM, FunctionExecutor(fail)).predict("q")
    assert prediction.sql == "SELECT x FROM t"


def test_self_reflection_with_examples_starts_few_shot(executor: ChDBExecutor) -> None:
    chat = ScriptedChat(["SELECT 1"])
    SelfReflectionModel(chat, SYSTEM, executor, examples=SEEDS, k=1).predict(
        "How many users are there?"
    )
    messages = chat.calls[0]["messages"]
    assert messages[1]["content"] == "How many users are there?"
    assert messages[2]["content"] == "SELECT count() FROM ecommerce.users"


def test_the_documented_scripted_client_plugs_into_a_model() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "llm-client.md").read_text()
    section = page.split("## Your own chat client", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["model"].predict("How many users?").sql == (
        "SELECT count() FROM ecommerce.users"
    )


def test_the_generator_takes_any_chat_client() -> None:
    arguments = {"comments": "c", "question": "How many users?", "sql_query": "SELECT count()"}

    class ToolChat:
        model = "tool-chat"

        async def achat(self, messages: Any, **options: Any) -> ChatResponse:
            assert options["tool_choice"] == GENERATION_TOOL_NAME
            call = ToolCall(id="1", name=GENERATION_TOOL_NAME, arguments=json.dumps(arguments))
            usage = Usage(calls=1)
            return ChatResponse(content=None, tool_calls=[call], usage=usage, model=self.model)

    generator = OpenAIQAGenerator(ToolChat(), demo_schema(), SEEDS)
    assert generator.concurrency == 16  # twice the 8 calls assumed for a client that does not say
    pair = asyncio.run(generator.agenerate_one())
    assert pair.ok and pair.question == "How many users?" and pair.source == "openai:tool-chat"
