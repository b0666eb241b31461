"""The vendor PO screen (`v` on an order) from the keyboard at 80×24, checked through the
services: the default vendor pre-selected, another chosen with the arrow keys, Create POs;
Create POs & Send; send again, mark acknowledged and received, cancel with a reason; a line
with no vendor and no stock is named; a stock-only order says there is nothing to order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.order import OrderScreen
from screens.prompt_dialog import PromptDialog
from screens.purchasing import MarkPODialog, PurchasingScreen
from services.container import Services
from services.models import Product, ProductVendor, StockLevel, Vendor
from services.orders import NewOrder
from services.shipment_entry import NewShipment
from services.statuses import POMethod
from tests.screens.helpers import ADDRESS, settle, wait_for


async def drop_ship_sku(shop: Services) -> str:
    """A drop-ship product with at least two vendors, all of them taking POs by e-mail."""
    async with shop.db.read_session() as s:
        rows = (
            await s.execute(
                select(Product.sku)
                .join(ProductVendor, ProductVendor.product_id == Product.id)
                .join(Vendor, Vendor.id == ProductVendor.vendor_id)
                .group_by(Product.sku)
                .having(
                    func.count() >= 2,
                    func.sum((Vendor.po_method != POMethod.EMAIL).cast(Vendor.id.type)) == 0,
                )
                .order_by(Product.sku)
            )
        ).all()
    assert rows, "the seed has drop-ship products with several e-mail vendors"
    return str(rows[0][0])


async def stock_sku(shop: Services) -> str:
    async with shop.db.read_session() as s:
        return str(
            (
                await s.execute(
                    select(Product.sku).where(Product.drop_ship.is_(False)).order_by(Product.sku)
                )
            )
            .scalars()
            .first()
        )


async def create(shop: Services, *lines: tuple[str, int]) -> int:
    detail = await shop.orders.create(
        NewOrder(
            customer_name="Ada Lovelace", email="ada@example.org", shipping=ADDRESS, lines=lines
        )
    )
    return detail.number


async def open_pos(pilot: Pilot[Any]) -> PurchasingScreen:
    await settle(pilot)
    assert isinstance(pilot.app.screen, OrderScreen)
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PurchasingScreen))
    screen = pilot.app.screen
    assert isinstance(screen, PurchasingScreen)
    await wait_for(pilot, lambda: screen.plan is not None)
    await settle(pilot)
    return screen


async def test_choose_another_vendor_with_the_keyboard_and_create(shop: Services) -> None:
    sku = await drop_ship_sku(shop)
    number = await create(shop, (sku, 2), (await stock_sku(shop), 1))
    plan = await shop.purchasing.plan(number)
    line = next(ln for ln in plan.lines if ln.sku == sku)
    default = line.selected
    assert default is not None
    other = next(c.code for c in line.choices if c.code != default)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_pos(pilot)
        chooser = screen.query_one(f"#vendor-{line.line_id}", Select)
        assert chooser.value == default and screen.focused is chooser
        # Open the chooser, walk to the other vendor, take it.
        await pilot.press("enter")
        await pilot.pause()
        codes = [c.code for c in line.choices]
        steps = codes.index(other) - codes.index(default)
        await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
        await wait_for(pilot, lambda: chooser.value == other)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(screen.plan and screen.plan.purchase_orders))
        await settle(pilot)
        options = screen.query_one("#po-list", OptionList)
        assert options.option_count == 1
        assert "draft" in str(options.get_option_at_index(0).prompt)
        assert "nothing left to order" in str(screen.query_one("#po-why", Static).content)
    (po,) = (await shop.purchasing.plan(number)).purchase_orders
    assert po.vendor_code == other and po.status == "draft"
    assert [ln.sku for ln in po.lines] == [sku]  # the stock line is left alone


async def test_create_and_send_then_cancel_with_a_reason(shop: Services) -> None:
    sku = await drop_ship_sku(shop)
    number = await create(shop, (sku, 1))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_pos(pilot)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: bool(screen.plan and screen.plan.purchase_orders))
        await settle(pilot)
        assert screen.plan is not None and screen.plan.purchase_orders[0].status == "sent"
        screen.set_focus(screen.query_one("#po-list", OptionList))
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptDialog))
        await pilot.press(*"customer changed their mind")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: bool(
                screen.plan
                and screen.plan.purchase_orders
                and screen.plan.purchase_orders[0].status == "canceled"
            ),
        )
    (po,) = (await shop.purchasing.plan(number)).purchase_orders
    assert po.status == "canceled"
    detail = await shop.orders.show(number)
    assert [n.event for n in detail.notifications if n.event.startswith("po_")] == [
        "po_vendor",
        "po_canceled",
    ]


async def test_stock_only_order_says_nothing_to_order(shop: Services) -> None:
    number = await create(shop, (await stock_sku(shop), 1))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_pos(pilot)
        assert "no drop-ship lines" in str(screen.query_one("#po-why", Static).content)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not screen.query(Input)  # no chooser, nothing to type into
    assert (await shop.purchasing.plan(number)).purchase_orders == ()


async def test_send_again_mark_acknowledged_then_received(shop: Services) -> None:
    """ctrl+t sends the PO again (after a yes); ctrl+k records what the vendor said, with a
    note; once tracking is in, ctrl+k marks it received; after that nothing is offered."""
    sku = await drop_ship_sku(shop)
    number = await create(shop, (sku, 1))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_pos(pilot)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: bool(screen.plan and screen.plan.purchase_orders))
        await settle(pilot)
        screen.set_focus(screen.query_one("#po-list", OptionList))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: pilot.app.screen is screen)
        await settle(pilot)
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarkPODialog))
        dialog = pilot.app.screen
        assert isinstance(dialog, MarkPODialog)
        offered = dialog.query_one("#po-mark-status", OptionList)
        assert [offered.get_option_at_index(i).id for i in range(offered.option_count)] == [
            "acknowledged",
            "canceled",
        ]
        await pilot.press("tab", *"ships Monday", "enter")  # the highlighted: acknowledged
        await wait_for(pilot, lambda: pilot.app.screen is screen)
        await settle(pilot)
        await wait_for(
            pilot,
            lambda: (
                "acknowledged"
                in str(screen.query_one("#po-list", OptionList).get_option_at_index(0).prompt)
            ),
        )
        (po,) = (await shop.purchasing.plan(number)).purchase_orders
        assert po.status == "acknowledged"
        await shop.shipping.ship(number, NewShipment(tracking="1Z999AA10123456784"))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen.plan is not None and screen.plan.purchase_orders[0].status == "shipped"
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarkPODialog))
        await pilot.press("enter")  # received, the only choice
        await wait_for(pilot, lambda: pilot.app.screen is screen)
        await settle(pilot)
        assert screen.plan is not None and screen.plan.purchase_orders[0].status == "received"
        await pilot.press("ctrl+k")  # nothing left to record: a warning, no dialog
        await pilot.pause()
        assert pilot.app.screen is screen
    (po,) = (await shop.purchasing.plan(number)).purchase_orders
    assert po.status == "received"
    detail = await shop.orders.show(number)
    assert [n.event for n in detail.notifications if n.event.startswith("po_")] == [
        "po_vendor",
        "po_vendor",
    ]
    memos = [h.memo for h in detail.history]
    assert f"PO {po.number} sent -> acknowledged: ships Monday" in memos
    assert f"PO {po.number} shipped -> received" in memos


async def test_line_with_no_vendor_and_no_stock_is_named(shop: Services) -> None:
    sku = await drop_ship_sku(shop)
    stock = await stock_sku(shop)
    async with shop.db.write_session() as s, s.begin():
        pid = select(Product.id).where(Product.sku == stock).scalar_subquery()
        await s.execute(delete(ProductVendor).where(ProductVendor.product_id == pid))
        await s.execute(update(StockLevel).where(StockLevel.product_id == pid).values(on_hand=0))
    number = await create(shop, (sku, 1), (stock, 1))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_pos(pilot)
        notes = [str(n.content) for n in screen.query(".po-line-note").results(Static)]
        assert f"! {stock}: no vendor and no stock; it cannot be sourced" in "\n".join(notes)
        assert len(screen.query(Select)) == 1  # a chooser for the drop-ship line only
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(screen.plan and screen.plan.purchase_orders))
    (po,) = (await shop.purchasing.plan(number)).purchase_orders
    assert [ln.sku for ln in po.lines] == [sku]
