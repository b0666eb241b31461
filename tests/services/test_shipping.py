"""Shipping against a real SQLite file and a real PostgreSQL server: partial shipments, the
status following the goods, the e-mails they send (to a real SMTP server), deleting a
shipment, every refusal writing nothing, and auto-complete against a real HTTP server."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.container import Services
from services.errors import Conflict, InvalidInput, NotFound, Refused
from services.models import Order, Shipment
from services.orders import OrderFilter
from services.settings import load_settings
from services.shipping import CannotShip, DuplicateTracking, NewShipment
from services.statuses import HoldReason, Status
from services.workflow import IllegalTransition
from tests.conftest import FixedClock
from tests.services.test_shipping_support import (
    DROP,
    STOCK_A,
    STOCK_B,
    UPS_EXAMPLE,
    audit_rows,
    new_order,
    off_by_one,
    outbox_rows,
    prepare,
    ready_order,
    seed_catalogue,
    snapshot,
    tracking,
    tracking_server,
)

S = Status


async def open_shop(db_url: str, clock: FixedClock, **settings: Any) -> Services:
    services = await Services.open(
        load_settings(db=db_url, operator="tester", **settings), clock=clock
    )
    await seed_catalogue(services)
    return services


@pytest.fixture
async def shop(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    services = await open_shop(db_url, clock)
    try:
        yield services
    finally:
        await services.close()


# -- a real SMTP server -------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


# -- partial, then the rest ---------------------------------------------------------------


async def test_partial_shipment_then_the_rest(shop: Services, clock: FixedClock) -> None:
    number = await new_order(shop, lines=((STOCK_A, 3), (STOCK_B, 1)))
    await prepare(shop, number)
    first, second = tracking("ups", 1), tracking("fedex", 2)

    clock.advance(3600)
    one = await shop.shipping.ship(
        number,
        NewShipment(
            tracking=first,
            lines=((STOCK_A, 2),),
            expected_delivery=date(2026, 11, 24),
            comment="The first box is on its way.",
            memo="split: wiper blade still on the bench",
            notify=True,
        ),
    )
    assert one.order.status is S.PARTIALLY_SHIPPED
    assert one.shipment.carrier == "ups" and one.shipment.tracking == first
    assert one.shipment.lines == ((STOCK_A, 2),)
    assert [(ln.sku, ln.packed, ln.shipped) for ln in one.order.lines] == [
        (STOCK_A, 1, 2),  # packed and not shipped, shipped
        (STOCK_B, 1, 0),
    ]

    clock.advance(3600)
    two = await shop.shipping.ship(
        number, NewShipment(tracking=second, comment="And the rest.", notify=True)
    )
    assert two.order.status is S.SHIPPED
    assert two.shipment.lines == ((STOCK_A, 1), (STOCK_B, 1))  # the default: what was ready
    assert all(ln.shipped == ln.quantity for ln in two.order.lines)
    assert [s.tracking for s in two.order.row.shipments] == [first, second]

    # history: ready_to_ship -> partially_shipped -> shipped, with comment and memo
    steps = [(h.from_status, h.to_status) for h in two.order.history if h.kind == "status"]
    assert steps[-2:] == [(S.READY_TO_SHIP, S.PARTIALLY_SHIPPED), (S.PARTIALLY_SHIPPED, S.SHIPPED)]
    partial = next(h for h in two.order.history if h.to_status is S.PARTIALLY_SHIPPED)
    assert partial.comment == "The first box is on its way."
    assert partial.memo == "split: wiper blade still on the bench"

    # e-mails queued in order, each carrying its own shipment
    emails = [n for n in await outbox_rows(shop, number) if n.channel == "email"]
    assert [n.event for n in emails] == ["partially_shipped", "shipped"]
    p1, p2 = emails[0].payload, emails[1].payload
    assert p1["tracking"] == first and p1["carrier"] == "ups"
    assert p1["url"] == f"https://www.ups.com/track?tracknum={first}"
    assert p1["expected_delivery"] == "2026-11-24"
    assert p1["lines_shipped"] == [
        {"sku": STOCK_A, "name": "Classic Spark Plug 4-Pack", "quantity": 2}
    ]
    assert p1["lines_remaining"] == [
        {"sku": STOCK_A, "name": "Classic Spark Plug 4-Pack", "quantity": 1},
        {"sku": STOCK_B, "name": "Classic Wiper Blade", "quantity": 1},
    ]
    assert p1["comment"] == "The first box is on its way."
    assert (p1["from"], p1["to"]) == ("ready_to_ship", "partially_shipped")
    assert p2["tracking"] == second and p2["lines_remaining"] == []
    assert p2["expected_delivery"] is None

    # the tracking numbers find the order
    for number_text in (first, second.lower()):
        page = await shop.orders.page(OrderFilter(search=number_text))
        assert [r.number for r in page.rows] == [number]
    audits = await audit_rows(shop, "shipment.create")
    assert [a.detail["tracking"] for a in audits] == [first, second]


async def test_a_second_partial_shipment_keeps_the_status_and_still_emails(
    shop: Services,
) -> None:
    number = await new_order(shop, lines=((STOCK_A, 3), (STOCK_B, 2)))
    await prepare(shop, number)
    await shop.shipping.ship(
        number, NewShipment(tracking=tracking("ups", 3), lines=((STOCK_A, 1),))
    )
    before = (await shop.orders.show(number)).version
    again = await shop.shipping.ship(
        number,
        NewShipment(
            tracking=tracking("usps", 4),
            lines=((STOCK_B, 1),),
            comment="another box",
            memo="two to go",
            notify=True,
        ),
    )
    assert again.order.status is S.PARTIALLY_SHIPPED
    assert again.order.version > before
    last = again.order.history[-1]
    assert (last.kind, last.from_status, last.to_status) == (
        "shipment",
        *(2 * [S.PARTIALLY_SHIPPED]),
    )
    assert (last.comment, last.memo) == ("another box", "two to go")
    assert again.order.row.last_memo == "two to go"
    mail = [n for n in await outbox_rows(shop, number) if n.channel == "email"]
    assert [n.event for n in mail] == ["partially_shipped"]  # the first went without notify
    assert mail[0].payload["tracking"] == tracking("usps", 4)
    assert mail[0].payload["lines_shipped"][0]["sku"] == STOCK_B


async def test_emails_reach_a_real_smtp_server_in_order(db_url: str, clock: FixedClock) -> None:
    with smtp_server() as (port, inbox):
        shop = await open_shop(
            db_url,
            clock,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="orders@shop.example",
            smtp_timeout=5.0,
        )
        try:
            number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
            await prepare(shop, number)
            first, second = tracking("ups", 5), tracking("dhl", 6)
            await shop.shipping.ship(
                number,
                NewShipment(
                    tracking=first,
                    lines=((STOCK_A, 2),),
                    expected_delivery=date(2026, 11, 25),
                    comment="Part one, expected Wednesday.",
                    notify=True,
                ),
            )
            clock.advance(60)
            await shop.shipping.ship(number, NewShipment(tracking=second, notify=True))
            report = await shop.notifications.run_once()
            assert report.sent == 2, report.errors
            # the second box was a mistake: deleted (no e-mail), then shipped again
            clock.advance(60)
            back = await shop.shipping.delete_shipment(number, second, reason="wrong box")
            assert back.order.status is S.PARTIALLY_SHIPPED
            assert (await shop.notifications.run_once()).sent == 0
            clock.advance(60)
            third = tracking("usps", 37)
            await shop.shipping.ship(number, NewShipment(tracking=third, notify=True))
            assert (await shop.notifications.run_once()).sent == 1
            detail = await shop.orders.show(number)
        finally:
            await shop.close()
    steps = [h.to_status for h in detail.history if h.kind == "status"]
    assert steps[-4:] == [S.PARTIALLY_SHIPPED, S.SHIPPED, S.PARTIALLY_SHIPPED, S.SHIPPED]
    assert [m["Subject"] for m in inbox.messages] == [
        f"Part of your order #{number} is on its way",
        f"Your order #{number} has shipped",
        f"Your order #{number} has shipped",
    ]
    partial, shipped, again = (text_of(m) for m in inbox.messages)
    assert all(m["To"] == "ada@example.org" for m in inbox.messages)
    assert first in partial and "Part one, expected Wednesday." in partial
    assert f"Track it: https://www.ups.com/track?tracknum={first}" in partial
    assert "Expected delivery:" in partial and "November 25" in partial
    assert second in shipped
    assert f"Track it: https://www.dhl.com/en/express/tracking.html?AWB={second}" in shipped
    assert third in again and f"tLabels={third}" in again
    assert second not in again  # the deleted package is not listed any more


async def test_seed_workflow_in_one_call(shop: Services) -> None:
    """Set Shipped, add the tracking number, a customer message with the expected delivery
    date, a memo for staff; Save + Send Email."""
    number = await ready_order(shop)
    result = await shop.shipping.ship(
        f"#{number}",
        NewShipment(
            tracking="1z 999 aa1 0123 4567 84",  # as read off a label: spaces, lower case
            expected_delivery=date(2026, 11, 24),
            comment="Expected Tuesday, November 24.",
            memo="picked up by UPS at 16:05",
            notify=True,
        ),
    )
    d = result.order
    assert d.status is S.SHIPPED
    assert d.row.shipments[0].tracking == UPS_EXAMPLE
    assert d.row.shipments[0].expected_delivery == date(2026, 11, 24)
    event = d.history[-1]
    assert (event.to_status, event.comment, event.memo) == (
        S.SHIPPED,
        "Expected Tuesday, November 24.",
        "picked up by UPS at 16:05",
    )
    assert d.row.last_memo == "picked up by UPS at 16:05"
    (mail,) = [n for n in d.notifications if n.channel == "email"]
    assert (mail.event, mail.state) == ("shipped", "queued")


async def test_processing_and_drop_ship_lines_need_no_packing(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 1), (DROP, 2)))
    await prepare(shop, number, status=S.PROCESSING)
    # the vendor's package: drop-ship lines ship without being packed here
    vendor = await shop.shipping.ship(
        number, NewShipment(tracking=tracking("fedex", 7), lines=((DROP, 2),))
    )
    assert vendor.order.status is S.PARTIALLY_SHIPPED
    assert vendor.shipment.source == "vendor"
    drop_line = next(ln for ln in vendor.order.lines if ln.sku == DROP)
    assert (drop_line.packed, drop_line.shipped) == (0, 2)
    ours = await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 8)))
    assert ours.shipment.source == "shop" and ours.shipment.lines == ((STOCK_A, 1),)
    assert ours.order.status is S.SHIPPED


async def test_default_takes_what_is_packed_and_drop_ship(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 3), (STOCK_B, 2), (DROP, 1)))
    await prepare(shop, number, packed={STOCK_A: 2}, status=S.PROCESSING)
    plan = await shop.shipping.plan(number)
    assert plan.why_not is None and plan.requires_packing
    assert [(ln.sku, ln.ready) for ln in plan.lines] == [(STOCK_A, 2), (STOCK_B, 0), (DROP, 1)]
    result = await shop.shipping.ship(number, NewShipment(tracking=tracking("usps", 9)))
    assert result.shipment.lines == ((STOCK_A, 2), (DROP, 1))
    assert result.order.status is S.PARTIALLY_SHIPPED


async def test_without_the_packing_rule_unpacked_stock_ships(
    db_url: str, clock: FixedClock
) -> None:
    shop = await open_shop(db_url, clock, ship_requires_packing=False)
    try:
        number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
        await prepare(shop, number, packed={}, status=S.PROCESSING)
        plan = await shop.shipping.plan(number)
        assert [(ln.sku, ln.ready) for ln in plan.lines] == [(STOCK_A, 2), (STOCK_B, 1)]
        result = await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 10)))
        assert result.order.status is S.SHIPPED
        assert [(ln.packed, ln.shipped) for ln in result.order.lines] == [(0, 2), (0, 1)]
    finally:
        await shop.close()


async def test_a_sku_on_two_lines_is_spread_over_both(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 1), (STOCK_B, 1), (STOCK_A, 2)))
    await prepare(shop, number)
    result = await shop.shipping.ship(
        number, NewShipment(tracking=tracking("ups", 11), lines=((STOCK_A, 2), (STOCK_A, 1)))
    )
    assert result.shipment.lines == ((STOCK_A, 1), (STOCK_A, 2))
    assert result.order.status is S.PARTIALLY_SHIPPED


# -- refusals -----------------------------------------------------------------------------


async def test_every_refusal_changes_nothing(shop: Services, clock: FixedClock) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number, packed={STOCK_A: 2}, status=S.PROCESSING)  # wiper: not packed
    other = await ready_order(shop)
    taken = tracking("ups", 12)
    await shop.shipping.ship(other, NewShipment(tracking=taken))
    fresh = await new_order(shop)
    held = await new_order(shop)
    await shop.orders.set_status(held, S.HELD, reason=HoldReason.AWAITING_PAYMENT)
    partial = await ready_order(shop)
    mine = tracking("dhl", 36)
    await shop.shipping.ship(partial, NewShipment(tracking=mine, lines=((STOCK_A, 1),)))
    good = tracking("fedex", 13)
    cases: list[tuple[str | int, NewShipment, type[Refused], str]] = [
        (number, NewShipment(tracking=off_by_one(good)), InvalidInput, "check digit"),
        (number, NewShipment(tracking="1Z999AA1012345678"), InvalidInput, "18 characters"),
        (number, NewShipment(tracking="ABC123XYZ"), InvalidInput, "--carrier"),
        (number, NewShipment(tracking=good, carrier="no such!"), InvalidInput, "carrier"),
        (number, NewShipment(tracking=taken), DuplicateTracking, f"order #{other}"),
        # the same number twice on one order: refused even when confirmed
        (
            partial,
            NewShipment(tracking=mine, confirm_duplicate=True),
            CannotShip,
            "already a shipment of order",
        ),
        (number, NewShipment(tracking=good, lines=((STOCK_A, 3),)), CannotShip, "2 ordered"),
        (number, NewShipment(tracking=good, lines=((STOCK_B, 1),)), CannotShip, "pack them"),
        (number, NewShipment(tracking=good, lines=(("PL-19999", 1),)), InvalidInput, "not on"),
        (number, NewShipment(tracking=good, lines=((STOCK_A, 0),)), InvalidInput, "1 or more"),
        (fresh, NewShipment(tracking=good), CannotShip, "is new"),
        (held, NewShipment(tracking=good), CannotShip, "release the hold"),
        (other, NewShipment(tracking=good), CannotShip, "shipped in full"),
        (number, NewShipment(tracking=good, comment="x" * 10_001), InvalidInput, "too long"),
        (
            number,
            NewShipment(tracking=good, ship_date=date(2026, 11, 23)),
            InvalidInput,
            "in the future",
        ),
        (
            number,
            NewShipment(tracking=good, ship_date=date(2026, 1, 2)),
            InvalidInput,
            "before order",
        ),
        (
            number,
            NewShipment(tracking=good, expected_delivery=date(2026, 11, 19)),
            InvalidInput,
            "before the ship date",
        ),
        (99999, NewShipment(tracking=good), NotFound, "no order #99999"),
    ]
    before = await snapshot(shop)
    for ref, new, kind, words in cases:
        with pytest.raises(kind) as info:
            await shop.shipping.ship(ref, new)
        assert words in str(info.value), (words, str(info.value))
        assert await snapshot(shop) == before, words
    # a stale version
    version = (await shop.orders.show(number)).version
    with pytest.raises(Conflict):
        await shop.shipping.ship(number, NewShipment(tracking=good), expected_version=version - 1)
    assert await snapshot(shop) == before


async def test_a_duplicate_ships_once_confirmed(shop: Services) -> None:
    first = await ready_order(shop)
    second = await ready_order(shop)
    shared = tracking("usps", 14)
    await shop.shipping.ship(first, NewShipment(tracking=shared))
    check = await shop.shipping.check_tracking(shared)
    assert check.used_on == (first,) and check.carrier == "usps"
    with pytest.raises(DuplicateTracking) as info:
        await shop.shipping.ship(second, NewShipment(tracking=shared))
    assert info.value.other_orders == (first,)
    result = await shop.shipping.ship(second, NewShipment(tracking=shared, confirm_duplicate=True))
    assert result.order.status is S.SHIPPED
    (audit,) = [a for a in await audit_rows(shop, "shipment.create") if a.entity_id == second]
    assert audit.detail["also_on"] == [first]


# -- deleting a shipment ------------------------------------------------------------------


async def test_delete_a_shipment_and_back(shop: Services, clock: FixedClock) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number)
    a, b = tracking("ups", 15), tracking("fedex", 16)
    await shop.shipping.ship(number, NewShipment(tracking=a, lines=((STOCK_A, 2),)))
    await shop.shipping.ship(number, NewShipment(tracking=b))
    assert (await shop.orders.show(number)).status is S.SHIPPED

    clock.advance(600)
    undone = await shop.shipping.delete_shipment(number, b, reason="label printed twice")
    assert undone.order.status is S.PARTIALLY_SHIPPED
    assert undone.shipment.deleted_at == clock.now
    assert undone.shipment.delete_reason == "label printed twice"
    assert [(ln.sku, ln.packed, ln.shipped) for ln in undone.order.lines] == [
        (STOCK_A, 0, 2),
        (STOCK_B, 1, 0),  # back to packed, not shipped
    ]
    assert [s.tracking for s in undone.order.row.shipments] == [a]
    last = undone.order.history[-1]
    assert (last.from_status, last.to_status) == (S.SHIPPED, S.PARTIALLY_SHIPPED)
    assert "label printed twice" in last.memo and b in last.memo
    assert undone.to_json()["deleted_shipment"]["tracking"] == b

    back = await shop.shipping.delete_shipment(f"#{number}", a.lower(), reason="wrong order")
    assert back.order.status is S.READY_TO_SHIP  # where it shipped from
    assert all(ln.shipped == 0 for ln in back.order.lines)
    assert back.order.row.shipments == ()
    # nothing is lost: both rows are kept, marked deleted
    records = await shop.shipping.shipments(number)
    assert [(r.tracking, r.deleted, r.delete_reason) for r in records] == [
        (a, True, "wrong order"),
        (b, True, "label printed twice"),
    ]
    audits = await audit_rows(shop, "shipment.delete")
    assert [x.detail["reason"] for x in audits] == ["label printed twice", "wrong order"]
    # no customer e-mail for an undo
    assert [n.event for n in await outbox_rows(shop, number) if n.channel == "email"] == []
    # and it ships again, with the same tracking number
    again = await shop.shipping.ship(number, NewShipment(tracking=b))
    assert again.order.status is S.SHIPPED


async def test_delete_returns_to_processing_when_it_shipped_from_there(shop: Services) -> None:
    number = await new_order(shop)
    await prepare(shop, number, status=S.PROCESSING)
    t = tracking("dhl", 17)
    await shop.shipping.ship(number, NewShipment(tracking=t))
    back = await shop.shipping.delete_shipment(number, t, reason="carrier never came")
    assert back.order.status is S.PROCESSING


async def test_delete_a_middle_partial_keeps_partially_shipped(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number)
    a, b = tracking("ups", 18), tracking("ups", 19)
    await shop.shipping.ship(number, NewShipment(tracking=a, lines=((STOCK_A, 1),)))
    await shop.shipping.ship(number, NewShipment(tracking=b, lines=((STOCK_A, 1),)))
    result = await shop.shipping.delete_shipment(number, a, reason="duplicate entry")
    assert result.order.status is S.PARTIALLY_SHIPPED
    assert result.order.history[-1].kind == "shipment"
    assert "duplicate entry" in result.order.history[-1].memo


async def test_delete_refusals_change_nothing(shop: Services) -> None:
    number = await ready_order(shop)
    t = tracking("ups", 20)
    await shop.shipping.ship(number, NewShipment(tracking=t))
    done = await ready_order(shop)
    td = tracking("ups", 21)
    await shop.shipping.ship(done, NewShipment(tracking=td))
    await shop.orders.set_status(done, S.COMPLETE)
    before = await snapshot(shop)
    for ref, number_text, reason, kind, words in [
        (number, t, "  ", InvalidInput, "needs a reason"),
        (number, tracking("ups", 22), "typo", NotFound, "no shipment with tracking"),
        (done, td, "typo", CannotShip, "is complete"),
        (number, t, "x" * 10_001, InvalidInput, "too long"),
    ]:
        with pytest.raises(kind, match=words):
            await shop.shipping.delete_shipment(ref, number_text, reason=reason)
        assert await snapshot(shop) == before


async def test_status_cannot_go_back_while_goods_are_out(shop: Services) -> None:
    number = await ready_order(shop)
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 23)))
    with pytest.raises(IllegalTransition, match="delete the shipment"):
        await shop.orders.set_status(number, S.READY_TO_SHIP)
    options = await shop.orders.options(number)
    assert options[S.READY_TO_SHIP] is not None and options[S.COMPLETE] is None


# -- auto-complete ------------------------------------------------------------------------


async def test_auto_complete_is_off_by_default(shop: Services) -> None:
    number = await ready_order(shop)
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 24)))
    report = await shop.shipping.auto_complete()
    assert not report.enabled and report.completed == ()
    assert (await shop.orders.show(number)).status is S.SHIPPED


async def test_auto_complete_after_n_days(db_url: str, clock: FixedClock) -> None:
    shop = await open_shop(db_url, clock, auto_complete_days=7)
    try:
        old = await ready_order(shop)
        await shop.shipping.ship(old, NewShipment(tracking=tracking("ups", 25)))
        unpaid = await new_order(shop)
        await prepare(shop, unpaid, paid=False, status=S.PROCESSING)
        await shop.shipping.ship(unpaid, NewShipment(tracking=tracking("ups", 26)))
        clock.advance(timedelta(days=5).total_seconds())
        recent = await ready_order(shop)
        await shop.shipping.ship(recent, NewShipment(tracking=tracking("ups", 27)))
        clock.advance(timedelta(days=2, seconds=1).total_seconds())
        report = await shop.shipping.auto_complete(notify=True)
        assert [n for n, _ in report.completed] == [old]
        assert "over 7 days ago" in report.completed[0][1]
        assert [n for n, _ in report.skipped] == [unpaid]
        assert "payment is unpaid" in report.skipped[0][1]
        d = await shop.orders.show(old)
        assert d.status is S.COMPLETE and d.history[-1].memo.startswith("auto-complete:")
        assert [n.event for n in d.notifications if n.channel == "email"] == ["complete"]
        assert (await shop.orders.show(recent)).status is S.SHIPPED
        assert (await shop.orders.show(unpaid)).status is S.SHIPPED
    finally:
        await shop.close()


async def test_auto_complete_on_the_carriers_delivered_event(
    db_url: str, clock: FixedClock
) -> None:
    delivered, moving, broken, unknown = (tracking("ups", n) for n in (28, 29, 30, 31))
    two_a, two_b = tracking("usps", 32), tracking("usps", 33)
    answers = {
        delivered: (200, {"status": "Delivered", "delivered_at": "2026-11-22T15:04:00Z"}),
        moving: (200, {"status": "in_transit"}),
        broken: (500, {"error": "boom"}),
        two_a: (200, {"tag": "DELIVERED"}),
        two_b: (200, {"status": "delivered"}),
    }
    with tracking_server(answers) as server:
        shop = await open_shop(
            db_url, clock, tracking_url=server.url, tracking_key="sekrit", tracking_timeout=5.0
        )
        try:
            numbers = {}
            for t in (delivered, moving, broken, unknown):
                numbers[t] = await ready_order(shop)
                await shop.shipping.ship(numbers[t], NewShipment(tracking=t))
            both = await new_order(shop, lines=((STOCK_A, 1), (STOCK_B, 1)))
            await prepare(shop, both)
            await shop.shipping.ship(both, NewShipment(tracking=two_a, lines=((STOCK_A, 1),)))
            await shop.shipping.ship(both, NewShipment(tracking=two_b))
            report = await shop.shipping.auto_complete()
        finally:
            await shop.close()
    assert report.tracking and report.days == 0
    assert dict(report.completed) == {
        numbers[delivered]: "carrier reports its package delivered on 2026-11-22",
        both: "carrier reports all 2 packages delivered",
    }
    assert [n for n, _ in report.errors] == [numbers[broken]]
    assert "HTTP 500" in report.errors[0][1]
    assert report.skipped == ()
    paths = {path for path, _ in server.requests}
    assert f"/v1/track/ups/{delivered}" in paths
    assert all(h.get("Authorization") == "Bearer sekrit" for _, h in server.requests)
    assert not any("sekrit" in e for _, e in report.errors)


async def test_plan_lists_deleted_shipments_and_why_not(shop: Services) -> None:
    number = await new_order(shop)
    plan = await shop.shipping.plan(number)
    assert plan.why_not is not None and "is new" in plan.why_not
    await prepare(shop, number, packed={}, status=S.PROCESSING)
    plan = await shop.shipping.plan(number)
    assert plan.why_not is not None and "pack it first" in plan.why_not
    await prepare_packed(shop, number)
    t = tracking("ups", 34)
    await shop.shipping.ship(number, NewShipment(tracking=t))
    await shop.shipping.delete_shipment(number, t, reason="oops")
    plan = await shop.shipping.plan(number)
    assert plan.why_not is None
    assert [(s.tracking, s.deleted) for s in plan.shipments] == [(t, True)]
    assert plan.to_json()["shipments"][0]["delete_reason"] == "oops"


async def prepare_packed(shop: Services, number: int) -> None:
    async with shop.db.write_session() as s, s.begin():
        order = (
            await s.execute(
                select(Order).where(Order.number == number).options(selectinload(Order.lines))
            )
        ).scalar_one()
        for ln in order.lines:
            ln.packed = ln.quantity


async def test_shipment_rows_record_who_and_from_where(shop: Services) -> None:
    number = await ready_order(shop)
    await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", 35)))
    async with shop.db.read_session() as s:
        rows = list((await s.execute(select(Shipment.created_by, Shipment.source))).all())
    assert [tuple(r) for r in rows] == [("tester", "shop")]
