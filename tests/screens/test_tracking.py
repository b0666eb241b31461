"""The tracking screen from the keyboard (80×24), checked afterwards through the services:
the seed workflow (Shipped + tracking + message with the date + memo, Save + Send Email on
one screen), a wrong check digit shown before saving, a duplicate number warned about
(going back saves nothing) then confirmed, nothing packed refused with the reason, a
number of no known format saved only with its carrier, default quantities (packed and not
yet shipped) and more than that refused, a partial shipment then the rest, and deleting a
shipment with a reason."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, Static, TextArea

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.order import OrderScreen
from screens.prompt_dialog import PromptDialog
from screens.tracking import TrackingScreen
from services import carriers
from services.container import Services
from services.models import Product
from services.shipment_entry import NewShipment
from services.statuses import Status
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, pack_and_pay, screen_text, settle, wait_for
from tests.services.test_notify_support import notify_settings, smtp_server
from tests.services.test_shipping_support import (
    STOCK_A,
    STOCK_B,
    outbox_rows,
    prepare,
    snapshot,
)


def valid(seed: int, carrier: str = "ups") -> str:
    return carriers.generate(carrier, random.Random(seed))


async def ready(shop: Services) -> int:
    number = await create_order(shop)
    await shop.orders.set_status(number, Status.PROCESSING)
    await pack_and_pay(shop, number)
    await shop.orders.set_status(number, Status.READY_TO_SHIP)
    return number


async def open_tracking(pilot: Pilot[Any]) -> TrackingScreen:
    await settle(pilot)
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TrackingScreen))
    screen = pilot.app.screen
    assert isinstance(screen, TrackingScreen)
    await wait_for(pilot, lambda: screen.plan is not None)
    await settle(pilot)
    return screen


async def type_into(pilot: Pilot[Any], screen: TrackingScreen, widget_id: str, text: str) -> None:
    screen.set_focus(screen.query_one(f"#{widget_id}"))
    await pilot.pause()
    await pilot.press(*text)


def check_text(screen: TrackingScreen) -> str:
    return str(screen.query_one("#tracking-check", Static).content)


def notes(app: PacklineApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_seed_workflow_ship_with_message_memo_and_email(
    shop: Services, clock: FixedClock
) -> None:
    number = await ready(shop)
    tracking = valid(11)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        assert screen.plan is not None and screen.plan.why_not is None
        assert isinstance(screen.focused, Input) and screen.focused.id == "tracking"
        await pilot.press(*tracking)
        await wait_for(pilot, lambda: screen.check is not None)
        assert "UPS" in check_text(screen)
        assert f"https://www.ups.com/track?tracknum={tracking}" in check_text(screen)  # the link
        await type_into(pilot, screen, "expected", "2026-11-25")
        await type_into(pilot, screen, "comment", "Arrives Wednesday 25 November.")
        await type_into(pilot, screen, "memo", "picked up by Joe")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: not screen.query_one("#tracking", Input).value)
        await settle(pilot)
        assert screen.query_one("#comment", TextArea).text == ""  # ready for the next one

    detail = await shop.orders.show(number)
    assert detail.status is Status.SHIPPED
    [shipment] = await shop.shipping.shipments(number)
    assert shipment.tracking == tracking and shipment.carrier == "ups"
    assert shipment.expected_delivery is not None
    assert shipment.expected_delivery.isoformat() == "2026-11-25"
    entries = await shop.notifications.entries(order=number)
    assert any(e.event == "shipped" and e.channel == "email" for e in entries)
    history = detail.to_json()
    assert "Arrives Wednesday 25 November." in str(history)
    assert "picked up by Joe" in str(history)


async def test_wrong_check_digit_is_shown_before_saving(shop: Services) -> None:
    number = await ready(shop)
    good = valid(12)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        await pilot.press(*bad)
        await wait_for(pilot, lambda: "check digit" in check_text(screen).lower())
        assert "✗" in check_text(screen)
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert await shop.shipping.shipments(number) == []
    assert (await shop.orders.show(number)).status is Status.READY_TO_SHIP


async def test_duplicate_tracking_is_confirmed_then_saved(shop: Services) -> None:
    other = await ready(shop)
    number = await ready(shop)
    tracking = valid(13)
    await shop.shipping.ship(other, NewShipment(tracking=tracking))
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        await pilot.press(*tracking)
        await wait_for(pilot, lambda: f"#{other}" in check_text(screen))
        assert f"already used on #{other}" in check_text(screen)  # warned while typing
        before = await snapshot(shop)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # go back: nothing is saved, the form keeps the number
        await wait_for(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert await snapshot(shop) == before
        assert screen.query_one("#tracking", Input).value == tracking
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen)
        await settle(pilot)
    [shipment] = await shop.shipping.shipments(number)
    assert shipment.tracking == tracking


async def test_partial_then_rest_then_delete_with_reason(shop: Services) -> None:
    number = await ready(shop)
    first, second = valid(14), valid(15)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        assert screen.plan is not None
        line = screen.plan.lines[0]
        qty = screen.query_one(f"#qty-{line.line_id}", Input)
        assert qty.value == str(line.ready)
        rest = [ln for ln in screen.plan.lines[1:] if ln.ready]
        for ln in rest:  # only the first line goes in this shipment
            screen.query_one(f"#qty-{ln.line_id}", Input).value = "0"
        await pilot.press(*first)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 1)
        await settle(pilot)
        assert (await shop.orders.show(number)).status is Status.PARTIALLY_SHIPPED

        # the notify toggle: ctrl+s (Save) e-mails the customer once it is ticked
        toggle = screen.query_one("#notify", Checkbox)
        screen.set_focus(toggle)
        await pilot.press("space")
        await wait_for(pilot, lambda: toggle.value)
        screen.set_focus(screen.query_one("#tracking", Input))
        await pilot.press(*second)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 2)
        await settle(pilot)
        assert (await shop.orders.show(number)).status is Status.SHIPPED
        mails = [
            e.event
            for e in await shop.notifications.entries(order=number)
            if e.channel == "email" and "shipped" in e.event
        ]
        assert mails == ["shipped"]  # the first, saved with the toggle off, e-mailed no one
        assert screen.plan is not None and screen.plan.why_not is not None

        screen.set_focus(screen.query_one("#shipments"))
        await pilot.press("home", "down", "ctrl+d")  # the second shipment
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press(*"wrong box", "enter")
        await wait_for(
            pilot,
            lambda: screen.plan is not None and any(s.deleted for s in screen.plan.shipments),
        )
        await settle(pilot)

    shipments = await shop.shipping.shipments(number)
    deleted = [s for s in shipments if s.deleted]
    assert [s.tracking for s in deleted] == [second]
    assert deleted[0].delete_reason == "wrong box"
    assert (await shop.orders.show(number)).status is Status.PARTIALLY_SHIPPED


async def test_the_console_worker_delivers_the_shipped_email(
    shop_url: str, clock: FixedClock
) -> None:
    """The app runs the outbox worker in the background: Save + Send Email on the tracking
    screen reaches a real SMTP server on 127.0.0.1, with the tracking link in it."""
    with smtp_server() as (port, inbox):
        services = await Services.open(notify_settings(shop_url, port), clock=clock)
        try:
            number = await ready(services)
            tracking = valid(16)
            app = PacklineApp(services, order=str(number), run_notifications=True)
            async with app.run_test(size=(80, 24), notifications=True) as pilot:
                # No settle(): the delivery worker runs for as long as the app does.
                await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
                order = app.screen
                assert isinstance(order, OrderScreen)
                await wait_for(pilot, lambda: order.detail is not None)
                await pilot.press("t")
                await wait_for(pilot, lambda: isinstance(app.screen, TrackingScreen))
                screen = app.screen
                assert isinstance(screen, TrackingScreen)
                await wait_for(pilot, lambda: screen.plan is not None)
                await pilot.pause(0.1)
                await pilot.press(*tracking)
                await type_into(pilot, screen, "comment", "On its way.")
                await pilot.press("ctrl+e")
                await wait_for(
                    pilot,
                    lambda: any(tracking in r.part("plain") for r in inbox.to("ada@example.org")),
                    limit=20,
                )
            [mail] = [r for r in inbox.to("ada@example.org") if tracking in r.part("plain")]
            assert "On its way." in mail.part("plain")
        finally:
            await services.close()


async def test_a_number_of_no_known_format_is_saved_only_with_its_carrier(
    shop: Services,
) -> None:
    number = await ready(shop)
    ontrac = "C11031500001879"
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        before = await snapshot(shop)
        await pilot.press(*ontrac)
        await wait_for(pilot, lambda: "no known carrier" in check_text(screen))
        assert "✗" in check_text(screen) and "other…" in check_text(screen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("no known carrier" in m for m in notes(app)))
        assert await snapshot(shop) == before  # refused: nothing written

        # the carrier list, last entry: "other…", then its name
        name = screen.query_one("#carrier-name", Input)
        assert not name.display
        screen.set_focus(screen.query_one("#carrier", Select))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: name.display and screen.focused is name)
        await pilot.press(*"OnTrac")
        await wait_for(pilot, lambda: screen.check is not None)
        assert "ONTRAC: no known format, recorded as given" in check_text(screen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 1)
        await settle(pilot)
    [shipment] = await shop.shipping.shipments(number)
    assert (shipment.carrier, shipment.tracking) == ("ontrac", ontrac)
    assert (await shop.orders.show(number)).status is Status.SHIPPED


async def test_defaults_are_what_is_packed_and_not_shipped_and_more_is_refused(
    shop: Services, clock: FixedClock
) -> None:
    """Stock lines default to their packed units (none packed: no field), a drop-ship line
    to what is left; more than that is refused on the form, and more than packed by the
    service; the ship date and expected date typed are kept."""
    async with shop.db.read_session() as s:
        drop = (
            (await s.execute(select(Product.sku).where(Product.drop_ship).order_by(Product.sku)))
            .scalars()
            .first()
        )
    assert drop is not None
    number = await create_order(shop, lines=((STOCK_A, 3), (STOCK_B, 2), (drop, 1)))
    await prepare(shop, number, packed={STOCK_A: 2}, status=Status.PROCESSING)
    clock.advance(86400)  # entered the day after it shipped
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        assert screen.plan is not None
        ids = {ln.sku: ln.line_id for ln in screen.plan.lines}
        assert screen.query_one(f"#qty-{ids[STOCK_A]}", Input).value == "2"
        assert screen.query_one(f"#qty-{ids[drop]}", Input).value == "1"
        assert not screen.query(f"#qty-{ids[STOCK_B]}")  # nothing packed: nothing to ship

        before = await snapshot(shop)
        qty = screen.query_one(f"#qty-{ids[STOCK_A]}", Input)
        qty.value = "3"
        screen.set_focus(screen.query_one("#tracking", Input))
        await pilot.press(*valid(21))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("ship 0 to 2 units" in m for m in notes(app)))
        assert await snapshot(shop) == before

        qty.value = "1"
        await type_into(pilot, screen, "ship-date", "2026-11-20")
        await type_into(pilot, screen, "expected", "2026-11-23")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 1)
        await settle(pilot)
        assert screen.query_one(f"#qty-{ids[STOCK_A]}", Input).value == "1"  # the other one
        assert not screen.query(f"#qty-{ids[drop]}")  # gone in full

    [shipment] = await shop.shipping.shipments(number)
    assert shipment.lines == ((STOCK_A, 1), (drop, 1))
    assert shipment.shipped_at.date().isoformat() == "2026-11-20"
    assert shipment.expected_delivery is not None
    assert shipment.expected_delivery.isoformat() == "2026-11-23"
    detail = await shop.orders.show(number)
    assert detail.status is Status.PARTIALLY_SHIPPED
    assert [(ln.sku, ln.packed, ln.shipped) for ln in detail.lines] == [
        (STOCK_A, 1, 1),
        (STOCK_B, 0, 0),
        (drop, 0, 1),
    ]


async def test_nothing_packed_is_refused_with_the_reason(shop: Services) -> None:
    """The shop packs before shipping: an order with nothing packed shows why it cannot
    ship, and saving does nothing."""
    number = await create_order(shop, lines=((STOCK_A, 1), (STOCK_B, 1)))
    await prepare(shop, number, packed={}, status=Status.PROCESSING)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        why = screen.query_one("#ship-why", Static)
        assert why.display and "pack it first" in str(why.content)
        assert not screen.query(".line-qty")
        before = await snapshot(shop)
        await pilot.press(*valid(22), "ctrl+s")
        await settle(pilot)
        assert await snapshot(shop) == before


async def test_several_packages_saved_at_once_with_one_email(shop: Services) -> None:
    """Add package (ctrl+n) sets the form's package aside and offers what is left; Save +
    Send Email records both in one go: one status change, one e-mail naming both."""
    number = await create_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number)
    first, second = valid(23), valid(24, "fedex")
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_tracking(pilot)
        assert screen.plan is not None
        ids = {ln.sku: ln.line_id for ln in screen.plan.lines}
        qty_a = screen.query_one(f"#qty-{ids[STOCK_A]}", Input)
        qty_b = screen.query_one(f"#qty-{ids[STOCK_B]}", Input)
        qty_b.value = "0"  # the first box: the spark plugs only
        await pilot.press(*first, "ctrl+n")
        await wait_for(pilot, lambda: len(screen.pending) == 1)
        await settle(pilot)
        assert (qty_a.value, qty_b.value) == ("0", "1")  # what is left
        assert first in str(screen.query_one("#pending", Static).content)
        assert screen.query_one("#tracking", Input).value == ""
        assert await shop.shipping.shipments(number) == []  # set aside, not saved yet
        qty_a.value = "1"  # more than is left: refused on the form
        await pilot.press(*second, "ctrl+e")
        await wait_for(pilot, lambda: any("ship 0 to 0 units" in m for m in notes(app)))
        assert await shop.shipping.shipments(number) == []
        qty_a.value = "0"
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 2)
        await settle(pilot)
        assert not screen.pending

    shipments = await shop.shipping.shipments(number)
    assert [(s.tracking, s.lines) for s in shipments] == [
        (first, ((STOCK_A, 2),)),
        (second, ((STOCK_B, 1),)),
    ]
    detail = await shop.orders.show(number)
    assert detail.status is Status.SHIPPED
    steps = [(h.from_status, h.to_status) for h in detail.history if h.kind == "status"]
    assert steps[-1] == (Status.READY_TO_SHIP, Status.SHIPPED)  # one change, not two
    mails = [n for n in await outbox_rows(shop, number) if n.channel == "email"]
    mails = [n for n in mails if "shipped" in n.event]
    assert [m.event for m in mails] == ["shipped"]
    assert [p["tracking"] for p in mails[0].payload["shipments"]] == [first, second]


async def set_a_first_aside(pilot: Pilot[Any], tracking: str) -> TrackingScreen:
    """The tracking screen with a first package (STOCK_A only) set aside under `tracking`."""
    screen = await open_tracking(pilot)
    assert screen.plan is not None
    ids = {ln.sku: ln.line_id for ln in screen.plan.lines}
    screen.query_one(f"#qty-{ids[STOCK_B]}", Input).value = "0"
    await pilot.press(*tracking, "ctrl+n")
    await wait_for(pilot, lambda: len(screen.pending) == 1)
    return screen


async def test_a_duplicate_among_packages_is_confirmed_for_the_set(shop: Services) -> None:
    other = await ready(shop)
    shared = valid(25)
    await shop.shipping.ship(other, NewShipment(tracking=shared))
    number = await create_order(shop, lines=((STOCK_A, 1), (STOCK_B, 1)))
    await prepare(shop, number)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await set_a_first_aside(pilot, valid(26))
        await pilot.press(*shared, "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.plan is not None and len(screen.plan.shipments) == 2)
        await settle(pilot)
    assert [s.tracking for s in await shop.shipping.shipments(number)] == [valid(26), shared]
    assert (await shop.orders.show(number)).status is Status.SHIPPED


async def test_leaving_with_packages_set_aside_asks_first(shop: Services) -> None:
    """Escape with a package set aside (or a number typed) asks; staying keeps them."""
    number = await create_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await set_a_first_aside(pilot, valid(23))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "1 package set aside" in screen_text(app)
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: app.screen is screen)
        assert len(screen.pending) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.click("#yes")
        await wait_for(pilot, lambda: app.screen is not screen and screen not in app.screen_stack)
    assert await shop.shipping.shipments(number) == []  # nothing was saved
