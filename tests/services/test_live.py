"""The live feed: what other operators change reaches a console within about a second, on
SQLite (a polled change token) and on PostgreSQL (LISTEN/NOTIFY), with nothing reported
twice and the status counts moved without counting again."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from services import live
from services.changes import Changes, LinkState
from services.container import Services
from services.live import ChangeFeed
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.services.test_packing_support import order_to_pack, other_services, seed_shop


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


async def next_item(sub: live.Subscription, within: float = 3.0) -> object:
    return await asyncio.wait_for(sub.__anext__(), within)


async def test_baseline_then_each_change_once(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    first = await order_to_pack(shop)
    feed = ChangeFeed(shop.db)
    await feed.baseline()
    assert not await feed.changes()  # what was there before is not news
    async with other_services(db_url, clock, operator="maria") as maria:
        await maria.orders.add_memo(first, "fragile: double box")
    changes = await feed.changes()
    stamp = changes.stamp(first)
    assert stamp is not None
    assert (stamp.updated_by, stamp.status) == ("maria", Status.PROCESSING)
    assert changes.moves == ()  # a memo moves no count
    assert not await feed.changes()  # reported once
    await shop.orders.set_status(first, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER)
    changes = await feed.changes()
    assert changes.count_deltas() == {Status.PROCESSING: -1, Status.HELD: 1}
    assert [m.actor for m in changes.moves] == ["tester"]
    assert changes.stamp(first) is not None
    assert changes.stamp(first).version > stamp.version  # type: ignore[union-attr]


async def test_new_orders_count_as_moves_from_nothing(shop: Services) -> None:
    feed = ChangeFeed(shop.db)
    await feed.baseline()
    number = await order_to_pack(shop, status=Status.NEW, paid=False)
    changes = await feed.changes()
    assert changes.numbers == {number}
    assert changes.count_deltas() == {Status.NEW: 1}


async def test_many_changes_at_once_overflow(
    shop: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = [await order_to_pack(shop, status=Status.NEW, paid=False) for _ in range(4)]
    feed = ChangeFeed(shop.db)
    await feed.baseline()
    monkeypatch.setattr(live, "MAX_ROWS", 2)
    for number in numbers:
        await shop.orders.add_memo(number, "bulk")
    assert (await feed.changes()).overflow  # too many to list: the reader reloads
    assert not await feed.changes()  # and carries on from there
    clock.advance(0.001)
    await shop.orders.add_memo(numbers[0], "one more")
    assert (await feed.changes()).numbers == {numbers[0]}


async def test_subscribers_hear_another_console_within_a_second(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop)
    feed = ChangeFeed(shop.db, poll_seconds=0.2)
    async with feed.subscribe() as queue_screen, feed.subscribe() as order_screen:
        async with other_services(db_url, clock, operator="lee") as lee:
            started = time.monotonic()
            await lee.orders.set_status(number, Status.HELD, reason=HoldReason.OTHER, note="x")
            got = await next_item(queue_screen)
            elapsed = time.monotonic() - started
            assert await next_item(order_screen) == got
        assert isinstance(got, Changes)
        assert got.stamp(number) is not None
        assert got.count_deltas() == {Status.PROCESSING: -1, Status.HELD: 1}
        assert elapsed < 1.0
        if not shop.db.is_sqlite:
            assert feed.listening and feed.notifications >= 1
    assert feed._task is None  # the last subscriber gone: nothing keeps running
    assert not feed.listening


@pytest.mark.postgres
async def test_notify_wakes_at_once_and_survives_a_dropped_listener(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    if shop.db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    number = await order_to_pack(shop)
    # A safety poll slower than the test: only NOTIFY can deliver in time.
    feed = ChangeFeed(shop.db, safety_seconds=30, retry_seconds=0.1)
    async with feed.subscribe() as sub:
        await shop.orders.add_memo(number, "first")
        assert isinstance(await next_item(sub, 2), Changes)
        # The server drops the listening connection (restart, network): reconnect, catch up.
        url = make_url(db_url)
        admin = await asyncpg.connect(
            user=url.username, host=url.host, port=url.port, database=url.database
        )
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.3)
        await shop.orders.add_memo(number, "second")
        seen: list[object] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            item = await next_item(sub, 5)
            seen.append(item)
            if isinstance(item, Changes) and item.stamp(number) is not None:
                break
        assert any(isinstance(i, Changes) and i.stamp(number) for i in seen), seen


async def test_database_gone_is_said_once_and_recovers(
    sqlite_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    async with other_services(sqlite_url, clock) as s:
        await seed_shop(s)
        number = await order_to_pack(s)
        feed = ChangeFeed(s.db, poll_seconds=0.05, retry_seconds=0.05)
        path = Path(make_url(sqlite_url).database or "")
        async with feed.subscribe() as sub:
            await s.db.dispose()  # let go of the file, as a server restart would
            moved = path.with_suffix(".away")
            os.rename(path, moved)
            os.mkdir(path)  # nothing can open a directory as a database
            down = await next_item(sub)
            assert isinstance(down, LinkState) and not down.up
            assert "cannot open database" in down.message
            os.rmdir(path)
            os.rename(moved, path)
            up = await next_item(sub)
            assert isinstance(up, LinkState) and up.up
            await s.orders.add_memo(number, "back")
            assert isinstance(await next_item(sub), Changes)


async def test_scans_are_reported_as_packed_and_wake_a_listener(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    from tests.services.test_packing_support import UPC_A

    number = await order_to_pack(shop)
    feed = ChangeFeed(shop.db, poll_seconds=0.1, safety_seconds=30)  # NOTIFY or nothing
    async with other_services(db_url, clock, operator="sam") as sam:
        session = await sam.packing.start(number)
        async with feed.subscribe() as sub:
            await sam.packing.scan(number, UPC_A, session_id=session.session_id)
            got = await next_item(sub, 2)
        assert isinstance(got, Changes) and got.packed == {number}
        assert number not in got.numbers  # the order row itself did not change


async def test_a_check_waits_for_a_pause_but_not_for_ever(
    shop: Services, db_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hold_off (the pack screen, on every scan): a change is reported once the scans
    pause, or resume() says the scan is answered; scans that never pause delay it
    HOLD_AT_MOST at most."""
    monkeypatch.setattr(live, "HOLD_AT_MOST", 1.0)
    number = await order_to_pack(shop)
    feed = ChangeFeed(shop.db, poll_seconds=0.05)
    async with feed.subscribe() as sub, other_services(db_url, clock, operator="lee") as lee:
        feed.hold_off(0.6)  # a pause after 0.6 s
        started = time.monotonic()
        await lee.orders.add_memo(number, "one")
        await next_item(sub)
        assert 0.55 < time.monotonic() - started < 3  # not before the pause

        async def scanning() -> None:  # a scan every 20 ms, never a pause
            while True:
                feed.hold_off(0.5)  # more than a loaded machine's stall between two
                await asyncio.sleep(0.02)

        scanner = asyncio.create_task(scanning())
        try:
            started = time.monotonic()
            await lee.orders.add_memo(number, "two")
            await next_item(sub, within=5)
            assert 0.8 < time.monotonic() - started < 4  # held at most HOLD_AT_MOST
        finally:
            scanner.cancel()

        feed.hold_off(30)  # a scan in flight ...
        started = time.monotonic()
        await lee.orders.add_memo(number, "three")
        await asyncio.sleep(0.3)
        feed.resume()  # ... and its answer drawn: the feed goes on at once
        await next_item(sub)
        assert time.monotonic() - started < 2  # long before the 30 s hold ran out
