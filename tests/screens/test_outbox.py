"""The notification screens. The outbox (`n` on the queue): failed and dead notifications
with their error (untrusted: a server wrote it), retry, edit the recipient, discard; each
checked afterwards through the notification service. The status dialog's e-mail preview
before "Save + Send Email", plain Save sending nothing, and a bulk change queueing one
e-mail per order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.order import OrderScreen
from screens.outbox import OutboxScreen
from screens.prompt_dialog import PromptDialog
from screens.status_dialog import StatusDialog, Target
from services.container import Services
from services.models import Notification, Order
from services.settings import load_settings
from services.statuses import HoldReason, NotificationState, Status
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, rendered, screen_text, settle, wait_for

HOSTILE = "550 5.1.1 mailbox unavailable\x1b[31m[bold]red[/bold]\x07"


async def broken(shop: Services, state: NotificationState, error: str = HOSTILE) -> int:
    """An order whose Processing e-mail did not go out (as the worker records it)."""
    number = await create_order(shop)
    await shop.orders.set_status(number, Status.PROCESSING, notify=True)
    async with shop.db.write_session() as s, s.begin():
        order_id = (await s.execute(select(Order.id).where(Order.number == number))).scalar_one()
        row = (
            (
                await s.execute(
                    select(Notification)
                    .where(Notification.order_id == order_id, Notification.channel == "email")
                    .order_by(Notification.id.desc())
                )
            )
            .scalars()
            .first()
        )
        assert row is not None
        await s.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(state=state, attempts=3, last_error=error)
        )
        return row.id


async def open_outbox(pilot: Pilot[Any], notification_id: int) -> OutboxScreen:
    await settle(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, OutboxScreen))
    screen = pilot.app.screen
    assert isinstance(screen, OutboxScreen)
    await wait_for(pilot, lambda: any(r.id == notification_id for r in screen.rows))
    await settle(pilot)
    index = next(i for i, r in enumerate(screen.rows) if r.id == notification_id)
    screen.query_one(DataTable).move_cursor(row=index)
    await pilot.pause()
    return screen


async def test_lists_problems_with_the_error_shown_literally(shop: Services) -> None:
    dead = await broken(shop, NotificationState.DEAD)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_outbox(pilot, dead)
        text = rendered(app, "outbox-error")
        assert "[bold]red[/bold]" in text  # markup shown as typed, never interpreted
        assert "\x1b" not in screen_text(app) and "␛" in text and "␇" in text


async def test_retry_queues_it_again(shop: Services) -> None:
    failed = await broken(shop, NotificationState.FAILED)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_outbox(pilot, failed)
        await pilot.press("r")
        await wait_for(pilot, lambda: all(r.id != failed for r in screen.rows))
    entry = await shop.notifications.get(failed)
    assert entry.state is NotificationState.QUEUED and entry.attempts == 0


async def test_edit_recipient_then_discard(shop: Services) -> None:
    first = await broken(shop, NotificationState.DEAD, "no recipient")
    second = await broken(shop, NotificationState.DEAD)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_outbox(pilot, first)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("ctrl+a", "ctrl+k", *"grace@example.org", "enter")
        await wait_for(pilot, lambda: all(r.id != first for r in screen.rows))

        index = next(i for i, r in enumerate(screen.rows) if r.id == second)
        screen.query_one(DataTable).move_cursor(row=index)
        await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(r.id == second and "discarded" in r.last_error for r in screen.rows),
        )
    fixed = await shop.notifications.get(first)
    assert fixed.to == "grace@example.org" and fixed.state is NotificationState.QUEUED
    gone = await shop.notifications.get(second)
    assert gone.state is NotificationState.DEAD and "discarded by tester" in gone.last_error


async def test_the_palette_opens_the_outbox_from_an_order(shop: Services) -> None:
    number = await create_order(shop)
    app = PacklineApp(shop, order=str(number))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"outbox")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutboxScreen))


def emails(detail: Any) -> list[tuple[str, str]]:
    return [(n.event, n.state) for n in detail.notifications if n.channel == "email"]


async def status_dialog(pilot: Pilot[Any], number: int) -> StatusDialog:
    app = pilot.app
    assert isinstance(app, PacklineApp)
    app.open_order(number)
    await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
    await settle(pilot)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
    await settle(pilot)
    dialog = app.screen
    assert isinstance(dialog, StatusDialog)
    return dialog


async def test_the_status_dialog_previews_the_e_mail_and_plain_save_sends_nothing(
    shop: Services,
) -> None:
    number = await create_order(shop)
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        dialog = await status_dialog(pilot, number)
        await wait_for(pilot, lambda: dialog.chosen is Status.PROCESSING)
        subject = f"Subject: We are preparing your order #{number}"
        await wait_for(pilot, lambda: subject in rendered(app, "preview"))
        shown = rendered(app, "preview")
        assert "To: ada@example.org" in shown and "Hello Ada Lovelace," in shown
        # the comment appears in the preview as typed (untrusted: shown, never markup)
        await pilot.press("tab", *"Engraved [b]today[/b]")
        await wait_for(pilot, lambda: "Engraved [b]today[/b]" in rendered(app, "preview"))
        assert rendered(app, "preview").startswith("To: ada@example.org")
        await pilot.press("ctrl+s")  # Save: the change alone
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
    detail = await shop.orders.show(number)
    assert detail.status is Status.PROCESSING
    assert detail.history[-1].comment == "Engraved [b]today[/b]"
    assert emails(detail) == []  # nothing queued, so nothing can be sent


async def test_the_held_preview_words_the_reason_or_says_no_e_mail(shop: Services) -> None:
    number = await create_order(shop)
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        dialog = await status_dialog(pilot, number)
        await wait_for(pilot, lambda: dialog.chosen is Status.PROCESSING)
        await pilot.press("down")
        assert dialog.chosen is Status.HELD
        reason = dialog.query_one("#hold-reason", Select)
        reason.value = HoldReason.INCORRECT_ADDRESS
        await wait_for(pilot, lambda: "confirm your shipping address" in rendered(app, "preview"))
        assert f"Subject: Your order #{number} is on hold" in rendered(app, "preview")
        reason.value = HoldReason.HIGH_RISK  # kept from customers by default
        await wait_for(pilot, lambda: "no e-mail" in rendered(app, "preview"))
        assert "risk" not in rendered(app, "preview").lower()
        reason.value = HoldReason.AWAITING_CUSTOMER
        await wait_for(pilot, lambda: "more information from you" in rendered(app, "preview"))
        await pilot.press("ctrl+e")  # Save + Send Email
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
    assert emails(await shop.orders.show(number)) == [("held", "queued")]


async def test_bulk_save_and_send_queues_one_e_mail_per_order_and_no_address_shows(
    shop: Services,
) -> None:
    numbers = [await create_order(shop, email=f"c{i}@example.org") for i in range(3)]
    nobody = await create_order(shop, name="No Mail", email="")
    numbers.append(nobody)
    targets = []
    for number in numbers:
        detail = await shop.orders.show(number)
        targets.append(Target(number, detail.version, detail.status))
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.push_screen(StatusDialog(shop, targets))
        await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, StatusDialog)
        await wait_for(pilot, lambda: dialog.chosen is Status.PROCESSING)
        await wait_for(pilot, lambda: f"#{numbers[0]}, 1 of 4" in rendered(app, "preview"))
        await pilot.press("tab", *"Thanks!", "ctrl+e")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatusDialog))
        await settle(pilot)
        for number in numbers[:3]:
            assert emails(await shop.orders.show(number)) == [("processing", "queued")]
        # the order without an address: saved, its e-mail dead with "no recipient"
        detail = await shop.orders.show(nobody)
        assert detail.status is Status.PROCESSING
        assert emails(detail) == [("processing", "dead")]
        [dead] = [e for e in await shop.notifications.problems() if e.order_number == nobody]
        screen = await open_outbox(pilot, dead.id)
        assert "no recipient" in rendered(app, "outbox-error")
        assert f"#{nobody}" in screen_text(app) and "dead" in screen_text(app)
        assert [r.id for r in screen.rows if r.order_number == nobody] == [dead.id]
        # and on the order's timeline, each e-mail with its state
        app.open_order(nobody)
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        timeline = rendered(app, "order-timeline")
        assert "✉ email processing to —  dead — no recipient" in timeline
        app.open_order(numbers[0])
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        assert "✉ email processing to c0@example.org  queued" in rendered(app, "order-timeline")


async def test_a_broken_shop_template_shows_in_the_preview_and_saving_still_works(
    shop_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    own = tmp_path / "email"
    own.mkdir()
    (own / "processing.txt").write_text("Hello\n{{ order.nope.deeper }}\n")
    settings = load_settings(db=shop_url, operator="tester", templates_dir=str(tmp_path))
    services = await Services.open(settings, clock=clock)
    try:
        number = await create_order(services)
        app = PacklineApp(services)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            dialog = await status_dialog(pilot, number)
            await wait_for(pilot, lambda: dialog.chosen is Status.PROCESSING)
            await wait_for(pilot, lambda: "preview unavailable" in rendered(app, "preview"))
            assert "template email/processing.txt line 2" in rendered(app, "preview")
            await pilot.press("ctrl+e")  # the change is saved; the e-mail fails visibly later
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        detail = await services.orders.show(number)
        assert detail.status is Status.PROCESSING
        assert emails(detail) == [("processing", "queued")]
    finally:
        await services.close()


async def test_a_bad_recipient_is_refused_clearly_and_changes_nothing(shop: Services) -> None:
    dead = await broken(shop, NotificationState.DEAD)
    before = await shop.notifications.get(dead)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_outbox(pilot, dead)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("ctrl+a", "ctrl+k", *"ada@example.org Bcc: eve@x.org", "enter")
        await wait_for(
            pilot,
            lambda: any("not an e-mail address" in n.message for n in app._notifications),
        )
    assert await shop.notifications.get(dead) == before
