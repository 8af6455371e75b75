"""The ``tune`` commands, in process, against the fake Lamini and OpenAI servers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from text2sql_tune import ConfigurationError, DataError, TuningError
from text2sql_tune.cli import app
from text2sql_tune.prompts import answering_system_prompt, chat_messages, llama3_prompt
from text2sql_tune.schema import DatabaseSchema
from text2sql_tune.testing.lamini_server import FakeLaminiServer
from text2sql_tune.testing.openai_finetune_server import FakeOpenAIFineTuneServer

DATA = Path(__file__).parent / "data"
RECORDS = [
    {"input": llama3_prompt("How many users?", "SQL only."), "output": "SELECT count() FROM u"},
    {"input": llama3_prompt("How many rows?", "SQL only."), "output": "SELECT count() FROM r"},
]


@pytest.fixture
def lamini_server() -> Iterator[FakeLaminiServer]:
    with FakeLaminiServer() as server:
        yield server


@pytest.fixture
def env(lamini_server: FakeLaminiServer, tmp_path: Path) -> dict[str, str]:
    return {
        "LAMINI_API_KEY": lamini_server.api_key,
        "LAMINI_API_URL": lamini_server.url,
        "HOME": str(tmp_path / "home"),
    }


def invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, args, env=env)


def write_jsonl(path: Path, records: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_start_status_wait_with_an_exported_lamini_file(
    lamini_server: FakeLaminiServer, env: dict[str, str], tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    job_file = tmp_path / "job.json"
    result = invoke(
        [
            "tune",
            "--tuner",
            "lamini",
            "--data",
            str(data),
            "--max-steps",
            "20",
            "--learning-rate",
            "0.0002",
            "--arg",
            "r_value=32",
            "--job-file",
            str(job_file),
            "--json",
        ],
        env,
    )
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    assert started["provider"] == "lamini" and started["status"] == "queued"
    job = lamini_server.jobs[started["job_id"]]
    assert job["finetune_args"] == {"max_steps": 20, "learning_rate": 0.0002, "r_value": 32}
    assert lamini_server.datasets[job["dataset_id"]] == RECORDS  # uploaded as is
    saved = json.loads(job_file.read_text(encoding="utf-8"))
    assert saved["job_id"] == started["job_id"] and saved["api_url"] == lamini_server.url
    assert "LAMINI" not in job_file.read_text(encoding="utf-8")
    assert lamini_server.api_key not in job_file.read_text(encoding="utf-8")

    status = invoke(["tune", "status", str(job_file), "--json"], env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] in ("queued", "running")

    waited = invoke(["tune", "wait", started["job_id"], "--poll-interval", "0.001", "--json"], env)
    assert waited.exit_code == 0, waited.output
    final = json.loads(waited.stdout)
    assert final["status"] == "completed"
    assert final["model_name"] == job["model_name"]


def test_wait_shows_progress_and_the_tuned_model(
    lamini_server: FakeLaminiServer, env: dict[str, str], tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    job_file = tmp_path / "job.json"
    result = invoke(["tune", "--data", str(data), "--job-file", str(job_file)], env)
    assert result.exit_code == 0, result.output
    assert "started lamini job" in result.stdout
    waited = invoke(["tune", "wait", str(job_file), "--poll-interval", "0.001"], env)
    assert waited.exit_code == 0, waited.output
    assert "running" in waited.stdout
    assert "completed" in waited.stdout
    model_name = next(iter(lamini_server.jobs.values()))["model_name"]
    assert model_name in waited.stdout


def test_pairs_are_formatted_with_the_schema_prompt(
    lamini_server: FakeLaminiServer, env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("text2sql_tune.exports")
    result = invoke(
        [
            "tune",
            "--data",
            str(DATA / "tune_pairs.jsonl"),
            "--schema",
            str(DATA / "tune_schema.json"),
            "--job-file",
            str(tmp_path / "job.json"),
            "--json",
        ],
        env,
    )
    assert result.exit_code == 0, result.output
    uploaded = next(iter(lamini_server.datasets.values()))
    system = answering_system_prompt(DatabaseSchema.from_file(DATA / "tune_schema.json"))
    assert uploaded[0] == {
        "input": llama3_prompt("How many customers are there?", system),
        "output": "SELECT count() FROM ecommerce.users",
    }
    assert len(uploaded) == 3
    saved = json.loads((tmp_path / "job.json").read_text(encoding="utf-8"))
    assert saved["system_prompt"] == system


def test_cancel(lamini_server: FakeLaminiServer, env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    job_file = tmp_path / "job.json"
    assert invoke(["tune", "--data", str(data), "--job-file", str(job_file)], env).exit_code == 0
    result = invoke(["tune", "cancel", str(job_file), "--json"], env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_failed_job_makes_wait_fail(env: dict[str, str], tmp_path: Path) -> None:
    with FakeLaminiServer(job_script=("CREATED", "FAILED")) as server:
        env = {**env, "LAMINI_API_URL": server.url, "LAMINI_API_KEY": server.api_key}
        data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
        job_file = tmp_path / "job.json"
        assert (
            invoke(["tune", "--data", str(data), "--job-file", str(job_file)], env).exit_code == 0
        )
        result = invoke(["tune", "wait", str(job_file), "--poll-interval", "0.001"], env)
    assert isinstance(result.exception, TuningError)
    assert "CUDA out of memory" in str(result.exception)


def test_options_of_the_other_tuner_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    result = invoke(["tune", "--data", str(data), "--epochs", "3"], env)
    assert isinstance(result.exception, ConfigurationError)
    assert "--epochs" in str(result.exception)


def test_lamini_file_cannot_go_to_openai(env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    result = invoke(
        ["tune", "--tuner", "openai", "--data", str(data)], {**env, "OPENAI_API_KEY": "k"}
    )
    assert isinstance(result.exception, DataError)
    assert "formatted for lamini" in str(result.exception)


def test_bare_tune_shows_help(env: dict[str, str]) -> None:
    result = invoke(["tune"], env)
    assert result.exit_code == 0
    assert "--data" in result.stdout


def test_start_and_wait_in_one_go(
    lamini_server: FakeLaminiServer, env: dict[str, str], tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "lamini.jsonl", RECORDS)
    job_file = tmp_path / "job.json"
    result = invoke(
        [
            "tune",
            "--data",
            str(data),
            "--job-file",
            str(job_file),
            "--wait",
            "--poll-interval",
            "0.001",
            "--json",
        ],
        env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert json.loads(job_file.read_text(encoding="utf-8"))["status"] == "completed"


def test_openai_job_from_an_exported_chat_file(tmp_path: Path) -> None:
    records = [{"messages": chat_messages("How many users?", "SQL only.", "SELECT 1")}]
    data = write_jsonl(tmp_path / "chat.jsonl", records)
    job_file = tmp_path / "job.json"
    with FakeOpenAIFineTuneServer() as server:
        env = {"OPENAI_API_KEY": server.api_key}
        result = invoke(
            [
                "tune",
                "--tuner",
                "openai",
                "--data",
                str(data),
                "--api-url",
                server.url,
                "--epochs",
                "2",
                "--name",
                "sql",
                "--job-file",
                str(job_file),
                "--json",
            ],
            env,
        )
        assert result.exit_code == 0, result.output
        job_id = json.loads(result.stdout)["job_id"]
        assert job_id.startswith("ftjob-")
        created = server.requests_to("/v1/fine_tuning/jobs", "POST")[0].body
        assert created["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2}
        assert server.files[created["training_file"]]["records"] == records
        # A bare ftjob- id is known to be OpenAI's; the URL comes from --api-url.
        status = invoke(["tune", "status", job_id, "--api-url", server.url, "--json"], env)
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["provider"] == "openai"
        waited = invoke(["tune", "wait", str(job_file), "--poll-interval", "0.001", "--json"], env)
        assert waited.exit_code == 0, waited.output
        assert (
            json.loads(waited.stdout)["model_name"]
            == "ft:gpt-4o-mini-2024-07-18:org-fake:sql:abc123"
        )
