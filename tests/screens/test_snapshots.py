"""How the screens look, as SVG snapshots at 80×24 and 120×40, on fixed data.

Seed 7 anchored on 2026-11-20, a fixed clock, UTC; nothing on these screens reads the
wall clock. Regenerate after an intended change with `pytest --snapshot-update` and
look at the SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import PacklineApp
from screens.status_dialog import StatusDialog
from services.container import Services
from services.settings import load_settings
from tests.conftest import FixedClock
from tests.screens.helpers import settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def app_on(shop_url: str, **kwargs: Any) -> PacklineApp:
    """The app owns its services here: the snapshot runs it in an event loop of its own."""
    services = Services.build(load_settings(db=shop_url, operator="tester"), clock=FixedClock())
    return PacklineApp(services, owns_services=True, **kwargs)


@pytest.mark.parametrize("size", SIZES)
def test_queue(snap_compare: Any, shop_url: str, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "space", "down")  # one selected, cursor below it
        await settle(pilot)

    assert snap_compare(app_on(shop_url), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_order_detail(snap_compare: Any, shop_url: str, size: tuple[int, int]) -> None:
    # 1050: complete, with purchase orders, shipments, risk reasons and a PO-box ship-to.
    assert snap_compare(app_on(shop_url, order="1050"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_status_dialog(snap_compare: Any, shop_url: str, size: tuple[int, int]) -> None:
    """1005 is ready to ship: F2 shows the statuses it cannot reach yet, and why."""

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StatusDialog))
        await settle(pilot)
        await pilot.press("f2", "tab", *"Packed with care.", "tab", *"fragile")
        if size[0] >= 110:
            await pilot.press("f3")  # the preview is the notification service's to test
        await settle(pilot)

    assert snap_compare(app_on(shop_url, order="1005"), terminal_size=size, run_before=ready)
