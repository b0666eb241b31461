"""The tracking screen and the outbox as SVG snapshots at 80×24, on fixed data (seed 7,
a fixed clock, UTC). Regenerate after an intended change with `pytest --snapshot-update`
and look at the SVGs before committing them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from textual.pilot import Pilot

from console.app import PacklineApp
from screens.outbox import OutboxScreen
from screens.tracking import TrackingScreen
from services.container import Services
from services.models import Notification
from services.settings import load_settings
from services.statuses import NotificationState
from tests.conftest import FixedClock
from tests.screens.helpers import settle, wait_for

UPS_EXAMPLE = "1Z999AA10123456784"  # UPS's own published example


def app_on(shop_url: str, **kwargs: Any) -> PacklineApp:
    services = Services.build(load_settings(db=shop_url, operator="tester"), clock=FixedClock())
    return PacklineApp(services, owns_services=True, **kwargs)


def test_tracking_screen(snap_compare: Any, shop_url: str) -> None:
    """1005 is ready to ship: its lines with their default quantities, a number checked."""

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TrackingScreen))
        screen = pilot.app.screen
        assert isinstance(screen, TrackingScreen)
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press(*UPS_EXAMPLE)
        await wait_for(pilot, lambda: screen.check is not None)
        await settle(pilot)

    assert snap_compare(app_on(shop_url, order="1005"), terminal_size=(80, 24), run_before=ready)


def break_some(shop_url: str) -> None:
    """The three newest e-mails: one failed (will retry), two dead, with server errors."""

    async def run() -> None:
        services = await Services.open(load_settings(db=shop_url), clock=FixedClock())
        try:
            async with services.db.write_session() as s, s.begin():
                ids = (
                    (
                        await s.execute(
                            select(Notification.id)
                            .where(Notification.channel == "email")
                            .order_by(Notification.id.desc())
                            .limit(3)
                        )
                    )
                    .scalars()
                    .all()
                )
                errors = [
                    (NotificationState.FAILED, "421 4.7.0 try again later"),
                    (NotificationState.DEAD, "550 5.1.1 <x@example.org>: mailbox unavailable"),
                    (NotificationState.DEAD, "no recipient"),
                ]
                for nid, (state, error) in zip(ids, errors, strict=False):
                    await s.execute(
                        update(Notification)
                        .where(Notification.id == nid)
                        .values(state=state, attempts=3, last_error=error)
                    )
        finally:
            await services.close()

    asyncio.run(run())


def test_outbox(snap_compare: Any, shop_url: str) -> None:
    break_some(shop_url)

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OutboxScreen))
        screen = pilot.app.screen
        assert isinstance(screen, OutboxScreen)
        await wait_for(pilot, lambda: bool(screen.rows))
        await settle(pilot)

    assert snap_compare(app_on(shop_url), terminal_size=(80, 24), run_before=ready)
