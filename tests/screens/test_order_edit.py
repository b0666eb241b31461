"""The order edit screen (`e` on an order) from the keyboard, checked through the
services: quantities and a scanned product changed with the new totals shown before
saving, a customer account attached, and an edit saved by someone else meanwhile
handled without losing what was typed."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from console.app import PacklineApp
from screens.order import OrderScreen
from screens.order_edit import OrderEditScreen
from services.container import Services
from services.order_edit_spec import OrderEdit
from tests.screens.helpers import create_order, settle, wait_for

A, B, C = "PL-10001", "PL-10003", "PL-10004"


async def open_edit(pilot: Pilot[Any]) -> OrderEditScreen:
    await settle(pilot)
    assert isinstance(pilot.app.screen, OrderScreen)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderEditScreen))
    screen = pilot.app.screen
    assert isinstance(screen, OrderEditScreen)
    await wait_for(pilot, lambda: screen.detail is not None)
    await settle(pilot)
    return screen


def preview(screen: OrderEditScreen) -> str:
    return str(screen.query_one("#edit-preview", Static).content)


def problem(screen: OrderEditScreen) -> str:
    widget = screen.query_one("#edit-problem", Static)
    return str(widget.content) if widget.display else ""


async def test_change_add_attach_and_see_totals_before_saving(shop: Services) -> None:
    number = await create_order(shop, lines=((A, 2), (B, 1)))
    before = await shop.orders.show(number)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_edit(pilot)
        assert "nothing changed yet" in preview(screen)
        assert isinstance(screen.focused, DataTable)
        await pilot.press("plus")  # A: 2 -> 3
        assert [(r.sku, r.quantity) for r in screen.rows] == [(A, 3), (B, 1)]
        price_a = screen.rows[0].unit_price
        assert "(+" in preview(screen)
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("delete")  # B removed on save
        screen.set_focus(screen.query_one("#edit-product", Input))
        await pilot.pause()
        await pilot.press(*f"2*{C}", "enter")
        await wait_for(pilot, lambda: any(r.sku == C for r in screen.rows))
        price_c = next(r.unit_price for r in screen.rows if r.sku == C)
        expected = before.subtotal + price_a - screen.rows[1].unit_price + 2 * price_c
        assert f"{expected / 100:,.2f}" in preview(screen)
        screen.set_focus(screen.query_one("#edit-email", Input))
        await pilot.pause()
        screen.query_one("#edit-email", Input).value = ""
        await pilot.press(*"new.owner@example.org")
        screen.set_focus(screen.query_one("#edit-memo", Input))
        await pilot.press(*"phoned in")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderScreen))
        await settle(pilot)
    after = await shop.orders.show(number)
    assert [(ln.sku, ln.quantity) for ln in after.lines if ln.quantity] == [(A, 3), (C, 2)]
    assert after.subtotal == expected
    assert after.row.customer.email == "new.owner@example.org"
    assert after.history[-1].kind == "edit" and "phoned in" in after.history[-1].memo
    assert after.history[-1].actor == "tester"


async def test_someone_else_saved_first_nothing_typed_is_lost(shop: Services) -> None:
    number = await create_order(shop, lines=((A, 2), (B, 1)))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_edit(pilot)
        await pilot.press("plus", "plus")  # A: 2 -> 4 here
        # Meanwhile, at another desk: B 1 -> 5 and A 2 -> 3.
        await shop.edits.edit(number, OrderEdit(set=((B, 5), (A, 3))))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "changed by" in problem(screen))
        await settle(pilot)
        assert isinstance(pilot.app.screen, OrderEditScreen)
        assert f"{A}: 2 → 3 meanwhile; you set 4" in problem(screen)
        assert [(r.sku, r.quantity, r.original) for r in screen.rows] == [(A, 4, 3), (B, 5, 5)]
        await pilot.press("ctrl+s")  # checked, saved again
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderScreen))
    after = await shop.orders.show(number)
    assert [(ln.sku, ln.quantity) for ln in after.lines] == [(A, 4), (B, 5)]


async def test_flags_show_on_the_order_and_are_marked_in_the_queue(shop: Services) -> None:
    from sqlalchemy import update

    from services.models import Order
    from tests.screens.helpers import rendered

    number = await create_order(shop, lines=((A, 1),))
    flag = "unknown SKU \x1b[31mXX-1 (line 4): imported without a product"
    async with shop.db.write_session() as s, s.begin():
        await s.execute(update(Order).where(Order.number == number).values(flags=[flag]))
    detail = await shop.orders.show(number)
    assert detail.flags == (flag,) and detail.to_json()["flags"] == [flag]
    page = await shop.orders.page(limit=500)
    assert next(r for r in page.rows if r.number == number).flags == (flag,)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = rendered(app, "order-alerts")
        assert "⚑ Flag: unknown SKU ␛[31mXX-1 (line 4)" in text


def test_snapshot_80x24(snap_compare: Any, shop_url: str) -> None:
    """Order 1001 (seed 7) with one more of its first line: the new totals before saving."""
    from services.settings import load_settings
    from tests.conftest import FixedClock

    services = Services.build(load_settings(db=shop_url, operator="tester"), clock=FixedClock())
    app = PacklineApp(services, owns_services=True, order="1001")

    async def edited(pilot: Pilot[Any]) -> None:
        screen = await open_edit(pilot)
        await pilot.press("plus")
        await settle(pilot)
        assert screen.rows[0].changed

    assert snap_compare(app, terminal_size=(80, 24), run_before=edited)


async def test_an_unknown_code_is_named_on_the_problem_line(shop: Services) -> None:
    number = await create_order(shop, lines=((A, 1),))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_edit(pilot)
        screen.set_focus(screen.query_one("#edit-product", Input))
        await pilot.pause()
        await pilot.press(*"3*NOPE-1", "enter")
        await wait_for(pilot, lambda: bool(problem(screen)))
        assert problem(screen) == "no product has SKU or barcode NOPE-1: pick one ↓"
        assert screen.query_one("#edit-product", Input).value == "3*NOPE-1"  # to fix
        assert [(r.sku, r.quantity) for r in screen.rows] == [(A, 1)]
