"""A minimal fake of ClickHouse's HTTP interface, for testing ClickHouseExecutor without a server.

It answers clickhouse-connect's connect-time probes and the executor's read-only check (from
``readonly`` and ``profile``), returns canned ``JSONCompact`` documents for queries (or ``body``
as is), ClickHouse-style errors (HTTP 500, ``X-ClickHouse-Exception-Code``) for queries that
mention ``boom``, and records every request (query text, URL parameters, headers). With
``delay_s`` it answers queries (not probes) that much later, like a server busy with one long
function call.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    query: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeClickHouse:
    rows: list[list[Any]] = field(default_factory=lambda: [[0, 3], [1, 2]])
    readonly: int = 1
    profile: dict[str, Any] = field(
        default_factory=lambda: {
            "max_execution_time": 30.0,
            "max_result_rows": 10_000,
            "max_result_bytes": 32 * 1024**2,
            "max_memory_usage": 2 * 1024**3,
            "result_overflow_mode": "throw",
        }
    )
    body: bytes | None = None  # when set, every query is answered with these bytes
    delay_s: float = 0.0
    stopping: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def queries(self) -> list[Request]:
        """Requests other than the client's and the executor's connect-time probes."""
        probes = ("version()", "system.settings", "AS check", "getSetting('readonly')")
        return [r for r in self.requests if not any(p in r.query for p in probes)]

    def start(self) -> FakeClickHouse:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def _answer(self, body: bytes) -> None:
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                query = params.pop("query", "") + body.decode("utf-8", "replace")
                fake.requests.append(Request(query, params, dict(self.headers.items())))
                if "version()" in query:
                    self._send(200, b"26.9.1.1\tUTC\n")
                elif "system.settings" in query:
                    self._send(200, b"")  # Native format, no blocks: no settings to report
                elif "AS check" in query:
                    self._send(500, b"Code: 1. DB::Exception: not supported by the fake")
                elif "getSetting('readonly')" in query:
                    values = {"readonly": fake.readonly, **fake.profile}
                    document = {
                        "meta": [{"name": k, "type": "String"} for k in values],
                        "data": [list(values.values())],
                    }
                    self._send(200, json.dumps(document).encode())
                elif fake.delay_s and fake.stopping.wait(fake.delay_s):
                    return  # stopped while "running"
                elif fake.body is not None:
                    self._send(200, fake.body)
                elif "boom" in query:
                    message = (
                        "Code: 47. DB::Exception: Unknown expression identifier `boom`. "
                        "(UNKNOWN_IDENTIFIER) (version 26.9.1.1)\n"
                    )
                    self._send(500, message.encode(), {"X-ClickHouse-Exception-Code": "47"})
                else:
                    document = {
                        "meta": [{"name": "k", "type": "UInt8"}, {"name": "c", "type": "UInt64"}],
                        "data": fake.rows,
                        "totals": [0, sum(r[1] for r in fake.rows)],
                        "rows": len(fake.rows),
                    }
                    self._send(200, json.dumps(document).encode())

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
