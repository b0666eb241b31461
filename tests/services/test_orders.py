"""The order service against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from services.container import Services
from services.errors import Conflict, InvalidInput, NotFound
from services.models import AuditLog, Notification, Order, StatusEvent
from services.orders import NewAddress, NewOrder, OrderFilter
from services.seed import seed_database
from services.statuses import HoldReason, NotificationState, PaymentStatus, Status
from services.workflow import IllegalTransition
from tests.conftest import FixedClock

ADDRESS = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="London",
    postal_code="N1 9GU",
    country="GB",
)


async def new_order(
    services: Services,
    *,
    email: str = "ada@example.org",
    name: str = "Ada Lovelace",
    lines: tuple[tuple[str, int], ...] = (("PL-10001", 2), ("PL-10003", 1)),
) -> int:
    detail = await services.orders.create(
        NewOrder(customer_name=name, email=email, shipping=ADDRESS, lines=lines)
    )
    return detail.number


async def count(services: Services, model: type, **where: object) -> int:
    async with services.db.read_session() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return int((await s.execute(stmt)).scalar_one())


@pytest.fixture
async def shop(services: Services) -> Services:
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    return services


async def test_create_and_show(shop: Services) -> None:
    number = await new_order(shop, name="[bold red]x[/] \x1b[31mEve")
    detail = await shop.orders.show(f"#{number}")
    assert detail.status is Status.NEW
    assert detail.row.customer.name == "[bold red]x[/] \x1b[31mEve"  # stored exactly
    assert [ln.sku for ln in detail.lines] == ["PL-10001", "PL-10003"]
    assert detail.lines[0].barcode  # a real GTIN from the catalogue
    assert detail.history[0].to_status is Status.NEW
    data = detail.to_json()
    for key in (
        "number",
        "status",
        "payment_status",
        "customer",
        "shipping_address",
        "lines",
        "shipments",
        "purchase_orders",
        "history",
        "notifications",
        "risk",
    ):
        assert key in data
    assert set(data["lines"][0]) >= {
        "sku",
        "barcode",
        "name",
        "quantity",
        "packed",
        "shipped",
        "vendor",
    }
    assert data["payment_status"] == "unpaid"


async def test_unknown_order_and_bad_ref(shop: Services) -> None:
    with pytest.raises(NotFound, match="no order #999999"):
        await shop.orders.show("999999")
    with pytest.raises(NotFound, match="not an order number"):
        await shop.orders.show("abc")


async def test_set_status_writes_state_history_audit_and_outbox_at_once(
    shop: Services, clock: FixedClock
) -> None:
    number = await new_order(shop)
    clock.advance(60)
    detail = await shop.orders.set_status(
        number,
        Status.PROCESSING,
        comment="Thank you for your order!",
        memo="deliver by Friday",
        notify=True,
    )
    assert detail.status is Status.PROCESSING
    assert detail.version == 2
    assert detail.row.last_memo == "deliver by Friday"
    last = detail.history[-1]
    assert (last.from_status, last.to_status, last.actor) == (
        Status.NEW,
        Status.PROCESSING,
        "tester",
    )
    assert last.comment == "Thank you for your order!" and last.memo == "deliver by Friday"
    assert last.at == clock.now
    [mail] = [n for n in detail.notifications if n.channel == "email"]
    assert (mail.event, mail.to, mail.state) == ("processing", "ada@example.org", "queued")
    assert await count(shop, AuditLog, action="order.set_status", entity_id=number) == 1


async def test_save_without_email_queues_nothing(shop: Services) -> None:
    number = await new_order(shop)
    detail = await shop.orders.set_status(number, Status.PROCESSING, comment="hi")
    assert [n for n in detail.notifications if n.channel == "email"] == []


async def test_order_without_email_gets_a_dead_notification(shop: Services) -> None:
    number = await new_order(shop, email="")
    detail = await shop.orders.set_status(number, Status.PROCESSING, notify=True)
    [mail] = detail.notifications
    assert mail.state == "dead" and "no recipient" in mail.last_error
    assert detail.status is Status.PROCESSING  # the change itself is saved


async def test_illegal_transition_changes_nothing(shop: Services) -> None:
    number = await new_order(shop)
    before = await shop.orders.show(number)
    with pytest.raises(
        IllegalTransition,
        match=f"order #{number} is new; it can go to processing, held, backorder or canceled",
    ):
        await shop.orders.set_status(number, Status.COMPLETE, notify=True, memo="x")
    after = await shop.orders.show(number)
    assert after == before
    assert await count(shop, Notification) == 0
    assert await count(shop, StatusEvent, order_id=None) == 0


async def test_hold_and_release(shop: Services) -> None:
    number = await new_order(shop)
    await shop.orders.set_status(number, Status.PROCESSING)
    with pytest.raises(IllegalTransition, match="needs a reason"):
        await shop.orders.set_status(number, Status.HELD)
    held = await shop.orders.set_status(number, Status.HELD, reason=HoldReason.INCORRECT_ADDRESS)
    assert held.row.hold_reason is HoldReason.INCORRECT_ADDRESS
    assert held.held_from is Status.PROCESSING
    with pytest.raises(IllegalTransition, match=r"held from \(processing\)"):
        await shop.orders.set_status(number, Status.NEW)
    options = await shop.orders.options(number)
    assert {s for s, why in options.items() if why is None} == {Status.PROCESSING, Status.CANCELED}
    released = await shop.orders.set_status(number, Status.PROCESSING)
    assert released.row.hold_reason is None and released.held_from is None


async def test_stale_version_is_a_conflict_naming_who_and_when(
    shop: Services, clock: FixedClock
) -> None:
    number = await new_order(shop)
    seen = await shop.orders.show(number)
    clock.advance(3)
    await shop.orders.add_memo(number, "call the customer", expected_version=seen.version)
    with pytest.raises(Conflict, match=f"order #{number} was changed by tester at"):
        await shop.orders.set_status(number, Status.PROCESSING, expected_version=seen.version)
    detail = await shop.orders.show(number)
    assert detail.status is Status.NEW
    assert [h.kind for h in detail.history] == ["status", "memo"]


async def test_memo(shop: Services) -> None:
    number = await new_order(shop)
    with pytest.raises(InvalidInput):
        await shop.orders.add_memo(number, "   ")
    detail = await shop.orders.add_memo(number, "  deliver by Friday ")
    assert detail.row.last_memo == "deliver by Friday"
    assert detail.history[-1].kind == "memo"
    assert detail.history[-1].memo == "deliver by Friday"
    assert detail.history[-1].comment == ""


async def test_page_filters_search_and_cursor(shop: Services, clock: FixedClock) -> None:
    numbers = []
    for i, (name, email) in enumerate(
        [
            ("Grace Hopper", "grace@navy.example"),
            ("Alan Turing", "alan@bletchley.example"),
            ("Grace Kelly", "gk@monaco.example"),
        ]
    ):
        clock.advance(60)
        numbers.append(await new_order(shop, name=name, email=email, lines=(("PL-10002", i + 1),)))
    await shop.orders.set_status(numbers[1], Status.PROCESSING)

    page = await shop.orders.page(OrderFilter(), limit=2)
    assert [r.number for r in page.rows] == [numbers[2], numbers[1]]
    assert page.next_cursor
    page2 = await shop.orders.page(OrderFilter(), after=page.next_cursor, limit=2)
    assert [r.number for r in page2.rows] == [numbers[0]]
    assert page2.next_cursor is None

    grace = await shop.orders.page(OrderFilter(search="grace"))
    assert {r.number for r in grace.rows} == {numbers[0], numbers[2]}
    assert [r.number for r in (await shop.orders.page(OrderFilter(search="GRACE hop"))).rows] == [
        numbers[0]
    ]
    assert [
        r.number for r in (await shop.orders.page(OrderFilter(search=f"#{numbers[1]}"))).rows
    ] == [numbers[1]]
    assert [
        r.number for r in (await shop.orders.page(OrderFilter(search="bletchley.example"))).rows
    ] == [numbers[1]]
    assert len((await shop.orders.page(OrderFilter(search="pl-10002"))).rows) == 3
    assert (await shop.orders.page(OrderFilter(search="nobody"))).rows == []

    processing = await shop.orders.page(OrderFilter(status=Status.PROCESSING))
    assert [r.number for r in processing.rows] == [numbers[1]]
    by_total = await shop.orders.page(OrderFilter(sort="total", descending=False), limit=1)
    assert by_total.rows[0].number == numbers[0]
    nxt = await shop.orders.page(
        OrderFilter(sort="total", descending=False), limit=1, after=by_total.next_cursor
    )
    assert nxt.rows[0].number == numbers[1]
    with pytest.raises(InvalidInput):
        await shop.orders.page(OrderFilter(), after="garbage!")

    counts = await shop.orders.counts()
    assert counts[Status.NEW] == 2 and counts[Status.PROCESSING] == 1
    assert set(counts) == set(Status)


async def test_seeded_orders_follow_the_status_machine(services: Services) -> None:
    report = await seed_database(services.db, orders=300, seed=7, anchor=date(2026, 11, 20))
    assert report["orders"] == 300
    counts = await services.orders.counts()
    assert all(counts[s] > 0 for s in Status), counts
    wf = services.workflow
    async with services.db.read_session() as s:
        numbers = list((await s.execute(select(Order.number))).scalars())
    for number in numbers[:300:7]:
        d = await services.orders.show(number)
        # the history walks edges of the table and ends where the order is
        steps = [h for h in d.history if h.kind == "status"]
        assert steps[-1].to_status is d.status
        for h in steps:
            assert h.to_status in wf.targets(h.from_status) if h.from_status else True
        if d.status in (Status.SHIPPED, Status.COMPLETE):
            assert all(ln.shipped == ln.quantity for ln in d.lines)
            assert d.row.shipments
        if d.status in (Status.NEW, Status.PROCESSING):
            assert all(ln.packed == 0 and ln.shipped == 0 for ln in d.lines)
            assert not d.purchase_orders
        if d.status is Status.READY_TO_SHIP:
            assert all(ln.packed == ln.quantity for ln in d.lines)
            assert d.row.payment_status is PaymentStatus.PAID or d.terms_accepted
            assert not d.row.shipments
        if d.status is Status.HELD:
            assert d.row.hold_reason is not None and d.held_from is not None
    # the seeded counter continues: a new order gets the next number
    number = await new_order(services)
    assert number == max(numbers) + 1


async def test_notification_rows_for_seeded_history(services: Services) -> None:
    await seed_database(services.db, orders=40, seed=3, anchor=date(2026, 11, 20))
    assert await count(services, Notification, state=NotificationState.SENT) > 0
