"""The vendor PO screen as an SVG snapshot at 80×24 on fixed data (seed 7, a fixed clock,
UTC): a new order with a drop-ship line (its vendors, default pre-selected, cost and
margin) and a stock line left alone. Regenerate with `pytest --snapshot-update` after an
intended change and look at the SVG before committing it."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from console.app import PacklineApp
from screens.purchasing import PurchasingScreen
from services.container import Services
from services.orders import NewOrder
from services.settings import load_settings
from tests.conftest import FixedClock
from tests.screens.helpers import ADDRESS, settle, wait_for
from tests.screens.test_purchasing import drop_ship_sku, stock_sku


def order_with_drop_ship(shop_url: str) -> int:
    async def run() -> int:
        services = await Services.open(load_settings(db=shop_url), clock=FixedClock())
        try:
            detail = await services.orders.create(
                NewOrder(
                    customer_name="Ada Lovelace",
                    email="ada@example.org",
                    shipping=ADDRESS,
                    lines=((await drop_ship_sku(services), 2), (await stock_sku(services), 1)),
                )
            )
            return detail.number
        finally:
            await services.close()

    return asyncio.run(run())


def test_purchasing_screen(snap_compare: Any, shop_url: str) -> None:
    number = order_with_drop_ship(shop_url)
    services = Services.build(load_settings(db=shop_url, operator="tester"), clock=FixedClock())
    app = PacklineApp(services, owns_services=True, order=str(number))

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PurchasingScreen))
        screen = pilot.app.screen
        assert isinstance(screen, PurchasingScreen)
        await wait_for(pilot, lambda: screen.plan is not None)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
