"""Bulk print from the queue (`i` invoices, `I` packing slips): the selected orders, else
the highlighted one, through the documents and printing services to a folder printer."""

from __future__ import annotations

from pathlib import Path

from console.app import PacklineApp
from screens.widgets.lazy_table import LazyTable
from services.container import Services
from services.settings import load_settings
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, settle, wait_for


def printed(folder: Path, prefix: str) -> set[int]:
    """Order numbers with a `prefix` document in the folder (invoice-1042-….txt)."""
    found = set()
    for p in folder.glob(f"{prefix}-*"):
        digits = p.name.removeprefix(f"{prefix}-").split("-")[0].split(".")[0]
        if digits.isdigit():
            found.add(int(digits))
    return found


async def test_bulk_print_of_selected_orders_then_the_highlighted_one(
    shop_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "printed"
    services = await Services.open(
        load_settings(db=shop_url, operator="tester", printer=f"file:{folder}"), clock=clock
    )
    try:
        for i in range(3):
            await create_order(services, email=f"c{i}@example.org")
        app = PacklineApp(services)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await settle(pilot)
            orders = app.screen.query_one("#orders", LazyTable)
            await pilot.press("space", "down", "space")
            await settle(pilot)
            chosen = {row.number for row in orders.selected.values()}
            assert len(chosen) == 2
            await pilot.press("i")
            await wait_for(pilot, lambda: folder.exists() and bool(printed(folder, "invoice")))
            assert printed(folder, "invoice") == chosen
            notes = [n.message for n in app._notifications]
            assert any(m.startswith("printed the invoices of 2 orders to") for m in notes), notes

            await pilot.press("escape")  # clears the selection
            await settle(pilot)
            current = orders.current
            assert current is not None and not orders.selected
            await pilot.press("I")
            await wait_for(pilot, lambda: bool(list(folder.glob("*slip*"))))
        slips = [p.name for p in folder.glob("*slip*")]
        assert slips and all(str(current.number) in n for n in slips), slips  # highlighted
    finally:
        await services.close()
