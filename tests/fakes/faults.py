"""Wire-level faults for :class:`FaultyOpenAIServer`: the provider replies the client must survive.

Each :class:`FaultMode` answers one chat request the way a broken provider, gateway or network
does: a body cut off mid-way, a TCP reset, a trickle of one byte per second, a gzip header on a
plain body, an HTML page with status 200, or a well-formed completion with poisoned parts (a
lone surrogate in the tool arguments, ``Infinity`` tokens, a non-string ``finish_reason`` ...).
``server.fault_next("trickle", byte_interval_s=1.0)`` scripts one; :data:`FAULT_MODES` lists
them all (the client's fault table in ``docs/llm-client.md`` says what the library does with
each). The modes play through :meth:`FakeOpenAIServer.misbehave_next
<text2sql_tune.testing.FakeOpenAIServer.misbehave_next>`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from text2sql_tune.testing import FakeOpenAIServer, ReceivedRequest

__all__ = ["FAULT_MODES", "FaultContext", "FaultMode", "FaultyOpenAIServer"]


@dataclass
class FaultContext:
    """What a fault mode needs to answer one request.

    Attributes:
        server: The fake server.
        request: The request being answered.
        handler: The HTTP handler (write raw bytes to ``handler.wfile``).
        params: Keyword arguments given to ``fault_next``.
    """

    server: FakeOpenAIServer
    request: ReceivedRequest
    handler: BaseHTTPRequestHandler
    params: dict[str, Any] = field(default_factory=dict)

    def answer(self) -> dict[str, Any]:
        """The completion the server would have sent for this request (counts as answered)."""
        return self.server.answer_for(self.request)

    def send(
        self,
        status: int,
        data: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        """Send a status line, headers (``Content-Length`` = ``length`` or the data's) and data."""
        handler = self.handler
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def send_json(self, body: Any, **kwargs: Any) -> None:
        """Send ``body`` as JSON (``NaN`` / ``Infinity`` written as JavaScript does)."""
        self.send(200, json.dumps(body).encode(), **kwargs)

    def hang_up(self, *, reset: bool = False) -> None:
        """Close the connection now; ``reset`` sends a TCP RST instead of a clean FIN."""
        connection = self.handler.connection
        if reset:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.handler.close_connection = True
        connection.close()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; True when it is stopping."""
        return self.server.stopping.wait(seconds)


@dataclass(frozen=True)
class FaultMode:
    """One way to answer a chat request badly.

    Attributes:
        name: The mode's name (``fault_next(name)``).
        description: What the server sends.
        write: Writes the answer.
    """

    name: str
    description: str
    write: Callable[[FaultContext], None]


FAULT_MODES: dict[str, FaultMode] = {}
"""Every fault mode by name."""


def _mode(name: str, description: str) -> Callable[[Callable[[FaultContext], None]], None]:
    def register(write: Callable[[FaultContext], None]) -> None:
        FAULT_MODES[name] = FaultMode(name, description, write)

    return register


def _message(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = body["choices"][0]["message"]
    return message


def _function(body: dict[str, Any]) -> dict[str, Any]:
    calls = _message(body).get("tool_calls") or [{"function": {"name": "tool", "arguments": "{}"}}]
    function: dict[str, Any] = calls[0]["function"]
    return function


def _arguments(ctx: FaultContext, transform: Callable[[dict[str, Any]], str]) -> None:
    """Send the normal answer with its tool-call arguments text replaced."""
    body = ctx.answer()
    function = _function(body)
    function["arguments"] = transform(json.loads(function["arguments"] or "{}"))
    ctx.send_json(body)


def _text_field(arguments: dict[str, Any]) -> str:
    for key in ("question", "sql_query", "sql"):
        if isinstance(arguments.get(key), str):
            return key
    return next(iter(arguments), "question")


def _with_usage_text(ctx: FaultContext, literal: str) -> None:
    """Send the normal answer with ``prompt_tokens`` written as ``literal`` (raw JSON text)."""
    body = ctx.answer()
    body["usage"]["prompt_tokens"] = "__PROMPT_TOKENS__"
    text = json.dumps(body).replace('"__PROMPT_TOKENS__"', literal)
    ctx.send(200, text.encode())


# -- no answer at all: the connection or the body is broken ----------------------------------


@_mode("drop", "close the connection before sending anything")
def _drop(ctx: FaultContext) -> None:
    ctx.hang_up()


@_mode("reset_mid_body", "send the headers and half the body, then a TCP reset")
def _reset_mid_body(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    ctx.send(200, data[: len(data) // 2], length=len(data))
    ctx.hang_up(reset=True)


@_mode("close_mid_body", "send the headers and half the body, then close the connection")
def _close_mid_body(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    ctx.send(200, data[: len(data) // 2], length=len(data))
    ctx.hang_up()


@_mode("headers_then_close", "send 200 and the headers, then close without a body")
def _headers_then_close(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    ctx.send(200, b"", length=len(data))
    ctx.hang_up()


@_mode("trickle", "send a valid answer one byte every byte_interval_s seconds (default 1)")
def _trickle(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    interval = float(ctx.params.get("byte_interval_s", 1.0))
    ctx.send(200, b"", length=len(data))
    for index in range(len(data)):
        if ctx.wait(interval):
            return
        try:
            ctx.handler.wfile.write(data[index : index + 1])
        except OSError:  # the client gave up
            return


@_mode("stall", "wait delay_s seconds (default 5) before sending a valid answer")
def _stall(ctx: FaultContext) -> None:
    if not ctx.wait(float(ctx.params.get("delay_s", 5.0))):
        ctx.send_json(ctx.answer())


@_mode("gzip_plain", "send Content-Encoding: gzip on a plain, uncompressed JSON body")
def _gzip_plain(ctx: FaultContext) -> None:
    ctx.send(200, json.dumps(ctx.answer()).encode(), headers={"Content-Encoding": "gzip"})


@_mode("gzip_truncated", "send a gzip body cut off before its end")
def _gzip_truncated(ctx: FaultContext) -> None:
    data = gzip.compress(json.dumps(ctx.answer()).encode())
    ctx.send(200, data[: len(data) - 12], headers={"Content-Encoding": "gzip"})


@_mode("truncated_json", "send a complete HTTP body holding only the first half of the JSON")
def _truncated_json(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    ctx.send(200, data[: len(data) // 2])


@_mode("empty_body", "send 200 with an empty body")
def _empty_body(ctx: FaultContext) -> None:
    ctx.send(200, b"")


@_mode("html_200", "send a gateway's HTML error page with status 200")
def _html_200(ctx: FaultContext) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    ctx.send(200, page, content_type="text/html")


@_mode("text_plain_error", "send a proxy's plain-text error with status 200")
def _text_plain_error(ctx: FaultContext) -> None:
    ctx.send(200, b"upstream connect error or disconnect/reset", content_type="text/plain")


@_mode("event_stream", "send a server-sent-events stream although no stream was asked for")
def _event_stream(ctx: FaultContext) -> None:
    chunk = json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": {}}]})
    data = f"data: {chunk}\n\ndata: [DONE]\n\n".encode()
    ctx.send(200, data, content_type="text/event-stream")


@_mode("json_array", "send a JSON array instead of an object")
def _json_array(ctx: FaultContext) -> None:
    ctx.send(200, b"[]")


@_mode("missing_choices", "send a completion object without 'choices'")
def _missing_choices(ctx: FaultContext) -> None:
    body = ctx.answer()
    del body["choices"]
    ctx.send_json(body)


@_mode("empty_choices", "send 'choices': []")
def _empty_choices(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["choices"] = []
    ctx.send_json(body)


@_mode("choices_not_list", "send 'choices' as an object")
def _choices_not_list(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["choices"] = {"0": body["choices"][0]}
    ctx.send_json(body)


@_mode("null_message", "send choices[0].message: null")
def _null_message(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["choices"][0]["message"] = None
    ctx.send_json(body)


@_mode("invalid_utf8", "send a body with bytes that are not UTF-8")
def _invalid_utf8(ctx: FaultContext) -> None:
    data = json.dumps(ctx.answer()).encode()
    ctx.send(200, b'{"id": "\xff\xfe", ' + data[1:])


@_mode("deep_nesting", "send a body nested 100,000 levels deep")
def _deep_nesting(ctx: FaultContext) -> None:
    depth = int(ctx.params.get("depth", 100_000))
    ctx.send(200, b'{"choices": ' + b"[" * depth + b"]" * depth + b"}")


@_mode("huge_integer", "send a 5,000-digit integer in the body")
def _huge_integer(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "9" * 5000)


@_mode("huge_body", "send a valid answer padded to size bytes (default 20 MiB)")
def _huge_body(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["padding"] = "x" * int(ctx.params.get("size", 20 * 2**20))
    ctx.send_json(body)


@_mode("http_500_html", "send 500 with an HTML page")
def _http_500_html(ctx: FaultContext) -> None:
    ctx.send(500, b"<html>Internal Server Error</html>", content_type="text/html")


@_mode("http_503_empty", "send 503 with an empty body")
def _http_503_empty(ctx: FaultContext) -> None:
    ctx.send(503, b"", content_type="")


@_mode("retry_after_day", "send 429 asking to retry after a whole day")
def _retry_after_day(ctx: FaultContext) -> None:
    body = json.dumps(ctx.server.error_body(429, "Rate limit reached")).encode()
    ctx.send(429, body, headers={"Retry-After": "86400"})


@_mode("redirect", "send 302 to another address")
def _redirect(ctx: FaultContext) -> None:
    ctx.send(302, b"", content_type="", headers={"Location": "https://example.invalid/v1"})


# -- a real completion with broken parts -------------------------------------------------------


@_mode("wrong_content_type", "send a valid answer labelled text/plain")
def _wrong_content_type(ctx: FaultContext) -> None:
    ctx.send(200, json.dumps(ctx.answer()).encode(), content_type="text/plain")


@_mode("extra_fields", "send a valid answer with unknown fields at every level")
def _extra_fields(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["x_gateway"] = {"region": "eu"}
    body["choices"][0]["x_score"] = 0.5
    _message(body)["x_note"] = [1, 2]
    ctx.send_json(body)


@_mode("multiple_choices", "send two choices (the first is used)")
def _multiple_choices(ctx: FaultContext) -> None:
    body = ctx.answer()
    second = json.loads(json.dumps(body["choices"][0]))
    second["index"] = 1
    second["message"]["content"] = "ignored second choice"
    body["choices"].append(second)
    ctx.send_json(body)


@_mode("duplicate_keys_body", "send 'choices' twice in the body (the last one is valid)")
def _duplicate_keys_body(ctx: FaultContext) -> None:
    text = json.dumps(ctx.answer())
    ctx.send(200, ('{"choices": "first", ' + text[1:]).encode())


@_mode("lone_surrogate_body", "send a lone surrogate (\\udc80) in the tool arguments string")
def _lone_surrogate_body(ctx: FaultContext) -> None:
    def poison(arguments: dict[str, Any]) -> str:
        key = _text_field(arguments)
        arguments[key] = f"{arguments[key]} \udc80"
        return json.dumps(arguments, ensure_ascii=False)  # json.dumps of the body escapes it

    _arguments(ctx, poison)


@_mode("lone_surrogate_args", "tool arguments whose JSON text escapes a lone surrogate \\ud800")
def _lone_surrogate_args(ctx: FaultContext) -> None:
    def poison(arguments: dict[str, Any]) -> str:
        key = _text_field(arguments)
        arguments[key] = f"{arguments[key]} \ud800"
        return json.dumps(arguments)  # ensure_ascii writes the \ud800 escape into the text

    _arguments(ctx, poison)


@_mode("usage_infinity", "send prompt_tokens: Infinity")
def _usage_infinity(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "Infinity")


@_mode("usage_1e400", "send prompt_tokens: 1e400 (a float overflowing to infinity)")
def _usage_1e400(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "1e400")


@_mode("usage_nan", "send prompt_tokens: NaN")
def _usage_nan(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "NaN")


@_mode("usage_negative", "send prompt_tokens: -5000")
def _usage_negative(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "-5000")


@_mode("usage_absurd", "send prompt_tokens: 10 trillion")
def _usage_absurd(ctx: FaultContext) -> None:
    _with_usage_text(ctx, str(10**13))


@_mode("usage_fraction", "send prompt_tokens: 12.5")
def _usage_fraction(ctx: FaultContext) -> None:
    _with_usage_text(ctx, "12.5")


@_mode("usage_string", 'send prompt_tokens: "12" (a string)')
def _usage_string(ctx: FaultContext) -> None:
    _with_usage_text(ctx, '"12"')


@_mode("usage_not_object", "send usage as a list")
def _usage_not_object(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["usage"] = [1, 2]
    ctx.send_json(body)


@_mode("usage_missing", "send no usage at all")
def _usage_missing(ctx: FaultContext) -> None:
    body = ctx.answer()
    del body["usage"]
    ctx.send_json(body)


@_mode("finish_reason_number", "send finish_reason: 7")
def _finish_reason_number(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["choices"][0]["finish_reason"] = 7
    ctx.send_json(body)


@_mode("finish_reason_object", 'send finish_reason: {"type": "stop"}')
def _finish_reason_object(ctx: FaultContext) -> None:
    body = ctx.answer()
    body["choices"][0]["finish_reason"] = {"type": "stop"}
    ctx.send_json(body)


@_mode("args_not_json", "send tool arguments that are not JSON")
def _args_not_json(ctx: FaultContext) -> None:
    _arguments(ctx, lambda arguments: "question: what? sql: SELECT 1")


@_mode("args_json_array", "send tool arguments that are a JSON array")
def _args_json_array(ctx: FaultContext) -> None:
    _arguments(ctx, lambda arguments: json.dumps(list(arguments.values())))


@_mode("args_json_string", "send tool arguments that are a JSON string")
def _args_json_string(ctx: FaultContext) -> None:
    _arguments(ctx, lambda arguments: json.dumps(json.dumps(arguments)))


@_mode("args_as_object", "send the tool arguments as a JSON object instead of JSON text")
def _args_as_object(ctx: FaultContext) -> None:
    body = ctx.answer()
    function = _function(body)
    function["arguments"] = json.loads(function["arguments"])
    ctx.send_json(body)


@_mode("duplicate_keys_args", "send tool arguments that give the SQL twice, differently")
def _duplicate_keys_args(ctx: FaultContext) -> None:
    def twice(arguments: dict[str, Any]) -> str:
        text = json.dumps(arguments)
        return text[:-1] + ', "sql_query": "SELECT 2"}'

    _arguments(ctx, twice)


@_mode("nan_in_args", "send tool arguments with question: NaN")
def _nan_in_args(ctx: FaultContext) -> None:
    def nan(arguments: dict[str, Any]) -> str:
        arguments["question"] = float("nan")
        return json.dumps(arguments)

    _arguments(ctx, nan)


@_mode("deep_args", "send tool arguments nested 100,000 levels deep")
def _deep_args(ctx: FaultContext) -> None:
    _arguments(ctx, lambda arguments: '{"question": ' + "[" * 100_000 + "]" * 100_000 + "}")


@_mode("huge_integer_args", "send tool arguments with a 5,000-digit integer")
def _huge_integer_args(ctx: FaultContext) -> None:
    _arguments(ctx, lambda arguments: json.dumps(arguments)[:-1] + ', "n": ' + "9" * 5000 + "}")


@_mode("control_chars_args", "send a question holding a NUL and an escape character")
def _control_chars_args(ctx: FaultContext) -> None:
    def control(arguments: dict[str, Any]) -> str:
        arguments["question"] = "How many\x00 users\x1b[2J?"
        return json.dumps(arguments)

    _arguments(ctx, control)


@_mode("empty_sql", "send tool arguments with an empty sql_query")
def _empty_sql(ctx: FaultContext) -> None:
    def empty(arguments: dict[str, Any]) -> str:
        arguments["sql_query"] = "   "
        return json.dumps(arguments)

    _arguments(ctx, empty)


@_mode("wrong_tool_name", "call a tool that was not offered")
def _wrong_tool_name(ctx: FaultContext) -> None:
    body = ctx.answer()
    _function(body)["name"] = "delete_everything"
    ctx.send_json(body)


@_mode("tool_calls_not_list", "send tool_calls as an object")
def _tool_calls_not_list(ctx: FaultContext) -> None:
    body = ctx.answer()
    message = _message(body)
    message["tool_calls"] = {"first": (message.get("tool_calls") or [None])[0]}
    ctx.send_json(body)


@_mode("malformed_tool_call", "send tool_calls: [3]")
def _malformed_tool_call(ctx: FaultContext) -> None:
    body = ctx.answer()
    _message(body)["tool_calls"] = [3]
    ctx.send_json(body)


@_mode("no_tool_call", "answer in plain text instead of calling the tool")
def _no_tool_call(ctx: FaultContext) -> None:
    body = ctx.answer()
    message = _message(body)
    message.pop("tool_calls", None)
    message["content"] = "Here is a question: how many users? SELECT count() FROM users"
    body["choices"][0]["finish_reason"] = "stop"
    ctx.send_json(body)


@_mode("content_not_string", "send content as an object and no tool call")
def _content_not_string(ctx: FaultContext) -> None:
    body = ctx.answer()
    message = _message(body)
    message.pop("tool_calls", None)
    message["content"] = {"question": "q?", "sql_query": "SELECT 1"}
    ctx.send_json(body)


@_mode("content_filter", "stop with finish_reason content_filter and no answer")
def _content_filter(ctx: FaultContext) -> None:
    body = ctx.answer()
    message = _message(body)
    message.pop("tool_calls", None)
    message["content"] = None
    body["choices"][0]["finish_reason"] = "content_filter"
    ctx.send_json(body)


@_mode("length_cut", "stop with finish_reason length, the tool arguments cut off")
def _length_cut(ctx: FaultContext) -> None:
    body = ctx.answer()
    function = _function(body)
    function["arguments"] = function["arguments"][: len(function["arguments"]) // 2]
    body["choices"][0]["finish_reason"] = "length"
    ctx.send_json(body)


@_mode("refusal", "refuse: message.refusal set, no content, no tool call")
def _refusal(ctx: FaultContext) -> None:
    body = ctx.answer()
    message = _message(body)
    message.pop("tool_calls", None)
    message["content"] = None
    message["refusal"] = "I can't help with that request."
    body["choices"][0]["finish_reason"] = "stop"
    ctx.send_json(body)


class FaultyOpenAIServer(FakeOpenAIServer):
    """The library's fake OpenAI server, plus the named faults of :data:`FAULT_MODES`."""

    def fault_next(self, mode: str, times: int = 1, **params: Any) -> None:
        """Answer the next ``times`` chat calls with the named fault.

        Args:
            mode: A key of :data:`FAULT_MODES`, e.g. ``"trickle"``.
            times: How many calls it applies to.
            **params: The mode's options, e.g. ``byte_interval_s=0.2`` for ``trickle``.

        Raises:
            KeyError: Unknown mode (the message lists the known ones).
        """
        if mode not in FAULT_MODES:
            raise KeyError(f"unknown fault mode {mode!r}; known: {', '.join(sorted(FAULT_MODES))}")
        write = FAULT_MODES[mode].write
        self.misbehave_next(
            lambda request, handler: write(FaultContext(self, request, handler, dict(params))),
            times,
        )
