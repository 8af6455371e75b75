"""The HTTP plumbing the fake servers share: a quiet threaded server on a free local port."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = ["FakeServer", "LocalServer", "read_body", "send_json"]

Dispatch = Callable[[BaseHTTPRequestHandler, str], None]
"""Answers one request: ``(handler, method)``; the handler writes the response."""

S = TypeVar("S", bound="FakeServer")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # listen() backlog: many clients connecting at once must not be refused (default 5).
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that time out or hang up on a slow answer are expected here."""


class LocalServer:
    """Serves HTTP/1.1 on a free port of 127.0.0.1 in a daemon thread; ``dispatch`` answers.

    Args:
        dispatch: Called with ``(handler, method)`` for every GET, POST and DELETE.
        name: The serving thread's name.
    """

    def __init__(self, dispatch: Dispatch, *, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without this, small responses wait out the client's delayed ACK (~40 ms each).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet."""

            def do_GET(self) -> None:
                dispatch(self, "GET")

            def do_POST(self) -> None:
                dispatch(self, "POST")

            def do_DELETE(self) -> None:
                dispatch(self, "DELETE")

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=name,
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeServer:
    """What every fake server does: start on a free port, stop, serve as a context manager.

    Subclasses answer each request in :meth:`_dispatch`.

    Attributes:
        stopping: Set while the server stops, so that slow answers can end at once.
    """

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._server: LocalServer | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._server is None:
            raise RuntimeError(f"the {type(self).__name__} is not started")
        return self._server.base_url

    def start(self: S) -> S:
        """Start serving on a free port in a daemon thread."""
        self.stopping.clear()
        self._server = LocalServer(self._dispatch, name=type(self).__name__)
        return self

    def stop(self) -> None:
        """Stop serving (answers still trickling or stalled end at once)."""
        self.stopping.set()
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body (``Content-Length`` bytes; empty without one)."""
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer with ``payload`` as JSON (bytes are sent as they are), labelled as JSON."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
