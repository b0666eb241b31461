"""Printing from the order screen (`i` invoice, `I` packing slip) through the documents
and printing services, to a real folder printer."""

from __future__ import annotations

from typing import Any

from console.app import PacklineApp
from services.container import Services
from services.settings import load_settings
from tests.conftest import FixedClock
from tests.screens.helpers import create_order, settle


async def test_print_invoice_and_slip_from_the_order(
    shop_url: str, clock: FixedClock, tmp_path: Any
) -> None:
    """`i` and `I` on an order: the invoice and packing slip land in the printer folder;
    with no printer configured the operator is told how to set one."""
    folder = tmp_path / "printed"
    services = await Services.open(
        load_settings(db=shop_url, operator="tester", printer=f"file:{folder}"), clock=clock
    )
    try:
        number = await create_order(services)
        app = PacklineApp(services, order=str(number))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("i")
            await settle(pilot)
            await pilot.press("I")
            await settle(pilot)
        names = sorted(p.name for p in folder.iterdir())
        assert any(n.startswith(f"invoice-{number}") for n in names), names
        assert any(str(number) in n and "slip" in n for n in names), names
        assert f"#{number}" in next(folder.glob(f"invoice-{number}*.txt")).read_text()
    finally:
        await services.close()
