"""A fake OpenAI files + fine-tuning API on 127.0.0.1, with a chat endpoint for the tuned model.

Endpoints (under ``/v1``): ``POST /files`` (multipart, ``purpose=fine-tune``, JSONL checked),
``POST /fine_tuning/jobs``, ``GET /fine_tuning/jobs/{id}``, ``GET /fine_tuning/jobs/{id}/events``,
``POST /fine_tuning/jobs/{id}/cancel`` and ``POST /chat/completions`` (answers only for base
models and fine-tuned models of succeeded jobs). Jobs move through a scripted list of statuses,
one step per status request. Errors use OpenAI's ``{"error": {"message", "type", "code"}}`` body.

Example:
    >>> with FakeOpenAIFineTuneServer() as server:                  # doctest: +SKIP
    ...     tuner = OpenAITuner(schema, api_key=server.api_key, base_url=server.url)
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from .lamini_server import ScriptedTuningServer

__all__ = ["FakeOpenAIFineTuneServer"]

_JOB_PATH = re.compile(r"^/v1/fine_tuning/jobs/([^/]+)(/events|/cancel)?$")


def _parse_multipart(raw: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Parse a multipart/form-data body into ``{field: (filename, content)}``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


class FakeOpenAIFineTuneServer(ScriptedTuningServer):
    """A fake OpenAI fine-tuning platform.

    Args:
        api_key: The key clients must send.
        job_script: Statuses a new job goes through (one step per status request).
        failure_message: The job's ``error.message`` when the script ends in ``failed``.
        respond: Makes the chat answer for ``(messages, model)``; default: a fixed query.
        base_models: Models that can be fine-tuned and asked.

    Attributes:
        files: Uploaded files by id: ``{"filename", "purpose", "records"}``.
        jobs: Jobs by id (OpenAI's fine-tuning job objects).
    """

    def __init__(
        self,
        *,
        api_key: str = "test-openai-key",
        job_script: Sequence[str] = ("validating_files", "queued", "running", "succeeded"),
        failure_message: str = "The job failed due to an invalid training file.",
        respond: Callable[[list[dict[str, Any]], str], str] | None = None,
        base_models: Sequence[str] = ("gpt-4o-mini-2024-07-18", "gpt-4o"),
    ) -> None:
        super().__init__(api_key, job_script, failure_message, respond, base_models)
        self.files: dict[str, dict[str, Any]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        """The ``base_url`` to give the client (``http://127.0.0.1:<port>/v1``)."""
        return self.base_url + "/v1"

    def parse_body(self, raw: bytes, headers: dict[str, str]) -> Any:
        """Decode JSON or multipart bodies."""
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            return _parse_multipart(raw, content_type)
        return super().parse_body(raw, headers)

    def auth_error(self) -> Any:
        """OpenAI's 401 body."""
        return self.error_body(401, "Incorrect API key provided.")

    def error_body(self, status: int, detail: str) -> Any:
        """OpenAI's error body."""
        kind = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "rate_limit_error" if "quota" not in detail else "insufficient_quota",
        }
        return {
            "error": {"message": detail, "type": kind.get(status, "server_error"), "code": None}
        }

    def route(
        self, method: str, path: str, query: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """Answer one of the fine-tuning endpoints."""
        if method == "POST" and path == "/v1/files":
            return self._upload(body)
        if method == "POST" and path == "/v1/fine_tuning/jobs":
            return self._create(body if isinstance(body, dict) else {})
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(body if isinstance(body, dict) else {})
        match = _JOB_PATH.match(path)
        if match is not None:
            job_id, action = match.group(1), match.group(2)
            if job_id not in self.jobs:
                return 404, self.error_body(404, f"Could not find fine-tune job: {job_id}.")
            if action == "/events" and method == "GET":
                events = list(reversed(self._events[job_id]))
                limit = int(m.group(1)) if (m := re.search(r"limit=(\d+)", query)) else 20
                return 200, {"object": "list", "data": events[:limit], "has_more": False}
            if action == "/cancel" and method == "POST":
                return 200, self._cancel(job_id)
            if action is None and method == "GET":
                return 200, self._advance(job_id)
        return 404, self.error_body(404, f"Invalid URL ({method} {path})")

    def _upload(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or "file" not in body:
            return 400, self.error_body(400, "a multipart 'file' field is required")
        purpose = body.get("purpose", (None, b""))[1].decode()
        if purpose != "fine-tune":
            return 400, self.error_body(400, f"invalid purpose {purpose!r}")
        filename, content = body["file"]
        records = []
        for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                return 400, self.error_body(400, f"line {number} is not valid JSON")
            if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
                return 400, self.error_body(400, f"line {number} has no 'messages' list")
            records.append(record)
        file_id = "file-" + uuid.uuid4().hex[:24]
        self.files[file_id] = {"filename": filename, "purpose": purpose, "records": records}
        return 200, {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
        }

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = str(body.get("model"))
        if model not in self.base_models:
            return 400, self.error_body(400, f"Model {model} is not available for fine-tuning")
        for key in ("training_file", "validation_file"):
            file_id = body.get(key)
            if (key == "training_file" or file_id) and file_id not in self.files:
                return 400, self.error_body(400, f"invalid {key}: {file_id}")
        job_id = "ftjob-" + uuid.uuid4().hex[:24]
        suffix = body.get("suffix") or "text2sql"
        self.jobs[job_id] = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": model,
            "created_at": int(time.time()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-fake",
            "result_files": [],
            "status": self.job_script[0],
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "method": body.get("method") or {"type": "supervised"},
            "seed": body.get("seed", 42),
            "error": None,
            "_suffix": suffix,
        }
        self._steps[job_id] = 1
        self._events[job_id] = []
        self._event(job_id, f"Created fine-tuning job: {job_id}")
        return 200, self._public(job_id)

    def _public(self, job_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.jobs[job_id].items() if not k.startswith("_")}

    def _event(self, job_id: str, message: str, level: str = "info") -> None:
        self._events[job_id].append(
            {
                "object": "fine_tuning.job.event",
                "id": "ftevent-" + uuid.uuid4().hex[:24],
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": "message",
            }
        )

    def _advance(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return self._public(job_id)
        status = self._next_status(job_id)
        if status != job["status"]:
            job["status"] = status
            if status == "succeeded":
                job["fine_tuned_model"] = f"ft:{job['model']}:org-fake:{job['_suffix']}:abc123"
                job["finished_at"] = int(time.time())
                self._event(job_id, "The job has successfully completed")
            elif status == "failed":
                job["error"] = {"code": "invalid_training_file", "message": self.failure_message}
                self._event(job_id, self.failure_message, "error")
            else:
                self._event(job_id, f"Job status: {status}")
        return self._public(job_id)

    def _cancel(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        if job["status"] not in ("succeeded", "failed", "cancelled"):
            job["status"] = "cancelled"
            self._event(job_id, "Fine-tuning job cancelled")
        return self._public(job_id)

    def _chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = str(body.get("model"))
        tuned = {j["fine_tuned_model"] for j in self.jobs.values() if j["fine_tuned_model"]}
        if model not in self.base_models and model not in tuned:
            return 404, self.error_body(404, f"The model `{model}` does not exist")
        messages = list(body.get("messages") or [])
        content = self.respond(messages, model)
        return 200, {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }
