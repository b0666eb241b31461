"""The outbox screen (`n` on the queue): failed and dead notifications with their error
(untrusted: a server wrote it), retry, edit the recipient, discard; each checked
afterwards through the notification service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.outbox import OutboxScreen
from screens.prompt_dialog import PromptDialog
from services.container import Services
from services.models import Notification, Order
from services.statuses import NotificationState, Status
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
