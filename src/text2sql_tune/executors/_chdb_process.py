"""The parent's side of the chDB engine process: send statements, enforce deadlines by killing it.

ClickHouse checks ``max_execution_time`` between blocks, so one long function call (measured:
``arrayLevenshteinDistance`` over 100,000-element arrays ran 14.7 s under a 2 s limit) runs past
it, and chDB 4.4 offers no way to stop it inside the process: its streaming ``cancel()`` and
``KILL QUERY`` are both checked between blocks too. So the engine runs in a child process
(:mod:`._chdb_worker`), and a statement with a deadline that has not answered by then gets the
process killed (a few milliseconds) and a fresh one started at once (about 0.25 s).
Queries that were running beside the one that overran are sent again to the new process (they
only read); a trusted admin statement that was running is reported as interrupted.
"""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._chdb_frames import encode_frame, read_frame

__all__ = [
    "EngineError",
    "EngineLostError",
    "EngineProcess",
    "OutputTooLargeError",
    "QueryTimedOutError",
]

logger = logging.getLogger("text2sql_tune")

_WORKER = Path(__file__).with_name("_chdb_worker.py")
_START_TIMEOUT_S = 120.0
_CLOSE_TIMEOUT_S = 10.0


class EngineError(Exception):
    """The engine refused a statement: its error text, and which statement (a setup ``SET``)."""

    def __init__(self, text: str, statement: str) -> None:
        super().__init__(text)
        self.text = text
        self.statement = statement


class EngineLostError(Exception):
    """The engine process ended while the statement ran (killed for another query, or crashed)."""


class QueryTimedOutError(Exception):
    """The statement ran past its deadline; the engine process was killed."""

    def __init__(self, elapsed_s: float) -> None:
        super().__init__(f"{elapsed_s:.2f} s")
        self.elapsed_s = elapsed_s


class OutputTooLargeError(Exception):
    """The statement's output was over the byte cap; it was not copied out of the engine."""

    def __init__(self, size: int) -> None:
        super().__init__(str(size))
        self.size = size


@dataclass
class _Pending:
    generation: int
    done: threading.Event = field(default_factory=threading.Event)
    header: dict[str, Any] | None = None
    payload: bytes = b""
    lost: bool = False


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    generation: int
    write_lock: threading.Lock = field(default_factory=threading.Lock)


class EngineProcess:
    """One chDB database folder served by a child process that can be killed and restarted.

    Args:
        path: The database folder.
        memory_budget: ``max_server_memory_usage`` of the engine process in bytes (0: chDB's
            default, a share of the machine's memory).
    """

    def __init__(self, path: str, memory_budget: int) -> None:
        self.path = path
        self.memory_budget = memory_budget
        self.restarts = 0
        """How many times the process was killed for a statement that overran."""
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._dying: subprocess.Popen[bytes] | None = None  # killed, maybe still holding the folder
        self._generation = 0
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The engine process's id, or ``None`` while none runs."""
        process = self._process
        return process.popen.pid if process is not None else None

    def start(self) -> None:
        """Start the engine process now (it also starts on demand).

        Raises:
            EngineError: The engine could not open the folder (``statement`` is empty).
        """
        with self._lock:
            self._ensure()

    def run(
        self,
        sql: str,
        *,
        pool: str | None = None,
        setup: list[str] | None = None,
        keep: bool = True,
        max_bytes: int | None = None,
        deadline_s: float | None = None,
    ) -> bytes:
        """Run one statement and return the engine's output.

        Args:
            sql: The statement (its output format is the worker's, JSONCompact).
            pool: The locked-session pool to run it on; ``None`` runs it on the admin session.
            setup: Statements that make a new session of ``pool`` (``SET``s before the lock).
            keep: Return the session to its pool afterwards (else it is closed).
            max_bytes: Refuse output larger than this without copying it out.
            deadline_s: Seconds the statement may run in the engine process before the process is
                killed (waiting for a process to start does not count; a query sent again after
                a restart gets the full time again).

        Raises:
            EngineError: The engine refused the statement.
            OutputTooLargeError: The output was over ``max_bytes``.
            QueryTimedOutError: It ran past ``deadline_s``.
            EngineLostError: The process ended while an admin statement ran (queries are retried).
        """
        request: dict[str, Any] = {"sql": sql, "pool": pool, "setup": setup or [], "keep": keep}
        request["max_bytes"] = max_bytes
        while True:
            try:
                return self._run_once(request, deadline_s)
            except EngineLostError:
                if pool is None or self._closed:
                    raise
                logger.info("the chDB engine process restarted; running the query again")

    def _run_once(self, request: dict[str, Any], deadline_s: float | None) -> bytes:
        """Send ``request`` once; its deadline counts from when the engine process has it."""
        with self._lock:
            process = self._ensure()
            ident = self._next_id
            self._next_id += 1
            pending = self._pending[ident] = _Pending(process.generation)
        try:
            try:
                _write(process, {**request, "id": ident})
            except OSError:
                self._lost(process.generation)
            sent = time.monotonic()
            if not pending.done.wait(deadline_s):
                elapsed = time.monotonic() - sent
                self._kill(process.generation, f"a query ran past its deadline ({elapsed:.2f} s)")
                raise QueryTimedOutError(elapsed)
        finally:
            with self._lock:
                self._pending.pop(ident, None)
        header = pending.header
        if pending.lost or header is None:
            raise EngineLostError
        if header.get("ok"):
            return pending.payload
        if "too_large" in header:
            raise OutputTooLargeError(int(header["too_large"]))
        raise EngineError(str(header.get("error", "")), str(header.get("statement", "")))

    def _ensure(self) -> _Process:
        """The running process, started if needed (the caller holds ``_lock``)."""
        if self._closed:
            raise EngineLostError
        process = self._process
        if process is not None and process.popen.poll() is None:
            return process
        if self._dying is not None:  # the folder is free once the killed process is gone
            self._dying.wait()
            self._dying = None
        self._generation += 1
        popen = subprocess.Popen(
            [sys.executable, str(_WORKER), self.path, str(self.memory_budget)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert popen.stdout is not None
        first = _first_frame(popen.stdout, _START_TIMEOUT_S)
        if first is None or not first[0].get("ready"):
            popen.kill()
            popen.wait()
            text = str(first[0].get("fatal", "")) if first is not None else "no answer"
            raise EngineError(text or "the engine process did not start", "")
        process = self._process = _Process(popen, self._generation)
        threading.Thread(
            target=self._read_loop, args=(process,), name="chdb-engine-reader", daemon=True
        ).start()
        logger.debug("chDB engine process %d serves %s", popen.pid, self.path)
        return process

    def _read_loop(self, process: _Process) -> None:
        stream = process.popen.stdout
        assert stream is not None
        while True:
            try:
                frame = read_frame(stream)
            except (OSError, ValueError):
                frame = None
            if frame is None:
                break
            header, payload = frame
            with self._lock:
                pending = self._pending.get(int(header.get("id", -1)))
            if pending is not None:
                pending.header, pending.payload = header, payload
                pending.done.set()
        self._lost(process.generation)

    def _lost(self, generation: int) -> None:
        """Every statement still waiting on process ``generation`` will not get an answer."""
        with self._lock:
            if self._process is not None and self._process.generation == generation:
                self._process = None
            waiting = [p for p in self._pending.values() if p.generation == generation]
        for pending in waiting:
            if not pending.done.is_set():
                pending.lost = True
                pending.done.set()

    def _kill(self, generation: int, why: str) -> None:
        with self._lock:
            process = self._process
            if process is None or process.generation != generation:
                return
            self._process = None
            self._dying = process.popen
            self.restarts += 1
        logger.info("stopping the chDB engine process %d: %s", process.popen.pid, why)
        process.popen.kill()
        self._lost(generation)
        # Start the next process off the caller's clock.
        threading.Thread(target=self._replace, daemon=True).start()

    def _replace(self) -> None:
        try:
            self.start()
        except (EngineError, EngineLostError, OSError):  # the next statement tries again
            logger.debug("restarting the chDB engine process failed", exc_info=True)

    def close(self) -> None:
        """End the engine process: it closes its sessions first (killed if it does not)."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is None:
            return
        try:
            _write(process, {"close": True})
            process.popen.wait(timeout=_CLOSE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            process.popen.kill()
            process.popen.wait()
        self._lost(process.generation)


def _write(process: _Process, header: dict[str, Any]) -> None:
    stream = process.popen.stdin
    assert stream is not None
    with process.write_lock:
        stream.write(encode_frame(header))
        stream.flush()


def _first_frame(stream: IO[bytes], timeout: float) -> tuple[dict[str, Any], bytes] | None:
    """The engine process's first frame, or ``None`` when it does not come in ``timeout``."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return read_frame(stream) if ready else None
