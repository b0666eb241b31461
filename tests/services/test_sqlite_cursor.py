"""One trip per statement: the cursor SQLAlchemy drives on our SQLite connections gives
what aiosqlite's cursor gave, short and long results, writes, errors and streams alike;
and an inline write transaction runs here once it has the write lock, never waits here."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from services import sqlite_connection
from services.db import Database
from services.sqlite_connection import FIRST_ROWS, OneTripCursor, SqliteConnection


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def fill(db: Database, n: int) -> None:
    if n == 0:
        return
    async with db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"v{i}"} for i in range(n)]
        )


@pytest.mark.parametrize("n", [0, 1, FIRST_ROWS - 1, FIRST_ROWS, FIRST_ROWS + 1, 3 * FIRST_ROWS])
async def test_every_row_comes_back_in_order_whatever_the_length(db: Database, n: int) -> None:
    await fill(db, n)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
    assert [v for _, v in rows] == [f"v{i}" for i in range(n)]


async def test_a_stream_reads_in_parts(db: Database) -> None:
    await fill(db, 2 * FIRST_ROWS + 7)
    seen: list[str] = []
    async with db.engine.connect() as conn:
        result = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        async for part in result.partitions(333):
            seen += [v for (v,) in part]
    assert seen == [f"v{i}" for i in range(2 * FIRST_ROWS + 7)]


async def test_writes_report_rowcount_and_lastrowid(db: Database) -> None:
    await fill(db, 5)
    async with db.engine.begin() as conn:
        result = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id <= 3"))
        assert result.rowcount == 3
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('new')"))
        assert inserted.lastrowid == 6
        many = await conn.execute(text("DELETE FROM t WHERE id = :i"), [{"i": 1}, {"i": 2}])
        assert many.rowcount == 2


async def test_a_failed_statement_raises_and_the_connection_goes_on(db: Database) -> None:
    await fill(db, 2)
    async with db.engine.connect() as conn:
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM nowhere"))
        await conn.rollback()
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (v) VALUES ('v0')"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_the_driver_cursor_directly(tmp_path: Path) -> None:
    """fetchone/fetchmany across the first trip's rows, closing early, `async with`."""
    conn = await sqlite_connection.connect(str(tmp_path / "d.sqlite"))
    assert isinstance(conn, SqliteConnection)
    try:
        n = FIRST_ROWS + 10
        query = f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
        async with conn.cursor() as cursor:
            assert isinstance(cursor, OneTripCursor)
            await cursor.execute(query + "SELECT x FROM c")
            assert cursor.description[0][0] == "x"
            assert await cursor.fetchone() == (1,)
            part = await cursor.fetchmany(FIRST_ROWS)  # crosses into the second trip
            assert [x for (x,) in part] == list(range(2, FIRST_ROWS + 2))
            assert [x for (x,) in await cursor.fetchall()] == list(range(FIRST_ROWS + 2, n + 1))
            assert await cursor.fetchone() is None
        cursor = await conn.cursor()
        await cursor.execute(query + "SELECT x FROM c")
        await cursor.close()  # rows left unread: the sqlite3 cursor is closed anyway
        assert await cursor.fetchall() == []
        await cursor.execute("SELECT ?", (5,))
        assert await cursor.fetchall() == [(5,)]
    finally:
        await conn.close()


async def inline_insert(db: Database, value: str) -> bool:
    """One inline write transaction; whether its statements ran on this thread."""
    async with db.inline_write_session() as s, s.begin():
        await s.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        raw = await s.connection()
        driver = (await raw.get_raw_connection()).driver_connection
        assert isinstance(driver, SqliteConnection)
        return driver.inline


async def test_an_inline_write_runs_here_and_commits(db: Database) -> None:
    assert await inline_insert(db, "here")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["here"]
    # The connection went back to the pool as an ordinary one.
    async with db.write_session() as s, s.begin():
        driver = (await (await s.connection()).get_raw_connection()).driver_connection
        assert not driver.inline


async def test_an_inline_write_that_fails_rolls_back_on_the_thread(db: Database) -> None:
    await fill(db, 1)
    with pytest.raises(IntegrityError):
        await inline_insert(db, "v0")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_another_writer_makes_it_wait_on_the_thread_not_here(
    db: Database, tmp_path: Path
) -> None:
    """While another process's connection holds the write lock, BEGIN waits for it on the
    connection's thread: the event loop keeps running, and the write lands after."""
    other = sqlite3.connect(tmp_path / "c.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    clock = asyncio.create_task(ticker())
    try:
        write = asyncio.create_task(inline_insert(db, "after"))
        await asyncio.sleep(0.3)
        assert not write.done()
        assert ticks >= 3  # the loop was not blocked by the wait (30 ticks if idle)
        other.execute("COMMIT")
        assert await asyncio.wait_for(write, 5)  # inline once the lock was had
    finally:
        clock.cancel()
        other.close()
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["after"]
