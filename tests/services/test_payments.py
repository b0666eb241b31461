"""Payments against a real SQLite file and a real PostgreSQL server; the card gateway is a
real HTTP server on 127.0.0.1 (tests/services/test_payments_support.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from services.container import Services
from services.display import money
from services.errors import InvalidInput, Refused
from services.gateways import GatewayNotConfigured
from services.models import (
    AuditLog,
    Notification,
    Order,
    OrderLine,
    Payment,
    Product,
    StockLevel,
    Warehouse,
)
from services.orders import NewAddress, NewOrder
from services.roles import NotAllowed
from services.seed import seed_database
from services.settings import load_settings
from services.statuses import HoldReason, PaymentMethod, PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.test_payments_support import KEY, FakeGateway, Step, fake_gateway

HOME = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="Springfield",
    postal_code="62701",
    region="IL",
    country="US",
)
LINES = (("PL-10002", 2), ("PL-10003", 1))


@asynccontextmanager
async def opened(db_url: str, clock: FixedClock, **settings: Any) -> AsyncIterator[Services]:
    base: dict[str, Any] = {"db": db_url, "operator": "tester"}
    base.update(settings)
    s = await Services.open(load_settings(**base), clock=clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def shop(services: Services) -> Services:
    """Gateway `none` (the default), no roles configured: the operator is a manager."""
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    return services


@pytest.fixture
async def manual(shop: Services, db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    async with opened(db_url, clock, payment_gateway="manual") as s:
        yield s


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with fake_gateway() as gw:
        yield gw


@pytest.fixture
async def card(
    shop: Services, db_url: str, clock: FixedClock, gateway: FakeGateway
) -> AsyncIterator[Services]:
    async with opened(
        db_url,
        clock,
        payment_gateway="http",
        payment_url=gateway.url,
        payment_key=KEY,
        # Long enough for a loaded machine (the whole exchange gets twice this); the slow
        # answers of the timeout tests wait for the test, not for the clock.
        payment_timeout=1.5,
    ) as s:
        yield s


async def order(
    s: Services,
    *,
    method: PaymentMethod = PaymentMethod.CARD,
    lines: tuple[tuple[str, int], ...] = LINES,
    email: str = "ada@example.org",
) -> int:
    detail = await s.orders.create(
        NewOrder(
            customer_name="Ada Lovelace",
            email=email,
            shipping=HOME,
            lines=lines,
            payment_method=method,
        )
    )
    return detail.number


async def snapshot(s: Services, number: int) -> tuple[Any, ...]:
    """Everything a refused action must leave alone."""
    async with s.db.read_session() as session:
        detail = await s.orders.show(number)
        payments = (await session.execute(select(func.count()).select_from(Payment))).scalar()
        audits = (await session.execute(select(func.count()).select_from(AuditLog))).scalar()
        stock = (await session.execute(select(func.sum(StockLevel.on_hand)))).scalar()
    return (detail.version, detail.status, detail.row.payment_status, payments, audits, stock)


async def test_no_gateway_says_so_and_how_to_set_one_up(shop: Services) -> None:
    n = await order(shop)
    before = await snapshot(shop, n)
    with pytest.raises(GatewayNotConfigured) as refused:
        await shop.payments.charge(n)
    message = str(refused.value)
    assert message.startswith("no payment gateway is configured")
    for needle in (
        "PACKLINE_PAYMENT_GATEWAY=http",
        "PACKLINE_PAYMENT_URL",
        "PACKLINE_PAYMENT_KEY",
        "PACKLINE_PAYMENT_GATEWAY=manual",
    ):
        assert needle in message
    assert await snapshot(shop, n) == before
    summary = await shop.payments.summary(n)
    assert summary.gateway == "none" and summary.gateway_problem == message
    assert (summary.charge_op, summary.chargeable) == ("charge", summary.total)


async def test_partial_and_line_refunds_add_up(manual: Services) -> None:
    n = await order(manual)
    charged = await manual.payments.charge(n)
    assert charged.approved and charged.summary.status is PaymentStatus.PAID
    total = charged.summary.total
    price = {ln.sku: ln.unit_price for ln in charged.summary.refundable_lines}

    by_line = await manual.payments.refund(n, lines=[("PL-10002", 1)], reason="scratched")
    assert by_line.payment.amount == price["PL-10002"]
    assert by_line.summary.status is PaymentStatus.PARTIALLY_REFUNDED
    [line] = by_line.payment.lines
    assert (line.sku, line.quantity, line.amount, line.restock) == (
        "PL-10002",
        1,
        price["PL-10002"],
        False,
    )
    refundable = {ln.sku: ln.refundable for ln in by_line.summary.refundable_lines}
    assert refundable == {"PL-10002": 1, "PL-10003": 1}

    by_amount = await manual.payments.refund(n, amount=150)
    assert by_amount.summary.refunded == price["PL-10002"] + 150

    rest = await manual.payments.refund(n)  # everything that is left
    assert rest.payment.amount == total - price["PL-10002"] - 150
    assert rest.summary.status is PaymentStatus.REFUNDED
    assert rest.summary.refunded == rest.summary.captured == total

    detail = await manual.orders.show(n)
    refunds = [p for p in detail.payments if p.kind == "refund"]
    assert sum(p.amount for p in refunds) == total
    assert detail.to_json()["payments"][1]["lines"][0]["sku"] == "PL-10002"
    assert detail.row.payment_status is PaymentStatus.REFUNDED
    with pytest.raises(Refused, match="already refunded in full"):
        await manual.payments.refund(n, amount=1)


async def test_every_refusal_changes_nothing(manual: Services) -> None:
    n = await order(manual)
    before = await snapshot(manual, n)
    with pytest.raises(Refused, match="no captured payment to refund"):
        await manual.payments.refund(n)
    with pytest.raises(Refused, match="no open authorization or charge to void"):
        await manual.payments.void(n)
    with pytest.raises(InvalidInput, match="more than zero"):
        await manual.payments.charge(n, -100)
    with pytest.raises(InvalidInput, match="more than the"):
        await manual.payments.charge(n, 10**9)
    with pytest.raises(InvalidInput, match="made by hand"):
        await manual.payments.record(n, 100, PaymentMethod.CARD)
    assert await snapshot(manual, n) == before

    await manual.payments.charge(n)
    before = await snapshot(manual, n)
    captured = (await manual.payments.summary(n)).captured
    attempts: list[tuple[type[Exception], str, Any]] = [
        (Refused, "already paid", manual.payments.charge(n)),
        (InvalidInput, "more than the", manual.payments.refund(n, amount=captured + 1)),
        (
            InvalidInput,
            "only 2 of PL-10002 can still be refunded",
            manual.payments.refund(n, lines=[("PL-10002", 3)]),
        ),
        (InvalidInput, "not on order", manual.payments.refund(n, lines=[("PL-99999", 1)])),
        (InvalidInput, "not both", manual.payments.refund(n, amount=5, lines=[("PL-10002", 1)])),
        (InvalidInput, "restock goes with lines", manual.payments.refund(n, restock=True)),
        (
            InvalidInput,
            "never shipped",
            manual.payments.refund(n, lines=[("PL-10002", 1)], restock=True),
        ),
        (Refused, "already paid", manual.payments.record(n, 100, PaymentMethod.CHECK)),
        (InvalidInput, "too long", manual.payments.refund(n, reason="x" * 5000)),
    ]
    for kind, why, attempt in attempts:
        with pytest.raises(kind, match=why):
            await attempt
        assert await snapshot(manual, n) == before, why

    other = await order(manual, email="grace@example.org")
    await manual.orders.set_status(other, Status.CANCELED)
    before = await snapshot(manual, other)
    with pytest.raises(Refused, match="is canceled; it cannot be charged"):
        await manual.payments.charge(other)
    assert await snapshot(manual, other) == before


async def _ship(s: Services, number: int, sku: str, warehouse: str | None) -> None:
    """What shipping leaves behind on a line (the shipping service owns how it gets there)."""
    async with s.db.write_session() as session:
        wid = None
        if warehouse:
            wid = (
                await session.execute(select(Warehouse.id).where(Warehouse.code == warehouse))
            ).scalar_one()
        await session.execute(
            update(OrderLine)
            .where(
                OrderLine.sku == sku,
                OrderLine.order_id
                == select(Order.id).where(Order.number == number).scalar_subquery(),
            )
            .values(shipped=OrderLine.quantity, packed=0, warehouse_id=wid)
        )
        await session.commit()


async def _on_hand(s: Services, sku: str) -> dict[str, int]:
    async with s.db.read_session() as session:
        rows = await session.execute(
            select(Warehouse.code, StockLevel.on_hand)
            .join(StockLevel, StockLevel.warehouse_id == Warehouse.id)
            .join(Product, Product.id == StockLevel.product_id)
            .where(Product.sku == sku)
        )
        return {code: int(qty) for code, qty in rows.all()}


async def test_restock_puts_shipped_goods_back_where_they_came_from(manual: Services) -> None:
    n = await order(manual)
    await manual.payments.charge(n)
    await _ship(manual, n, "PL-10002", "EAST")  # the line names its warehouse
    await _ship(manual, n, "PL-10003", None)  # it does not: the best warehouse stocking it
    before_1, before_3 = await _on_hand(manual, "PL-10002"), await _on_hand(manual, "PL-10003")

    result = await manual.payments.refund(
        n, lines=[("PL-10002", 2), ("PL-10003", 1)], restock=True, reason="returned"
    )
    assert result.approved
    after_1, after_3 = await _on_hand(manual, "PL-10002"), await _on_hand(manual, "PL-10003")
    assert after_1["EAST"] == before_1.get("EAST", 0) + 2
    assert after_1.get("MAIN") == before_1.get("MAIN")
    best = min(before_3, key=lambda code: {"MAIN": 1, "EAST": 2}[code])
    assert after_3[best] == before_3[best] + 1
    assert {(ln.sku, ln.warehouse) for ln in result.payment.lines} == {
        ("PL-10002", "EAST"),
        ("PL-10003", best),
    }
    assert any("back in stock at EAST" in note for note in result.notes)
    # Nothing is put back twice.
    assert all(ln.restockable == 0 for ln in result.summary.refundable_lines)


async def test_drop_ship_goods_are_never_restocked(manual: Services) -> None:
    async with manual.db.read_session() as session:
        sku = (
            await session.execute(select(Product.sku).where(Product.drop_ship.is_(True)).limit(1))
        ).scalar_one()
    n = await order(manual, lines=((sku, 1),))
    await manual.payments.charge(n)
    await _ship(manual, n, sku, None)
    before = await snapshot(manual, n)
    with pytest.raises(InvalidInput, match="drop ship"):
        await manual.payments.refund(n, lines=[(sku, 1)], restock=True)
    assert await snapshot(manual, n) == before


async def _flags(s: Services, number: int) -> list[str]:
    async with s.db.read_session() as session:
        stmt = select(Order.flags).where(Order.number == number)
        return list((await session.execute(stmt)).scalar_one())


async def test_cancel_offers_the_refund_and_refund_works_after(manual: Services) -> None:
    n = await order(manual)
    paid = await manual.payments.charge(n)
    canceled = await manual.orders.set_status(n, Status.CANCELED)
    assert canceled.status is Status.CANCELED
    summary = await manual.payments.summary(n)
    money = summary.money(paid.summary.total)
    assert summary.next_step == f"paid {money}: refund with `packline pay refund {n}`"
    assert any(f.startswith("refund due:") for f in await _flags(manual, n))

    refund = await manual.payments.refund(n, reason="canceled", notify=True)
    assert refund.approved and refund.summary.status is PaymentStatus.REFUNDED
    assert refund.summary.next_step == ""
    detail = await manual.orders.show(n)
    assert [x.event for x in detail.notifications if x.channel == "email"] == ["refunded"]
    assert not any(f.startswith("refund due:") for f in await _flags(manual, n))


async def test_check_orders_wait_on_hold_until_the_money_is_in(shop: Services) -> None:
    # Manual methods need no gateway at all.
    n = await order(shop, method=PaymentMethod.CHECK)
    detail = await shop.orders.show(n)
    assert detail.status is Status.HELD and detail.row.hold_reason is HoldReason.AWAITING_PAYMENT
    assert detail.history[-1].actor == "payments"
    total = detail.row.total

    part = await shop.payments.record(n, total - 500, PaymentMethod.CHECK, note="check #1201")
    assert part.approved and part.released_to is None
    assert part.summary.status is PaymentStatus.UNPAID and part.summary.balance_due == 500
    assert "waiting for $5.00 by check" in part.summary.next_step
    assert (await shop.orders.show(n)).status is Status.HELD

    with pytest.raises(InvalidInput, match=r"more than the \$5.00 due"):
        await shop.payments.record(n, 600, PaymentMethod.CHECK)
    rest = await shop.payments.record(n, 500, PaymentMethod.CASH)
    assert rest.released_to is Status.NEW
    assert rest.summary.status is PaymentStatus.PAID and rest.summary.order_status is Status.NEW
    assert "recorded $5.00 received by cash" in rest.message
    last = (await shop.orders.show(n)).history[-1]
    assert (last.from_status, last.to_status, last.memo) == (
        Status.HELD,
        Status.NEW,
        "payment received",
    )


async def test_terms_are_accepted_by_a_manager_only(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    roles = {"maria": "manager", "lee": "manager", "sam": "packer"}
    n = await order(shop, method=PaymentMethod.TERMS)
    before = await snapshot(shop, n)
    async with opened(db_url, clock, operator="sam", roles=roles) as sam:
        with pytest.raises(NotAllowed) as refused:
            await sam.payments.accept_terms(n)
        assert str(refused.value) == (
            "sorry sam: accepting payment terms needs the manager role (you are a packer); "
            "lee and maria are managers"
        )
        with pytest.raises(NotAllowed, match="refunds need the manager role"):
            await sam.payments.refund(n)
    assert await snapshot(shop, n) == before
    async with opened(db_url, clock, operator="maria", roles=roles) as maria:
        detail = await maria.payments.accept_terms(n, memo="net 30, account 88")
    assert detail.terms_accepted and detail.status is Status.NEW
    assert detail.history[-1].memo == "net 30, account 88 (terms accepted)"
    assert detail.history[-1].actor == "maria"
    with pytest.raises(Refused, match="already accepted"):
        await shop.payments.accept_terms(n)
    card = await order(shop, email="b@example.org")
    with pytest.raises(Refused, match="only orders on terms or COD"):
        await shop.payments.accept_terms(card)


async def test_unlisted_logins_are_staff(shop: Services, db_url: str, clock: FixedClock) -> None:
    n = await order(shop, method=PaymentMethod.CHECK)
    async with opened(db_url, clock, operator="kim", roles={"maria": "manager"}) as kim:
        recorded = await kim.payments.record(n, 100, PaymentMethod.CHECK)
        assert recorded.approved and recorded.payment.actor == "kim"
        with pytest.raises(NotAllowed, match=r"\(you are staff\); maria is a manager"):
            await kim.payments.refund(n)


# -- through the HTTP gateway ---------------------------------------------------------------


async def test_gateway_approves(card: Services, gateway: FakeGateway) -> None:
    n = await order(card)
    result = await card.payments.charge(n)
    assert result.approved, result.message
    assert result.summary.status is PaymentStatus.PAID
    assert result.payment.gateway_ref.startswith("ch_")
    assert f"gateway ref {result.payment.gateway_ref}" in result.message
    [call] = gateway.calls
    assert call.headers["Idempotency-Key"] == result.payment.idempotency_key
    assert call.body == {"amount": result.summary.total, "currency": "USD", "order": str(n)}

    refund = await card.payments.refund(n, amount=300, reason="late")
    assert refund.approved
    assert gateway.calls[-1].path == "/refunds"
    assert gateway.calls[-1].body["charge"] == result.payment.gateway_ref  # type: ignore[index]
    assert gateway.calls[-1].headers["Idempotency-Key"] != call.headers["Idempotency-Key"]


async def test_gateway_declines_with_its_reason(card: Services, gateway: FakeGateway) -> None:
    n = await order(card)
    gateway.then(Step("decline", reason="insufficient funds"))
    result = await card.payments.charge(n)
    assert result.outcome == "declined" and not result.approved
    assert "insufficient funds" in result.message
    assert "contact the customer to update the payment method" in result.message
    assert result.payment.state == "declined"
    detail = await card.orders.show(n)
    assert detail.row.payment_status is PaymentStatus.DECLINED
    assert "1 declined payment attempt before approval" in detail.row.risk_reasons
    # A new attempt is a new charge with a new key; it can succeed.
    again = await card.payments.charge(n)
    assert again.approved
    assert len(set(gateway.keys())) == 2


async def test_a_500_is_unknown_and_the_retry_reuses_the_key(
    card: Services, gateway: FakeGateway
) -> None:
    n = await order(card)
    gateway.then(Step("status", code=500, body=b"oops"))
    first = await card.payments.charge(n)
    assert first.outcome == "unknown"
    assert first.message.startswith("unknown, check the gateway")
    assert first.summary.status is PaymentStatus.UNPAID
    assert first.summary.unresolved is not None
    key = first.payment.idempotency_key

    # Nothing else may happen to the money until this is settled.
    before = await snapshot(card, n)
    with pytest.raises(Refused, match="unknown"):
        await card.payments.record(n, 100, PaymentMethod.CHECK)
    with pytest.raises(Refused, match="unknown"):
        await card.payments.charge(n, 100)
    with pytest.raises(Refused, match="unknown"):
        await card.payments.refund(n)
    assert await snapshot(card, n) == before

    retry = await card.payments.charge(n)
    assert retry.approved
    assert retry.payment.idempotency_key == key
    assert gateway.keys() == [key, key]
    detail = await card.orders.show(n)
    assert [(p.kind, p.state) for p in detail.payments] == [("charge", "approved")]
    assert detail.row.payment_status is PaymentStatus.PAID


async def test_a_timeout_is_unknown_and_the_retry_cannot_charge_twice(
    card: Services, gateway: FakeGateway
) -> None:
    n = await order(card)
    gateway.then(Step("slow"))
    first = await card.payments.charge(n)
    assert first.outcome == "unknown"
    assert first.message.startswith("unknown, check the gateway")
    assert "did not answer within 1.5 s" in first.message
    assert first.payment.state == "unknown"
    assert (await card.orders.show(n)).payments[-1].state == "unknown"
    # The gateway goes on and charges the card after we stopped waiting.
    gateway.release.set()
    for _ in range(250):
        if gateway.performed:
            break
        await asyncio.sleep(0.02)
    assert len(gateway.performed) == 1
    retry = await card.payments.charge(n)
    assert retry.approved
    assert len(gateway.performed) == 1 and gateway.replays == 1
    assert retry.payment.idempotency_key == first.payment.idempotency_key


async def test_without_a_gateway_a_card_refund_says_nothing_was_refunded(
    card: Services, db_url: str, clock: FixedClock
) -> None:
    n = await order(card)
    assert (await card.payments.charge(n)).approved
    async with opened(db_url, clock) as none:  # the gateway setting was removed
        before = await snapshot(none, n)
        with pytest.raises(GatewayNotConfigured) as refused:
            await none.payments.refund(n, amount=100)
        assert str(refused.value).startswith(
            "no payment gateway is configured, so nothing was refunded: to charge cards set "
            "PACKLINE_PAYMENT_GATEWAY=http"
        )
        with pytest.raises(GatewayNotConfigured, match="so nothing was voided"):
            await none.payments.void(n)
        assert await snapshot(none, n) == before
    async with opened(db_url, clock, payment_gateway="http") as broken:  # no URL, no key
        with pytest.raises(GatewayNotConfigured, match=r"PAYMENT_KEY; nothing was refunded$"):
            await broken.payments.refund(n, amount=100)


async def test_the_api_key_comes_from_the_config_file_or_the_environment(
    shop: Services,
    db_url: str,
    clock: FixedClock,
    gateway: FakeGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "packline.toml"
    config.write_text(
        f'payment_gateway = "http"\npayment_url = "{gateway.url}"\npayment_key = "{KEY}"\n'
    )
    n = await order(shop)
    monkeypatch.setenv("PACKLINE_PAYMENT_KEY", "sk_wrong")  # the environment wins
    s = await Services.open(load_settings(config, db=db_url, operator="tester"), clock=clock)
    try:
        refused = await s.payments.charge(n)
    finally:
        await s.close()
    assert refused.outcome == "error" and "401" in refused.message
    assert refused.summary.status is PaymentStatus.UNPAID
    monkeypatch.delenv("PACKLINE_PAYMENT_KEY")
    s = await Services.open(load_settings(config, db=db_url, operator="tester"), clock=clock)
    try:
        charged = await s.payments.charge(n)
    finally:
        await s.close()
    assert charged.approved, charged.message
    assert [c.headers["Authorization"] for c in gateway.calls] == [
        "Bearer sk_wrong",
        f"Bearer {KEY}",
    ]


async def test_authorize_capture_and_void(card: Services, gateway: FakeGateway) -> None:
    n = await order(card)
    auth = await card.payments.authorize(n)
    assert auth.approved and auth.summary.status is PaymentStatus.AUTHORIZED
    assert auth.summary.charge_op == "capture"
    captured = await card.payments.charge(n)  # captures the authorization
    assert captured.payment.kind == "capture" and captured.summary.status is PaymentStatus.PAID
    assert gateway.calls[-1].body["authorization"] == auth.payment.gateway_ref  # type: ignore[index]

    other = await order(card, email="grace@example.org")
    await card.payments.authorize(other)
    await card.orders.set_status(other, Status.CANCELED)
    hint = (await card.payments.summary(other)).next_step
    assert hint.startswith("authorized $") and f"packline pay void {other}" in hint
    voided = await card.payments.void(other, reason="canceled")
    assert voided.approved and voided.summary.status is PaymentStatus.VOIDED
    assert gateway.calls[-1].path == "/voids"


async def _refund_mails(s: Services, number: int) -> list[dict[str, Any]]:
    async with s.db.read_session() as session:
        rows = await session.execute(
            select(Notification.payload)
            .join(Order, Order.id == Notification.order_id)
            .where(Order.number == number, Notification.event == "refunded")
            .order_by(Notification.id)
        )
        return [dict(p) for p in rows.scalars()]


async def test_a_refund_is_spread_over_the_payments_of_a_split_paid_order(
    manual: Services,
) -> None:
    """Paid in two parts: a refund larger than the newest part goes back to both, newest
    first, one refund per payment; the goods ride on the first part; one e-mail tells the
    whole."""
    n = await order(manual)
    total = (await manual.payments.summary(n)).total
    first = await manual.payments.charge(n, total - 1000)
    second = await manual.payments.charge(n)
    assert first.approved and second.approved and second.payment.amount == 1000
    price = {ln.sku: ln.unit_price for ln in second.summary.refundable_lines}
    assert price["PL-10002"] * 2 > 1000  # two units cost more than the newest payment

    result = await manual.payments.refund(n, lines=[("PL-10002", 2)], reason="late", notify=True)
    assert result.approved
    want = 2 * price["PL-10002"]
    assert result.message.startswith(f"refunded {money(want)} on #{n} in 2 parts")
    assert (result.payment.amount, len(result.payment.lines)) == (1000, 1)  # the first part
    detail = await manual.orders.show(n)
    refunds = [p for p in detail.payments if p.kind == "refund"]
    assert [p.amount for p in refunds] == [1000, want - 1000]  # the newest payment first
    assert [len(p.lines) for p in refunds] == [1, 0]  # the goods ride on the first part
    assert refunds[0].lines[0].quantity == 2
    assert all(p.reason == "late" for p in refunds)
    assert len({p.idempotency_key for p in refunds}) == 2
    assert result.summary.status is PaymentStatus.PARTIALLY_REFUNDED
    assert result.summary.refunded == want
    assert [ln.refundable for ln in result.summary.refundable_lines if ln.sku == "PL-10002"] == [0]
    assert [m["amount"] for m in await _refund_mails(manual, n)] == [want]

    rest = await manual.payments.refund(n, amount=total - want)  # an amount: the same way
    assert rest.approved and rest.summary.status is PaymentStatus.REFUNDED
    with pytest.raises(Refused, match="already refunded in full"):
        await manual.payments.refund(n)


async def test_a_spread_refund_stops_at_a_declined_part_and_says_what_went_back(
    card: Services, gateway: FakeGateway
) -> None:
    n = await order(card)
    total = (await card.payments.summary(n)).total
    one = await card.payments.charge(n, 500)
    two = await card.payments.charge(n)
    gateway.then(Step("approve"), Step("decline", reason="charge too old"))
    result = await card.payments.refund(n, notify=True)
    assert result.outcome == "declined" and not result.approved
    back = money(total - 500)
    assert result.message.startswith(
        f"refunded {back} on #{n} ({back}), but not the $5.00 still to go back to another "
        "payment: declined"
    )
    assert "charge too old" in result.message
    refunds = [c for c in gateway.calls if c.path == "/refunds"]
    assert [c.body["charge"] for c in refunds] == [  # type: ignore[index]
        two.payment.gateway_ref,  # the newest payment first
        one.payment.gateway_ref,
    ]
    summary = await card.payments.summary(n)
    assert (summary.refunded, summary.status) == (total - 500, PaymentStatus.PARTIALLY_REFUNDED)
    assert [m["amount"] for m in await _refund_mails(card, n)] == [total - 500]
    # The rest, once the gateway takes it: the first payment.
    again = await card.payments.refund(n)
    assert again.approved and again.payment.amount == 500
    assert gateway.calls[-1].body["charge"] == one.payment.gateway_ref  # type: ignore[index]
    assert (await card.payments.summary(n)).status is PaymentStatus.REFUNDED


async def test_a_spread_refund_goes_back_through_each_payments_own_gateway(
    card: Services, gateway: FakeGateway
) -> None:
    """A deposit by check, the balance by card: a refund of more than the card payment
    sends the card part to the card gateway (its charge, a fresh key) and records the
    check part by hand; a retry of an unknown part resends that part's own key."""
    n = await order(card)
    total = (await card.payments.summary(n)).total
    deposit = await card.payments.record(n, 700, PaymentMethod.CHECK, note="check #88")
    balance = await card.payments.charge(n)
    assert deposit.approved and balance.approved and balance.payment.amount == total - 700
    assert balance.summary.status is PaymentStatus.PAID

    gateway.then(Step("status", code=500, body=b"oops"))
    unknown = await card.payments.refund(n, amount=total - 200, reason="damaged")
    assert unknown.outcome == "unknown" and unknown.message.startswith("unknown, check")
    assert unknown.payment.amount == total - 700  # the card part went first, and stopped
    assert unknown.summary.refunded == 0
    # Settle it: the same key again, and then the rest from the check.
    retry = await card.payments.refund(n)
    assert retry.approved and retry.payment.idempotency_key == unknown.payment.idempotency_key
    rest = await card.payments.refund(n, amount=500, reason="damaged")
    assert rest.approved and "pay the customer back by check yourself" in rest.message

    refunds = [c for c in gateway.calls if c.path == "/refunds"]
    assert [c.body["charge"] for c in refunds] == [balance.payment.gateway_ref] * 2  # type: ignore[index]
    key = unknown.payment.idempotency_key
    assert [c.headers["Idempotency-Key"] for c in refunds] == [key, key]
    detail = await card.orders.show(n)
    parts = [(p.kind, p.method, p.amount, p.state) for p in detail.payments]
    assert parts == [
        ("charge", "check", 700, "approved"),
        ("charge", "card", total - 700, "approved"),
        ("refund", "card", total - 700, "approved"),
        ("refund", "check", 500, "approved"),
    ]
    assert detail.row.payment_status is PaymentStatus.PARTIALLY_REFUNDED


async def test_a_refund_with_restock_tells_the_channels_the_new_stock(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    hook = "http://127.0.0.1:9/stock"
    async with opened(db_url, clock, payment_gateway="manual", stock_webhooks=[hook]) as s:
        n = await order(s)
        await s.payments.charge(n)
        await _ship(s, n, "PL-10002", "EAST")
        on_hand = (await _on_hand(s, "PL-10002"))["EAST"]
        await s.payments.refund(n, lines=[("PL-10002", 1)])  # no restock: no news
        await s.payments.refund(n, lines=[("PL-10002", 1)], restock=True, reason="returned")
        async with s.db.read_session() as session:
            told = list(
                (
                    await session.execute(
                        select(Notification)
                        .where(Notification.event == "stock.changed")
                        .order_by(Notification.id)
                    )
                ).scalars()
            )
        [row] = [t for t in told if t.payload.get("reason") == "refund restock"]
        assert (row.recipient, row.channel, row.payload["number"]) == (hook, "webhook", n)
        [item] = row.payload["items"]
        east = next(w for w in item["warehouses"] if w["warehouse"] == "EAST")
        assert (item["sku"], east["on_hand"]) == ("PL-10002", on_hand + 1)
