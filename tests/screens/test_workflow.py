"""The seed workflow, end to end from the keyboard in an 80×24 terminal:

a new order arrives → Processing with a thank-you and "Save + Send Email" → Ready to Ship
(e-mail) → Shipped with a customer message naming the delivery date and a staff memo
(e-mail) → Complete with a final thank-you (e-mail). Packing, payment and the shipment
itself belong to later issues; the test records them the way those services will.
"""

from __future__ import annotations

from console.app import PacklineApp
from screens.order import OrderScreen
from screens.queue import QueueScreen
from screens.status_dialog import StatusDialog
from services.container import Services
from services.statuses import Status
from tests.conftest import FixedClock
from tests.screens.helpers import (
    create_order,
    pack_and_pay,
    rendered,
    screen_text,
    settle,
    ship_everything,
    wait_for,
)


async def seen_by_screen(pilot: object, app: PacklineApp, shop: Services, number: int) -> None:
    """The order screen picks up changes made elsewhere by itself (within a second)."""
    version = (await shop.orders.show(number)).version
    screen = app.screen
    assert isinstance(screen, OrderScreen)
    await wait_for(pilot, lambda: screen.detail is not None and screen.detail.version == version)  # type: ignore[arg-type]


async def change_status(pilot: object, app: PacklineApp, to: Status, *keys: str) -> None:
    """`s`, walk to `to`, type into the form, then the last key saves."""
    await pilot.press("s")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))  # type: ignore[arg-type]
    await settle(pilot)  # type: ignore[arg-type]
    dialog = app.screen
    assert isinstance(dialog, StatusDialog)
    for _ in range(10):
        if dialog.chosen is to:
            break
        await pilot.press("down")  # type: ignore[attr-defined]
    assert dialog.chosen is to, f"{to} is not offered"
    await pilot.press(*keys)  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))  # type: ignore[arg-type]
    await settle(pilot)  # type: ignore[arg-type]


async def test_seed_workflow_from_new_to_complete(shop: Services, clock: FixedClock) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        # A new order arrives while the queue is open: it shows up by itself.
        clock.advance(3600 * 6)  # after the seeded day's last order
        number = await create_order(shop, name="Ada Lovelace", email="ada@example.org")
        await wait_for(pilot, lambda: f"{number}" in screen_text(app), limit=4)
        await pilot.press("1")  # the New tab; the newest is on top
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        assert f"Order #{number}" in screen_text(app)

        clock.advance(60)
        await change_status(
            pilot, app, Status.PROCESSING, "tab", *"Thank you for your order!", "ctrl+e"
        )
        assert "now Processing · customer e-mail queued" in screen_text(app)

        await pack_and_pay(shop, number)
        await seen_by_screen(pilot, app, shop, number)
        clock.advance(60)
        await change_status(pilot, app, Status.READY_TO_SHIP, "ctrl+e")

        await ship_everything(shop, number, "1Z999AA10123456784")
        await seen_by_screen(pilot, app, shop, number)
        assert "1Z999AA10123456784" in rendered(app, "order-shipments")
        clock.advance(60)
        await change_status(
            pilot,
            app,
            Status.SHIPPED,
            "tab",
            *"On its way! Expected delivery: Wednesday, November 25.",
            "tab",
            *"left with the UPS pickup at 4 pm",
            "ctrl+e",
        )
        clock.advance(60)
        await change_status(pilot, app, Status.COMPLETE, "tab", *"Thanks again, enjoy!", "ctrl+e")
        assert "Complete" in screen_text(app).splitlines()[0]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)

    detail = await shop.orders.show(number)
    assert detail.status is Status.COMPLETE
    steps = [(h.from_status, h.to_status) for h in detail.history if h.kind == "status"]
    assert steps == [
        (None, Status.NEW),
        (Status.NEW, Status.PROCESSING),
        (Status.PROCESSING, Status.READY_TO_SHIP),
        (Status.READY_TO_SHIP, Status.SHIPPED),
        (Status.SHIPPED, Status.COMPLETE),
    ]
    by_to = {h.to_status: h for h in detail.history}
    assert by_to[Status.PROCESSING].comment == "Thank you for your order!"
    shipped = by_to[Status.SHIPPED]
    assert shipped.comment == "On its way! Expected delivery: Wednesday, November 25."
    assert shipped.memo == "left with the UPS pickup at 4 pm"
    assert shipped.actor == "tester"
    assert by_to[Status.COMPLETE].comment == "Thanks again, enjoy!"
    assert detail.row.last_memo == "left with the UPS pickup at 4 pm"
    mails = [(n.event, n.to, n.state) for n in detail.notifications if n.channel == "email"]
    assert mails == [
        ("processing", "ada@example.org", "queued"),
        ("ready_to_ship", "ada@example.org", "queued"),
        ("shipped", "ada@example.org", "queued"),
        ("complete", "ada@example.org", "queued"),
    ]
