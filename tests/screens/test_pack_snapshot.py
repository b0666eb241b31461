"""How the pack screen looks at 80×24 on fixed data (seed 7, fixed clock, UTC): order
1044 mid-pack, one unit packed and a refused scan's message (after its red flash).
Regenerate after an intended change with `pytest --snapshot-update`."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from screens.pack import PackScreen
from tests.screens.helpers import wait_for
from tests.screens.test_snapshots import app_on


def test_pack_screen(snap_compare: Any, shop_url: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PackScreen))
        screen = pilot.app.screen
        assert isinstance(screen, PackScreen)
        await wait_for(pilot, lambda: screen.session is not None)
        await pilot.press(*"614141001446", "enter", *"614141000043", "enter")
        await wait_for(pilot, lambda: screen.scanned == 2)
        await wait_for(pilot, lambda: not screen.flashing, limit=3)
        await pilot.press(*"61414")  # half a code typed: the field shows it
        await pilot.pause(0.1)

    assert snap_compare(app_on(shop_url, pack="1044"), terminal_size=(80, 24), run_before=ready)
