"""Inventory against a real SQLite file and a real PostgreSQL server: warehouse assignment,
split and backorder on processing, idempotent reservations, stock leaving with shipments
and coming back when one is deleted, release on cancel, counts, and the channels told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select

from services.container import Services
from services.errors import InvalidInput, NotFound
from services.models import AuditLog, Notification, Order, OrderLine, Warehouse
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.settings import load_settings
from services.shipping import NewShipment
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.services.test_shipping_support import tracking

A, B, C = "PL-10002", "PL-10008", "PL-10004"  # stock products with bins in MAIN and EAST
HOOK = "http://127.0.0.1:9/stock"
ADDRESS = NewAddress(name="Ada", line1="1 Way", city="London", postal_code="N1", country="GB")


@pytest.fixture
async def shop(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    s = await Services.open(
        load_settings(
            db=db_url, operator="tester", ship_requires_packing=False, stock_webhooks=[HOOK]
        ),
        clock=clock,
    )
    await seed_database(s.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    try:
        yield s
    finally:
        await s.close()


async def stock(s: Services, **levels: dict[str, int]) -> None:
    """stock(s, MAIN={A: 5}, EAST={A: 0}) sets on hand exactly."""
    for wh, per_sku in levels.items():
        for sku, qty in per_sku.items():
            await s.inventory.set_level(sku, wh, qty)


async def on_hand(s: Services, sku: str) -> dict[str, tuple[int, int]]:
    return {r.warehouse: (r.on_hand, r.reserved) for r in await s.inventory.levels(sku)}


async def order(s: Services, *lines: tuple[str, int]) -> int:
    detail = await s.orders.create(
        NewOrder(customer_name="Ada", email="ada@example.org", shipping=ADDRESS, lines=lines)
    )
    return detail.number


async def held(s: Services, number: int) -> list[tuple[str, int, str | None]]:
    """(sku, reserved, warehouse code) per line."""
    async with s.db.read_session() as session:
        rows = await session.execute(
            select(OrderLine.sku, OrderLine.reserved, Warehouse.code)
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(Warehouse, Warehouse.id == OrderLine.warehouse_id)
            .where(Order.number == number)
            .order_by(OrderLine.position)
        )
        return [(sku, n, code) for sku, n, code in rows.all()]


async def order_warehouse(s: Services, number: int) -> str | None:
    async with s.db.read_session() as session:
        return (
            await session.execute(
                select(Warehouse.code)
                .join(Order, Order.warehouse_id == Warehouse.id)
                .where(Order.number == number)
            )
        ).scalar()


async def test_one_warehouse_ships_all_of_it_by_priority(shop: Services) -> None:
    await stock(shop, MAIN={A: 5, B: 5}, EAST={A: 5, B: 5})
    number = await order(shop, (A, 2), (B, 1))
    detail = await shop.orders.set_status(number, Status.PROCESSING)
    assert detail.status is Status.PROCESSING
    assert await held(shop, number) == [(A, 2, "MAIN"), (B, 1, "MAIN")]
    assert await order_warehouse(shop, number) == "MAIN"
    assert await on_hand(shop, A) == {"MAIN": (5, 2), "EAST": (5, 0)}


async def test_a_lower_priority_warehouse_that_has_everything_beats_a_split(
    shop: Services,
) -> None:
    await stock(shop, MAIN={A: 5, B: 0}, EAST={A: 5, B: 5})
    number = await order(shop, (A, 2), (B, 1))
    await shop.orders.set_status(number, Status.PROCESSING)
    assert await held(shop, number) == [(A, 2, "EAST"), (B, 1, "EAST")]
    assert await order_warehouse(shop, number) == "EAST"


async def test_split_by_priority_when_no_warehouse_has_everything(shop: Services) -> None:
    await stock(shop, MAIN={A: 5, B: 0}, EAST={A: 0, B: 5})
    number = await order(shop, (A, 2), (B, 3))
    await shop.orders.set_status(number, Status.PROCESSING)
    assert await held(shop, number) == [(A, 2, "MAIN"), (B, 3, "EAST")]
    assert await order_warehouse(shop, number) is None  # split: each line has its own
    lines = {a.sku: a for a in await shop.inventory.availability(number)}
    assert lines[A].text == "3 in MAIN, 0 in EAST" and lines[A].held == "2 reserved in MAIN"
    assert lines[B].text == "0 in MAIN, 2 in EAST" and lines[B].needed == 0


async def test_short_lines_go_to_backorder_and_the_rest_keep_their_stock(
    shop: Services,
) -> None:
    await stock(shop, MAIN={A: 5, C: 1}, EAST={A: 0, C: 0})
    number = await order(shop, (A, 2), (C, 3))
    detail = await shop.orders.set_status(number, Status.PROCESSING, notify=True)
    assert detail.status is Status.BACKORDER
    steps = [(h.from_status, h.to_status, h.memo) for h in detail.history if h.kind == "status"]
    assert steps[-2:] == [
        (Status.NEW, Status.PROCESSING, ""),
        (
            Status.PROCESSING,
            Status.BACKORDER,
            f"not enough stock for {C} ×3 (1 in MAIN, 0 in EAST)",
        ),
    ]
    # The customer hears about the backorder, not about a processing that did not last.
    assert [n.event for n in detail.notifications if n.channel == "email"] == ["backorder"]
    assert await held(shop, number) == [(A, 2, "MAIN"), (C, 0, None)]
    # Stock arrives; back to processing reserves only what was missing.
    await stock(shop, MAIN={C: 10})
    detail = await shop.orders.set_status(number, Status.PROCESSING)
    assert detail.status is Status.PROCESSING
    assert await held(shop, number) == [(A, 2, "MAIN"), (C, 3, "MAIN")]
    assert await on_hand(shop, A) == {"MAIN": (5, 2), "EAST": (0, 0)}
    assert await on_hand(shop, C) == {"MAIN": (10, 3), "EAST": (0, 0)}


async def test_reserving_again_never_holds_twice(shop: Services) -> None:
    await stock(shop, MAIN={A: 5}, EAST={A: 0})
    number = await order(shop, (A, 2))
    await shop.orders.set_status(number, Status.PROCESSING)
    await shop.orders.set_status(
        number, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER, note="size?"
    )
    await shop.orders.set_status(number, Status.PROCESSING)
    assert await held(shop, number) == [(A, 2, "MAIN")]
    assert await on_hand(shop, A) == {"MAIN": (5, 2), "EAST": (0, 0)}


async def test_cancel_releases_everything(shop: Services) -> None:
    await stock(shop, MAIN={A: 5, B: 0}, EAST={A: 0, B: 4})
    number = await order(shop, (A, 2), (B, 4))
    await shop.orders.set_status(number, Status.PROCESSING)
    await shop.orders.set_status(number, Status.CANCELED)
    assert await held(shop, number) == [(A, 0, "MAIN"), (B, 0, "EAST")]
    assert await on_hand(shop, A) == {"MAIN": (5, 0), "EAST": (0, 0)}
    assert await on_hand(shop, B) == {"MAIN": (0, 0), "EAST": (4, 0)}


async def test_shipping_takes_stock_and_deleting_the_shipment_puts_it_back(
    shop: Services,
) -> None:
    await stock(shop, MAIN={A: 5, B: 5}, EAST={A: 0, B: 0})
    number = await order(shop, (A, 2), (B, 1))
    await shop.orders.set_status(number, Status.PROCESSING)
    first = tracking("ups", 41)
    await shop.shipping.ship(number, NewShipment(tracking=first, lines=((A, 2),)))
    assert await on_hand(shop, A) == {"MAIN": (3, 0), "EAST": (0, 0)}
    assert await on_hand(shop, B) == {"MAIN": (5, 1), "EAST": (0, 0)}
    assert await held(shop, number) == [(A, 0, "MAIN"), (B, 1, "MAIN")]
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 42)))
    assert await on_hand(shop, B) == {"MAIN": (4, 0), "EAST": (0, 0)}
    await shop.shipping.delete_shipment(number, first, reason="wrong box")
    # Back on the shelf and held for the line again (it is packed for this order).
    assert await on_hand(shop, A) == {"MAIN": (5, 2), "EAST": (0, 0)}
    assert await held(shop, number) == [(A, 2, "MAIN"), (B, 0, "MAIN")]
    detail = await shop.shipping.delete_shipment(number, tracking("ups", 42), reason="oops")
    assert detail.order.status is Status.PROCESSING  # re-entering reserves nothing twice
    assert await on_hand(shop, A) == {"MAIN": (5, 2), "EAST": (0, 0)}
    assert await on_hand(shop, B) == {"MAIN": (5, 1), "EAST": (0, 0)}


async def test_an_order_that_never_reserved_ships_from_the_shelf(shop: Services) -> None:
    """Orders from before reservations (seeded, imported) still take their goods off the
    shelf when they ship, never below what other orders hold."""
    await stock(shop, MAIN={A: 3}, EAST={A: 5})
    holder = await order(shop, (A, 2))
    await shop.orders.set_status(holder, Status.PROCESSING)  # MAIN: 3 on hand, 2 held
    number = await order(shop, (A, 2))
    await shop.orders.set_status(number, Status.PROCESSING)
    async with shop.db.write_session() as s, s.begin():  # as if it predates reservations
        line = (
            await s.execute(select(OrderLine).join(Order).where(Order.number == number))
        ).scalar_one()
        from services.models import StockLevel

        level = (
            await s.execute(
                select(StockLevel).where(
                    StockLevel.product_id == line.product_id,
                    StockLevel.warehouse_id == line.warehouse_id,
                )
            )
        ).scalar_one()
        level.reserved -= line.reserved
        line.reserved, line.warehouse_id = 0, None
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 43)))
    # MAIN has 1 free unit (3 - 2 held): not enough, so the 2 come from EAST.
    assert await on_hand(shop, A) == {"MAIN": (3, 2), "EAST": (3, 0)}


async def test_channels_are_told_through_the_outbox(shop: Services) -> None:
    await stock(shop, MAIN={A: 5}, EAST={A: 1})
    number = await order(shop, (A, 2))
    await shop.orders.set_status(number, Status.PROCESSING)
    async with shop.db.read_session() as s:
        rows = list(
            (
                await s.execute(
                    select(Notification)
                    .where(Notification.event == "stock.changed")
                    .order_by(Notification.id)
                )
            ).scalars()
        )
    assert all(r.recipient == HOOK and r.channel == "webhook" for r in rows)
    count, reserve = rows[0], rows[-1]
    assert count.order_id is None and count.payload["reason"] == "count"
    assert reserve.payload["number"] == number and reserve.payload["reason"] == "reserve"
    assert reserve.payload["items"] == [
        {
            "sku": A,
            "available": 4,
            "warehouses": [
                {"warehouse": "MAIN", "on_hand": 5, "reserved": 2, "available": 3},
                {"warehouse": "EAST", "on_hand": 1, "reserved": 0, "available": 1},
            ],
        }
    ]


async def test_counting_stock(shop: Services) -> None:
    row = await shop.inventory.set_level(A, "east", 7, bin="E09-9", note="cycle count")
    assert (row.warehouse, row.on_hand, row.reserved, row.bin) == ("EAST", 7, 0, "E09-9")
    number = await order(shop, (A, 7))
    await stock(shop, MAIN={A: 0})
    await shop.orders.set_status(number, Status.PROCESSING)
    with pytest.raises(InvalidInput, match="EAST holds 7 × PL-10002 for orders; on hand cannot"):
        await shop.inventory.set_level(A, "EAST", 6)
    with pytest.raises(NotFound, match="no warehouse 'WEST' \\(warehouses: MAIN, EAST\\)"):
        await shop.inventory.set_level(A, "WEST", 6)
    with pytest.raises(NotFound, match="no product with SKU 'NOPE'"):
        await shop.inventory.set_level("NOPE", "MAIN", 6)
    with pytest.raises(InvalidInput, match="whole number of 0 or more"):
        await shop.inventory.set_level(A, "MAIN", -1)
    async with shop.db.read_session() as s:
        audit = (
            (
                await s.execute(
                    select(AuditLog).where(AuditLog.action == "stock.set").order_by(AuditLog.id)
                )
            )
            .scalars()
            .first()
        )
    assert audit is not None and audit.detail["note"] == "cycle count"
    assert audit.detail["on_hand"] == 7 and audit.actor == "tester"
    # A product with no row in a warehouse gets one.
    drop_free = [r for r in await shop.inventory.levels("PL-10003")]
    assert [r.warehouse for r in drop_free] == ["MAIN"]
    await shop.inventory.set_level("PL-10003", "EAST", 2)
    assert [r.warehouse for r in await shop.inventory.levels("PL-10003")] == ["MAIN", "EAST"]
