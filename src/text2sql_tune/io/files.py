"""Crash-safe file writing and single-writer locks, shared by every step that writes files.

Two rules hold for every file the library writes:

* A whole-file write (a report, ``state.json``, a job file, an export) goes to a temporary file in
  the same folder, is flushed to disk, then renamed over the target (``os.replace`` is atomic on
  POSIX and Windows). A crash leaves either the old file or the new one, never half of one.
* A folder or checkpoint that a run appends to is held by one process at a time through an
  exclusive lock file (``<name>.lock``, an OS advisory lock that the OS releases when the process
  dies, so a killed run never leaves a stale lock behind). A second writer gets a
  :class:`~text2sql_tune.errors.ResourceBusyError` naming the holder instead of silently doubling
  paid calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from ..errors import DataError, ResourceBusyError

if TYPE_CHECKING:  # pydantic is not imported by the commands that only write files
    from pydantic import BaseModel

__all__ = [
    "FileLock",
    "atomic_open",
    "atomic_write_json",
    "atomic_write_text",
    "read_json_model",
    "write_json_model",
]

_M = TypeVar("_M", bound="BaseModel")


@contextlib.contextmanager
def atomic_open(path: str | Path, *, fsync: bool = True) -> Iterator[IO[str]]:
    """Open ``path`` for writing text so that it is replaced in one step when the block ends.

    The data goes to a temporary file next to ``path``; on a clean exit it is flushed (and synced
    when ``fsync``) and renamed over ``path``. If the block raises, the temporary file is removed
    and ``path`` is left as it was. The new file keeps the permissions of the one it replaces (a
    new one gets the usual ones, as the umask says).

    Args:
        path: The file to (re)write; its folder is created when missing.
        fsync: Ask the OS to put the data on disk before the rename (survives power loss).

    Yields:
        A UTF-8 text handle.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_temporary(target: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its files are private (0600) whatever the umask, and a report or
    # state file must not change permissions because it was written atomically.
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666  # the umask applies
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:  # pragma: no cover - 48 random bits taken
            continue
        if mode != 0o666:
            os.chmod(tmp, mode)
        return fd, tmp
    raise FileExistsError(f"no free temporary name next to {target}")  # pragma: no cover


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, fsync=fsync) as handle:
        handle.write(text)


def atomic_write_json(path: str | Path, data: Any, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` as indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", fsync=fsync)


def write_json_model(path: str | Path, model: BaseModel) -> Path:
    """Write a pydantic model as indented JSON, atomically (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, model.model_dump_json(indent=2))
    return path


def read_json_model(model: type[_M], path: str | Path, what: str) -> _M:
    """Read a pydantic model written by :func:`write_json_model`.

    Raises:
        DataError: The file is missing or unreadable, or is not a ``what``.
    """
    path = Path(path)
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable {what}: {exc}") from exc


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class FileLock:
    """An exclusive, non-blocking lock on ``<path>`` held for the life of a ``with`` block.

    The lock is an OS advisory lock on the file, so it is released when the process exits for
    any reason (``kill -9`` included). The file holds the holder's pid, host and start time,
    which is what the error message shows to the next process. It stays after a clean release
    unless ``remove`` is set (a killed holder always leaves it; the next holder takes it over).

    Args:
        path: The lock file, e.g. ``run_dir / ".lock"`` or ``checkpoint.jsonl.lock``.
        what: What the lock protects, for the message (``"run directory runs/shop"``).
        remove: Delete the file on a clean release (for lock files next to the user's files).

    Raises:
        ResourceBusyError: On entry, when another process holds the lock.

    Example:
        >>> import tempfile, pathlib
        >>> lock_path = pathlib.Path(tempfile.mkdtemp()) / ".lock"
        >>> with FileLock(lock_path, "the example folder"):
        ...     pass
    """

    def __init__(self, path: str | Path, what: str, *, remove: bool = False) -> None:
        self.path = Path(path)
        self.what = what
        self.remove = remove and sys.platform != "win32"  # Windows cannot delete an open file
        self._handle: IO[str] | None = None

    def _busy(self, holder: str) -> ResourceBusyError:
        return ResourceBusyError(
            f"{self.what} is in use by {holder} (lock file {self.path}); wait for that run "
            "to finish or stop it, then try again"
        )

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            handle = self.path.open("a+", encoding="utf-8")
            if not _try_lock(handle):
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise self._busy(holder)
            # A holder that removes its file on release may have done so after we opened it:
            # then we hold a lock on a deleted file and must lock the file now at the path.
            try:
                current = os.path.samestat(os.fstat(handle.fileno()), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                break
            handle.close()
        else:  # pragma: no cover - 20 holders in a row released between our open and lock
            raise self._busy("processes that keep taking it")
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        handle.write(f"process {os.getpid()} on {socket.gethostname()} since {started}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            if self.remove:  # still locked while unlinking: a waiter then sees a new file
                self.path.unlink(missing_ok=True)
            # Closing the handle releases the OS lock.
            self._handle.close()
            self._handle = None
