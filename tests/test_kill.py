"""Real processes killed mid-run: ``kill -9`` loses only the calls in flight, Ctrl-C says what
was saved.

Each command runs as a subprocess against a fake provider in this process, whose request log is
the ground truth: every answer it sent is numbered, so the test can tell an answer that was saved,
one that was lost (in flight at the kill) and one that was paid for twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.faults import FaultyOpenAIServer
from text2sql_tune import read_pairs
from text2sql_tune.sql.normalize import normalize_sql

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
CLI = [sys.executable, "-c", "from text2sql_tune.cli import main; main()"]
CONCURRENCY = 2  # HTTP requests in flight; the generator keeps twice as many attempts going


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny demo database of the subprocesses' own (chDB allows one process per path)."""
    path = tmp_path_factory.mktemp("kill_db") / "db"
    done = subprocess.run(
        [*CLI, "demo-db", "--path", str(path), "--scale", "0.001"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return f"chdb://{path}"


def _env(server: FaultyOpenAIServer) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEY": "sk-test",
        "COLUMNS": "200",
    }


def _start(args: list[str], server: FaultyOpenAIServer) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(server),
    )


def _finish(args: list[str], server: FaultyOpenAIServer) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=180, env=_env(server), check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def _wait_until(check: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the process ended before the test could stop it: {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the process made no progress")
        time.sleep(0.02)


def _complete_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def server() -> Iterator[FaultyOpenAIServer]:
    with FaultyOpenAIServer(latency_s=0.05) as fake:  # answers are numbered 1, 2, 3 ...
        yield fake


def test_kill_9_during_generation_loses_only_the_calls_in_flight(
    database: str, server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "raw.jsonl"
    n = 40
    args = [
        "generate", "--generator", "openai", "--database", database, "--n", str(n),
        "--output", str(out), "--model", "m", "--concurrency", str(CONCURRENCY),
        "--seed-examples", str(DATA / "generation_seeds.jsonl"), "--json",
    ]  # fmt: skip
    process = _start(args, server)
    _wait_until(lambda: _complete_lines(out) >= 10, process)
    _kill(process)
    calls_at_kill = server.chat_calls
    time.sleep(0.5)  # requests that arrived before the kill get their (numbered) answers
    sent_before_kill = server.answered

    _finish(args, server)  # the same command again, after the kill
    numbers = [
        int(match.group(1))
        for pair in read_pairs(out)
        if (match := re.search(r"answer number (\d+)", pair.question))
    ]
    assert len(numbers) == n and all(p.ok for p in read_pairs(out))
    assert len(set(numbers)) == n  # no answer saved twice
    lost = set(range(1, server.answered + 1)) - set(numbers)
    # Lost: only answers that were on their way when the process died, at most the attempts in
    # flight; every other paid call is in the file, and nothing was asked twice.
    assert all(number <= sent_before_kill for number in lost)
    assert len(lost) <= 2 * CONCURRENCY and sent_before_kill <= calls_at_kill
    assert server.answered == n + len(lost)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.jsonl"]  # the stale lock is gone


def test_kill_9_during_evaluation_asks_again_only_the_questions_in_flight(
    database: str, server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    golden = tmp_path / "golden.jsonl"
    questions = [f"How many users have an id above {i}?" for i in range(30)]
    golden.write_text(
        "".join(json.dumps({"question": q, "sql": "SELECT 1"}) + "\n" for q in questions)
    )
    answers = tmp_path / "answers.jsonl"
    args = [
        "evaluate", "--golden", str(golden), "--model", "zero-shot:m", "--database", database,
        "--checkpoint", str(answers), "--concurrency", str(CONCURRENCY), "--json",
    ]  # fmt: skip
    process = _start(args, server)
    _wait_until(lambda: _complete_lines(answers) >= 8, process)
    _kill(process)

    done = _finish(args, server)
    assert json.loads(done.stdout)["summary"]["total"] == 30
    asked = Counter(r.body["messages"][-1]["content"] for r in server.chat_requests)
    assert set(asked) == set(questions)
    asked_twice = [q for q, count in asked.items() if count > 1]
    assert len(asked_twice) <= CONCURRENCY  # only the questions in flight at the kill
    assert all(count <= 2 for count in asked.values())
    saved = [json.loads(line) for line in answers.read_text().splitlines()]
    assert sorted(s["question"] for s in saved) == sorted(questions)  # each answer once


def test_ctrl_c_before_any_record_names_no_file(
    database: str, server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "never" / "raw.jsonl"
    server.fault_next("stall", times=100, delay_s=60)
    args = [
        "generate", "--generator", "openai", "--database", database, "--n", "3",
        "--output", str(out), "--model", "m",
        "--seed-examples", str(DATA / "generation_seeds.jsonl"),
    ]  # fmt: skip
    process = _start(args, server)
    _wait_until(lambda: server.chat_calls >= 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: no record was saved yet; run the same command again" in err
    assert str(out.parent) not in err and not out.parent.exists()


def test_ctrl_c_of_a_run_before_any_step_finished_says_so(
    database: str, server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    server.fault_next("stall", times=100, delay_s=60)
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\ndir = "runs/first"\ndatabase = "{database}"\n'
        f'[generate]\ngenerator = "openai"\nn = 3\nmodel = "m"\n'
        f'seed_examples = "{DATA / "generation_seeds.jsonl"}"\n'
        '[evaluate]\nmodel = "none"\n'
    )
    process = _start(["run", str(config)], server)
    _wait_until(lambda: server.chat_calls >= 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: nothing was saved yet; run the same command again" in err
    assert not (tmp_path / "runs" / "first" / "raw.jsonl").exists()


def test_ctrl_c_during_validation_says_what_was_saved_and_a_rerun_resumes(
    database: str, server: FaultyOpenAIServer, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    count = 120
    pairs.write_text(
        "".join(
            json.dumps(
                {
                    "question": f"How many numbers are multiples of {i + 2}?",
                    "sql": f"SELECT count() FROM numbers(5000000) WHERE number % {i + 2} = 0",
                }
            )
            + "\n"
            for i in range(count)
        )
    )
    out = tmp_path / "validated.jsonl"
    checkpoint = tmp_path / "validated.checkpoint.jsonl"
    args = ["validate", "-i", str(pairs), "-o", str(out), "-d", database, "--concurrency", "1"]
    process = _start(args, server)
    _wait_until(lambda: _complete_lines(checkpoint) >= 21, process)  # header + 20
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    found = re.search(rf"interrupted: (\d+) of {count} pairs are validated and saved in", err)
    assert found, err
    assert str(checkpoint) in err.replace("\n", "")
    saved = [json.loads(line) for line in checkpoint.read_text().splitlines()[1:]]
    assert len(saved) >= int(found.group(1)) >= 20

    _finish(args, server)
    validated = {p.sql: p.validation for p in read_pairs(out)}
    assert len(validated) == count and not checkpoint.exists()
    # The outcomes saved before Ctrl-C were reused as they were, not run again.
    before = {s["sql"]: s["validation"]["elapsed_s"] for s in saved}
    after = {normalize_sql(sql): v.elapsed_s for sql, v in validated.items() if v is not None}
    assert len(after) == count
    assert all(after[key] == elapsed for key, elapsed in before.items())
