"""The returns screen (`R` on an order) from the keyboard, checked through the services:
ask one unit back with a reason, then receive it by scanning its barcode, written off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static

from console.app import PacklineApp
from screens.order import OrderScreen
from screens.returns import ReturnsScreen
from services.container import Services
from services.models import Product, ProductBarcode
from services.statuses import Status
from tests.screens.burst import burst
from tests.screens.helpers import (
    create_order,
    pack_and_pay,
    screen_text,
    settle,
    ship_everything,
    wait_for,
)

SKU = "PL-10003"


async def shipped(shop: Services) -> int:
    number = await create_order(shop, lines=((SKU, 2),))
    await shop.orders.set_status(number, Status.PROCESSING)
    await pack_and_pay(shop, number)
    await ship_everything(shop, number, "1Z999AA10123456784")
    await shop.orders.set_status(number, Status.SHIPPED)
    return number


async def barcode(shop: Services) -> str:
    async with shop.db.read_session() as s:
        return str(
            (
                await s.execute(
                    select(ProductBarcode.code)
                    .join(Product, Product.id == ProductBarcode.product_id)
                    .where(Product.sku == SKU)
                    .limit(1)
                )
            ).scalar_one()
        )


def message(screen: ReturnsScreen) -> str:
    widget = screen.query_one("#returns-message", Static)
    return str(widget.content) if widget.display else ""


async def open_returns(pilot: Pilot[Any]) -> ReturnsScreen:
    await settle(pilot)
    assert isinstance(pilot.app.screen, OrderScreen)
    await pilot.press("R")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReturnsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ReturnsScreen)
    await wait_for(pilot, lambda: screen.detail is not None)
    await settle(pilot)
    return screen


async def test_ask_back_then_receive_by_scan(shop: Services) -> None:
    number = await shipped(shop)
    code = await barcode(shop)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_returns(pilot)
        assert isinstance(screen.focused, DataTable)
        await pilot.press("ctrl+o")
        assert "choose what comes back" in message(screen)
        await pilot.press("plus", "plus", "plus")  # only 2 shipped
        assert screen.asked == {SKU: 2}
        await pilot.press("minus")
        screen.set_focus(screen.query_one("#return-reason", Input))
        await pilot.press(*"too big", "ctrl+o")
        await wait_for(pilot, lambda: "opened" in message(screen))
        await settle(pilot)
        assert [r.status for r in screen.existing] == ["requested"]

        screen.set_focus(screen.query_one("#return-list", OptionList))
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.receiving is not None)
        assert isinstance(screen.focused, Input)
        await pilot.press(*"NOT-A-CODE", "enter")
        await wait_for(pilot, lambda: "is not in this return" in message(screen))
        await pilot.press(*code, "enter")
        await wait_for(pilot, lambda: screen.counts[0].received == 1)
        await pilot.press(*code, "enter")  # one more than asked
        await wait_for(pilot, lambda: "counted already" in message(screen))
        screen.set_focus(screen.query_one("#receipt-lines", DataTable))
        await pilot.press("ctrl+w")  # damaged: write off
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "received" in message(screen))
        await settle(pilot)
    detail = await shop.orders.show(number)
    assert detail.status is Status.RETURNED
    [ret] = await shop.returns.for_order(number)
    assert [(ln.received, ln.disposition) for ln in ret.lines] == [(1, "write_off")]
    assert ret.reason == "too big"


async def test_exchange_from_the_list(shop: Services) -> None:
    number = await shipped(shop)
    opened = await shop.returns.open(number, [(SKU, 1)], reason="wrong colour")
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_returns(pilot)
        await pilot.press("ctrl+x")
        assert "highlight a return" in message(screen)
        screen.set_focus(screen.query_one("#return-list", OptionList))
        await pilot.press("down", "ctrl+x")
        await wait_for(pilot, lambda: "exchange order #" in message(screen))
        await settle(pilot)
    [ret] = await shop.returns.for_order(number)
    assert ret.id == opened.return_.id and ret.exchange_order is not None
    ex = await shop.orders.show(ret.exchange_order)
    assert [(ln.sku, ln.quantity) for ln in ex.lines] == [(SKU, 1)]


async def test_the_order_screen_lists_its_returns(shop: Services) -> None:
    number = await shipped(shop)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        returns = app.screen.query_one("#order-returns", Static)
        assert not returns.display  # no returns: no section
        opened = await shop.returns.open(number, [(SKU, 1)], reason="[b]wrong[/b] colour")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: returns.display)
        await settle(pilot)
        text = screen_text(app)
        assert opened.return_.rma in text and "requested" in text
        assert f"{SKU}×1" in text and "[b]wrong[/b] colour" in text  # shown, not parsed


async def test_a_burst_of_scans_is_counted_scan_by_scan_in_order(shop: Services) -> None:
    """A scanner sends codes back to back: each counts once, in order, and one more unit
    than was asked back is refused, even while the barcode look-ups are still running."""
    number = await shipped(shop)
    code = await barcode(shop)
    await shop.returns.open(number, [(SKU, 2)], reason="both broken")
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_returns(pilot)
        screen.set_focus(screen.query_one("#return-list", OptionList))
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.receiving is not None)
        assert screen.focused is screen.query_one("#return-scan", Input)
        burst(app, f"{code}\n{code}\n{code}\n")  # barcodes: each needs a look-up
        await wait_for(pilot, lambda: "counted already" in message(screen))
        await settle(pilot)
        assert [(c.sku, c.received) for c in screen.counts] == [(SKU, 2)]
        assert screen.query_one("#return-scan", Input).value == ""
