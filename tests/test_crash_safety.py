"""Crash safety: damaged state, single writers, resumable validation, guarded output files."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from test_pipeline import GOLDEN, CountingGenerator, make_pipeline
from text2sql_tune import (
    DataError,
    FunctionExecutor,
    QAPair,
    QueryResult,
    ResourceBusyError,
    Verdict,
    read_pairs,
)
from text2sql_tune.cli import app, exit_code_for
from text2sql_tune.evaluate.judges import VerdictCache
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.filters.validation import avalidate_pairs
from text2sql_tune.io.files import FileLock
from text2sql_tune.testing import FakeOpenAIServer

DATA = Path(__file__).parent / "data"
runner = CliRunner()


class Stop(BaseException):
    """Stands for the process being killed."""


# -- state.json and the run directory -----------------------------------------------------------


@pytest.mark.parametrize("damage", ["", '{"generate": "ab', "[1, 2]", '{"clean": 3}'])
def test_a_damaged_state_file_is_rebuilt_without_repeating_paid_calls(
    demo_executor: ChDBExecutor,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    generator = CountingGenerator()
    first = make_pipeline(tmp_path, demo_executor, generator=generator).run()
    calls = generator.calls
    (tmp_path / "state.json").write_text(damage, encoding="utf-8")  # a crash mid-write

    caplog.set_level(logging.WARNING, logger="text2sql_tune")
    again = make_pipeline(tmp_path, demo_executor, generator=generator).run()
    assert generator.calls == calls  # rebuilt from raw.jsonl: not one generation call again
    assert again.kept == first.kept and again.report is not None
    assert "state.json is damaged" in caplog.text
    assert (tmp_path / "state.json.damaged").read_text(encoding="utf-8") == damage
    assert isinstance(json.loads((tmp_path / "state.json").read_text()), dict)


def test_a_second_process_on_a_run_directory_is_refused(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    generator = CountingGenerator()
    busy = pytest.raises(ResourceBusyError, match="is in use by process")
    with FileLock(tmp_path / ".lock", "the other run"), busy as info:
        make_pipeline(tmp_path, demo_executor, generator=generator).run()
    assert exit_code_for(info.value) == 8
    assert generator.calls == 0 and not (tmp_path / "raw.jsonl").exists()


def test_the_evaluated_models_answers_are_saved_in_the_run_directory(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    result = make_pipeline(tmp_path, demo_executor).run()
    saved = [json.loads(line) for line in (tmp_path / "eval" / "answers.jsonl").open()]
    assert sorted(s["question"] for s in saved) == sorted(c.question for c in GOLDEN)
    assert result.report is not None and all(s["model"] == "retrieval" for s in saved)
    assert not (tmp_path / "validated.checkpoint.jsonl").exists()  # removed once saved


def test_an_interrupted_sync_call_finishes_its_cleanup_first() -> None:
    from text2sql_tune._sync import run_sync

    cleaned: list[str] = []

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.2)  # async cleanup: closing a file, releasing a lock
            cleaned.append("done")

    class InterruptError(Exception):  # stands for the KeyboardInterrupt of a Ctrl-C
        pass

    def interrupt(_signum: int, _frame: object) -> None:
        raise InterruptError

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(InterruptError):
            run_sync(work())
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert cleaned == ["done"]  # the process could exit now and leave nothing half done


# -- validation checkpoints -----------------------------------------------------------------


class CountingDatabase:
    """Answers every query with one row and counts what it ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, sql: str) -> QueryResult:
        self.ran.append(sql)
        return QueryResult(sql=sql, columns=["x"], types=["UInt8"], rows=[[1]], row_count=1)


PAIRS = [QAPair(question=f"q{i}?", sql=f"SELECT {i}") for i in range(12)]


def test_validation_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "validated.checkpoint.jsonl"
    database = CountingDatabase()
    executor = FunctionExecutor(database, concurrency=1)

    def stop_after_five(_index: int, _pair: QAPair) -> None:
        if len(database.ran) == 5:
            raise Stop

    with pytest.raises(Stop):
        asyncio.run(
            avalidate_pairs(PAIRS, executor, on_done=stop_after_five, checkpoint=checkpoint)
        )
    assert len(database.ran) == 5

    validated = asyncio.run(avalidate_pairs(PAIRS, executor, checkpoint=checkpoint))
    assert len(database.ran) == 12  # only the seven missing queries ran
    assert [p.validation.status.value for p in validated if p.validation] == ["ok"] * 12
    assert sorted(database.ran) == sorted(p.sql for p in PAIRS)  # none ran twice


def test_a_validation_checkpoint_made_with_other_bounds_is_started_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "v.checkpoint.jsonl"
    database = CountingDatabase()
    executor = FunctionExecutor(database)
    asyncio.run(avalidate_pairs(PAIRS[:3], executor, max_rows=10, checkpoint=checkpoint))
    caplog.set_level(logging.WARNING, logger="text2sql_tune")
    asyncio.run(avalidate_pairs(PAIRS[:3], executor, max_rows=50, checkpoint=checkpoint))
    assert len(database.ran) == 6 and "other settings; starting it over" in caplog.text


def test_a_file_that_is_not_a_validation_checkpoint_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"question": "q?", "sql": "SELECT 1"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="not a validation checkpoint"):
        asyncio.run(avalidate_pairs(PAIRS, FunctionExecutor(CountingDatabase()), checkpoint=mine))
    assert mine.read_text(encoding="utf-8") == '{"question": "q?", "sql": "SELECT 1"}\n'


def test_validate_cli_leaves_only_its_output(demo_db_url: str, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"question": f"q{i}?", "sql": f"SELECT {i}"}) + "\n" for i in range(4))
    )
    out = tmp_path / "validated.jsonl"
    result = runner.invoke(app, ["validate", "-i", str(pairs), "-o", str(out), "-d", demo_db_url])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl", "validated.jsonl"]
    assert len(read_pairs(out)) == 4


# -- generate: an existing file that is not a checkpoint ----------------------------------------


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text(
        '{"question": "How many users?", "sql": "SELECT count() FROM ecommerce.users"}\n',
        encoding="utf-8",
    )
    return path


def _generate(database: str, output: Path, *extra: str) -> Any:
    args = ["generate", "-d", database, "-n", "3", "-o", str(output), *extra]
    return runner.invoke(app, args)


def test_generate_refuses_to_append_to_a_file_that_is_not_a_checkpoint(
    demo_db_url: str, golden: Path
) -> None:
    before = golden.read_text(encoding="utf-8")
    result = _generate(demo_db_url, golden)
    assert exit_code_for(result.exception) == 3
    message = str(result.exception)
    assert "is not a generation checkpoint" in message and "'source'" in message
    assert "--append" in message and "--force" in message
    assert golden.read_text(encoding="utf-8") == before


def test_generate_append_and_force_say_what_to_do_with_it(demo_db_url: str, golden: Path) -> None:
    appended = _generate(demo_db_url, golden, "--append")
    assert appended.exit_code == 0, appended.output
    pairs = read_pairs(golden)
    assert len(pairs) == 3 and pairs[0].question == "How many users?"  # counted toward -n 3

    replaced = _generate(demo_db_url, golden, "--force")
    assert replaced.exit_code == 0, replaced.output
    pairs = read_pairs(golden)
    assert len(pairs) == 3 and all(p.source == "template" for p in pairs)

    both = _generate(demo_db_url, golden, "--append", "--force")
    assert "contradict" in str(both.exception)


def test_generate_output_must_be_jsonl(demo_db_url: str, tmp_path: Path) -> None:
    result = _generate(demo_db_url, tmp_path / "pairs.json", "--force")
    assert exit_code_for(result.exception) == 2 and "name the output pairs.jsonl" in str(
        result.exception
    )
    assert list(tmp_path.iterdir()) == []


def test_generate_continues_its_own_checkpoint(demo_db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "raw.jsonl"
    assert _generate(demo_db_url, out).exit_code == 0
    again = runner.invoke(app, ["generate", "-d", demo_db_url, "-n", "5", "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert len(read_pairs(out)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.jsonl"]  # no lock file left


# -- evaluate --model: answers checkpoint -----------------------------------------------------


@pytest.fixture
def sql_server() -> Iterator[FakeOpenAIServer]:
    def sql_for(body: dict[str, Any], n: int) -> Any:
        from text2sql_tune.testing import text_reply

        return text_reply("SELECT count() FROM ecommerce.users")

    with FakeOpenAIServer(sql_for) as server:
        yield server


def test_evaluate_model_saves_answers_and_a_rerun_asks_nothing_again(
    demo_db_url: str, tmp_path: Path, sql_server: FakeOpenAIServer
) -> None:
    cases = tmp_path / "golden.jsonl"
    sql = "SELECT count() FROM ecommerce.users"
    cases.write_text(
        "".join(
            json.dumps({"question": f"How many users, {i}?", "sql": sql}) + "\n" for i in range(5)
        )
    )
    answers = tmp_path / "answers.jsonl"
    args = [
        "evaluate", "-g", str(cases), "-m", "zero-shot:gpt-4o-mini", "-d", demo_db_url,
        "--checkpoint", str(answers), "--json",
    ]  # fmt: skip
    env = {"OPENAI_BASE_URL": sql_server.url, "OPENAI_API_KEY": "sk-test"}
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["summary"]["correct"] == 5
    assert len(answers.read_text().splitlines()) == 5 and sql_server.chat_calls == 5

    again = runner.invoke(app, args[:-1], env=env)  # without --json: it says what it reuses
    assert again.exit_code == 0, again.output
    assert sql_server.chat_calls == 5  # every answer came from the checkpoint
    assert "5 answers saved in" in again.output and "asking the model 0 questions" in again.output

    fresh = runner.invoke(app, [*args, "--fresh"], env=env)
    assert fresh.exit_code == 0 and sql_server.chat_calls == 10


def test_evaluate_model_outage_exits_4_and_keeps_the_answers(
    demo_db_url: str, tmp_path: Path, sql_server: FakeOpenAIServer
) -> None:
    cases = tmp_path / "golden.jsonl"
    cases.write_text(
        "".join(json.dumps({"question": f"Q{i}?", "sql": "SELECT 1"}) + "\n" for i in range(6))
    )
    answers = tmp_path / "answers.jsonl"
    sql_server.fail_next(1000, status=503)
    args = [
        "evaluate", "-g", str(cases), "-m", "zero-shot:gpt-4o-mini", "-d", demo_db_url,
        "--checkpoint", str(answers), "--max-retries", "0", "--max-failures", "2",
        "--concurrency", "1",
    ]  # fmt: skip
    env = {"OPENAI_BASE_URL": sql_server.url, "OPENAI_API_KEY": "sk-test"}
    result = runner.invoke(app, args, env=env)
    assert exit_code_for(result.exception) == 4
    assert "the provider is not answering; no answer was saved yet" in result.output
    assert sql_server.chat_calls == 2  # it stopped instead of asking all six
    assert not answers.exists() or answers.read_text() == ""


# -- the judge cache ---------------------------------------------------------------------------


def test_a_judge_cache_with_torn_and_repeated_lines_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    old = Verdict(correct=False, reason="old", judge="llm")
    new = Verdict(correct=True, reason="new \udc80", judge="llm")  # an LLM's invalid Unicode
    cache = VerdictCache(path)
    cache.put("a", old)
    cache.put("a", new)
    cache.put("b", old)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"key": "c", "verd')  # torn by a crash
    reloaded = VerdictCache(path)
    assert len(reloaded) == 2 and reloaded.get("a") == new
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdicts.jsonl"]
