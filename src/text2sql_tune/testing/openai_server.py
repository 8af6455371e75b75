"""A fake OpenAI chat-completions server on 127.0.0.1 for tests and benchmarks.

It speaks the real wire format (``POST /v1/chat/completions`` answering ``chat.completion``
objects with ``tool_calls``, ``usage`` and OpenAI's ``{"error": {...}}`` bodies) and can be
scripted: fail the next K calls with 429 + ``Retry-After``, answer 500s, be slow, send garbage,
drop the connection, or rate-limit a random fraction of calls.
:meth:`FakeOpenAIServer.misbehave_next` hands the raw connection to your own code, for any
wire-level fault (a TCP reset mid-body, a 1 byte/s trickle, ``Infinity`` tokens ...). Every
request is logged.

Extend it with :meth:`FakeOpenAIServer.add_route` (another endpoint) or by overriding
:meth:`FakeOpenAIServer.handle` (everything), and change answers with a ``responder``.

Example:
    >>> from text2sql_tune.testing import FakeOpenAIServer, tool_call_reply
    >>> with FakeOpenAIServer(latency_s=0.0) as server:
    ...     server.fail_next(2, status=429, retry_after_ms=10)
    ...     client = OpenAIChatClient("gpt-4o-mini", base_url=server.url)  # doctest: +SKIP
    ...     server.chat_calls                                               # doctest: +SKIP

As a pytest fixture::

    @pytest.fixture
    def openai_server():
        with FakeOpenAIServer() as server:
            yield server
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._http import FakeServer, read_body, send_json

__all__ = [
    "FakeOpenAIServer",
    "FakeReply",
    "ReceivedRequest",
    "Responder",
    "ScriptedFailure",
    "WireWriter",
    "text_reply",
    "tool_call_reply",
]


@dataclass
class ReceivedRequest:
    """One request the fake server received.

    Attributes:
        method: HTTP method.
        path: URL path without the query string, e.g. ``/v1/chat/completions``.
        headers: Request headers, lower-case names.
        body: The parsed JSON body, or ``None`` when it was empty or not JSON.
        raw: The raw body bytes.
        received_at: ``time.monotonic()`` when it arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    received_at: float


@dataclass
class FakeReply:
    """What the assistant answers; the server wraps it in a ``chat.completion`` object.

    Attributes:
        content: Message text (``None`` with tool calls).
        tool_calls: ``[(name, arguments)]``; arguments may be a dict (sent as JSON text) or a
            string (sent as is, e.g. invalid JSON).
        finish_reason: Defaults to ``tool_calls`` with tool calls, else ``stop``.
        prompt_tokens: Reported prompt tokens; default estimated from the request.
        completion_tokens: Reported completion tokens; default estimated from the answer.
    """

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Responder = Callable[[dict[str, Any], int], "FakeReply | dict[str, Any]"]
"""Makes the answer for ``(request_body, call_number)``; a dict is sent as the full body."""

WireWriter = Callable[[ReceivedRequest, BaseHTTPRequestHandler], None]
"""Answers one chat request on the connection itself (see ``FakeOpenAIServer.misbehave_next``)."""


def text_reply(content: str) -> FakeReply:
    """An answer with plain message text."""
    return FakeReply(content=content)


def tool_call_reply(name: str, arguments: dict[str, Any] | str) -> FakeReply:
    """An answer that calls one tool with ``arguments`` (a dict, or raw text sent as is)."""
    return FakeReply(tool_calls=[(name, arguments)])


@dataclass
class ScriptedFailure:
    """A scripted misbehaviour for the next ``times`` chat calls.

    Attributes:
        times: How many calls it applies to.
        status: HTTP status to answer (ignored for ``disconnect``).
        kind: ``error`` (OpenAI error body), ``garbage`` (``body`` sent as is with status 200
            unless ``status`` says otherwise), ``slow`` (wait ``delay_s`` then answer normally),
            ``disconnect`` (close the connection without answering), ``raw`` (``write``
            answers on the connection itself).
        headers: Extra response headers (e.g. ``Retry-After``).
        body: Raw body for ``garbage``.
        delay_s: Extra wait for ``slow``.
        message: The error message for ``error``.
        write: The answer for ``raw``.
    """

    times: int
    status: int = 500
    kind: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    message: str = "injected failure"
    write: WireWriter | None = None


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def _estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // 4)


def _fill_schema(schema: Mapping[str, Any], number: int) -> dict[str, Any]:
    """Arguments for a tool or JSON schema: one plausible string per property."""
    values: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        lowered = name.lower()
        if kind in ("integer", "number"):
            values[name] = number
        elif kind == "boolean":
            values[name] = True
        elif "sql" in lowered or "query" in lowered:
            values[name] = f"SELECT {number} AS answer"
        elif "question" in lowered:
            values[name] = f"What is the answer number {number}?"
        else:
            values[name] = f"fake {name} {number}"
    return values


def default_responder(body: dict[str, Any], number: int) -> FakeReply:
    """Answer any request plausibly: call the first tool, fill a JSON schema, or write SQL.

    Each answer is numbered (``number`` is the 1-based count of successful chat calls), so
    generated questions are all different.
    """
    tools = body.get("tools") or []
    if tools:
        function = tools[0].get("function", {})
        arguments = _fill_schema(function.get("parameters") or {}, number)
        return tool_call_reply(str(function.get("name", "tool")), arguments)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return text_reply(json.dumps(_fill_schema(schema, number)))
    return text_reply(f"SELECT {number} AS answer")


Route = Callable[["FakeOpenAIServer", ReceivedRequest], tuple[int, Any, dict[str, str]]]
"""A route handler: ``(server, request) -> (status, JSON-able body or bytes, headers)``."""

RawAnswer = Callable[[BaseHTTPRequestHandler], None]
"""Writes a whole answer (status line, headers, body, or nothing) to the handler itself."""


class FakeOpenAIServer(FakeServer):
    """A threaded fake OpenAI-compatible server on a free port of 127.0.0.1.

    Args:
        responder: Makes each successful chat answer; default :func:`default_responder`.
        api_key: When set, requests must send ``Authorization: Bearer <api_key>`` (else 401).
        latency_s: Seconds every successful chat answer takes (errors are answered at once).
        rate_limit_fraction: Share of chat calls answered 429 at random (seeded).
        retry_after: ``Retry-After`` value (seconds, as text) sent with the random 429s.
        retry_after_ms: ``retry-after-ms`` value sent with the random 429s, when set.
        model: Model name reported when the request names none.
        seed: Seed for the random 429s.

    Attributes:
        requests: Every request received, in arrival order.
        routes: ``{(method, path): handler}``; add endpoints with :meth:`add_route`.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        api_key: str | None = None,
        latency_s: float = 0.0,
        rate_limit_fraction: float = 0.0,
        retry_after: str | None = "1",
        retry_after_ms: int | None = None,
        model: str = "fake-model",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.responder: Responder = responder or default_responder
        self.api_key = api_key
        self.latency_s = latency_s
        self.rate_limit_fraction = rate_limit_fraction
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self.model = model
        self.requests: list[ReceivedRequest] = []
        self.routes: dict[tuple[str, str], Route] = {}
        self.add_route("POST", "/v1/chat/completions", FakeOpenAIServer._chat_route)
        self.add_route("POST", "/chat/completions", FakeOpenAIServer._chat_route)
        self.add_route("GET", "/v1/models", FakeOpenAIServer._models_route)
        self._failures: list[ScriptedFailure] = []
        self._random = random.Random(seed)
        self._answered = 0
        self._lock = threading.Lock()

    # -- scripting -------------------------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Route) -> None:
        """Serve ``method path`` with ``handler(server, request) -> (status, body, headers)``."""
        self.routes[(method.upper(), path)] = handler

    def fail_next(
        self,
        times: int = 1,
        *,
        status: int = 429,
        retry_after: str | None = None,
        retry_after_ms: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` chat calls with ``status`` and an OpenAI error body."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        text = message or ("Rate limit reached" if status == 429 else f"injected HTTP {status}")
        self._script(ScriptedFailure(times, status=status, headers=headers, message=text))

    def garbage_next(
        self, times: int = 1, *, body: bytes = b"<html>502</html>", status: int = 200
    ) -> None:
        """Answer the next ``times`` chat calls with ``body`` as is (not a chat completion)."""
        self._script(ScriptedFailure(times, status=status, kind="garbage", body=body))

    def slow_next(self, times: int = 1, *, delay_s: float = 1.0) -> None:
        """Make the next ``times`` chat calls wait ``delay_s`` more before answering."""
        self._script(ScriptedFailure(times, kind="slow", delay_s=delay_s))

    def disconnect_next(self, times: int = 1) -> None:
        """Close the connection without answering on the next ``times`` chat calls."""
        self._script(ScriptedFailure(times, kind="disconnect"))

    def misbehave_next(self, write: WireWriter, times: int = 1) -> None:
        """Let ``write(request, handler)`` answer the next ``times`` chat calls on the wire.

        It writes whatever it likes to ``handler.wfile`` (a status line and half a body, one
        byte per second, nothing) and may close ``handler.connection``: the faults a real network
        or gateway produces. :meth:`answer_for` gives the completion it would have sent.

        Args:
            write: Answers one request.
            times: How many calls it answers.
        """
        self._script(ScriptedFailure(times, kind="raw", write=write))

    def clear_failures(self) -> None:
        """Forget every scripted failure not played yet (the provider is back)."""
        with self._lock:
            self._failures.clear()

    def _script(self, failure: ScriptedFailure) -> None:
        with self._lock:
            self._failures.append(failure)

    def _next_failure(self) -> ScriptedFailure | None:
        with self._lock:
            if self._failures:
                failure = self._failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
                return failure
            if self.rate_limit_fraction and self._random.random() < self.rate_limit_fraction:
                headers = {}
                if self.retry_after is not None:
                    headers["Retry-After"] = self.retry_after
                if self.retry_after_ms is not None:
                    headers["retry-after-ms"] = str(self.retry_after_ms)
                return ScriptedFailure(1, status=429, headers=headers, message="Rate limit reached")
        return None

    # -- inspection ------------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        """The chat-completion requests received (failed ones included)."""
        return [r for r in list(self.requests) if r.path.endswith("/chat/completions")]

    @property
    def chat_calls(self) -> int:
        """How many chat-completion requests arrived (failed ones included)."""
        return len(self.chat_requests)

    @property
    def answered(self) -> int:
        """How many chat calls got a successful answer."""
        return self._answered

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The OpenAI-style API root, ``http://127.0.0.1:<port>/v1``: pass it as ``base_url``."""
        return self.base_url + "/v1"

    # -- request handling ------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raw = read_body(handler)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = ReceivedRequest(
            method=method,
            path=handler.path.partition("?")[0],
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            raw=raw,
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
        result = self.handle(request)
        if result is None:  # drop the connection without an answer
            handler.close_connection = True
            return
        if callable(result):
            result(handler)
            return
        send_json(handler, *result)

    def handle(
        self, request: ReceivedRequest
    ) -> tuple[int, Any, dict[str, str]] | RawAnswer | None:
        """Answer one request (the status, body and headers, or how to misbehave).

        Returns ``(status, body, headers)``, ``None`` to drop the connection, or a
        :data:`RawAnswer` that writes the bytes itself (the fault modes). Checks the key (when
        one is set) and dispatches on :attr:`routes`. Override for full control.
        """
        expected = None if self.api_key is None else f"Bearer {self.api_key}"
        if expected is not None and request.headers.get("authorization") != expected:
            return 401, self.error_body(401, "Incorrect API key provided"), {}
        route = self.routes.get((request.method, request.path))
        if route is None:
            return 404, self.error_body(404, f"unknown path {request.path}"), {}
        if route is FakeOpenAIServer._chat_route:
            failure = self._next_failure()
            if failure is not None:
                return self._misbehave(failure, request)
        try:
            return route(self, request)
        except Exception as exc:  # a bug in a responder must not hang the client
            return 500, self.error_body(500, f"{type(exc).__name__}: {exc}"), {}

    def _misbehave(
        self, failure: ScriptedFailure, request: ReceivedRequest
    ) -> tuple[int, Any, dict[str, str]] | RawAnswer | None:
        if failure.kind == "disconnect":
            return None
        if failure.kind == "raw" and failure.write is not None:
            write = failure.write
            return lambda handler: write(request, handler)
        if failure.kind == "garbage":
            return failure.status, failure.body, dict(failure.headers)
        if failure.kind == "slow":
            time.sleep(failure.delay_s)
            return self._chat_route(request)
        return failure.status, self.error_body(failure.status, failure.message), failure.headers

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request")
        code = "rate_limit_exceeded" if status == 429 else None
        if status == 401:
            code = "invalid_api_key"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def _models_route(self, request: ReceivedRequest) -> tuple[int, Any, dict[str, str]]:
        data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]
        return 200, {"object": "list", "data": data}, {}

    def _chat_route(self, request: ReceivedRequest) -> tuple[int, Any, dict[str, str]]:
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, self.error_body(400, "'messages' is a required property"), {}
        if self.latency_s:
            time.sleep(self.latency_s)
        return 200, self.answer_for(request), {}

    def answer_for(self, request: ReceivedRequest) -> dict[str, Any]:
        """The next numbered answer to a chat request, as a full ``chat.completion`` body."""
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            self._answered += 1
            number = self._answered
        reply = self.responder(body, number)
        if isinstance(reply, dict):
            return reply
        return self.completion(body, reply)

    def completion(self, body: Mapping[str, Any], reply: FakeReply) -> dict[str, Any]:
        """Wrap a reply in a ``chat.completion`` object, as OpenAI sends it."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
                for name, args in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = _estimate_tokens(body.get("messages")) + (
                _estimate_tokens(body["tools"]) if body.get("tools") else 0
            )
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = _estimate_tokens(message.get("tool_calls") or reply.content or "")
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model),
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }
