"""Shipped, paid orders for the returns tests (services and CLI), made through the real
services: created, processing (stock reserved), packed (counts written, packing is not
under test), charged through the manual gateway, shipped with a valid tracking number.
No tests here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.container import Services
from services.models import Order, Product, ProductBarcode, StockLevel, Warehouse
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.settings import load_settings
from services.shipment_entry import NewShipment
from services.statuses import Fulfillment, Status
from tests.conftest import FixedClock
from tests.services.stock_support import stock_up
from tests.services.test_shipping_support import tracking

HOME = NewAddress(
    name="Zoë Ångström",
    line1="12 Analytical Way",
    city="Springfield",
    postal_code="62701",
    region="IL",
    country="US",
)
A = "PL-10002"  # stock
B = "PL-10003"  # stock
DROP = "PL-10001"  # drop ship


@asynccontextmanager
async def shop(db_url: str, clock: FixedClock, **settings: Any) -> AsyncIterator[Services]:
    """The catalogue with plenty of stock, and the manual gateway (refunds by hand)."""
    base: dict[str, Any] = {"db": db_url, "operator": "tester", "payment_gateway": "manual"}
    base.update(settings)
    s = await Services.open(load_settings(**base), clock=clock)
    try:
        await seed_database(s.db, orders=0, seed=1, anchor=date(2026, 11, 20))
        await stock_up(s)
        yield s
    finally:
        await s.close()


async def shipped_order(
    s: Services,
    lines: tuple[tuple[str, int], ...] = ((A, 2), (B, 1)),
    *,
    seed: int = 1,
    email: str = "zoe@example.org",
    pay: bool = True,
) -> int:
    detail = await s.orders.create(
        NewOrder(customer_name="Zoë Ångström", email=email, shipping=HOME, lines=lines)
    )
    n = detail.number
    await s.orders.set_status(n, Status.PROCESSING)
    async with s.db.write_session() as session, session.begin():
        order = (
            await session.execute(
                select(Order).where(Order.number == n).options(selectinload(Order.lines))
            )
        ).scalar_one()
        for ln in order.lines:
            if ln.fulfillment is Fulfillment.STOCK:
                ln.packed = ln.picked = ln.quantity
    if pay:
        await s.payments.charge(n)
        await s.orders.set_status(n, Status.READY_TO_SHIP)
    await s.shipping.ship(n, NewShipment(tracking=tracking("ups", seed), carrier="ups"))
    return n


async def on_hand(s: Services, sku: str) -> dict[str, int]:
    async with s.db.read_session() as session:
        rows = await session.execute(
            select(Warehouse.code, StockLevel.on_hand)
            .join(StockLevel, StockLevel.warehouse_id == Warehouse.id)
            .join(Product, Product.id == StockLevel.product_id)
            .where(Product.sku == sku)
        )
        return {code: int(qty) for code, qty in rows.all()}


async def barcode_of(s: Services, sku: str) -> str:
    async with s.db.read_session() as session:
        code = (
            await session.execute(
                select(ProductBarcode.code)
                .join(Product, Product.id == ProductBarcode.product_id)
                .where(Product.sku == sku)
                .order_by(ProductBarcode.code)
                .limit(1)
            )
        ).scalar_one()
    return str(code)
