"""The HTTP plumbing the fake servers share: a quiet threaded server on a free local port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LocalServer"]

Dispatch = Callable[[BaseHTTPRequestHandler, str], None]
"""Answers one request: ``(handler, method)``; the handler writes the response."""


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
