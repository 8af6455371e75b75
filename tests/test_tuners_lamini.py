"""LaminiTuner and LaminiModel driving the real ``lamini`` SDK against a fake Lamini server."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune import (
    ConfigurationError,
    DataError,
    MissingExtraError,
    ProviderError,
    QAPair,
    RateLimitError,
    TuningError,
    TuningStatus,
)
from text2sql_tune.prompts import llama3_prompt
from text2sql_tune.testing.lamini_server import FakeLaminiServer
from text2sql_tune.tuners import (
    LaminiTuner,
    lamini_status,
    resolve_lamini_credentials,
    validate_lamini_records,
)

SYSTEM = "You are an analyst. Answer with ClickHouse SQL only."
RECORDS = [
    {"input": llama3_prompt("How many users?", SYSTEM), "output": "SELECT count() FROM users"},
    {"input": llama3_prompt("How many sessions?", SYSTEM), "output": "SELECT count() FROM s"},
]


@pytest.fixture
def sdk() -> None:
    """These tests drive the real ``lamini`` SDK, an optional extra."""
    pytest.importorskip("lamini", reason="the lamini extra is not installed (CI installs it)")


@pytest.fixture
def lamini_server(sdk: None) -> Iterator[FakeLaminiServer]:
    with FakeLaminiServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAMINI_API_KEY", raising=False)
    monkeypatch.delenv("LAMINI_API_URL", raising=False)
    monkeypatch.delenv("LLAMA_ENVIRONMENT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def make_tuner(server: FakeLaminiServer, **kwargs: object) -> LaminiTuner:
    options: dict[str, object] = {"retry_backoff_s": 0.001, "max_retries": 2}
    options.update(kwargs)
    return LaminiTuner(SYSTEM, api_key=server.api_key, api_url=server.url, **options)  # type: ignore[arg-type]


def test_start_wait_and_answer_end_to_end(lamini_server: FakeLaminiServer) -> None:
    tuner = make_tuner(lamini_server, finetune_args={"max_steps": 10, "r_value": 32})
    job = tuner.start_records(RECORDS)
    assert job.provider == "lamini"
    assert job.status is TuningStatus.QUEUED
    assert job.provider_status == "CREATED"
    assert job.base_model == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    # The dataset arrived as uploaded and the args were merged over the article's defaults.
    assert lamini_server.datasets[job.dataset_id or ""] == RECORDS
    sent = lamini_server.jobs[job.job_id]
    assert sent["finetune_args"] == {"max_steps": 10, "learning_rate": 1e-4, "r_value": 32}

    seen: list[TuningStatus] = []
    done = tuner.wait_until_done(
        job.job_id, poll_interval_s=0.001, on_update=lambda j: seen.append(j.status)
    )
    assert done.status is TuningStatus.COMPLETED
    assert seen == [TuningStatus.QUEUED, TuningStatus.RUNNING, TuningStatus.COMPLETED]
    assert done.model_name == sent["model_name"]

    model = tuner.model_for(done, max_new_tokens=64)
    prediction = model.predict("How many users?")
    assert prediction.error is None
    assert prediction.sql == "SELECT count() FROM ecommerce.users"
    completion = lamini_server.requests_to("/v1/completions")[-1].body
    assert completion["model_name"] == done.model_name
    assert completion["max_new_tokens"] == 64
    # The tuned model is asked with exactly the training prompt.
    assert completion["prompt"] == RECORDS[0]["input"]
    assert all(
        r.headers["authorization"] == f"Bearer {lamini_server.api_key}"
        for r in lamini_server.requests
    )


def test_default_finetune_args_are_the_articles(lamini_server: FakeLaminiServer) -> None:
    job = make_tuner(lamini_server).start_records(RECORDS)
    assert lamini_server.jobs[job.job_id]["finetune_args"] == {
        "max_steps": 50,
        "learning_rate": 1e-4,
    }


@pytest.mark.usefixtures("sdk")
def test_failed_job_raises_with_the_providers_message() -> None:
    with FakeLaminiServer(job_script=("CREATED", "RUNNING", "FAILED")) as server:
        tuner = make_tuner(server)
        job = tuner.start_records(RECORDS)
        with pytest.raises(TuningError, match="CUDA out of memory") as info:
            tuner.wait_until_done(job.job_id, poll_interval_s=0.001)
        assert info.value.job_id == job.job_id
        assert tuner.status(job.job_id).status is TuningStatus.FAILED


@pytest.mark.usefixtures("sdk")
def test_timed_out_job_is_terminal() -> None:
    with FakeLaminiServer(job_script=("CREATED", "TIMED OUT")) as server:
        tuner = make_tuner(server)
        job = tuner.start_records(RECORDS)
        with pytest.raises(TuningError, match="failed"):
            tuner.wait_until_done(job.job_id, poll_interval_s=0.001)


def test_cancel(lamini_server: FakeLaminiServer) -> None:
    tuner = make_tuner(lamini_server)
    job = tuner.start_records(RECORDS)
    cancelled = tuner.cancel(job.job_id)
    assert cancelled.status is TuningStatus.CANCELLED
    assert lamini_server.requests_to(f"/v1/train/jobs/{job.job_id}/cancel", "POST")


def test_rate_limit_and_server_errors_are_retried(lamini_server: FakeLaminiServer) -> None:
    lamini_server.fail_next(429, path="/v1/local-data", detail="slow down")
    lamini_server.fail_next(503, path="/v1/train", detail="busy")
    job = make_tuner(lamini_server).start_records(RECORDS)
    assert job.job_id == "1"
    assert len(lamini_server.requests_to("/v1/local-data")) == 2
    lamini_server.fail_next(500, path="/v1/train/jobs/", times=2)
    assert make_tuner(lamini_server).status(job.job_id).job_id == "1"


def test_retry_after_from_lamini_is_honoured(
    lamini_server: FakeLaminiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="text2sql_tune")
    tuner = make_tuner(lamini_server)
    job = tuner.start_records(RECORDS)
    lamini_server.fail_next(429, path="/v1/train/jobs/", headers={"Retry-After": "0.01"})
    assert tuner.status(job.job_id).job_id == job.job_id
    (wait,) = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert wait.startswith("retry: lamini: HTTP 429") and "(Retry-After)" in wait


def test_errors_after_retries_become_provider_errors(lamini_server: FakeLaminiServer) -> None:
    lamini_server.fail_next(500, times=2, detail="internal boom")
    with pytest.raises(ProviderError) as info:
        make_tuner(lamini_server, max_retries=1).status("1")
    assert info.value.provider == "lamini"
    assert info.value.status == 500
    assert "internal boom" in str(info.value)
    lamini_server.fail_next(429, times=2)
    with pytest.raises(RateLimitError):
        make_tuner(lamini_server, max_retries=1).status("1")


def test_wrong_key_is_a_401_provider_error(lamini_server: FakeLaminiServer) -> None:
    tuner = LaminiTuner(SYSTEM, api_key="wrong", api_url=lamini_server.url, max_retries=3)
    with pytest.raises(ProviderError) as info:
        tuner.status("1")
    assert info.value.status == 401
    assert "wrong" not in str(info.value)
    assert len(lamini_server.requests) == 1  # a 401 is not retried


def test_non_idempotent_start_is_not_resent_after_a_500(lamini_server: FakeLaminiServer) -> None:
    lamini_server.fail_next(500, path="/v1/train", times=1)
    with pytest.raises(ProviderError):
        make_tuner(lamini_server).start_records(RECORDS)
    assert len(lamini_server.requests_to("/v1/train", "POST")) == 1


@pytest.mark.usefixtures("sdk")
def test_missing_key_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LAMINI_API_KEY"):
        LaminiTuner(SYSTEM)


def test_key_from_environment_and_lamini_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "home" / ".lamini" / "configure.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "production:\n  key: from-file\n  url: http://127.0.0.1:9/\n", encoding="utf-8"
    )
    key, url = resolve_lamini_credentials()
    assert key.get_secret_value() == "from-file"
    assert url == "http://127.0.0.1:9"
    monkeypatch.setenv("LAMINI_API_KEY", "from-env")
    key, url = resolve_lamini_credentials(api_url="http://x/")
    assert key.get_secret_value() == "from-env"
    assert url == "http://x"
    assert "from-env" not in repr(key)


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lamini", None)
    with pytest.raises(MissingExtraError, match=r"text2sql-tune\[lamini\]"):
        LaminiTuner(SYSTEM, api_key="k")


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "empty"),
        ([{"question": "q", "sql_query": "SELECT 1"}], "record 1 needs a non-empty string 'input'"),
        (
            [RECORDS[0], {"input": "q", "output": "  "}],
            "record 2 needs a non-empty string 'output'",
        ),
        (["SELECT 1"], "record 1 is not an object"),
    ],
)
def test_rejected_datasets(records: list[object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        validate_lamini_records(records)  # type: ignore[arg-type]


def test_rejected_dataset_is_not_uploaded(lamini_server: FakeLaminiServer) -> None:
    with pytest.raises(DataError, match="'input'"):
        make_tuner(lamini_server).start_records([{"prompt": "q", "completion": "SELECT 1"}])
    assert lamini_server.requests == []


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("CREATED", TuningStatus.QUEUED),
        ("SCHEDULED", TuningStatus.QUEUED),
        ("QUEUED", TuningStatus.QUEUED),
        ("RUNNING", TuningStatus.RUNNING),
        ("COMPLETED", TuningStatus.COMPLETED),
        ("PARTIALLY COMPLETED", TuningStatus.COMPLETED),
        ("FAILED", TuningStatus.FAILED),
        ("TIMED OUT", TuningStatus.FAILED),
        ("CANCELLED", TuningStatus.CANCELLED),
        ("SOMETHING NEW", TuningStatus.UNKNOWN),
        (None, TuningStatus.UNKNOWN),
    ],
)
def test_status_mapping(provider_status: str | None, status: TuningStatus) -> None:
    assert lamini_status(provider_status) is status


def test_lamini_model_provider_error_is_a_prediction_error(
    lamini_server: FakeLaminiServer,
) -> None:
    model = make_tuner(lamini_server).model_for("no-such-model")
    prediction = model.predict("How many users?")
    assert prediction.sql == ""
    assert prediction.error is not None and "594" in prediction.error


@pytest.mark.usefixtures("sdk")
def test_lamini_model_extracts_sql_from_chatty_answers() -> None:
    answer = "Here you go:\n```sql\nSELECT 1 format TabSeparatedWithNames;\n```\nDone."
    with FakeLaminiServer(respond=lambda prompt, model: answer) as server:
        model = make_tuner(server).model_for("meta-llama/Meta-Llama-3.1-8B-Instruct")
        prediction = model.predict("q")
    assert prediction.sql == "SELECT 1"
    assert prediction.raw_output == answer


def test_sdk_prints_stay_off_stdout(
    lamini_server: FakeLaminiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tuner(lamini_server).start_records(RECORDS)
    assert capsys.readouterr().out == ""


def test_a_hanging_call_is_cut_at_the_time_limit(lamini_server: FakeLaminiServer) -> None:
    lamini_server.delay_s = 2.0
    tuner = make_tuner(lamini_server, timeout_s=0.2, max_retries=0)
    with pytest.raises(ProviderError, match=r"no answer within 0\.2 s") as info:
        tuner.status("1")
    assert info.value.status is None


def test_pairs_are_formatted_like_the_model_asks(lamini_server: FakeLaminiServer) -> None:
    pairs = [
        QAPair(question="How many users?", sql="SELECT count() FROM users"),
        QAPair(rejected="no SQL"),
    ]
    tuner = make_tuner(lamini_server)
    job = tuner.start(pairs)
    uploaded = lamini_server.datasets[job.dataset_id or ""]
    assert uploaded == [
        {"input": tuner.model_for("x").prompt("How many users?"), "output": pairs[0].sql}
    ]
