"""Screens following other operators through the live feed: the queue moves its counts and
refetches only what it shows, an open order says who changed it, a packer whose order a
manager took over is told at once, and a manager opening a claimed order may take it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from textual.widgets import Input, TextArea

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.order import OrderScreen
from screens.pack import PackScreen
from screens.queue import QueueScreen
from screens.widgets.lazy_table import LazyTable
from services.container import Services
from services.settings import load_settings
from services.statuses import Status
from services.views import OrderRow
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, screen_text, settle, wait_for
from tests.screens.test_pack import A_CODE, A_SKU, order_to_pack

ROLES = {"maria": "manager", "sam": "packer"}


@asynccontextmanager
async def operator(url: str, clock: FixedClock, who: str, **kw: Any) -> AsyncIterator[Services]:
    s = await Services.open(load_settings(db=url, operator=who, **kw), clock=clock)
    try:
        yield s
    finally:
        await s.close()


def table(app: PacklineApp) -> LazyTable[OrderRow]:
    return app.screen.query_one("#orders", LazyTable)


def notes(app: PacklineApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_queue_patches_counts_and_refetches_only_when_it_must(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    fresh = await create_order(shop, name="Moved Along")
    app = PacklineApp(shop)
    async with (
        operator(shop_url, clock, "maria") as maria,
        app.run_test(size=(80, 24), notifications=True) as pilot,
    ):
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        await pilot.press(str(app.screen.statuses.index(Status.PROCESSING) + 1))
        await settle(pilot)
        counts = dict(app.screen.counts)
        generation = table(app)._generation
        # A memo on an order this tab does not show: nothing to fetch, nothing to count.
        clock.advance(1)
        await maria.orders.add_memo(fresh, "called the customer")
        await pilot.pause(1.2)
        await settle(pilot)
        assert table(app)._generation == generation
        assert app.screen.counts == counts
        # It moves into this tab: the counts move by one each, and the row comes in.
        clock.advance(1)
        await maria.orders.set_status(fresh, Status.PROCESSING)
        await wait_for(pilot, lambda: fresh in [r.number for r in table(app).rows], limit=5)
        assert app.screen.counts[Status.NEW] == counts[Status.NEW] - 1
        assert app.screen.counts[Status.PROCESSING] == counts[Status.PROCESSING] + 1
        assert app.screen.counts == await shop.orders.counts()  # patched, and right


async def test_open_order_says_who_changed_it(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    number = await create_order(shop, name="Watched Closely")
    app = PacklineApp(shop, order=str(number))
    async with (
        operator(shop_url, clock, "maria") as maria,
        app.run_test(size=(80, 24), notifications=True) as pilot,
    ):
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        screen = app.screen
        assert isinstance(screen, OrderScreen)
        await wait_for(pilot, lambda: screen.detail is not None)
        clock.advance(3)
        await maria.orders.add_memo(number, "gift wrap, please")
        await wait_for(pilot, lambda: "changed by maria" in notes(app), limit=5)
        await wait_for(pilot, lambda: screen.detail is not None and screen.detail.version > 1)
        assert screen.detail is not None and screen.detail.row.last_memo == "gift wrap, please"
        # This operator's own change is not announced as someone else's.
        before = len(app._notifications)
        clock.advance(3)
        await shop.orders.add_memo(number, "mine")
        await wait_for(pilot, lambda: screen.detail.row.last_memo == "mine", limit=5)  # type: ignore[union-attr]
        assert not any("changed by tester" in str(n.message) for n in list(app._notifications))
        assert len(app._notifications) >= before


async def test_packer_is_told_when_a_manager_takes_over(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, ((A_SKU, 2),))
    async with (
        operator(shop_url, clock, "sam", roles=ROLES) as sam,
        operator(shop_url, clock, "maria", roles=ROLES) as maria,
    ):
        app = PacklineApp(sam, pack=str(number))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, PackScreen))
            screen = app.screen
            assert isinstance(screen, PackScreen)
            await wait_for(pilot, lambda: screen.session is not None)
            await pilot.press(*A_CODE, "enter")
            await wait_for(pilot, lambda: screen.scanned == 1)
            clock.advance(2)
            await maria.packing.start(number, take_over=True)
            await wait_for(pilot, lambda: screen.ended, limit=5)
            assert "maria" in notes(app)
            await wait_for(pilot, lambda: "now being packed by maria" in screen_text(app))


async def test_manager_opening_a_claimed_order_may_take_it_over(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, ((A_SKU, 1),))
    async with (
        operator(shop_url, clock, "sam", roles=ROLES) as sam,
        operator(shop_url, clock, "maria", roles=ROLES) as maria,
    ):
        await sam.packing.start(number)
        app = PacklineApp(maria, pack=str(number))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await wait_for(pilot, lambda: "being packed by sam" in screen_text(app))
            await pilot.press("enter")  # Take over (the focused button)
            await wait_for(pilot, lambda: isinstance(app.screen, PackScreen))
            screen = app.screen
            assert isinstance(screen, PackScreen)
            await wait_for(pilot, lambda: screen.session is not None)
            assert screen.session is not None and screen.session.took_over_from == "sam"
            await wait_for(pilot, lambda: "taken over from sam" in screen_text(app))


async def test_p_on_the_queue_packs_the_next_order_nobody_has(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    await order_to_pack(shop, ((A_SKU, 1),))
    await order_to_pack(shop, ((A_SKU, 1),))
    async with operator(shop_url, clock, "sam") as sam:
        sams = await sam.packing.next_to_pack()
        app = PacklineApp(shop)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PackScreen))
            screen = app.screen
            assert isinstance(screen, PackScreen)
            await wait_for(pilot, lambda: screen.session is not None)
            assert screen.session is not None
            assert screen.session.order_number != sams.order_number
            claims = {c.operator: c.order_number for c in await sam.packing.claims()}
            assert claims == {"sam": sams.order_number, "tester": screen.session.order_number}


async def test_queue_says_when_the_database_goes_away_and_comes_back(
    shop: Services, shop_url: str
) -> None:
    path = Path(make_url(shop_url).database or "")
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("/")
        await pilot.press(*"Ada")  # typed, not yet searched: must survive the outage
        # Pull the database away between two of the feed's checks: disposing the pool under
        # a query in flight can leave aiosqlite's close waiting forever (SQLAlchemy's
        # graceful-close task), which is the test's doing, not an outage's.
        shop.live.poll_seconds = 60
        await wait_for(pilot, lambda: shop.live.sleeping)
        await shop.db.dispose()
        os.rename(path, path.with_suffix(".away"))
        os.mkdir(path)
        shop.live.poll_seconds = 0.5
        shop.live.check_now()
        await wait_for(pilot, lambda: "reconnecting by itself" in notes(app), limit=10)
        assert "cannot open database" in notes(app)
        assert any(n.title == "Database unreachable" for n in app._notifications)
        os.rmdir(path)
        os.rename(path.with_suffix(".away"), path)
        await wait_for(pilot, lambda: "the database is back" in notes(app), limit=10)
        assert app.screen.query_one("#search", Input).value == "Ada"


async def test_open_order_shows_another_packers_scans(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, ((A_SKU, 3),))
    app = PacklineApp(shop, order=str(number))
    async with (
        operator(shop_url, clock, "sam") as sam,
        app.run_test(size=(100, 30), notifications=True) as pilot,
    ):
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        screen = app.screen
        assert isinstance(screen, OrderScreen)
        await wait_for(pilot, lambda: screen.detail is not None)
        assert screen.detail is not None and screen.detail.lines[0].packed == 0
        session = await sam.packing.start(number)
        await sam.packing.scan(number, A_CODE, session_id=session.session_id)
        await sam.packing.scan(number, A_CODE, session_id=session.session_id)
        await wait_for(
            pilot,
            lambda: screen.detail is not None and screen.detail.lines[0].packed == 2,
            limit=5,
        )
        assert "changed by sam" not in notes(app)  # packing is not news, just drawn


async def test_a_memo_typed_while_the_database_is_away_is_kept_and_saved_after(
    shop: Services, shop_url: str
) -> None:
    from screens.memo_dialog import MemoDialog

    number = await create_order(shop, name="Patient Customer")
    path = Path(make_url(shop_url).database or "")
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        order_screen = app.screen
        await wait_for(pilot, lambda: getattr(order_screen, "detail", None) is not None)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MemoDialog))
        await pilot.press(*"call back at 3pm")
        await shop.db.dispose()
        os.rename(path, path.with_suffix(".away"))
        os.mkdir(path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Could not save the memo" in notes(app), limit=10)
        assert isinstance(app.screen, MemoDialog)  # still open, text still there
        assert app.screen.query_one("#memo-text", TextArea).text == "call back at 3pm"
        os.rmdir(path)
        os.rename(path.with_suffix(".away"), path)
        await pilot.press("ctrl+s")  # the same text, saved again once the database is back
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), limit=10)
    memos = [h.memo for h in (await shop.orders.show(number)).history if h.memo]
    assert memos == ["call back at 3pm"]  # saved once: the failed try wrote nothing
