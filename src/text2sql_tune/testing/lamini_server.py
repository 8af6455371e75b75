"""A fake Lamini API on 127.0.0.1 that the real ``lamini`` SDK can drive end to end.

It speaks the endpoints the SDK calls (under ``/v1/``): ``GET get-upload-base-path``,
``POST local-data``, ``POST existing-data``, ``POST train``, ``GET train/jobs/{id}``,
``POST train/jobs/{id}/cancel`` and ``POST completions``; checks ``Authorization: Bearer``;
moves each job through a scripted list of statuses (one step per status request); and can inject
errors (401, 429, 5xx, ...). Point the SDK (or :class:`~text2sql_tune.tuners.LaminiTuner`) at it
with ``api_url=server.url``.

Example:
    >>> with FakeLaminiServer() as server:                          # doctest: +SKIP
    ...     tuner = LaminiTuner(schema, api_key=server.api_key, api_url=server.url)
    ...     job = tuner.start(pairs)
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._http import FakeServer, read_body, send_json

__all__ = ["FakeLaminiServer", "InjectedError", "RecordedRequest", "ScriptedTuningServer"]


@dataclass
class RecordedRequest:
    """One request the fake server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The URL path, e.g. ``/v1/train``.
        headers: Request headers (lower-case names).
        body: The parsed JSON body (or ``None``), or raw bytes for non-JSON bodies.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class InjectedError:
    """An error the server answers instead of the real response.

    Attributes:
        status: The HTTP status, e.g. 429 or 500.
        path: Only requests whose path contains this string; ``None`` for any request.
        times: How many requests get the error.
        detail: The ``detail`` of the JSON error body.
        headers: Extra response headers (e.g. ``Retry-After``).
    """

    status: int
    path: str | None = None
    times: int = 1
    detail: str = "injected error"
    headers: dict[str, str] = field(default_factory=dict)


class JSONServer(FakeServer):
    """A tiny threaded JSON HTTP server on 127.0.0.1 with auth, recording and error injection.

    Subclasses implement :meth:`route`. Used by the fake Lamini and OpenAI fine-tuning servers.

    Args:
        api_key: The key clients must send as ``Authorization: Bearer <key>``.

    Attributes:
        delay_s: Seconds to wait before answering each request (to test client time limits).
        requests: Every request received, in order.
    """

    def __init__(self, *, api_key: str = "test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.delay_s = 0.0
        self.requests: list[RecordedRequest] = []
        self._errors: list[InjectedError] = []
        self._lock = threading.Lock()

    def fail_next(
        self,
        status: int,
        *,
        path: str | None = None,
        times: int = 1,
        detail: str = "injected error",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` and ``{"detail": ...}``."""
        with self._lock:
            self._errors.append(InjectedError(status, path, times, detail, dict(headers or {})))

    def requests_to(self, path_part: str, method: str | None = None) -> list[RecordedRequest]:
        """The recorded requests whose path contains ``path_part`` (and of ``method``)."""
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    def route(
        self, method: str, path: str, query: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """Answer one authorised request with (status, JSON-able body). Override."""
        raise NotImplementedError

    def parse_body(self, raw: bytes, headers: dict[str, str]) -> Any:
        """Decode a request body (JSON by default; raw bytes when it is not JSON)."""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def _injected(self, path: str) -> InjectedError | None:
        with self._lock:
            for error in self._errors:
                if error.path is None or error.path in path:
                    error.times -= 1
                    if error.times <= 0:
                        self._errors.remove(error)
                    return error
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raw = read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path, _, query = handler.path.partition("?")
        body = self.parse_body(raw, headers)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))
        if self.delay_s:
            time.sleep(self.delay_s)
        extra_headers: dict[str, str] = {}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            status, payload = 401, self.auth_error()
        elif (error := self._injected(path)) is not None:
            status, payload = error.status, self.error_body(error.status, error.detail)
            extra_headers = error.headers
        else:
            try:
                status, payload = self.route(method, path, query, body, headers)
            except Exception as exc:  # a bug in a scripted response must not hang the client
                status, payload = 500, self.error_body(500, f"{type(exc).__name__}: {exc}")
        send_json(handler, status, payload, extra_headers)

    def auth_error(self) -> Any:
        """The body of a 401 answer."""
        return {"detail": "Invalid API key"}

    def error_body(self, status: int, detail: str) -> Any:
        """The body of an error answer."""
        return {"detail": detail}


def _fixed_query(_question: Any, _model: str) -> str:
    return "SELECT count() FROM ecommerce.users"


class ScriptedTuningServer(JSONServer):
    """What the fake tuning platforms share: jobs whose status follows a script, and models.

    Args:
        api_key: The key clients must send.
        job_script: Statuses a new job goes through, one step per status request; the last one
            stays.
        failure_message: What a failed job reports.
        respond: Makes the answer for ``(prompt or messages, model)``; default: a fixed query.
        base_models: Models that can be tuned and asked without tuning.

    Attributes:
        jobs: Jobs by id.
    """

    def __init__(
        self,
        api_key: str,
        job_script: Sequence[str],
        failure_message: str,
        respond: Callable[[Any, str], str] | None,
        base_models: Sequence[str],
    ) -> None:
        super().__init__(api_key=api_key)
        self.job_script = list(job_script)
        self.failure_message = failure_message
        self.respond = respond or _fixed_query
        self.base_models = set(base_models)
        self.jobs: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, int] = {}

    def _next_status(self, job_id: str) -> str:
        """The status a status request finds: the script's next one (its last one stays)."""
        step = min(self._steps[job_id], len(self.job_script) - 1)
        self._steps[job_id] = step + 1
        return self.job_script[step]


_JOB_PATH = re.compile(r"^/v1/train/jobs/([^/]+)(/cancel)?$")


class FakeLaminiServer(ScriptedTuningServer):
    """A fake Lamini platform.

    Args:
        api_key: The key the SDK must send.
        job_script: Statuses a new job goes through, one step per status request; the last one
            stays. E.g. ``("CREATED", "RUNNING", "FAILED")`` for a failing job.
        failure_message: The ``error`` reported by a job whose status is ``FAILED`` or
            ``TIMED OUT``.
        respond: Makes the completion for ``(prompt, model_name)``; default: a fixed query.
        base_models: Models that can be tuned and asked without tuning.

    Attributes:
        datasets: Uploaded datasets by id (lists of records).
        jobs: Jobs by id: ``{"job_id", "status", "model_name", "dataset_id", "finetune_args",
            ...}``.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-lamini-key",
        job_script: Sequence[str] = ("CREATED", "RUNNING", "COMPLETED"),
        failure_message: str = "Training failed: CUDA out of memory",
        respond: Callable[[str, str], str] | None = None,
        base_models: Sequence[str] = ("meta-llama/Meta-Llama-3.1-8B-Instruct",),
    ) -> None:
        super().__init__(api_key, job_script, failure_message, respond, base_models)
        self.datasets: dict[str, list[dict[str, Any]]] = {}
        self._next_job = 1

    @property
    def url(self) -> str:
        """The ``api_url`` to give the SDK."""
        return self.base_url

    def route(
        self, method: str, path: str, query: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """Answer one of the SDK's endpoints."""
        body = body if isinstance(body, dict) else {}
        if method == "GET" and path == "/v1/get-upload-base-path":
            return 200, {"upload_base_path": "local://fake-lamini/datasets"}
        if method == "POST" and path == "/v1/local-data":
            return self._upload(body)
        if method == "POST" and path == "/v1/existing-data":
            dataset_id = str(body.get("dataset_id"))
            if dataset_id not in self.datasets:
                return 400, {"detail": f"dataset {dataset_id} not found"}
            return 200, {"dataset_id": dataset_id, "dataset_location": self._location(dataset_id)}
        if method == "POST" and path == "/v1/train":
            return self._train(body)
        if method == "POST" and path == "/v1/completions":
            return self._complete(body)
        match = _JOB_PATH.match(path)
        if match is not None:
            return self._job(method, match.group(1), cancel=bool(match.group(2)))
        return 404, {"detail": f"Not Found: {method} {path}"}

    def _location(self, dataset_id: str) -> str:
        return f"local://fake-lamini/datasets/{dataset_id}.jsonl"

    def _upload(self, body: dict[str, Any]) -> tuple[int, Any]:
        data = body.get("data")
        if not isinstance(data, list) or not data:
            return 400, {"detail": "Data pairs cannot be empty."}
        for number, item in enumerate(data, start=1):
            if not isinstance(item, dict) or "input" not in item or "output" not in item:
                return 400, {"detail": f"record {number} must have 'input' and 'output' keys"}
        dataset_id = uuid.uuid4().hex
        self.datasets[dataset_id] = data
        return 200, {"dataset_id": dataset_id, "dataset_location": self._location(dataset_id)}

    def _train(self, body: dict[str, Any]) -> tuple[int, Any]:
        dataset_id = str(body.get("dataset_id"))
        if dataset_id not in self.datasets:
            return 400, {"detail": f"dataset {dataset_id} not found"}
        model = str(body.get("model_name"))
        if model not in self.base_models:
            return 594, {"detail": f"model {model} cannot be tuned here"}
        with self._lock:
            job_id = str(self._next_job)
            self._next_job += 1
        self.jobs[job_id] = {
            "job_id": int(job_id),
            "status": self.job_script[0],
            "model_name": uuid.uuid4().hex,
            "base_model": model,
            "dataset_id": dataset_id,
            "finetune_args": body.get("finetune_args"),
            "gpu_config": body.get("gpu_config"),
            "custom_model_name": body.get("custom_model_name"),
            "is_public": body.get("is_public"),
        }
        self._steps[job_id] = 0
        return 200, {"job_id": int(job_id), "status": self.job_script[0]}

    def _job(self, method: str, job_id: str, *, cancel: bool) -> tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return 400, {"detail": f"job {job_id} not found"}
        if cancel and method == "POST":
            if job["status"] not in ("COMPLETED", "FAILED", "CANCELLED", "TIMED OUT"):
                job["status"] = "CANCELLED"
            return 200, {"job_id": job["job_id"], "status": job["status"]}
        if method != "GET":
            return 405, {"detail": "Method Not Allowed"}
        if job["status"] != "CANCELLED":
            job["status"] = self._next_status(job_id)
        answer = {
            "job_id": job["job_id"],
            "status": job["status"],
            "model_name": job["model_name"],
            "custom_model_name": job["custom_model_name"],
            "start_time": "2024-12-01T00:00:00Z",
        }
        if job["status"] in ("FAILED", "TIMED OUT"):
            answer["error"] = self.failure_message
        return 200, answer

    def _known_model(self, model: str) -> bool:
        tuned = {job["model_name"] for job in self.jobs.values() if job["status"] == "COMPLETED"}
        return model in self.base_models or model in tuned

    def _complete(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = str(body.get("model_name"))
        if not self._known_model(model):
            return 594, {"detail": f"model {model} not found"}
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            return 200, [{"output": self.respond(str(p), model)} for p in prompt]
        return 200, {"output": self.respond(str(prompt), model)}
