"""Shipping a back-ordered order: its vendor (drop-ship) lines may ship while its stock
lines wait for stock, typed in on the tracking screen as from a vendor's file; the stock
lines never ship from backorder, whatever the packing rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.shipment_entry import CannotShip, NewShipment
from tests.conftest import FixedClock
from tests.services.test_purchasing_support import (
    ACME_ONLY,
    STOCK,
    new_order,
    open_shop,
    order_status,
    tracking,
)


@pytest.mark.parametrize("requires_packing", [True, False])
async def test_backorder_ships_vendor_lines_only_and_waits_on(
    db_url: str, clock: FixedClock, tmp_path: Path, requires_packing: bool
) -> None:
    shop = await open_shop(db_url, clock, tmp_path, ship_requires_packing=requires_packing)
    try:
        n = await new_order(shop, ((ACME_ONLY, 1), (STOCK, 5000)))
        await shop.purchasing.create(n)  # processing -> backorder: the stock is short
        assert await order_status(shop, n) == "backorder"
        plan = await shop.shipping.plan(n)
        assert plan.why_not is None
        assert {ln.sku: ln.ready for ln in plan.lines} == {ACME_ONLY: 1, STOCK: 0}
        result = await shop.shipping.ship(n, NewShipment(tracking=tracking("ups", 61)))
        assert result.shipment.lines == ((ACME_ONLY, 1),)
        assert result.order.status.value == "backorder"
        plan = await shop.shipping.plan(n)
        assert plan.why_not is not None and "no vendor line left to ship" in plan.why_not
        with pytest.raises(CannotShip, match="no vendor line left to ship"):
            await shop.shipping.ship(n, NewShipment(tracking=tracking("ups", 62)))
        with pytest.raises(CannotShip, match="waiting for stock"):
            await shop.shipping.ship(
                n, NewShipment(tracking=tracking("ups", 62), lines=((STOCK, 1),))
            )
        assert await order_status(shop, n) == "backorder"
    finally:
        await shop.close()
