"""The chDB engine process: it owns one database folder and runs statements for its parent.

A query that runs away inside one function call (an edit distance over huge arrays) cannot be
stopped inside a process: ClickHouse checks its time limit between blocks only. So the engine
runs here, in a process of its own that the parent can kill (see :mod:`._chdb_process`).

This file runs as a script (``python _chdb_worker.py PATH BUDGET``) and imports nothing from the
library, only the standard library and chDB, so it starts in a fraction of a second. It speaks
length-prefixed frames on its original stdout and reads them from stdin:

- request: ``{"id", "sql", "pool", "setup", "keep", "max_bytes"}``. ``pool`` null runs ``sql`` on
  the unlocked admin session; otherwise a session of that pool runs it, made on demand by running
  the ``setup`` statements and then ``SET readonly = 1``. ``keep`` false closes the session after.
  ``{"close": true}`` ends the process.
- reply: ``{"id", "ok": true, "size"}`` and the output bytes, or ``{"id", "ok": false, "error",
  "statement"}``, or ``{"id", "ok": false, "too_large": size}`` when the output is over
  ``max_bytes`` (it is not sent).

The process ends when its stdin closes: the parent exited or was killed. (Not
``PR_SET_PDEATHSIG``: Linux sends it when the *thread* that started the process ends.)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ._chdb_frames import encode_frame, read_frame
else:  # run as a script: the module beside it
    from _chdb_frames import encode_frame, read_frame

# Run as a script, this folder comes first on the path, and its chdb.py would shadow chDB.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

_FORMAT = "JSONCompact"


class _Server:
    def __init__(self, path: str, budget: int) -> None:
        from chdb.session import Session

        self.session_cls: Any = cast(Any, Session)
        connection = path if budget <= 0 else f"file:{path}?max_server_memory_usage={budget}"
        self.connection = connection
        self.admin: Any = self.session_cls(connection)
        self.admin_lock = threading.Lock()
        self.pools: dict[str, list[Any]] = {}
        self.pools_lock = threading.Lock()
        self.out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)  # anything the engine prints goes to stderr, never into the protocol
        self.out_lock = threading.Lock()

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        with self.out_lock:
            self.out.write(encode_frame(header, payload))
            self.out.flush()

    def handle(self, request: dict[str, Any]) -> None:
        ident = request["id"]
        pool = request.get("pool")
        try:
            if pool is None:
                with self.admin_lock:
                    self.run(ident, self.admin, request, drain=True)
                return
            session = self.locked_session(pool, request.get("setup") or [])
        except _SetupError as exc:
            self.send({"id": ident, "ok": False, "error": exc.text, "statement": exc.statement})
            return
        try:
            self.run(ident, session, request, drain=True)
        finally:
            if request.get("keep", True):
                with self.pools_lock:
                    self.pools.setdefault(pool, []).append(session)
            else:
                session.cleanup()

    def locked_session(self, pool: str, setup: list[str]) -> Any:
        with self.pools_lock:
            sessions = self.pools.get(pool)
            if sessions:
                return sessions.pop()
        session = self.session_cls(self.connection)
        for statement in [*setup, "SET readonly = 1"]:
            try:
                session.query(statement)
            except Exception as exc:  # a query's own setting with a bad value
                session.cleanup()
                raise _SetupError(str(exc), statement) from None
        return session

    def run(self, ident: int, session: Any, request: dict[str, Any], *, drain: bool) -> None:
        try:
            raw = session.query(request["sql"], _FORMAT)
        except Exception as exc:
            if drain:  # chDB prepends a failed query's partial output to the next one's
                with contextlib.suppress(Exception):  # the next query says what broke
                    session.query("SELECT 1", _FORMAT)
            self.send({"id": ident, "ok": False, "error": str(exc), "statement": request["sql"]})
            return
        size = raw.size() if hasattr(raw, "size") else len(raw)
        cap = request.get("max_bytes")
        if cap is not None and size > cap:
            self.send({"id": ident, "ok": False, "too_large": size})
            return
        payload = raw.bytes() if hasattr(raw, "bytes") else bytes(raw)
        self.send({"id": ident, "ok": True, "size": size}, payload or b"")

    def close(self) -> None:
        """Close the idle sessions, then the admin session (the parent waits for this)."""
        with self.pools_lock:
            sessions = [s for pool in self.pools.values() for s in pool]
            self.pools.clear()
        for session in sessions:
            session.cleanup()
        with self.admin_lock:
            self.admin.cleanup()


class _SetupError(Exception):
    def __init__(self, text: str, statement: str) -> None:
        super().__init__(text)
        self.text = text
        self.statement = statement


def main(argv: list[str]) -> None:
    """Serve requests for the database folder ``argv[0]`` until stdin closes."""
    path, budget = argv[0], int(argv[1])
    inp = sys.stdin.buffer
    try:
        server = _Server(path, budget)
    except Exception as exc:
        sys.stdout.buffer.write(encode_frame({"fatal": str(exc)}))
        sys.stdout.buffer.flush()
        return
    server.send({"ready": True, "pid": os.getpid()})
    while True:
        frame = read_frame(inp)
        if frame is None:
            break
        request = frame[0]
        if request.get("close"):
            server.close()
            break
        threading.Thread(target=server.handle, args=(request,), daemon=True).start()
    os._exit(0)  # threads may still be inside the engine: do not wait for them


if __name__ == "__main__":
    main(sys.argv[1:])
