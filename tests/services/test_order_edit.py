"""Editing an order on SQLite and PostgreSQL: products, quantities and the customer
account; totals, search, history and audit; stock reservations following the edit; and
every refusal changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select, update

from services.container import Services
from services.errors import Conflict, InvalidInput, NotFound
from services.models import AuditLog, Customer, Notification, Order, OrderLine, ScanEvent
from services.order_edit_spec import OrderEdit
from services.order_edits import NotEditable
from services.orders import NewAddress, NewOrder, OrderFilter
from services.seed import seed_database
from services.settings import load_settings
from services.shipping import NewShipment
from services.statuses import PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.test_shipping_support import tracking

S = Status
A, B, C = "PL-10002", "PL-10008", "PL-10004"
HOOK = "http://127.0.0.1:9/orders"
ADDRESS = NewAddress(name="Grace Hopper", line1="1 Way", city="Arlington", postal_code="22201")


@pytest.fixture
async def shop(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    s = await Services.open(
        load_settings(db=db_url, operator="editor", ship_requires_packing=False, webhooks=[HOOK]),
        clock=clock,
    )
    await seed_database(s.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    for sku in (A, B, C):
        await s.inventory.set_level(sku, "MAIN", 10)
        await s.inventory.set_level(sku, "EAST", 0)
    try:
        yield s
    finally:
        await s.close()


async def order(s: Services, *lines: tuple[str, int], email: str = "") -> int:
    detail = await s.orders.create(
        NewOrder(customer_name="Walk-in", email=email, shipping=ADDRESS, lines=lines)
    )
    return detail.number


async def price(s: Services, sku: str) -> int:
    from services.models import Product

    async with s.db.read_session() as session:
        return int(
            (await session.execute(select(Product.price).where(Product.sku == sku))).scalar_one()
        )


async def found(s: Services, query: str) -> list[int]:
    page = await s.orders.page(OrderFilter(search=query), limit=50)
    return [r.number for r in page.rows]


async def test_products_quantities_and_a_new_customer_account(shop: Services) -> None:
    number = await order(shop, (A, 2), (B, 1))
    before = await shop.orders.show(number)
    result = await shop.edits.edit(
        number,
        OrderEdit(
            add=((C, 3),),
            set=((A, 5),),
            remove=(B,),
            customer_email="grace@example.org",
            memo="customer called",
        ),
        expected_version=before.version,
    )
    detail = result.order
    assert [(ln.sku, ln.quantity) for ln in detail.lines] == [(A, 5), (C, 3)]
    pa, pc = await price(shop, A), await price(shop, C)
    assert detail.subtotal == 5 * pa + 3 * pc and detail.row.total == detail.subtotal
    assert detail.row.items == 8
    assert detail.row.customer.email == "grace@example.org"
    assert detail.row.customer.name == "Grace Hopper"  # the shipping name, for a new account
    old_total = before.row.total_text
    assert result.summary == (
        f"customer grace@example.org (new account); removed {B} ×1; {A} 2 → 5; added {C} ×3; "
        f"total {old_total} → {detail.row.total_text}"
    )
    [entry] = [h for h in detail.history if h.kind == "edit"]
    assert entry.actor == "editor" and entry.memo == result.summary + " (customer called)"
    assert detail.version == before.version + 1
    assert number in await found(shop, "grace@example.org")
    assert number in await found(shop, C.lower()) and number not in await found(shop, B)
    async with shop.db.read_session() as s:
        audit = (
            await s.execute(select(AuditLog).where(AuditLog.action == "order.edit"))
        ).scalar_one()
        hooks = (
            await s.execute(select(Notification).where(Notification.event == "order.edited"))
        ).scalar_one()
    assert audit.actor == "editor" and audit.entity_id == number
    assert hooks.recipient == HOOK and hooks.payload["changes"][0].startswith("customer")


async def test_attaching_an_existing_account(shop: Services) -> None:
    first = await order(shop, (A, 1), email="ada@example.org")
    number = await order(shop, (A, 1))
    await shop.edits.edit(number, OrderEdit(customer_email=" ada@example.org "))
    async with shop.db.read_session() as s:
        ids = (
            (await s.execute(select(Order.customer_id).where(Order.number.in_([first, number]))))
            .scalars()
            .all()
        )
        accounts = (
            (await s.execute(select(Customer).where(Customer.email == "ada@example.org")))
            .scalars()
            .all()
        )
    assert len(set(ids)) == 1 and len(accounts) == 1


async def test_reservations_follow_the_edit(shop: Services) -> None:
    number = await order(shop, (A, 2), (B, 1))
    await shop.orders.set_status(number, S.PROCESSING)
    result = await shop.edits.edit(number, OrderEdit(set=((A, 4),), remove=(B,), add=((C, 2),)))
    assert result.stock == "stock reserved" and result.order.status is S.PROCESSING
    held = {a.sku: (a.reserved, a.warehouse) for a in await shop.inventory.availability(number)}
    assert held == {A: (4, "MAIN"), C: (2, "MAIN")}
    levels = {r.sku: r.reserved for r in await shop.inventory.levels() if r.warehouse == "MAIN"}
    assert (levels[A], levels[B], levels[C]) == (4, 0, 2)
    await shop.edits.edit(number, OrderEdit(set=((A, 1),)))
    levels = {r.sku: r.reserved for r in await shop.inventory.levels() if r.warehouse == "MAIN"}
    assert levels[A] == 1


async def test_an_edit_short_of_stock_sends_the_order_to_backorder(shop: Services) -> None:
    number = await order(shop, (A, 2))
    await shop.orders.set_status(number, S.PROCESSING)
    result = await shop.edits.edit(number, OrderEdit(add=((C, 11),)))
    assert result.order.status is S.BACKORDER
    assert result.stock == f"to backorder: not enough stock for {C} ×11 (10 in MAIN, 0 in EAST)"
    steps = [(h.kind, h.to_status) for h in result.order.history][-2:]
    assert steps == [("edit", S.PROCESSING), ("status", S.BACKORDER)]


async def test_ready_to_ship_goes_back_to_processing_for_new_units(shop: Services) -> None:
    number = await order(shop, (A, 1))
    await shop.orders.set_status(number, S.PROCESSING)
    async with shop.db.write_session() as s, s.begin():
        await s.execute(update(OrderLine).values(packed=1, picked=1))
        await s.execute(update(Order).values(payment_status=PaymentStatus.PAID))
    await shop.orders.set_status(number, S.READY_TO_SHIP)
    result = await shop.edits.edit(number, OrderEdit(add=((B, 1),)))
    assert result.order.status is S.PROCESSING
    assert result.stock == "back to processing: new units to pack"
    held = {a.sku: a.reserved for a in await shop.inventory.availability(number)}
    assert held == {A: 1, B: 1}


async def test_what_is_packed_or_shipped_stays(shop: Services) -> None:
    number = await order(shop, (A, 3), (B, 1))
    await shop.orders.set_status(number, S.PROCESSING)
    async with shop.db.write_session() as s, s.begin():
        await s.execute(update(OrderLine).where(OrderLine.sku == A).values(packed=2, picked=2))
    before = await shop.orders.show(number)
    with pytest.raises(InvalidInput, match=f"{A}: 2 packed; its quantity cannot go below 2"):
        await shop.edits.edit(number, OrderEdit(set=((A, 1),), add=((C, 1),)))
    with pytest.raises(InvalidInput, match=f"{A}: 2 packed; its quantity cannot go below 2"):
        await shop.edits.edit(number, OrderEdit(remove=(A,)))
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 51), lines=((A, 2),)))
    mid = await shop.orders.show(number)
    assert mid.status is S.PARTIALLY_SHIPPED
    with pytest.raises(InvalidInput, match=f"{A}: 2 shipped; its quantity cannot go below 2"):
        await shop.edits.edit(number, OrderEdit(set=((A, 1),)))
    # The unshipped part of a partially shipped order can still change.
    result = await shop.edits.edit(number, OrderEdit(set=((A, 2),), remove=(B,)))
    assert [(ln.sku, ln.quantity, ln.shipped) for ln in result.order.lines] == [(A, 2, 2)]
    assert before.version < mid.version < result.order.version
    await shop.orders.set_status(number, S.SHIPPED)
    with pytest.raises(NotEditable, match="is shipped; only orders that have not shipped"):
        await shop.edits.edit(number, OrderEdit(add=((C, 1),)))


async def test_refusals_change_nothing(shop: Services) -> None:
    number = await order(shop, (A, 2))
    before = await shop.orders.show(number)
    cases: list[tuple[OrderEdit, type[Exception], str]] = [
        (OrderEdit(), InvalidInput, "nothing to change"),
        (OrderEdit(add=(("NOPE", 1),)), NotFound, "unknown SKU 'NOPE'"),
        (OrderEdit(add=((A, 0),)), InvalidInput, "from 1 to 100000"),
        (OrderEdit(remove=(B,)), NotFound, f"{B} is not on order #{number}"),
        (OrderEdit(set=((A, 2),)), InvalidInput, f"nothing changes on order #{number}"),
        (OrderEdit(customer_email="not an email"), InvalidInput, "is not an e-mail address"),
        (OrderEdit(set=((A, 1),), remove=(A,)), InvalidInput, "is named twice"),
        (OrderEdit(add=((A, 1),), set=((A, 3),)), InvalidInput, "is changed twice"),
    ]
    for edit, kind, message in cases:
        with pytest.raises(kind, match=message):
            await shop.edits.edit(number, edit)
    with pytest.raises(Conflict, match="was changed by"):
        await shop.edits.edit(number, OrderEdit(add=((B, 1),)), expected_version=before.version - 1)
    after = await shop.orders.show(number)
    assert after.version == before.version and after.lines == before.lines


async def test_a_discount_the_order_came_with_is_kept(shop: Services) -> None:
    number = await order(shop, (A, 2))
    pa = await price(shop, A)
    async with shop.db.write_session() as s, s.begin():  # as imported: 5.00 off
        await s.execute(
            update(Order).values(
                subtotal=2 * pa - 500, total=2 * pa - 500 + 799, shipping_total=799
            )
        )
    result = await shop.edits.edit(number, OrderEdit(set=((A, 3),)))
    assert result.order.subtotal == 3 * pa - 500
    assert result.order.row.total == 3 * pa - 500 + 799


async def test_a_line_with_scans_is_kept_at_zero(shop: Services) -> None:
    number = await order(shop, (A, 1), (B, 1))
    async with shop.db.write_session() as s, s.begin():
        line = (await s.execute(select(OrderLine).where(OrderLine.sku == B))).scalar_one()
        s.add(
            ScanEvent(
                order_id=line.order_id,
                code="x",
                order_line_id=line.id,
                accepted=False,
                at=shop.orders.clock(),
            )
        )
    result = await shop.edits.edit(number, OrderEdit(remove=(B,)))
    assert [(ln.sku, ln.quantity) for ln in result.order.lines] == [(A, 1), (B, 0)]
    assert result.order.row.items == 1
