"""aiosqlite connections that always finish closing, and never keep the process alive.

aiosqlite (0.22) runs each connection on a worker thread that ends at the first "stop"
message it reads. Every `close()` and `stop()` queues one, with a future resolved by that
thread. SQLAlchemy terminates a connection whose task is cancelled with a shielded
graceful `close()`, and calls `stop()` itself if that wait is cancelled too (a worker
cancelled twice: screen closed, then app quit). Then the graceful close queues a second
stop behind the first. The thread has already ended, so that future never resolves, the
close never returns, and asyncio.run waits for it forever: the console hung on quit.

Here a connection queues its stop once; later calls return no future to wait for. Its
worker thread is a daemon, as SQLAlchemy's own creator makes it (SQLite recovers an
interrupted transaction from its journal, so exiting without a close is safe), and it
drops a reply for an event loop that has already closed instead of dying with a
traceback on the terminal the console just gave back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from queue import SimpleQueue
from threading import Thread
from typing import Any

import aiosqlite
from aiosqlite.core import _STOP_RUNNING_SENTINEL

Job = tuple["asyncio.Future[Any] | None", Callable[[], Any]]


class SqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection whose worker thread is asked to stop only once."""

    _stop_queued = False

    def stop(self) -> asyncio.Future[Any] | None:
        if self._stop_queued:
            return None  # the first stop's message is queued or done: nothing more to wait for
        self._stop_queued = True
        return super().stop()


def connect(database: str, **kwargs: Any) -> SqliteConnection:
    """Like aiosqlite.connect (a connection to await), with the safe stop and worker."""

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = SqliteConnection(connector, iter_chunk_size=64)
    connection._thread = Thread(target=_work, args=(connection._tx,), daemon=True)
    return connection


def _work(jobs: SimpleQueue[Job]) -> None:
    """aiosqlite's worker loop, except that a closed event loop ends the reply, not the thread."""
    while True:
        future, function = jobs.get()
        try:
            result, failure = function(), None
        except BaseException as exc:  # handed to the awaiting coroutine
            result, failure = None, exc
        if future is not None:
            # A closed loop raises RuntimeError: nobody is waiting for this any more.
            with contextlib.suppress(RuntimeError):
                future.get_loop().call_soon_threadsafe(_settle, future, result, failure)
        if result is _STOP_RUNNING_SENTINEL:
            return


def _settle(future: asyncio.Future[Any], result: Any, failure: BaseException | None) -> None:
    if future.done():  # cancelled while the thread worked
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        future.set_result(result)
