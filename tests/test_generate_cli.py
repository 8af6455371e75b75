"""The ``text2sql-tune generate`` command, in-process on the shared demo database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_tune import ConfigurationError, read_pairs
from text2sql_tune.cli import app
from text2sql_tune.generators import GENERATION_TOOL_NAME
from text2sql_tune.testing import FakeOpenAIServer

DATA = Path(__file__).parent / "data"
runner = CliRunner()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def test_template_generation_and_resume(demo_db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "raw.jsonl"
    first = runner.invoke(
        app, ["generate", "--database", demo_db_url, "--n", "12", "--output", str(out)]
    )
    assert first.exit_code == 0, first.output
    assert "Generation summary" in first.output and "12 / 12" in first.output
    assert len(read_pairs(out)) == 12

    again = runner.invoke(
        app,
        ["generate", "--database", demo_db_url, "--n", "20", "--output", str(out), "--json"],
    )
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["resumed_from"] == 12 and summary["generated"] == 8
    pairs = read_pairs(out)
    assert len(pairs) == 20 and len({p.sql for p in pairs}) == 20


def test_openai_generation_against_fake_server(
    demo_db_url: str, tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-test")
    server.api_key = "sk-test"
    server.fail_next(1, status=429, retry_after_ms=5)
    out = tmp_path / "raw.jsonl"
    args = [
        "generate", "--generator", "openai", "--database", demo_db_url, "--n", "6",
        "--output", str(out), "--base-url", server.url, "--model", "gpt-4o-mini",
        "--concurrency", "2", "--api-key-env", "MY_LLM_KEY",
        "--seed-examples", str(DATA / "generation_seeds.jsonl"), "--json",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["generated"] == 6 and summary["ok"] == 6
    assert summary["usage"]["calls"] == 6 and summary["usage"]["cost_usd"] > 0
    assert summary["retries"] == 1
    assert server.chat_calls == 7
    body = server.chat_requests[-1].body
    assert body["model"] == "gpt-4o-mini"
    assert body["tools"][0]["function"]["name"] == GENERATION_TOOL_NAME
    seeds = {p.question for p in read_pairs(DATA / "generation_seeds.jsonl")}
    pairs = read_pairs(out)
    assert all(p.source == "openai:gpt-4o-mini" and set(p.examples) <= seeds for p in pairs)
    assert all(len(p.examples) == 3 for p in pairs)


def test_openai_generation_shows_progress_and_usage(
    demo_db_url: str, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    out = tmp_path / "raw.jsonl"
    args = [
        "generate", "--generator", "openai", "--database", demo_db_url, "--n", "3",
        "--output", str(out), "--base-url", server.url, "--model", "local-model",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "LLM calls" in result.output and "unknown (no price)" in result.output


def test_missing_api_key_variable_is_a_clear_error(demo_db_url: str, tmp_path: Path) -> None:
    args = [
        "generate", "--generator", "openai", "--database", demo_db_url,
        "--output", str(tmp_path / "x.jsonl"), "--api-key-env", "NO_SUCH_VARIABLE_SET",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigurationError)
    assert "NO_SUCH_VARIABLE_SET" in str(result.exception)
