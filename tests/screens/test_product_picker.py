"""The product picker on its own, on the real catalogue (services.entry): scans sent as a
scanner sends them (every key at once) arrive whole and one by one, an unknown code is
put back to pick from the hits, and a picked hit takes the typed quantity."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, OptionList

from screens.widgets.product_picker import ProductPicker
from services.container import Services
from tests.screens.burst import burst
from tests.screens.helpers import settle, wait_for
from tests.screens.test_new_order import barcode


class Host(App[None]):
    """The picker alone, recording what it posts."""

    def __init__(self, shop: Services) -> None:
        super().__init__()
        self.shop = shop
        self.chosen: list[tuple[str, int]] = []
        self.missing: list[tuple[str, int]] = []
        self.said = ""

    def compose(self) -> ComposeResult:
        yield ProductPicker(self.shop.entry, input_id="code", hits_id="hits")

    def on_product_picker_chosen(self, event: ProductPicker.Chosen) -> None:
        self.chosen.append((event.product.sku, event.quantity))

    def on_product_picker_missing(self, event: ProductPicker.Missing) -> None:
        self.missing.append((event.code, event.quantity))
        self.said = event.message


async def test_a_burst_of_two_scans_arrives_as_two_whole_codes_in_order(shop: Services) -> None:
    code = await barcode(shop, "PL-10003")
    app = Host(shop)
    async with app.run_test(size=(80, 12)) as pilot:
        app.set_focus(app.query_one("#code", Input))
        await pilot.pause()
        burst(app, f"3*{code}\nPL-10004\n")
        await wait_for(pilot, lambda: len(app.chosen) + len(app.missing) == 2)
        await settle(pilot)
        assert app.chosen == [("PL-10003", 3), ("PL-10004", 1)]  # whole, in order
        assert app.missing == []
        assert app.query_one("#code", Input).value == ""
        assert not app.query_one("#hits", OptionList).display


async def test_unknown_code_is_put_back_and_a_hit_takes_the_typed_quantity(
    shop: Services,
) -> None:
    app = Host(shop)
    async with app.run_test(size=(80, 12)) as pilot:
        field = app.query_one("#code", Input)
        hits = app.query_one("#hits", OptionList)
        app.set_focus(field)
        await pilot.pause()
        burst(app, "2*PL-1000\n")
        await wait_for(pilot, lambda: bool(app.missing))
        assert app.missing == [("PL-1000", 2)]
        assert app.said == "no product has SKU or barcode PL-1000: pick one ↓"
        assert field.value == "2*PL-1000"  # back, to pick from the hits
        await wait_for(pilot, lambda: hits.display and hits.option_count > 0)
        await settle(pilot)
        await pilot.press("down")
        assert hits.has_focus and hits.highlighted == 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.chosen))
        sku, quantity = app.chosen[0]
        assert sku.startswith("PL-1000") and quantity == 2
        assert field.value == "" and not hits.display and field.has_focus
