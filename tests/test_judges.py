"""Judges on the demo database: the labelled cases, the LLM judge, the cascade, the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from text2sql_tune import FunctionJudge, JudgeInput, ProviderError, SQLExecutor, Verdict
from text2sql_tune.evaluate.judges import (
    CascadeJudge,
    ExecutionMatchJudge,
    LLMJudge,
    MatchRules,
    VerdictCache,
)
from text2sql_tune.llm import ChatResponse, OpenAIChatClient
from text2sql_tune.records import Usage

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "judge_cases.yaml").read_text(encoding="utf-8")
)
LABEL = {True: "correct", False: "wrong", None: "undecided"}


def test_the_labelled_set_is_big_and_covers_every_outcome() -> None:
    assert len(CASES) >= 60
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["expected"] for c in CASES} == {"correct", "wrong", "undecided"}


async def _verdict(case: dict[str, Any], executor: SQLExecutor) -> Verdict:
    rules = MatchRules(**case.get("rules", {}))
    judge_input = JudgeInput(
        question=case["question"],
        reference_sql=case["reference"],
        predicted_sql=case["predicted"],
    )
    if case.get("executor", True) is False:
        # The judge gets both results but cannot run anything: tolerance mode.
        judge_input = judge_input.model_copy(
            update={
                "reference": await executor.aexecute(case["reference"]),
                "predicted": await executor.aexecute(case["predicted"]),
            }
        )
        return await ExecutionMatchJudge(None, rules).ajudge(judge_input)
    return await ExecutionMatchJudge(executor, rules).ajudge(judge_input)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_labelled_case(case: dict[str, Any], demo_executor: SQLExecutor) -> None:
    verdict = await _verdict(case, demo_executor)
    assert LABEL[verdict.correct] == case["expected"], verdict.reason
    assert verdict.reason
    assert verdict.judge == "execution"


async def test_agreement_on_the_labelled_set(demo_executor: SQLExecutor) -> None:
    agree = 0
    for case in CASES:
        verdict = await _verdict(case, demo_executor)
        agree += LABEL[verdict.correct] == case["expected"]
    assert agree == len(CASES)


async def test_approximate_functions_are_rewritten_and_recorded(
    demo_executor: SQLExecutor,
) -> None:
    verdict = await ExecutionMatchJudge(demo_executor).ajudge(
        JudgeInput(
            question="median session duration",
            reference_sql="SELECT median(session_duration) FROM ecommerce.sessions",
            predicted_sql="SELECT medianExact(session_duration) FROM ecommerce.sessions",
        )
    )
    assert verdict.correct is True
    assert verdict.details["approximate"] == "rewrite"
    assert verdict.details["rewritten"]["replaced"] == ["median->medianExact"]
    assert "medianExact" in verdict.details["rewritten"]["reference"]


async def test_tolerance_is_recorded_without_executor(demo_executor: SQLExecutor) -> None:
    ref = await demo_executor.aexecute("SELECT uniqExact(user_id) FROM ecommerce.sessions")
    pred = await demo_executor.aexecute("SELECT uniq(user_id) FROM ecommerce.sessions")
    verdict = await ExecutionMatchJudge().ajudge(
        JudgeInput(
            question="users",
            reference_sql=ref.sql,
            predicted_sql=pred.sql,
            reference=ref,
            predicted=pred,
        )
    )
    assert verdict.correct is True
    assert verdict.details["approximate"] == "tolerance"


async def test_failed_queries_and_missing_inputs(demo_executor: SQLExecutor) -> None:
    judge = ExecutionMatchJudge(demo_executor)
    base = {"question": "q", "reference_sql": "SELECT count() FROM ecommerce.users"}
    failed = await judge.ajudge(
        JudgeInput(**base, predicted_sql="SELECT nope FROM ecommerce.users")
    )
    assert failed.correct is False
    assert "predicted query failed" in failed.reason
    empty = await judge.ajudge(JudgeInput(**base, predicted_sql="  "))
    assert empty.correct is False
    broken_ref = await judge.ajudge(
        JudgeInput(question="q", reference_sql="SELECT nope", predicted_sql="SELECT 1")
    )
    assert broken_ref.correct is None
    no_executor = await ExecutionMatchJudge().ajudge(JudgeInput(**base, predicted_sql="SELECT 1"))
    assert no_executor.correct is None
    assert "no executor" in no_executor.reason


def test_sync_twin(demo_executor: SQLExecutor) -> None:
    verdict = ExecutionMatchJudge(demo_executor).judge(
        JudgeInput(
            question="How many users?",
            reference_sql="SELECT count() FROM ecommerce.users",
            predicted_sql="SELECT count(user_id) AS n FROM ecommerce.users",
        )
    )
    assert verdict.correct is True


# --- LLM judge over the real chat-completions wire format --------------------------------------


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135},
    }


class FakeOpenAI:
    """A chat-completions endpoint answering from a list, recording the requests."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/chat/completions")
        self.requests.append(json.loads(request.content))
        return httpx.Response(200, json=_completion(self.answers.pop(0)))


class WireClient:
    """The smallest OpenAI-compatible client: posts chat completions over an httpx transport.

    It keeps these tests independent of the library's full client (tested on its own); the last
    tests below run the judge through ``OpenAIChatClient`` itself.
    """

    model = "gpt-4o"

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def achat(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResponse:
        body = {"model": kwargs.pop("model", None) or self.model, "messages": messages, **kwargs}
        async with httpx.AsyncClient(
            transport=self.transport, base_url="https://api.openai.test/v1"
        ) as http:
            response = await http.post("/chat/completions", json=body)
        data = response.json()
        if response.status_code >= 400:
            raise ProviderError("openai", response.status_code, response.text)
        usage = data["usage"]
        return ChatResponse(
            content=data["choices"][0]["message"]["content"],
            usage=Usage(
                calls=1,
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=usage["completion_tokens"],
            ),
            model=body["model"],
        )


def _client(server: Any) -> Any:
    return WireClient(httpx.MockTransport(server))


CASE = JudgeInput(
    question="How many users are there?",
    reference_sql="SELECT count() FROM ecommerce.users",
    predicted_sql="SELECT count(user_id) FROM ecommerce.users",
)


async def test_llm_judge_scores_and_asks_for_strict_json(demo_executor: SQLExecutor) -> None:
    server = FakeOpenAI('{"score": 1, "comments": "Same count."}')
    judge = LLMJudge(_client(server), executor=demo_executor)
    verdict = await judge.ajudge(CASE)
    assert verdict.correct is True
    assert verdict.reason == "Same count."
    assert verdict.details["usage"]["prompt_tokens"] == 120
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    user = body["messages"][-1]["content"]
    assert "Reference result:" in user and "Candidate result:" in user
    assert "count()" in user  # the executed result table is shown


async def test_llm_judge_zero_and_malformed_answers() -> None:
    server = FakeOpenAI('{"score": 0, "comments": "Fraction, not percent."}', "looks right to me")
    judge = LLMJudge(_client(server))
    wrong = await judge.ajudge(CASE)
    assert wrong.correct is False
    other = CASE.model_copy(update={"predicted_sql": "SELECT 2"})
    malformed = await judge.ajudge(other)
    assert malformed.correct is None
    assert "did not answer" in malformed.reason


async def test_llm_verdicts_are_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    server = FakeOpenAI('{"score": 1, "comments": "ok"}')
    first = await LLMJudge(_client(server), cache=path).ajudge(CASE)
    again = LLMJudge(_client(FakeOpenAI()), cache=path)  # no answers left: must not call
    second = await again.ajudge(CASE)
    assert first.correct is second.correct is True
    assert second.details["cached"] is True
    assert len(server.requests) == 1
    assert len(VerdictCache(path)) == 1


def _fail(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"error": {"message": "bad request"}})


async def test_llm_judge_provider_error_is_undecided() -> None:
    verdict = await LLMJudge(_client(_fail)).ajudge(CASE)
    assert verdict.correct is None
    assert "failed" in verdict.reason


async def test_llm_judge_with_the_library_openai_client() -> None:
    server = FakeOpenAI('{"score": 1, "comments": "Same count."}')
    client = OpenAIChatClient(
        "gpt-4o", api_key="sk-test", transport=httpx.MockTransport(server), max_retries=0
    )
    verdict = await LLMJudge(client).ajudge(CASE)
    assert verdict.correct is True
    assert server.requests[0]["response_format"]["json_schema"]["strict"] is True
    failing = OpenAIChatClient(
        "gpt-4o", api_key="sk-test", transport=httpx.MockTransport(_fail), max_retries=0
    )
    assert (await LLMJudge(failing).ajudge(CASE)).correct is None


async def test_cascade_asks_the_llm_only_when_undecided(demo_executor: SQLExecutor) -> None:
    server = FakeOpenAI('{"score": 0, "comments": "Ranked by name, not by sessions."}')
    cascade = CascadeJudge([ExecutionMatchJudge(demo_executor), LLMJudge(_client(server))])
    decided = await cascade.ajudge(CASE)
    assert decided.correct is True
    assert decided.judge == "execution"
    assert server.requests == []
    undecided_case = JudgeInput(
        question="Rank the browsers by number of sessions.",
        reference_sql="SELECT browser FROM ecommerce.sessions GROUP BY browser "
        "ORDER BY count() DESC",
        predicted_sql="SELECT browser FROM ecommerce.sessions GROUP BY browser ORDER BY browser",
    )
    verdict = await cascade.ajudge(undecided_case)
    assert verdict.correct is False
    assert verdict.judge == "llm"
    assert [step["judge"] for step in verdict.details["cascade"]] == ["execution", "llm"]
    assert len(server.requests) == 1


async def test_cascade_of_undecided_judges_stays_undecided() -> None:
    cascade = CascadeJudge([FunctionJudge(lambda case: None), FunctionJudge(lambda case: None)])
    verdict = await cascade.ajudge(CASE)
    assert verdict.correct is None
    assert len(verdict.details["cascade"]) == 2
    with pytest.raises(ValueError, match="at least one"):
        CascadeJudge([])
