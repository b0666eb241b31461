"""The order queue, driven by keys through Textual's Pilot, on a real seeded database."""

from __future__ import annotations

from textual.widgets import Input

from console.app import PacklineApp
from screens.order import OrderScreen
from screens.queue import QueueScreen
from screens.status_dialog import StatusDialog
from screens.widgets.lazy_table import LazyTable
from services.container import Services
from services.order_query import OrderFilter
from services.statuses import Status
from services.views import OrderRow
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, screen_text, settle, wait_for


def table(app: PacklineApp) -> LazyTable[OrderRow]:
    return app.screen.query_one("#orders", LazyTable)


def numbers(rows: object) -> list[int]:
    return [r.number for r in rows]  # type: ignore[attr-defined]


async def every_number(shop: Services, flt: OrderFilter) -> list[int]:
    out: list[int] = []
    cursor = None
    while True:
        page = await shop.orders.page(flt, after=cursor, limit=500)
        out += numbers(page.rows)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def test_queue_opens_on_the_newest_orders_with_counts(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        page = await shop.orders.page(limit=100)
        assert numbers(table(app).rows) == numbers(page.rows)
        counts = await shop.orders.counts()
        text = screen_text(app)
        assert f"All {sum(counts.values())}" in text
        assert f"New {counts[Status.NEW]}" in text
        assert f"{sum(counts.values())} orders · sort date ↓" in text
        # the header and the first rows, as the operator sees them
        assert "#" in text and "Customer" in text and "Status" in text
        first = page.rows[0]
        assert f"{first.number}" in text


async def test_number_keys_switch_status_tabs(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("2")  # Processing
        await settle(pilot)
        expected = await every_number(shop, OrderFilter(status=Status.PROCESSING))
        assert numbers(table(app).rows) == expected
        assert {r.status for r in table(app).rows} == {Status.PROCESSING}
        await pilot.press("right")  # Held
        await settle(pilot)
        assert {r.status for r in table(app).rows} == {Status.HELD}
        await pilot.press("0")
        await settle(pilot)
        assert len(table(app).rows) == 60


async def test_search_by_name_and_number_and_escape_clears(shop: Services) -> None:
    number = await create_order(shop, name="Grace Hopper", email="grace@navy.example")
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"grace hop", "enter")
        await settle(pilot)
        assert numbers(table(app).rows) == [number]
        assert "search grace hop" in screen_text(app)
        await pilot.press("escape")  # the table has focus: drops the search
        await settle(pilot)
        assert len(table(app).rows) == 61
        await pilot.press("slash", *f"#{number}", "enter")
        await settle(pilot)
        assert numbers(table(app).rows) == [number]
        await pilot.press("slash", *"a/b", "escape")  # in the box, / is a character
        assert app.screen.query_one("#search", Input).value.endswith("a/b")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("slash", *"nobody-at-all", "enter")
        await settle(pilot)
        assert table(app).rows == []
        assert "no orders here" in screen_text(app)


async def test_sort_keys_cycle_and_reverse(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")  # date -> total
        await settle(pilot)
        by_total = await every_number(shop, OrderFilter(sort="total"))
        assert numbers(table(app).rows) == by_total
        await pilot.press("O")
        await settle(pilot)
        assert numbers(table(app).rows) == by_total[::-1]
        assert "sort total ↑" in screen_text(app)
        await pilot.press("o")  # -> number, still ascending
        await settle(pilot)
        assert numbers(table(app).rows) == sorted(by_total)


async def test_scrolling_pages_through_a_small_window_both_ways(shop: Services) -> None:
    """With pages of 7 rows, walking down and up sees every order once, in order, and the
    table never holds more than the view plus a page and a margin each side (+1 page).

    Single steps call the table's actions (the keys are pressed in the other tests: a
    Pilot key press costs ~0.1 s, and this walks 120 steps)."""
    expected = await every_number(shop, OrderFilter())
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        lazy = table(app)
        lazy.page_size, lazy.max_rows, lazy.margin = 7, 21, 3
        lazy.set_source(lazy._source)  # type: ignore[arg-type]
        await settle(pilot)
        cap = lazy.body_height + 2 * (lazy.margin + lazy.page_size) + lazy.page_size

        async def step(action: str) -> int:
            getattr(lazy, action)()
            await pilot.pause(0)
            if lazy.is_loading:
                await settle(pilot)
            assert len(lazy.rows) <= cap
            return lazy.current.number  # type: ignore[union-attr]

        seen = [lazy.current.number]  # type: ignore[union-attr]
        seen += [await step("action_cursor_down") for _ in expected[1:]]
        assert seen == expected
        assert lazy.window.more_before and not lazy.window.more_after  # it did trim
        back = [lazy.current.number]  # type: ignore[union-attr]
        back += [await step("action_cursor_up") for _ in expected[1:]]
        assert back == expected[::-1]
        await pilot.press("end")
        await settle(pilot)
        assert lazy.current.number == expected[-1]  # type: ignore[union-attr]
        await pilot.press("home")
        await settle(pilot)
        assert lazy.current.number == expected[0]  # type: ignore[union-attr]
        await pilot.press("pagedown", "pagedown")
        await settle(pilot)
        assert lazy.current.number == expected[2 * (lazy.body_height - 1)]  # type: ignore[union-attr]


async def test_enter_opens_the_order_and_escape_comes_back(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, OrderScreen)
        second = table_rows = (await shop.orders.page(limit=2)).rows[1]
        assert app.screen.ref == second.number
        assert f"Order #{second.number}" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert table(app).current.number == table_rows.number  # type: ignore[union-attr]


async def test_refreshes_when_another_operator_changes_an_order(
    shop: Services, clock: FixedClock
) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        first = table(app).rows[0]
        counts = await shop.orders.counts()
        # Someone else, elsewhere: a memo on the first row, and a brand-new order.
        clock.advance(5)
        await shop.orders.add_memo(first.number, "customer called: leave at door")
        clock.advance(5)
        newest = await create_order(shop, name="Late Arrival")
        await wait_for(pilot, lambda: newest in numbers(table(app).rows), limit=4)
        await settle(pilot)
        row = next(r for r in table(app).rows if r.number == first.number)
        assert row.last_memo == "customer called: leave at door"
        # The counts move with the live feed's next report (its own poll, maybe after the
        # rows: the memo's report already refetched them, new order included).
        new_count = f"New {counts[Status.NEW] + 1}"
        await wait_for(pilot, lambda: new_count in screen_text(app), limit=4)
        assert "Late Arrival" in screen_text(app)


async def test_bulk_status_change_reports_refusals(shop: Services) -> None:
    new_orders = await every_number(shop, OrderFilter(status=Status.NEW))
    shipped = (await shop.orders.page(OrderFilter(status=Status.SHIPPED), limit=1)).rows[0]
    fresh = [await create_order(shop, name=f"Bulk {i}") for i in range(2)]
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("1")  # New
        await settle(pilot)
        lazy = table(app)
        wanted = [*fresh, new_orders[0]]
        while lazy.current is not None and len(lazy.selected) < 3:
            if lazy.current.number in wanted:
                await pilot.press("space")
            else:
                await pilot.press("down")
            await settle(pilot)
        assert set(lazy.selected) == set(wanted)
        assert "3 selected" in screen_text(app)
        # and one shipped order, which cannot go back to processing
        await pilot.press("0", "slash", *str(shipped.number), "enter")
        await settle(pilot)
        await pilot.press("space")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, StatusDialog)
        assert dialog.chosen is Status.PROCESSING
        assert "3 of 4" in screen_text(app)
        await pilot.press("tab", *"On its way to the workshop", "ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatusDialog))
        await settle(pilot)
        assert "1 order not changed" in screen_text(app)
        assert f"#{shipped.number}" in screen_text(app)
        await pilot.press("enter")  # close the report
        await settle(pilot)
    for number in wanted:
        detail = await shop.orders.show(number)
        assert detail.status is Status.PROCESSING
        assert detail.history[-1].comment == "On its way to the workshop"
        assert not [n for n in detail.notifications if n.channel == "email"]  # plain Save
    assert (await shop.orders.show(shipped.number)).status is Status.SHIPPED


async def test_quit_key(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
