"""`c` and `r` on an order, from the keyboard, checked afterwards through the payment
service: no gateway is explained instead of a button; money received by check is
recorded and releases the payment hold; a full refund is confirmed first; a refund by
line with restock says what it gives back and puts the goods on the shelf; a role that
may not refund sees the button greyed with the reason; canceling a paid order offers the
refund in the same step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Select

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.order import OrderScreen
from screens.payment_dialogs import ChargeDialog, RefundDialog
from screens.queue_columns import queue_columns
from screens.status_dialog import StatusDialog
from services.container import Services
from services.models import Order, OrderLine, Product, StockLevel
from services.settings import load_settings
from services.statuses import PaymentMethod, PaymentStatus, Status
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, rendered, settle, wait_for


async def open_dialog(pilot: Pilot[Any], key: str, kind: type) -> Any:
    await settle(pilot)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind))
    dialog: Any = pilot.app.screen
    await wait_for(pilot, lambda: dialog.summary is not None)
    await settle(pilot)
    return dialog


async def paid_by_check(shop: Services) -> int:
    number = await create_order(shop, payment_method=PaymentMethod.CHECK)
    summary = await shop.payments.summary(number)
    await shop.payments.record(number, summary.chargeable, PaymentMethod.CHECK)
    return number


async def test_no_gateway_is_explained_instead_of_a_button(shop: Services) -> None:
    number = await create_order(shop)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        dialog = await open_dialog(pilot, "c", ChargeDialog)
        assert not dialog.query_one("#charge", Button).display
        assert "gateway" in rendered(app, "pay-note").lower()
    assert (await shop.payments.summary(number)).captured == 0


async def test_charge_button_carries_the_amount_it_charges(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    """A card order with a gateway (`manual`: the card terminal): the button says what is
    due, follows the amount typed, and charges exactly that."""
    number = await create_order(shop)
    settings = load_settings(db=shop_url, operator="tester", payment_gateway="manual")
    desk = await Services.open(settings, clock=clock)
    try:
        due = await desk.payments.summary(number)
        app = PacklineApp(desk, order=str(number))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            dialog = await open_dialog(pilot, "c", ChargeDialog)
            button = dialog.query_one("#charge", Button)
            assert str(button.label) == f"Charge {due.money(due.chargeable)}"
            amount = dialog.query_one("#pay-amount", Input)
            amount.value = "abc"
            await settle(pilot)
            assert str(button.label) == "Charge ?"
            amount.value = "5"
            await settle(pilot)
            assert str(button.label) == "Charge $5.00"
            dialog.set_focus(button)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
            await settle(pilot)
        after = await desk.payments.summary(number)
    finally:
        await desk.close()
    assert (after.captured, after.status) == (500, PaymentStatus.UNPAID)
    assert after.balance_due == due.chargeable - 500


async def test_record_a_check_releases_the_payment_hold(shop: Services) -> None:
    number = await create_order(shop, payment_method=PaymentMethod.CHECK)
    before = await shop.payments.summary(number)
    assert before.charge_op == "record" and before.order_status is Status.HELD
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        dialog = await open_dialog(pilot, "c", ChargeDialog)
        button = dialog.query_one("#charge", Button)
        assert str(button.label) == f"Record {before.money(before.chargeable)} received"
        await pilot.press("enter")  # the button has the focus
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    after = await shop.payments.summary(number)
    assert after.captured == before.chargeable and after.status is PaymentStatus.PAID
    assert after.order_status is not Status.HELD


async def test_full_refund_is_confirmed_then_given(shop: Services) -> None:
    number = await paid_by_check(shop)
    paid = await shop.payments.summary(number)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        dialog = await open_dialog(pilot, "r", RefundDialog)
        button = dialog.query_one("#refund", Button)
        assert str(button.label) == f"Refund {paid.money(paid.refundable)}"
        dialog.set_focus(button)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert app.screen.message == (  # type: ignore[attr-defined]
            f"Give {paid.money(paid.refundable)} back to the customer of #{number}? "
            "This cannot be undone."
        )
        assert (await shop.payments.summary(number)).refunded == 0  # not before yes
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    after = await shop.payments.summary(number)
    assert after.refunded == paid.captured and after.status is PaymentStatus.REFUNDED


async def _ship_all(shop: Services, number: int) -> None:
    """What shipping leaves behind on the order's lines (the shipping service owns how)."""
    async with shop.db.write_session() as session:
        order_id = select(Order.id).where(Order.number == number).scalar_subquery()
        await session.execute(
            update(OrderLine)
            .where(OrderLine.order_id == order_id)
            .values(shipped=OrderLine.quantity, packed=0)
        )
        await session.commit()


async def _on_hand(shop: Services, sku: str) -> int:
    async with shop.db.read_session() as session:
        levels = await session.execute(
            select(StockLevel.on_hand)
            .join(Product, Product.id == StockLevel.product_id)
            .where(Product.sku == sku)
        )
        return sum(int(n) for n in levels.scalars())


async def test_a_line_refund_with_restock_says_what_and_puts_the_goods_back(
    shop: Services,
) -> None:
    number = await paid_by_check(shop)
    await _ship_all(shop, number)
    on_hand = await _on_hand(shop, "PL-10001")
    paid = await shop.payments.summary(number)
    line = next(ln for ln in paid.refundable_lines if ln.sku == "PL-10001")
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        dialog = await open_dialog(pilot, "r", RefundDialog)
        dialog.query_one("#refund-mode", Select).value = "lines"
        await settle(pilot)
        qty = dialog.query_one(f"#refund-qty-{line.line_id}", Input)
        qty.focus()
        await pilot.press("backspace", "1")
        dialog.query_one("#restock", Checkbox).value = True
        await settle(pilot)
        button = dialog.query_one("#refund", Button)
        assert str(button.label) == f"Refund {paid.money(line.unit_price)}"
        dialog.set_focus(button)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert app.screen.message == (  # type: ignore[attr-defined]
            f"Give {paid.money(line.unit_price)} back to the customer of #{number} for "
            "PL-10001 × 1 and put the goods back on the shelf? This cannot be undone."
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    after = await shop.payments.summary(number)
    assert after.refunded == line.unit_price
    assert after.status is PaymentStatus.PARTIALLY_REFUNDED
    assert await _on_hand(shop, "PL-10001") == on_hand + 1
    [refund] = [p for p in (await shop.orders.show(number)).payments if p.kind == "refund"]
    assert [(ln.sku, ln.quantity, ln.restock) for ln in refund.lines] == [("PL-10001", 1, True)]


async def test_a_packer_sees_refund_greyed_with_the_reason(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    number = await paid_by_check(shop)
    settings = load_settings(db=shop_url, operator="pat", roles={"pat": "packer"})
    packer = await Services.open(settings, clock=clock)
    try:
        app = PacklineApp(packer, order=str(number))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            dialog = await open_dialog(pilot, "r", RefundDialog)
            assert dialog.query_one("#refund", Button).disabled
            assert "manager" in rendered(app, "pay-note")
    finally:
        await packer.close()
    assert (await shop.payments.summary(number)).refunded == 0


async def test_cancel_offers_the_refund(shop: Services) -> None:
    number = await paid_by_check(shop)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
        await settle(pilot)
        status = app.screen
        assert isinstance(status, StatusDialog)
        for _ in range(12):
            if status.chosen is Status.CANCELED:
                break
            await pilot.press("down")
        assert status.chosen is Status.CANCELED
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, RefundDialog))
        assert (await shop.orders.show(number)).status is Status.CANCELED


async def test_queue_shows_the_payment_status_and_the_shops_risk_flag(
    shop: Services, shop_url: str, clock: FixedClock
) -> None:
    """The queue's Payment and Risk cells from real rows: the status derived from the
    payments, and "high" from the shop's hold threshold (10 here), not the default 60."""
    settings = load_settings(db=shop_url, operator="tester", risk={"hold_threshold": 10})
    strict = await Services.open(settings, clock=clock)
    try:
        number = await create_order(strict, note="please ring twice")  # 10 points
        paid = await create_order(strict, email="b@example.org", payment_method=PaymentMethod.CHECK)
        await strict.payments.record(paid, 300, PaymentMethod.CHECK)
        rows = {r.number: r for r in (await strict.orders.page()).rows}
        columns = {c.label: c.cell for c in queue_columns(strict.workflow, wide=True)}
        risk, payment = columns["Risk"], columns["Payment"]
        flagged = risk(rows[number])
        assert (flagged.plain, flagged.style) == ("⚑10", "bold red")
        assert payment(rows[number]).plain == "unpaid"
        total = rows[paid].total
        await strict.payments.record(paid, total - 300, PaymentMethod.CASH)
        await strict.payments.refund(paid, amount=100)
        rows = {r.number: r for r in (await strict.orders.page()).rows}
        assert payment(rows[paid]).plain == "part refund"
    finally:
        await strict.close()
    default = {r.number: r for r in (await shop.orders.page()).rows}
    assert risk(default[number]).style != "bold red"  # 10 is "review" at the default 60
