from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from text2sql_tune.errors import ResourceBusyError
from text2sql_tune.io.files import FileLock, atomic_open, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "é": "ü"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2, "é": "ü"}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    atomic_write_text(target, "old\n")

    class BoomError(Exception):
        pass

    with pytest.raises(BoomError), atomic_open(target) as handle:
        handle.write("half of the new")
        raise BoomError
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_second_holder_in_the_same_process_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with FileLock(lock, "run directory X"):
        with pytest.raises(ResourceBusyError) as refused, FileLock(lock, "run directory X"):
            pass
        message = str(refused.value)
        assert "run directory X is in use by process" in message
        assert str(os.getpid()) in message
    with FileLock(lock, "run directory X"):  # released on exit
        pass


def test_another_process_is_refused_and_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from text2sql_tune.io.files import FileLock\n"
            f"with FileLock({str(lock)!r}, 'checkpoint c'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ResourceBusyError, match=f"process {holder.pid}"), FileLock(lock, "c"):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs in the holder
        holder.wait()
    with FileLock(lock, "checkpoint c"):
        assert f"process {os.getpid()}" in lock.read_text(encoding="utf-8")


def test_a_removable_lock_leaves_no_file_and_is_taken_again(tmp_path: Path) -> None:
    lock = tmp_path / "raw.jsonl.lock"
    with FileLock(lock, "checkpoint raw.jsonl", remove=True):
        assert lock.exists()
        with pytest.raises(ResourceBusyError), FileLock(lock, "checkpoint", remove=True):
            pass
        assert lock.exists()  # the refused one did not remove the holder's file
    assert not lock.exists()
    with FileLock(lock, "checkpoint raw.jsonl", remove=True):
        assert f"process {os.getpid()}" in lock.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_keep_the_files_permissions(tmp_path: Path) -> None:
    new = tmp_path / "report.json"
    atomic_write_text(new, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # not mkstemp's private 0600
    new.chmod(0o640)
    atomic_write_text(new, "{}\n")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
