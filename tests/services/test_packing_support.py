"""Shared setup for the packing and picking tests: the seed-1 catalogue and orders to pack.
Used by tests/services/test_packing*.py, test_picking*.py and tests/cli/test_pack*.py;
no tests here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from sqlalchemy import func, select, update

from services.container import Services
from services.models import Order, OrderLine, ScanEvent
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.settings import load_settings
from services.statuses import PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.stock_support import stock_up

ADDRESS = NewAddress(
    name="Grace Hopper", line1="1 Compiler Road", city="Arlington", postal_code="22201"
)

# The seed-1 catalogue (services/seed.py is deterministic); `check_catalogue` guards these.
UPC_A = "614141000029"  # PL-10002, stock, bins MAIN C-01-3 / EAST E01-3
UPC_A_2 = "614141000036"  # PL-10003, stock, MAIN D-01-4 only
EAN_13 = "4012345000078"  # PL-10007, stock, MAIN H-01-3
EAN_8 = "96000090"  # PL-10009, stock, MAIN B-02-5
INTERNAL = "INT-10005"  # PL-10005 (UPC-A 614141000050), stock, MAIN F-01-1
SERIAL_UPC = "614141000005"  # PL-10000, serialised, also INT-10000
SERIAL_UPC_2 = "614141000234"  # PL-10023, serialised
DROP_UPC = "614141000012"  # PL-10001, drop-ship
NOT_ON_ORDER = "614141000043"  # PL-10004, a real product on no test order


async def check_catalogue(services: Services) -> None:
    from services.models import Product, ProductBarcode

    async with services.db.read_session() as s:
        rows = dict(
            (
                await s.execute(
                    select(ProductBarcode.code, Product.sku).join(
                        Product, Product.id == ProductBarcode.product_id
                    )
                )
            ).all()
        )
    expected = {
        UPC_A: "PL-10002",
        UPC_A_2: "PL-10003",
        EAN_13: "PL-10007",
        EAN_8: "PL-10009",
        INTERNAL: "PL-10005",
        SERIAL_UPC: "PL-10000",
        SERIAL_UPC_2: "PL-10023",
        DROP_UPC: "PL-10001",
        NOT_ON_ORDER: "PL-10004",
    }
    assert {code: rows.get(code) for code in expected} == expected, "the seed catalogue changed"


async def seed_shop(services: Services) -> Services:
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    await check_catalogue(services)
    await stock_up(services)  # processing reserves stock; these tests are not about stock
    return services


async def order_to_pack(
    services: Services,
    lines: tuple[tuple[str, int], ...] = (("PL-10002", 2), ("PL-10003", 1)),
    *,
    paid: bool = True,
    status: Status = Status.PROCESSING,
    email: str = "grace@example.org",
) -> int:
    detail = await services.orders.create(
        NewOrder(customer_name="Grace Hopper", email=email, shipping=ADDRESS, lines=lines)
    )
    if status is not Status.NEW:
        await services.orders.set_status(detail.number, status)
    if paid:
        async with services.db.write_session() as s:
            await s.execute(
                update(Order)
                .where(Order.number == detail.number)
                .values(payment_status=PaymentStatus.PAID)
            )
            await s.commit()
    return detail.number


async def packed(services: Services, number: int) -> dict[str, int]:
    async with services.db.read_session() as s:
        rows = await s.execute(
            select(OrderLine.sku, OrderLine.packed)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.number == number)
            .order_by(OrderLine.position)
        )
        return dict(rows.all())


async def journal(services: Services, number: int) -> list[ScanEvent]:
    async with services.db.read_session() as s:
        order_id = (await s.execute(select(Order.id).where(Order.number == number))).scalar_one()
        return list(
            (
                await s.execute(
                    select(ScanEvent).where(ScanEvent.order_id == order_id).order_by(ScanEvent.id)
                )
            ).scalars()
        )


async def count_orders(services: Services) -> int:
    async with services.db.read_session() as s:
        return int((await s.execute(select(func.count(Order.id)))).scalar_one())


@asynccontextmanager
async def other_services(
    url: str, clock: FixedClock, operator: str = "tester", **settings: Any
) -> AsyncIterator[Services]:
    """A second, independent Services on the same database (another console, or a restart)."""
    s = await Services.open(load_settings(db=url, operator=operator, **settings), clock=clock)
    try:
        yield s
    finally:
        await s.close()
