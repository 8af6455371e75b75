"""OpenAITuner and the fine-tuned OpenAIText2SQL against a fake OpenAI fine-tuning server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from text2sql_tune import (
    ConfigurationError,
    DataError,
    ProviderError,
    QAPair,
    RateLimitError,
    TuningError,
    TuningStatus,
)
from text2sql_tune.llm import ChatResponse
from text2sql_tune.prompts import chat_messages
from text2sql_tune.records import Usage
from text2sql_tune.testing.openai_finetune_server import FakeOpenAIFineTuneServer
from text2sql_tune.tuners import OpenAITuner, openai_status, validate_chat_records

SYSTEM = "You are an analyst. Answer with ClickHouse SQL only."
PAIRS = [
    QAPair(question="How many users?", sql="SELECT count() FROM ecommerce.users"),
    QAPair(question="How many sessions?", sql="SELECT count() FROM ecommerce.sessions"),
    QAPair(rejected="the generator answered no SQL"),
]
RECORDS = [{"messages": chat_messages(p.question, SYSTEM, p.sql)} for p in PAIRS[:2]]


@pytest.fixture
def server() -> Iterator[FakeOpenAIFineTuneServer]:
    with FakeOpenAIFineTuneServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make_tuner(server: FakeOpenAIFineTuneServer, **kwargs: object) -> OpenAITuner:
    options: dict[str, object] = {"retry_backoff_s": 0.001, "max_retries": 2}
    options.update(kwargs)
    return OpenAITuner(SYSTEM, api_key=server.api_key, base_url=server.url, **options)  # type: ignore[arg-type]


def test_start_and_wait(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server, hyperparameters={"n_epochs": 3}, suffix="sql", seed=7)
    job = tuner.start_records(RECORDS, RECORDS[:1])
    assert job.provider == "openai"
    assert job.job_id.startswith("ftjob-")
    assert job.status is TuningStatus.QUEUED
    assert job.provider_status == "validating_files"

    created = server.requests_to("/v1/fine_tuning/jobs", "POST")[0].body
    assert created["model"] == "gpt-4o-mini-2024-07-18"
    assert created["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3}},
    }
    assert created["suffix"] == "sql" and created["seed"] == 7
    training = server.files[created["training_file"]]
    assert training["purpose"] == "fine-tune"
    assert len(training["records"]) == 2
    assert training["records"][0]["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "How many users?"},
        {"role": "assistant", "content": "SELECT count() FROM ecommerce.users"},
    ]
    assert len(server.files[created["validation_file"]]["records"]) == 1

    updates: list[str | None] = []
    done = tuner.wait_until_done(
        job.job_id, poll_interval_s=0.001, on_update=lambda j: updates.append(j.provider_status)
    )
    assert updates == ["queued", "running", "succeeded"]
    assert done.status is TuningStatus.COMPLETED
    assert done.model_name == "ft:gpt-4o-mini-2024-07-18:org-fake:sql:abc123"
    assert done.message == "The job has successfully completed"  # the latest event


def test_pairs_are_formatted_with_the_shared_export(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server)
    tuner.start(PAIRS, validation=PAIRS[:1])
    created = server.requests_to("/v1/fine_tuning/jobs", "POST")[0].body
    assert server.files[created["training_file"]]["records"] == RECORDS  # rejected pair skipped
    assert server.files[created["validation_file"]]["records"] == RECORDS[:1]


def test_the_fine_tuned_model_answers_with_the_training_prompt(
    server: FakeOpenAIFineTuneServer,
) -> None:
    tuner = make_tuner(server, suffix="sql")
    job = tuner.start_records(RECORDS)
    done = tuner.wait_until_done(job.job_id, poll_interval_s=0.001)
    model = tuner.model_for(done)
    prediction = model.predict("How many users?")
    assert prediction.error is None
    assert prediction.sql == "SELECT count() FROM ecommerce.users"
    assert prediction.usage is not None and prediction.usage.prompt_tokens == 50
    chat = server.requests_to("/v1/chat/completions")[-1].body
    assert chat["model"] == done.model_name
    assert chat["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "How many users?"},
    ]


def test_events_are_newest_first(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server)
    job = tuner.start_records(RECORDS)
    tuner.status(job.job_id)
    events = tuner.events(job.job_id)
    assert events[0]["message"] == "Job status: queued"
    assert events[-1]["message"].startswith("Created fine-tuning job")


def test_failed_job_raises_with_its_error() -> None:
    with FakeOpenAIFineTuneServer(job_script=("validating_files", "failed")) as fake:
        tuner = make_tuner(fake)
        job = tuner.start_records(RECORDS)
        with pytest.raises(TuningError, match="invalid training file") as info:
            tuner.wait_until_done(job.job_id, poll_interval_s=0.001)
        assert info.value.job_id == job.job_id
        failed = tuner.status(job.job_id)
        assert failed.status is TuningStatus.FAILED
        assert failed.model_name is None
        with pytest.raises(TuningError, match="no fine-tuned model"):
            tuner.model_for(failed)


def test_cancel(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server)
    job = tuner.start_records(RECORDS)
    assert tuner.cancel(job.job_id).status is TuningStatus.CANCELLED
    assert tuner.status(job.job_id).status is TuningStatus.CANCELLED


def test_retries_then_errors(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server)
    job = tuner.start_records(RECORDS)
    server.fail_next(503, path="/v1/fine_tuning/jobs/", times=2)
    assert tuner.status(job.job_id).job_id == job.job_id
    server.fail_next(429, times=3, detail="Rate limit reached")
    with pytest.raises(RateLimitError) as info:
        tuner.status(job.job_id)
    assert info.value.status == 429 and "Rate limit reached" in str(info.value)


def test_job_creation_is_not_resent_after_a_server_error(
    server: FakeOpenAIFineTuneServer,
) -> None:
    server.fail_next(500, path="/v1/fine_tuning/jobs")
    with pytest.raises(ProviderError) as info:
        make_tuner(server).start_records(RECORDS)
    assert info.value.status == 500
    assert server.requests_to("/v1/fine_tuning/jobs", "POST") != []
    assert server.jobs == {}


def test_wrong_key_and_unknown_job(server: FakeOpenAIFineTuneServer) -> None:
    tuner = OpenAITuner(SYSTEM, api_key="sk-wrong", base_url=server.url)
    with pytest.raises(ProviderError) as info:
        tuner.status("ftjob-x")
    assert info.value.status == 401
    assert "sk-wrong" not in str(info.value)
    with pytest.raises(ProviderError, match="Could not find"):
        make_tuner(server).status("ftjob-missing")


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAITuner(SYSTEM)


def test_rejected_datasets(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server)
    with pytest.raises(DataError, match="empty"):
        tuner.start_records([])
    with pytest.raises(DataError, match="record 1 needs a non-empty 'messages'"):
        tuner.start_records([{"input": "q", "output": "SELECT 1"}])
    with pytest.raises(DataError, match="must end with the assistant"):
        validate_chat_records([{"messages": [{"role": "user", "content": "q"}]}])
    assert server.requests == []


def test_mock_transport_sees_the_real_wire_format() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/files":
            return httpx.Response(200, json={"id": "file-1", "object": "file"})
        body = json.loads(request.content)
        assert body == {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-1"}
        return httpx.Response(
            200, json={"id": "ftjob-1", "status": "queued", "model": body["model"], "error": None}
        )

    tuner = OpenAITuner(
        SYSTEM,
        api_key="sk-test",
        base_url="https://api.example.test/v1",
        transport=httpx.MockTransport(handler),
    )
    job = tuner.start_records(RECORDS[:1])
    assert job.job_id == "ftjob-1" and job.status is TuningStatus.QUEUED
    upload = seen[0]
    assert upload.headers["authorization"] == "Bearer sk-test"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="purpose"' in upload.content and b"fine-tune" in upload.content
    assert b'filename="train.jsonl"' in upload.content


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("validating_files", TuningStatus.QUEUED),
        ("queued", TuningStatus.QUEUED),
        ("running", TuningStatus.RUNNING),
        ("succeeded", TuningStatus.COMPLETED),
        ("failed", TuningStatus.FAILED),
        ("cancelled", TuningStatus.CANCELLED),
        ("paused", TuningStatus.UNKNOWN),
    ],
)
def test_status_mapping(provider_status: str, status: TuningStatus) -> None:
    assert openai_status(provider_status) is status


class WireChat:
    """A minimal chat client speaking the chat-completions wire format (for these tests)."""

    model = "gpt-4o-mini"

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key

    async def achat(self, messages: list[dict[str, str]], **options: Any) -> ChatResponse:
        model = options.get("model") or self.model
        body = {"model": model, "messages": messages, "max_tokens": options.get("max_tokens")}
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        if response.status_code != 200:
            raise ProviderError("openai", response.status_code, response.text)
        data = response.json()
        usage = Usage(
            calls=1,
            prompt_tokens=data["usage"]["prompt_tokens"],
            completion_tokens=data["usage"]["completion_tokens"],
        )
        content = data["choices"][0]["message"]["content"]
        return ChatResponse(content=content, usage=usage, model=body["model"])


def test_model_for_answers_only_once_the_model_exists(server: FakeOpenAIFineTuneServer) -> None:
    tuner = make_tuner(server, suffix="sql")
    job = tuner.start_records(RECORDS)
    chat = WireChat(server.url, server.api_key)
    early = tuner.model_for("ft:gpt-4o-mini-2024-07-18:org-fake:sql:abc123", client=chat)
    prediction = early.predict("How many users?")
    assert prediction.sql == "" and prediction.error is not None and "404" in prediction.error

    done = tuner.wait_until_done(job.job_id, poll_interval_s=0.001)
    prediction = tuner.model_for(done, client=chat).predict("How many users?")
    assert prediction.error is None
    assert prediction.sql == "SELECT count() FROM ecommerce.users"
    assert prediction.usage is not None and prediction.usage.completion_tokens == 10
    sent = server.requests_to("/v1/chat/completions")[-1].body
    assert sent["model"] == done.model_name
    assert sent["messages"] == RECORDS[0]["messages"][:2]  # the training turn, minus the answer
