"""Run the async core from synchronous code.

Every public async method ``a<name>`` has a sync twin ``<name>`` that calls :func:`run_sync`. All
sync calls share one private event loop on a daemon thread, so objects holding loop-bound resources
(HTTP connection pools, semaphores) keep working across calls. Calling a sync twin from inside a
running event loop is refused: use the ``a<name>`` method there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

# How long an interrupted call may take to clean up (close files, release locks) before the
# caller goes on; a second Ctrl-C stops waiting at once.
_CLEANUP_S = 10.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _portal_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="text2sql_tune-sync", daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code and return its result.

    Args:
        coro: The coroutine, usually ``self.a<name>(...)``.

    Returns:
        The coroutine's result; its exception is re-raised here.

    Raises:
        RuntimeError: When called from a thread whose event loop is running (use the async method).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(
            "a synchronous text2sql_tune method was called inside a running event loop; "
            "await its async twin (the same name prefixed with 'a') instead"
        )
    started, finished = threading.Event(), threading.Event()

    async def run() -> T:
        started.set()
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(run(), _portal_loop())
    try:
        return future.result()
    except BaseException:
        # Ctrl-C (or any interruption of the wait) cancels the work on the portal loop too, and
        # waits for its cleanup, so that a process exiting now leaves no half-done files behind.
        if future.cancel() and started.is_set():  # a coroutine cancelled unstarted never runs
            finished.wait(_CLEANUP_S)
        raise
