"""Export from the queue (`x`): the selected orders, else the tab shown, else a search,
to a CSV file in Shopify's layout; the file is read back."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from console.app import PacklineApp
from screens.prompt_dialog import PromptDialog
from screens.widgets.lazy_table import LazyTable
from services.container import Services
from services.order_query import OrderFilter
from services.statuses import Status
from tests.screens.helpers import settle, wait_for


def names_in(path: Path) -> set[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["Name"] for row in csv.DictReader(handle)}


async def export_to(pilot: Pilot[Any], path: Path) -> str:
    await pilot.press("x")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptDialog))
    dialog = pilot.app.screen
    title = str(dialog.title_text)
    field = dialog.query_one(Input)
    field.value = str(path)
    await pilot.press("enter")
    await wait_for(pilot, path.exists)
    await settle(pilot)
    return title


async def test_selected_then_tab(shop: Services, tmp_path: Path) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        lazy = pilot.app.screen.query_one(LazyTable)
        chosen = []
        for _ in range(2):
            assert lazy.current is not None
            chosen.append(lazy.current.number)
            await pilot.press("space")
            await settle(pilot)
        title = await export_to(pilot, tmp_path / "picked.csv")
        assert "2 selected orders" in title
        assert names_in(tmp_path / "picked.csv") == {f"#{n}" for n in chosen}

        await pilot.press("escape")  # clear the selection
        await settle(pilot)
        await pilot.press("1")  # the New tab
        await settle(pilot)
        title = await export_to(pilot, tmp_path / "new.csv")
        assert "every New order" in title
    page = await shop.orders.page(OrderFilter(status=Status.NEW), limit=500)
    assert names_in(tmp_path / "new.csv") == {f"#{r.number}" for r in page.rows}


async def test_search(shop: Services, tmp_path: Path) -> None:
    row = (await shop.orders.page(limit=1)).rows[0]
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash", *str(row.number), "enter")
        await settle(pilot)
        title = await export_to(pilot, tmp_path / "found.csv")
        assert "matching" in title
    assert f"#{row.number}" in names_in(tmp_path / "found.csv")
