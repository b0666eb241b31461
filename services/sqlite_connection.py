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

Its cursors make one trip to that thread per statement. aiosqlite's cursor, as SQLAlchemy
drives it, makes four (open the cursor, execute, fetch the rows, close), and every trip
is a hand-over between threads and a turn of the event loop in which a busy console does
other work: the pack screen's scan (five statements) waited for sixteen of them.

A write transaction begun with the `packline_inline` execution option (services.db) runs
its statements on the event loop's own thread once BEGIN IMMEDIATE has the write lock: with
the lock held, nothing in a short transaction waits (WAL readers never block a writer), and
a statement of microseconds no longer pays two hand-overs between threads. BEGIN is tried
here without waiting; when another writer holds the lock, it waits for it on the
connection's thread, as everything else does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Generator, Sequence
from queue import SimpleQueue
from threading import Thread
from typing import Any

import aiosqlite
from aiosqlite.core import _STOP_RUNNING_SENTINEL

Job = tuple["asyncio.Future[Any] | None", Callable[[], Any]]
Row = tuple[Any, ...]

# Rows a statement brings back on its one trip; a longer result is fetched on further trips
# (SQLAlchemy reads every row of a buffered result at once, so that is one trip more).
FIRST_ROWS = 1000


class SqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection whose worker thread is asked to stop only once."""

    _stop_queued = False
    # Statements run on the caller's thread (an inline write transaction holds the write
    # lock); set by services.db after BEGIN IMMEDIATE, cleared when the transaction ends.
    inline = False

    def stop(self) -> asyncio.Future[Any] | None:
        if self._stop_queued:
            return None  # the first stop's message is queued or done: nothing more to wait for
        self._stop_queued = True
        return super().stop()

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # same use, fewer trips
        return OneTripCursor(self)

    async def trip(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` on the connection's thread (one hand-over there and back), or
        here and now in an inline transaction."""
        if self.inline:
            if not self._running or not self._connection:
                raise ValueError("Connection closed")
            return function(*args)
        return await self._execute(function, *args)  # type: ignore[no-untyped-call]

    def begin_inline(self, busy_timeout_ms: int) -> bool:
        """BEGIN IMMEDIATE on this thread when the write lock is free at once, and the
        transaction inline; False (nothing begun) when another writer holds the lock: then
        BEGIN must wait for it on the connection's thread, not here. `busy_timeout_ms` is
        the connection's own wait, put back after the attempt."""
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction or "lock" not in str(exc):
                raise
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self.inline = True
        return True

    async def commit(self) -> None:
        inline, self.inline = self.inline, False
        if inline:
            self._conn.commit()
        else:
            await super().commit()

    async def rollback(self) -> None:
        self.inline = False
        conn = self._connection
        if conn is not None and not conn.in_transaction:
            return  # nothing to undo: the pool's reset after a commit costs no trip
        await super().rollback()  # on the connection's thread, as ever


class OneTripCursor:
    """The part of aiosqlite's cursor SQLAlchemy uses, a statement in one trip to the thread.

    `execute` runs the statement and reads its first rows there; the sqlite3 cursor is
    closed on the same trip unless rows remain. Opening and closing cost no trip. It may be
    awaited or entered (`async with`), as aiosqlite's `cursor()` result may.
    """

    arraysize = 1  # sqlite3's default, for fetchmany() without a size

    def __init__(self, connection: SqliteConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None  # rows remain in it
        self._rows: list[Row] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def __await__(self) -> Generator[Any, None, OneTripCursor]:
        return self._self().__await__()

    async def _self(self) -> OneTripCursor:
        return self

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        await self.close()
        run = self._connection.trip
        self._apply(*await run(_run, self._connection._conn, sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        await self.close()
        run = self._connection.trip
        self._apply(*await run(_run_many, self._connection._conn, sql, parameters))
        return self

    def _apply(
        self,
        description: Any,
        rows: list[Row],
        rowcount: int,
        lastrowid: int | None,
        rest: sqlite3.Cursor | None,
    ) -> None:
        self.description, self._rows, self.rowcount, self.lastrowid = (
            description,
            rows,
            rowcount,
            lastrowid,
        )
        self._open = rest

    async def fetchone(self) -> Row | None:
        if not self._rows and self._open is not None:
            self._rows = await self._more(self.arraysize)
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Row]:
        size = self.arraysize if size is None else size
        if len(self._rows) < size and self._open is not None:
            self._rows += await self._more(size - len(self._rows))
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    async def fetchall(self) -> Sequence[Row]:
        if self._open is not None:
            self._rows += await self._more(None)
        taken, self._rows = self._rows, []
        return taken

    async def _more(self, size: int | None) -> list[Row]:
        cursor = self._open
        assert cursor is not None
        rows: list[Row] = await self._connection.trip(_fetch, cursor, size)
        if size is None or len(rows) < size:
            self._open = None  # _fetch closed it
        return rows

    async def close(self) -> None:
        self._rows = []
        cursor, self._open = self._open, None
        if cursor is not None:
            await self._connection.trip(cursor.close)


def _run(
    conn: sqlite3.Connection, sql: str, parameters: Any
) -> tuple[Any, list[Row], int, int | None, sqlite3.Cursor | None]:
    """On the connection's thread: execute, read the first rows, close unless rows remain."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchmany(FIRST_ROWS) if description is not None else []
    except BaseException:
        cursor.close()
        raise
    rest = cursor if len(rows) == FIRST_ROWS else None
    if rest is None:
        cursor.close()
    return description, rows, cursor.rowcount, cursor.lastrowid, rest


def _run_many(
    conn: sqlite3.Connection, sql: str, parameters: Any
) -> tuple[Any, list[Row], int, int | None, None]:
    cursor = conn.cursor()
    try:
        cursor.executemany(sql, parameters)
        return cursor.description, [], cursor.rowcount, cursor.lastrowid, None
    finally:
        cursor.close()


def _fetch(cursor: sqlite3.Cursor, size: int | None) -> list[Row]:
    """On the connection's thread: the next rows; the cursor closed once they are all read."""
    rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    if size is None or len(rows) < size:
        cursor.close()
    return rows


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
