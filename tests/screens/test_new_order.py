"""The manual-order screen from the keyboard (80×24 and wider), checked through the
services: a known customer picked by search fills the address, products added by SKU
search and by a scanned barcode, quantities changed on the table, problems shown next to
their fields with nothing saved, then the order created and opened."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from console.app import PacklineApp
from screens.new_order import NewOrderScreen, split_quantity, widget_id
from screens.order import OrderScreen
from services.container import Services
from services.models import Order, Product, ProductBarcode
from tests.screens.helpers import create_order, settle, wait_for

SKU = "PL-10003"


async def open_form(pilot: Pilot[Any]) -> NewOrderScreen:
    await settle(pilot)
    await pilot.press("N")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewOrderScreen))
    screen = pilot.app.screen
    assert isinstance(screen, NewOrderScreen)
    await settle(pilot)
    return screen


async def type_in(pilot: Pilot[Any], screen: NewOrderScreen, wid: str, text: str) -> None:
    screen.set_focus(screen.query_one(f"#{wid}"))
    await pilot.pause()
    await pilot.press(*text)


async def orders(shop: Services) -> int:
    async with shop.db.read_session() as s:
        return int((await s.execute(select(func.count()).select_from(Order))).scalar_one())


async def barcode(shop: Services, sku: str) -> str:
    async with shop.db.read_session() as s:
        return str(
            (
                await s.execute(
                    select(ProductBarcode.code)
                    .join(Product, Product.id == ProductBarcode.product_id)
                    .where(Product.sku == sku, ProductBarcode.kind != "internal")
                    .limit(1)
                )
            ).scalar_one()
        )


def error_of(screen: NewOrderScreen, wid: str) -> str:
    err = screen.query_one(f"#err-{wid}", Static)
    return str(err.content) if err.display else ""


async def test_problems_show_next_to_their_fields_and_nothing_is_saved(shop: Services) -> None:
    before = await orders(shop)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_form(pilot)
        await type_in(pilot, screen, "ship-country", "Norway")
        await type_in(pilot, screen, "shipping-total", "-3")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(error_of(screen, "customer-name")))
        await settle(pilot)
        assert "needed" in error_of(screen, "ship-line1")
        assert "2-letter" in error_of(screen, "ship-country")
        assert "negative" in error_of(screen, "shipping-total")
        assert "at least one product" in error_of(screen, "lines")
        assert screen.focused is screen.query_one("#customer-name")  # the first to fix
        assert screen.query_one("#shipping-total", Input).value == "-3"  # typing kept
    assert await orders(shop) == before


async def test_customer_search_products_by_sku_and_scan_then_create(shop: Services) -> None:
    known = await create_order(shop, "Grace Hopper", email="grace@example.org")
    code = await barcode(shop, SKU)
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_form(pilot)
        await pilot.press(*"grace h")
        await wait_for(pilot, lambda: screen.query_one("#customer-hits").display)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.query_one("#email", Input).value != "")
        assert screen.query_one("#customer-name", Input).value == "Grace Hopper"
        assert screen.query_one("#ship-city", Input).value == "London"

        await type_in(pilot, screen, "product", "PL-1000")
        await wait_for(pilot, lambda: screen.query_one("#product-hits").display)
        await pilot.press("down", "enter")  # the first hit
        await wait_for(pilot, lambda: len(screen.lines) == 1)
        first = screen.lines[0].product.sku
        await type_in(pilot, screen, "product", f"2*{code}")  # a scanner, with a count
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.lines) == 2)
        assert (screen.lines[1].product.sku, screen.lines[1].quantity) == (SKU, 2)
        table = screen.query_one("#lines", DataTable)
        screen.set_focus(table)
        await pilot.pause()
        table.move_cursor(row=1)
        await pilot.press("plus")
        assert screen.lines[1].quantity == 3
        table.move_cursor(row=0)
        await pilot.press("delete")
        assert [ln.product.sku for ln in screen.lines] == [SKU]

        await type_in(pilot, screen, "shipping-total", "7.99")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderScreen))
        assert screen.created is not None
        number = screen.created.number
    assert number != known and first
    detail = await shop.orders.show(number)
    assert [(ln.sku, ln.quantity) for ln in detail.lines] == [(SKU, 3)]
    assert detail.row.customer.email == "grace@example.org"
    assert detail.shipping_total == 799 and detail.channel == "manual"
    assert detail.history[0].to_status is not None


def test_helpers() -> None:
    assert split_quantity("3*PL-1") == (3, "PL-1")
    assert split_quantity("PL-1") == (1, "PL-1")
    assert split_quantity("x*PL-1") == (1, "x*PL-1")
    assert widget_id("ship.postal_code") == "ship-postal-code"
    assert widget_id("line:PL-1") == "lines"


def test_snapshot_80x24(snap_compare: Any, shop_url: str) -> None:
    """A customer typed in, one product scanned, cost of shipping given (seed 7)."""
    from services.settings import load_settings
    from tests.conftest import FixedClock

    services = Services.build(load_settings(db=shop_url, operator="tester"), clock=FixedClock())
    app = PacklineApp(services, owns_services=True)

    async def typed(pilot: Pilot[Any]) -> None:
        screen = await open_form(pilot)
        await type_in(pilot, screen, "customer-name", "Ada Lovelace")
        await type_in(pilot, screen, "product", f"2*{SKU}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.lines) == 1)
        screen.set_focus(screen.query_one("#lines"))
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=typed)


async def test_a_burst_of_scans_adds_each_and_an_unknown_code_is_shown_on_the_lines(
    shop: Services,
) -> None:
    from tests.screens.burst import burst

    code = await barcode(shop, SKU)
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        screen = await open_form(pilot)
        screen.set_focus(screen.query_one("#product"))
        await pilot.pause()
        burst(app, f"2*{code}\nPL-10004\nNOPE-1\n")
        await wait_for(pilot, lambda: bool(error_of(screen, "lines")))
        await wait_for(pilot, lambda: len(screen.lines) == 2)
        await settle(pilot)
        assert [(ln.product.sku, ln.quantity) for ln in screen.lines] == [
            (SKU, 2),
            ("PL-10004", 1),
        ]  # in the order scanned, and the last scan's problem is the one shown
        assert error_of(screen, "lines") == "no product has SKU or barcode NOPE-1: pick one ↓"
