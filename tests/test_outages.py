"""Outages: a provider that stops answering stops the run, keeps what completed, and resumes.

Transport failures (connection refused, 5xx after every retry) must never be saved as answers
(they would count as done on resume and burn the attempts), and N of them in a row stop the run
with a ProviderError subclass (exit code 4).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from test_provider_faults import answers
from text2sql_tune import (
    EvalCase,
    Evaluator,
    OpenAIChatClient,
    QAPair,
    ResourceBusyError,
    ZeroShotModel,
    demo_schema,
    read_pairs,
)
from text2sql_tune.cli import app, exit_code_for
from text2sql_tune.errors import ProviderOutageError
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.generators import OpenAIQAGenerator, generate_to_file
from text2sql_tune.io.files import FileLock
from text2sql_tune.models import CheckpointedModel
from text2sql_tune.testing import FakeOpenAIServer, FakeReply, text_reply

DATA = Path(__file__).parent / "data"
SEEDS = [QAPair(question=f"Seed {i}?", sql=f"SELECT {i}") for i in range(4)]
runner = CliRunner()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(answers) as fake:
        yield fake


def dead_url() -> str:
    with socket.socket() as probe:  # bound, then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


def client(url: str, **kwargs: Any) -> OpenAIChatClient:
    kwargs.setdefault("max_retries", 1)
    return OpenAIChatClient("gpt-4o-mini", base_url=url, backoff_base_s=0.01, **kwargs)


# -- generation -------------------------------------------------------------------------------


def test_an_unreachable_endpoint_stops_generation_and_saves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    generator = OpenAIQAGenerator(
        client(dead_url()), demo_schema(), SEEDS, concurrency=2, max_consecutive_failures=3
    )
    with pytest.raises(ProviderOutageError) as info:
        generate_to_file(generator, 10, path)
    assert info.value.failures == 3 and info.value.status is None
    assert "Connect" in str(info.value) and exit_code_for(info.value) == 4
    assert not path.exists()  # no "rejected" records that would count as done, no empty file


def test_an_outage_mid_run_keeps_the_completed_records_and_resumes(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "raw.jsonl"
    generator = OpenAIQAGenerator(
        client(server.url, max_retries=0), demo_schema(), SEEDS, concurrency=1,
        max_consecutive_failures=2,
    )  # fmt: skip

    def outage_after_three(pair: QAPair) -> None:
        if server.answered == 3:
            server.fail_next(1000, status=503)

    with pytest.raises(ProviderOutageError):
        generate_to_file(generator, 8, path, on_record=outage_after_three)
    assert [p.question for p in read_pairs(path)] == [f"Question {i}?" for i in (1, 2, 3)]

    server.clear_failures()  # the provider is back
    summary = generate_to_file(generator, 8, path)
    assert summary.resumed_from == 3 and summary.generated == 5 and summary.rejected == 0
    pairs = read_pairs(path)
    assert len(pairs) == 8 and all(p.ok for p in pairs)
    assert server.answered == 8  # every answered call is in the file, none twice


def test_answers_in_flight_when_the_run_stops_are_still_saved(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    def slow_success_else_fail(body: dict[str, Any], n: int) -> FakeReply | dict[str, Any]:
        time.sleep(0.4)
        return answers(body, n)

    server.responder = slow_success_else_fail
    server.fail_next(3, status=503)  # the first three calls fail at once, the fourth is slow
    generator = OpenAIQAGenerator(
        client(server.url, max_retries=0, concurrency=4), demo_schema(), SEEDS, concurrency=4,
        max_consecutive_failures=3,
    )  # fmt: skip
    path = tmp_path / "raw.jsonl"
    with pytest.raises(ProviderOutageError):
        generate_to_file(generator, 10, path)
    # The calls in flight at the stop were answered (and billed): saved, not dropped; and no
    # call started after the stop.
    saved = read_pairs(path)
    assert saved and len(saved) == server.answered
    assert server.chat_calls == 3 + server.answered < 10


def test_a_second_writer_of_a_checkpoint_is_refused(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "raw.jsonl"
    generator = OpenAIQAGenerator(client(server.url), demo_schema(), SEEDS)
    busy = pytest.raises(ResourceBusyError, match=r"generation checkpoint .*raw\.jsonl is in use")
    with FileLock(tmp_path / "raw.jsonl.lock", "another run"), busy:
        generate_to_file(generator, 3, path)
    assert server.chat_calls == 0 and not path.exists()
    generate_to_file(generator, 3, path)  # free again
    assert len(read_pairs(path)) == 3 and not (tmp_path / "raw.jsonl.lock").exists()


def test_generate_cli_outage_exits_4_and_says_what_is_saved(
    tmp_path: Path, demo_db_url: str
) -> None:
    out = tmp_path / "raw.jsonl"
    args = [
        "generate", "--generator", "openai", "--database", demo_db_url, "--n", "5",
        "--output", str(out),
        "--base-url", dead_url(), "--max-retries", "0", "--max-failures", "2",
        "--seed-examples", str(DATA / "generation_seeds.jsonl"),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ProviderOutageError)
    assert "the provider is not answering; no record was saved yet" in result.output
    assert not out.exists() or read_pairs(out) == []


def test_generate_cli_prints_why_it_waits(
    server: FakeOpenAIServer, tmp_path: Path, demo_db_url: str
) -> None:
    server.fail_next(1, status=429, retry_after="1")
    args = [
        "generate", "--generator", "openai", "--database", demo_db_url, "--n", "1",
        "--output", str(tmp_path / "raw.jsonl"), "--base-url", server.url, "--model", "m",
        "--concurrency", "1", "--seed-examples", str(DATA / "generation_seeds.jsonl"),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "waiting" in line]
    assert len(lines) == 1
    assert lines[0].startswith("openai m: HTTP 429 (Rate limit reached); waiting 1.")
    assert "(Retry-After) before attempt 2 of 7" in lines[0]


# -- evaluation -------------------------------------------------------------------------------

CASES = [
    EvalCase(question=f"How many users are older than {age}?", sql=f"SELECT {age}")
    for age in range(20, 30)
]


def sql_answers(body: dict[str, Any], n: int) -> FakeReply:
    question = body["messages"][-1]["content"]
    return text_reply(f"SELECT {question.split()[-1].rstrip('?')}")


def test_evaluation_stops_on_an_outage_and_a_rerun_asks_only_what_is_missing(
    server: FakeOpenAIServer, tmp_path: Path, chdb_executor: ChDBExecutor
) -> None:
    server.responder = sql_answers
    model = ZeroShotModel(client(server.url, max_retries=0, concurrency=1), "Answer in SQL.")
    evaluator = Evaluator(chdb_executor, concurrency=1, max_consecutive_failures=2)
    path = tmp_path / "answers.jsonl"

    def outage_after_four(_index: int, _result: object) -> None:
        if server.answered == 4:
            server.fail_next(1000, status=502)

    with CheckpointedModel(model, path) as checkpointed, pytest.raises(ProviderOutageError):
        evaluator.evaluate(checkpointed, CASES, on_done=outage_after_four)
    saved = [json.loads(line) for line in path.read_text().splitlines()]
    assert [s["question"] for s in saved] == [c.question for c in CASES[:4]]
    asked_before = len(server.chat_requests)

    server.clear_failures()
    with CheckpointedModel(model, path) as checkpointed:
        report = evaluator.evaluate(checkpointed, CASES)
    assert checkpointed.reused == 4 and checkpointed.saved == 6
    assert report.summary.correct == 10
    asked = [r.body["messages"][-1]["content"] for r in server.chat_requests[asked_before:]]
    assert asked == [c.question for c in CASES[4:]]  # the saved four were not asked again


def test_an_isolated_failure_is_no_sql_and_is_not_saved(
    server: FakeOpenAIServer, tmp_path: Path, chdb_executor: ChDBExecutor
) -> None:
    server.responder = sql_answers
    server.fail_next(1, status=503)
    model = ZeroShotModel(client(server.url, max_retries=0, concurrency=1), "Answer in SQL.")
    path = tmp_path / "answers.jsonl"
    with CheckpointedModel(model, path) as checkpointed:
        report = Evaluator(chdb_executor, concurrency=1).evaluate(checkpointed, CASES[:3])
    first = report.results[0]
    assert first.category == "no_sql" and "no answer from the provider" in (first.error or "")
    assert report.summary.correct == 2
    assert len(path.read_text().splitlines()) == 2  # a re-run asks the first question again
