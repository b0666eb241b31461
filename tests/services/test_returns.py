"""Returns and exchanges on a real SQLite file and a real PostgreSQL server: orders are
made, charged (manual gateway) and shipped through the real services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from services.container import Services
from services.errors import InvalidInput, NotFound, Refused
from services.models import AuditLog, Notification, Order, Payment, Return, StockLevel
from services.return_views import Receipt
from services.returns import parse_rma
from services.statuses import PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.test_returns_support import (
    DROP,
    A,
    B,
    barcode_of,
    on_hand,
    shipped_order,
    shop,
)

S = Status


@pytest.fixture
async def s(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    async with shop(db_url, clock) as services:
        yield services


async def snapshot(s: Services, number: int) -> tuple[Any, ...]:
    """Everything a refused return action must leave alone."""
    async with s.db.read_session() as session:
        counts = []
        for table in (Return, Payment, AuditLog, Notification):
            counts.append((await session.execute(select(func.count()).select_from(table))).scalar())
        stock = (await session.execute(select(func.sum(StockLevel.on_hand)))).scalar()
    d = await s.orders.show(number)
    return (d.version, d.status, d.row.payment_status, tuple(counts), stock)


async def test_open_receive_restock_refund_and_tell_the_customer(s: Services) -> None:
    n = await shipped_order(s)
    before = await on_hand(s, A)
    reason = "arrived <b>cracked</b>\nbox crushed"

    opened = await s.returns.open(n, [(A, 1)], reason=reason, notify=True)

    r = opened.return_
    assert r.rma == f"RMA-{r.id}" and r.status == "requested" and r.reason == reason
    assert [(ln.sku, ln.quantity, ln.received) for ln in r.lines] == [(A, 1, 0)]
    assert opened.order.status is S.RETURN_REQUESTED
    assert "RMA-" in opened.order.history[-1].memo and reason in opened.order.history[-1].memo
    assert [x.event for x in opened.order.notifications if x.channel == "email"][-1] == (
        "return_requested"
    )

    got = await s.returns.receive(r.rma, notify=True)

    assert got.return_.status == "received"
    assert [(ln.received, ln.disposition) for ln in got.return_.lines] == [(1, "restock")]
    assert got.order.status is S.RETURNED
    assert got.refund is not None and got.refund.outcome == "approved"
    unit = next(ln.unit_price for ln in got.order.lines if ln.sku == A)
    assert got.refund.payment.amount == unit
    assert got.order.row.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    after = await on_hand(s, A)
    assert sum(after.values()) == sum(before.values()) + 1
    events = [x.event for x in got.order.notifications if x.channel == "email"]
    assert "return_received" in events and "refunded" in events
    # The payments service knows these units are back on a shelf: no second restock.
    summary = await s.payments.summary(n)
    line = next(x for x in summary.refundable_lines if x.sku == A)
    assert line.restockable == 1  # 2 shipped, 1 back


async def test_scanned_barcodes_write_off_and_a_second_return_later(s: Services) -> None:
    n = await shipped_order(s)
    first = await s.returns.open(n, [(A, 2)], reason="wrong size")
    code = await barcode_of(s, A)
    before = await on_hand(s, A)

    got = await s.returns.receive(
        first.return_.id,
        [Receipt(code, 1, restock=False)],  # one scanned, damaged; the other never came
        refund=False,
    )

    assert [(ln.received, ln.disposition) for ln in got.return_.lines] == [(1, "write_off")]
    assert await on_hand(s, A) == before
    assert got.refund is None and got.order.status is S.RETURNED
    # The unit that never came back may be asked again; the one received may not.
    again = await s.returns.open(n, [(A, 1), (B, 1)], reason="changed mind")
    assert again.order.status is S.RETURN_REQUESTED
    with pytest.raises(InvalidInput, match=r"only 0 of PL-10002 can be returned"):
        await s.returns.open(n, [(A, 1)], reason="more")
    rows = await s.returns.for_order(n)
    assert [r.status for r in rows] == ["received", "requested"]


async def test_refusals_change_nothing(s: Services) -> None:
    n = await shipped_order(s)
    fresh = (await s.orders.create(_new_like(n))).number
    before = await snapshot(s, n)
    cases: list[tuple[Any, str]] = [
        (s.returns.open(n, [(A, 3)], reason="x"), r"only 2 of PL-10002 can be returned"),
        (s.returns.open(n, [("NOPE", 1)], reason="x"), r"NOPE is not on order"),
        (s.returns.open(n, [(A, 1)], reason="  "), r"needs a reason"),
        (s.returns.open(n, [(A, 0)], reason="x"), r"whole number of 1 or more"),
        (s.returns.open(n, [], reason="x"), r"at least one line"),
        (s.returns.open(fresh, [(A, 1)], reason="x"), r"nothing has shipped yet"),
        (s.returns.receive("RMA-999"), r"no return RMA-999"),
        (s.returns.open(n, [(A, 1)], reason="x", expected_version=1), r"was changed by"),
    ]
    for call, message in cases:
        with pytest.raises(Refused, match=message):
            await call
    assert await snapshot(s, n) == before

    r = (await s.returns.open(n, [(A, 1)], reason="x")).return_
    before = await snapshot(s, n)
    for call, message in [
        (s.returns.receive(r.id, [Receipt(B, 1)]), r"PL-10003 is not in RMA-"),
        (s.returns.receive(r.id, [Receipt(A, 2)]), r"more were received than asked"),
        (s.returns.receive(r.id, [Receipt(A, 0)]), r"nothing of RMA-\d+ was received"),
        (s.returns.cancel(r.id, reason=""), r"say why"),
    ]:
        with pytest.raises(Refused, match=message):
            await call
    assert await snapshot(s, n) == before


def _new_like(n: int) -> Any:
    from services.orders import NewOrder
    from tests.services.test_returns_support import HOME

    return NewOrder(customer_name="Other", email="o@example.org", shipping=HOME, lines=((A, 1),))


async def test_cancel_goes_back_to_where_it_was(s: Services) -> None:
    n = await shipped_order(s)
    r = (await s.returns.open(n, [(A, 1)], reason="x")).return_
    done = await s.returns.cancel(r.rma, reason="customer kept it")
    assert done.return_.status == "canceled" and done.order.status is S.SHIPPED
    with pytest.raises(Refused, match="only a requested return"):
        await s.returns.receive(r.rma)
    # Canceled units may be asked again.
    again = await s.returns.open(n, [(A, 2)], reason="y")
    assert again.order.status is S.RETURN_REQUESTED


async def test_drop_ship_goods_are_written_off_not_restocked(s: Services) -> None:
    n = await shipped_order(s, ((A, 1), (DROP, 1)))
    r = (await s.returns.open(n, [(DROP, 1), (A, 1)], reason="x")).return_
    with pytest.raises(InvalidInput, match="drop ship"):
        await s.returns.receive(r.id, [Receipt(DROP, 1, restock=True)])
    # Scanned without saying: restock what is our stock, write off what never was.
    got = await s.returns.receive(r.id, [Receipt(DROP, 1), Receipt(A, 1)])
    assert {ln.sku: ln.disposition for ln in got.return_.lines} == {
        DROP: "write_off",
        A: "restock",
    }
    n2 = await shipped_order(s, ((A, 1), (DROP, 1)), seed=2)
    r2 = (await s.returns.open(n2, [(DROP, 1), (A, 1)], reason="x")).return_
    got = await s.returns.receive(r2.id)  # nothing listed: everything asked, the same way
    assert {ln.sku: ln.disposition for ln in got.return_.lines} == {
        DROP: "write_off",
        A: "restock",
    }


async def test_exchange_is_a_linked_order_paid_by_the_goods(s: Services) -> None:
    n = await shipped_order(s)
    r = (await s.returns.open(n, [(A, 1)], reason="wrong colour")).return_

    got = await s.returns.exchange(r.rma)

    ex = got.exchange
    assert ex is not None and got.return_.exchange_order == ex.number
    assert [(ln.sku, ln.quantity) for ln in ex.lines] == [(A, 1)]
    assert ex.channel == "exchange" and ex.row.total == 0
    assert ex.row.payment_status is PaymentStatus.PAID
    assert ex.status is S.NEW
    async with s.db.read_session() as session:
        link = (
            await session.execute(select(Order.exchange_of_id).where(Order.number == ex.number))
        ).scalar()
        original = (await session.execute(select(Order.id).where(Order.number == n))).scalar()
    assert link == original
    with pytest.raises(Refused, match="already has exchange order"):
        await s.returns.exchange(r.rma)
    with pytest.raises(Refused, match="cancel that order first"):
        await s.returns.cancel(r.rma, reason="x")
    # On receipt nothing is refunded: the replacement used the value.
    received = await s.returns.receive(r.rma)
    assert received.refund is None
    assert any("exchange order used" in note for note in received.notes)


async def test_exchange_for_something_dearer_leaves_the_difference_due(s: Services) -> None:
    n = await shipped_order(s, ((B, 1),))
    r = (await s.returns.open(n, [(B, 1)], reason="too small")).return_
    got = await s.returns.exchange(r.id, [(A, 3)])
    ex = got.exchange
    assert ex is not None
    lines_total = sum(ln.quantity * ln.unit_price for ln in ex.lines)
    unit_b = next(ln.unit_price for ln in got.order.lines if ln.sku == B)
    assert ex.subtotal == max(lines_total - unit_b, 0)
    assert ex.row.total == ex.subtotal + ex.shipping_total + ex.tax_total


async def test_refund_that_cannot_be_made_still_receives_the_goods(s: Services) -> None:
    n = await shipped_order(s)
    await s.payments.refund(n)  # everything already refunded
    r = (await s.returns.open(n, [(A, 1)], reason="x")).return_
    got = await s.returns.receive(r.id)
    assert got.return_.status == "received" and got.order.status is S.RETURNED
    assert got.refund is None
    assert any("no refund was made" in note and "pay refund" in note for note in got.notes)


def test_rma_references() -> None:
    assert parse_rma("RMA-12") == parse_rma("rma12") == parse_rma(" #12 ") == parse_rma(12) == 12
    with pytest.raises(NotFound):
        parse_rma("R-x")


async def test_list_open_returns_across_orders(s: Services) -> None:
    one = await shipped_order(s, seed=1)
    two = await shipped_order(s, seed=2)
    r1 = (await s.returns.open(one, [(A, 1)], reason="x")).return_
    await s.returns.open(two, [(B, 1)], reason="y")
    await s.returns.receive(r1.id, refund=False)
    waiting = await s.returns.list_returns(status="requested")
    assert [r.order_number for r in waiting] == [two]
    with pytest.raises(InvalidInput):
        await s.returns.list_returns(status="lost")


async def test_two_operators_exchanging_at_once_make_one_order(s: Services) -> None:
    import asyncio

    n = await shipped_order(s)
    r = (await s.returns.open(n, [(A, 1)], reason="x")).return_
    results = await asyncio.gather(
        s.returns.exchange(r.id), s.returns.exchange(r.id), return_exceptions=True
    )
    made = [x for x in results if not isinstance(x, BaseException)]
    refused = [x for x in results if isinstance(x, Refused)]
    assert made and len(made) + len(refused) == 2
    async with s.db.read_session() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(Order).where(Order.channel == "exchange")
            )
        ).scalar()
    assert count == 1
    [ret] = await s.returns.for_order(n)
    assert ret.exchange_order is not None


async def test_the_order_shows_its_returns_in_its_detail_and_json(s: Services) -> None:
    """The order screen and `orders show --json` list each RMA: what was asked back, what came
    back and where it went, and the exchange order it made."""
    n = await shipped_order(s)
    first = (await s.returns.open(n, [(A, 2)], reason="wrong <size>")).return_
    await s.returns.receive(first.rma, [Receipt(await barcode_of(s, A), 1, restock=False)])
    second = (await s.returns.open(n, [(B, 1)], reason="changed mind")).return_
    exchange = (await s.returns.exchange(second.rma)).exchange
    assert exchange is not None

    detail = await s.orders.show(n)

    assert [(r.rma, r.status, r.reason) for r in detail.returns] == [
        (first.rma, "received", "wrong <size>"),
        (second.rma, "requested", "changed mind"),
    ]
    assert [
        [(ln.sku, ln.quantity, ln.received, ln.disposition) for ln in r.lines]
        for r in detail.returns
    ] == [
        [(A, 2, 1, "write_off")],
        [(B, 1, 0, "")],
    ]
    assert [r.exchange_order for r in detail.returns] == [None, exchange.number]
    # The same view as `packline return show` gives (services/returns.py builds it too).
    assert detail.returns[0] == (await s.returns.get(first.rma))
    listed = detail.to_json()["returns"]
    assert listed[0] == detail.returns[0].to_json()
    assert listed[1]["exchange_order"] == exchange.number and listed[1]["received_at"] is None
    assert (await s.orders.show(exchange.number)).returns == ()
