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
            # packed counts what is packed and not yet shipped
            assert all(ln.shipped == ln.quantity and ln.packed == 0 for ln in d.lines)
            assert d.row.shipments
        if d.status in (Status.NEW, Status.PROCESSING):
            assert all(ln.packed == 0 and ln.shipped == 0 for ln in d.lines)
            assert not d.purchase_orders
        if d.status is Status.READY_TO_SHIP:
            assert all(ln.packed == ln.quantity for ln in d.lines)
            assert d.row.payment_status is PaymentStatus.PAID or d.terms_accepted
            assert not d.row.shipments
        assert all(ln.packed + ln.shipped <= ln.quantity for ln in d.lines)
        if d.status is Status.HELD:
            assert d.row.hold_reason is not None and d.held_from is not None
    # the seeded counter continues: a new order gets the next number
    number = await new_order(services)
    assert number == max(numbers) + 1


async def test_notification_rows_for_seeded_history(services: Services) -> None:
    await seed_database(services.db, orders=40, seed=3, anchor=date(2026, 11, 20))
    assert await count(services, Notification, state=NotificationState.SENT) > 0


async def _walk(shop: Services, flt: OrderFilter, limit: int) -> list[int]:
    numbers: list[int] = []
    cursor: str | None = None
    while True:
        page = await shop.orders.page(flt, after=cursor, limit=limit)
        numbers += [r.number for r in page.rows]
        if page.next_cursor is None:
            return numbers
        cursor = page.next_cursor


async def test_page_before_a_cursor_walks_the_queue_backwards(
    shop: Services, clock: FixedClock
) -> None:
    for i in range(7):
        clock.advance(60)
        await new_order(shop, name=f"Customer {i}", lines=(("PL-10002", 7 - i),))
    for flt in (
        OrderFilter(),
        OrderFilter(descending=False),
        OrderFilter(sort="total"),
        OrderFilter(sort="number", descending=False),
        OrderFilter(search="customer"),
    ):
        forward = await _walk(shop, flt, limit=3)
        assert len(forward) == 7
        # The last page, then backwards from its first row, page by page.
        last = await shop.orders.page(flt, after=None, limit=7)
        cursor: str | None = last.cursors[-1]
        back: list[int] = [last.rows[-1].number]
        while cursor is not None:
            page = await shop.orders.page(flt, before=cursor, limit=3)
            assert len(page.cursors) == len(page.rows)
            back = [r.number for r in page.rows] + back
            cursor = page.prev_cursor
        assert back == forward, flt


async def test_page_cursors_anchor_anywhere(shop: Services, clock: FixedClock) -> None:
    for i in range(5):
        clock.advance(60)
        await new_order(shop, name=f"Customer {i}")
    first = await shop.orders.page(OrderFilter(), limit=5)
    numbers = [r.number for r in first.rows]
    assert first.prev_cursor is None and first.next_cursor is None
    # after row 1: rows 2..; before row 3: rows ..2, in queue order both ways
    after = await shop.orders.page(OrderFilter(), after=first.cursors[1], limit=2)
    assert [r.number for r in after.rows] == numbers[2:4]
    assert after.prev_cursor == after.cursors[0] and after.next_cursor == after.cursors[-1]
    before = await shop.orders.page(OrderFilter(), before=first.cursors[3], limit=2)
    assert [r.number for r in before.rows] == numbers[1:3]
    assert before.prev_cursor == before.cursors[0]  # row 0 still precedes
    assert before.next_cursor == before.cursors[-1]
    top = await shop.orders.page(OrderFilter(), before=first.cursors[2], limit=5)
    assert [r.number for r in top.rows] == numbers[:2]
    assert top.prev_cursor is None
    nothing = await shop.orders.page(OrderFilter(), before=first.cursors[0], limit=5)
    assert nothing.rows == [] and nothing.prev_cursor is None and nothing.next_cursor is None
    # a cursor from one sort is still a position in the same sort after a status filter
    await shop.orders.set_status(numbers[2], Status.PROCESSING)
    only_new = await shop.orders.page(
        OrderFilter(status=Status.NEW), before=first.cursors[4], limit=5
    )
    assert [r.number for r in only_new.rows] == [numbers[0], numbers[1], numbers[3]]
    with pytest.raises(InvalidInput, match="not both"):
        await shop.orders.page(OrderFilter(), after=first.cursors[0], before=first.cursors[1])
    with pytest.raises(InvalidInput, match="invalid page cursor"):
        await shop.orders.page(OrderFilter(), before="garbage!")


@pytest.mark.parametrize("path", ["listed", "member", "intersect", "exists"])
async def test_search_plans_give_the_same_pages(
    shop: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Rare words are listed, common ones checked during the index walk: same answers."""
    import services.orders as orders_module

    names = ["Grace Hopper", "Grace Kelly", "Alan Turing", "Grace Hopper", "Ada Byron"]
    numbers = []
    for i, name in enumerate(names):
        clock.advance(60)
        numbers.append(await new_order(shop, name=name, email=f"p{i}@example.org"))
    limits = {
        "listed": (10_000, 20_000),
        "member": (0, 20_000),
        "intersect": (2, 20_000),  # 'grace' alone is too many to list, 'grace hop' is not
        "exists": (0, 0),
    }[path]
    monkeypatch.setattr(orders_module, "SEARCH_LIST_LIMIT", limits[0])
    monkeypatch.setattr(orders_module, "SEARCH_COMMON", limits[1])
    newest_first = numbers[::-1]
    grace = [n for n, name in zip(numbers, names, strict=True) if "Grace" in name][::-1]
    page = await shop.orders.page(OrderFilter(search="grace"), limit=2)
    assert [r.number for r in page.rows] == grace[:2]
    rest = await shop.orders.page(OrderFilter(search="grace"), after=page.next_cursor, limit=2)
    assert [r.number for r in rest.rows] == grace[2:]
    assert [r.number for r in (await shop.orders.page(OrderFilter(search="grace hop"))).rows] == [
        numbers[3],
        numbers[0],
    ]
    assert (await shop.orders.page(OrderFilter(search="grace turing"))).rows == []
    assert (await shop.orders.page(OrderFilter(search="zzz"))).rows == []
    everyone = await shop.orders.page(OrderFilter(search="example.org"))
    assert [r.number for r in everyone.rows] == newest_first


async def test_status_filter_walks_the_sort_index_for_common_statuses(
    shop: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import services.orders as orders_module

    numbers = []
    for i in range(4):
        clock.advance(60)
        numbers.append(await new_order(shop, lines=(("PL-10002", i + 1),)))
    await shop.orders.set_status(numbers[1], Status.PROCESSING)
    expected = [numbers[3], numbers[2], numbers[0]]  # new ones, biggest total first
    for common in (0, 10_000):
        monkeypatch.setattr(orders_module, "STATUS_COMMON", common)
        for sort in ("total", "number"):
            page = await shop.orders.page(OrderFilter(status=Status.NEW, sort=sort), limit=2)
            rest = await shop.orders.page(
                OrderFilter(status=Status.NEW, sort=sort), after=page.next_cursor, limit=2
            )
            assert [r.number for r in page.rows + rest.rows] == expected, (common, sort)


async def test_last_change_moves_with_any_change(shop: Services, clock: FixedClock) -> None:
    empty = await shop.orders.last_change()
    assert empty == (None, 0)
    number = await new_order(shop)
    created = await shop.orders.last_change()
    assert created != empty
    clock.advance(1)
    await shop.orders.add_memo(number, "x")
    memo = await shop.orders.last_change()
    assert memo != created and memo[0] == clock.now
    assert await shop.orders.last_change() == memo  # nothing changed: same token


async def test_new_order_tells_the_staff_address_when_the_shop_has_one(shop: Services) -> None:
    shop.orders.staff_email = "orders@shop.example"
    number = await new_order(shop)
    detail = await shop.orders.show(number)
    staff = [n for n in detail.notifications if n.event == "new_order_staff"]
    assert [(n.channel, n.to, n.state) for n in staff] == [
        ("email", "orders@shop.example", "queued")
    ]


async def test_hold_email_carries_the_reason_it_was_held_for(shop: Services) -> None:
    number = await new_order(shop)
    await shop.orders.set_status(
        number, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER, notify=True
    )
    async with shop.db.read_session() as s:
        rows = (
            (await s.execute(select(Notification).where(Notification.event == "held")))
            .scalars()
            .all()
        )
    assert [r.payload["reason"] for r in rows] == ["awaiting_customer"]


async def test_sort_by_status_is_lifecycle_order_walked_both_ways(
    shop: Services, clock: FixedClock
) -> None:
    """Status sort: new, processing, … in the machine's order, newest first within a
    status; pages cross from one status to the next, forwards and backwards."""
    made: list[int] = []
    for i in range(9):
        clock.advance(60)
        made.append(await new_order(shop, name=f"Customer {i}"))
    for number in made[:3]:
        await shop.orders.set_status(number, Status.PROCESSING)
    for number in made[3:5]:
        await shop.orders.set_status(number, Status.CANCELED)
    rank = {s: i for i, s in enumerate(shop.workflow.statuses)}
    details = [await shop.orders.show(n) for n in made]
    expected = [
        d.number
        for d in sorted(details, key=lambda d: (rank[d.status], -d.row.placed_at.timestamp()))
    ]
    for descending in (True, False):
        flt = OrderFilter(sort="status", descending=descending)
        want = expected if descending else expected[::-1]
        mine = [n for n in await _walk(shop, flt, limit=2) if n in made]
        assert mine == want
        last = await shop.orders.page(flt, limit=50)
        cursor: str | None = last.cursors[-1]
        back = [last.rows[-1].number]
        while cursor is not None:
            page = await shop.orders.page(flt, before=cursor, limit=2)
            back = [r.number for r in page.rows] + back
            cursor = page.prev_cursor
        assert [n for n in back if n in made] == want
    only = await shop.orders.page(OrderFilter(status=Status.CANCELED, sort="status"))
    assert [r.number for r in only.rows] == [made[4], made[3]]
    with pytest.raises(InvalidInput):
        await shop.orders.page(OrderFilter(sort="status"), after="WyJ4IiwgMV0")
