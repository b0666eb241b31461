"""The pack screen on a real seeded SQLite file, scans sent at scanner speed.

The burst test sends every key of 100 scans to the driver at once (`burst()`: no wait
between keys, unlike `pilot.press()`), then reads the journal back through the pack
service: each scan counted once, in the order scanned. The same burst through a
naive Input read by an app-level Enter handler loses or merges scans: see the xfail
test in test_scan_field.py.
"""

from __future__ import annotations

import gc
from typing import Any

from sqlalchemy import select, update
from textual.pilot import Pilot

from console.app import PacklineApp
from screens.live import in_view
from screens.order import OrderScreen
from screens.pack import BackorderDialog, PackScreen, WeightDialog, grams_of
from screens.pack_paint import paint_now
from services.container import Services
from services.models import Order, ScanEvent, StockLevel
from services.orders import NewOrder
from services.statuses import PaymentStatus, Status
from tests.conftest import FixedClock
from tests.screens.burst import burst
from tests.screens.helpers import ADDRESS, screen_text, settle, wait_for

# Stock, not serialised, in the seed-7 catalogue.
A_SKU, A_CODE = "PL-10144", "614141001446"
B_SKU, B_CODE = "PL-10151", "614141001514"
NOT_ON_ORDER = "614141000043"
SERIAL_SKU = "PL-10138"  # serialised


async def order_to_pack(services: Services, lines: tuple[tuple[str, int], ...]) -> int:
    async with services.db.write_session() as s, s.begin():
        await s.execute(update(StockLevel).values(on_hand=StockLevel.on_hand + 1000))
    detail = await services.orders.create(
        NewOrder(customer_name="Grace Hopper", email="g@example.org", shipping=ADDRESS, lines=lines)
    )
    await services.orders.set_status(detail.number, Status.PROCESSING)
    async with services.db.write_session() as s, s.begin():
        await s.execute(
            update(Order)
            .where(Order.number == detail.number)
            .values(payment_status=PaymentStatus.PAID)
        )
    return detail.number


async def journal(services: Services, number: int) -> list[tuple[str, bool, int]]:
    async with services.db.read_session() as s:
        rows = await s.execute(
            select(ScanEvent.code, ScanEvent.accepted, ScanEvent.quantity)
            .join(Order, Order.id == ScanEvent.order_id)
            .where(Order.number == number)
            .order_by(ScanEvent.id)
        )
        return [(code, bool(ok), qty) for code, ok, qty in rows.all()]


async def pack_screen(pilot: Pilot[Any]) -> PackScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PackScreen))
    screen = pilot.app.screen
    assert isinstance(screen, PackScreen)
    await wait_for(pilot, lambda: screen.session is not None)
    return screen


async def test_a_burst_of_100_scans_counts_each_once_in_order(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 70), (B_SKU, 40)))
    codes = [A_CODE if i % 3 else B_CODE for i in range(100)]
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        burst(app, "".join(f"{c}\n" for c in codes))
        await wait_for(pilot, lambda: screen.scanned >= 100, limit=60)
        assert screen.progress is not None
        packed = {ln.sku: ln.packed for ln in screen.progress.lines}
    assert packed == {A_SKU: codes.count(A_CODE), B_SKU: codes.count(B_CODE)}
    rows = await journal(shop, number)
    assert [(c, ok, q) for c, ok, q in rows] == [(c, True, 1) for c in codes]
    progress = await shop.packing.progress(number)
    assert {ln.sku: ln.packed for ln in progress.lines} == packed


def row_of(app: PacklineApp, sku: str) -> str:
    return next(line for line in screen_text(app).splitlines() if sku in line)


async def test_each_line_keeps_its_row_and_the_columns_stay_aligned(shop: Services) -> None:
    """A scan repaints its line's row alone; when the packed column widens (10/10 gets its
    tick) every row is drawn again, right-aligned as before."""
    number = await order_to_pack(shop, ((A_SKU, 10), (B_SKU, 1)))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        await pack_screen(pilot)
        for _ in range(9):
            await pilot.press(*A_CODE, "enter")
        await wait_for(pilot, lambda: "9/10" in row_of(app, A_SKU))
        a, b = row_of(app, A_SKU), row_of(app, B_SKU)
        assert a.index("9/10") + len("9/10") == b.index("0/1") + len("0/1")
        await pilot.press(*A_CODE, "enter")
        await wait_for(pilot, lambda: "10/10" in row_of(app, A_SKU))
        a, b = row_of(app, A_SKU), row_of(app, B_SKU)
        assert "✓ 10/10" in a and "██" in a
        assert a.index("✓ 10/10") + len("✓ 10/10") == b.index("0/1") + len("0/1")
        assert a.index(A_SKU) == b.index(B_SKU)


async def test_the_order_under_the_pack_screen_waits_until_shown_again(shop: Services) -> None:
    """The live feed reports every scan; the order screen underneath (which Textual counts
    as current) must not reload the order each time, only once when shown again."""
    number = await order_to_pack(shop, ((A_SKU, 3),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        order = next(s for s in app.screen_stack if isinstance(s, OrderScreen))
        await wait_for(pilot, lambda: order.detail is not None)
        shown = order.detail
        assert in_view(screen) and not in_view(order)
        assert not gc.isenabled()  # collected in the pauses between scans (screens.heap)
        burst(app, f"{A_CODE}\n")
        await wait_for(pilot, lambda: screen.scanned == 1)
        shop.live.check_now()
        await wait_for(pilot, lambda: order._missed, limit=5)  # heard, held back
        assert order.detail is shown
        await pilot.press("f3")  # a dialog over the pack screen: it stays in view
        await wait_for(pilot, lambda: isinstance(app.screen, WeightDialog))
        assert in_view(screen) and not in_view(order)
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen is order and order.detail is not shown, limit=5)
        assert in_view(order)
        await wait_for(pilot, gc.isenabled)  # the pack screen gone, collection as usual


async def test_an_answer_is_drawn_at_once_unless_textual_must_lay_out(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 2),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        await pilot.pause()
        bar = screen.message_bar
        bar.update("one line", layout=False)
        assert paint_now(screen, [bar])  # drawn now: nothing left for the frame timer
        assert not paint_now(screen, [bar])  # nothing new to draw
        assert "one line" in screen_text(app)
        bar.update("a message that needs a layout")  # layout=True: Textual's own path
        assert not paint_now(screen, [bar])
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightDialog))
        bar.update("under a dialog", layout=False)
        assert not paint_now(screen, [bar])  # not the top screen: left to Textual


async def test_refused_scan_rings_flashes_and_names_the_code(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 1),))
    app = PacklineApp(shop, pack=str(number))
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        await pilot.press(*NOT_ON_ORDER, "enter")
        await wait_for(pilot, lambda: screen.scanned == 1)
        assert screen.flashing
        assert bells == [1]
        assert NOT_ON_ORDER in screen_text(app)
        assert screen.progress is not None and screen.progress.units_packed == 0
        await wait_for(pilot, lambda: not screen.flashing, limit=3)
        # One more than ordered is refused too.
        await pilot.press(*A_CODE, "enter", *A_CODE, "enter")
        await wait_for(pilot, lambda: screen.scanned == 3)
        assert screen.progress.units_packed == 1
        assert screen.last is not None and not screen.last.accepted
        assert len(bells) == 2


async def test_keys_undo_next_package_weight_and_validate(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 2),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        await pilot.press(*A_CODE, "enter", *A_CODE, "enter", "f4")
        await wait_for(pilot, lambda: screen.scanned == 3)
        assert screen.progress is not None and screen.progress.units_packed == 1
        await pilot.press("f2")
        await wait_for(pilot, lambda: screen.scanned == 4)
        assert screen.progress.package_no == 2
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightDialog))
        await pilot.press(*"1.2kg", "enter")
        await wait_for(pilot, lambda: screen.weights.get(2) == 1200)
        await pilot.press(*A_CODE, "enter")
        await wait_for(pilot, lambda: screen.scanned == 5)
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.scanned == 6)
        assert screen.ended
    detail = await shop.orders.show(number)
    assert detail.status is Status.READY_TO_SHIP or detail.status is Status.PROCESSING
    packages = await shop.packing.packages(number)
    assert [p.weight_grams for p in packages] == [None, 1200]


async def test_part_packed_validate_offers_a_backorder(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 3),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        await pilot.press(*A_CODE, "enter", "f5")
        await wait_for(pilot, lambda: isinstance(app.screen, BackorderDialog), limit=5)
        await pilot.press("enter")  # a stray Enter (a scan's) answers nothing
        assert isinstance(app.screen, BackorderDialog)
        await pilot.press(*A_CODE, "enter")  # an item scanned: keep packing, and pack it
        await wait_for(pilot, lambda: isinstance(app.screen, PackScreen))
        await wait_for(pilot, lambda: screen.scanned == 3)
        assert screen.progress is not None and screen.progress.units_packed == 2
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, BackorderDialog), limit=5)
        await pilot.press(*"PL:VALIDATE", "enter")  # the command barcode again: split
        await wait_for(pilot, lambda: screen.ended, limit=5)
        assert screen.last is not None and screen.last.backorder_number is not None
    assert (await shop.orders.show(number)).status is Status.READY_TO_SHIP


async def test_claimed_by_another_packer_says_so_and_goes_back(
    shop: Services, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, ((A_SKU, 1),))
    other = Services.build(shop.settings.model_copy(update={"operator": "sam"}), clock=clock)
    try:
        await other.packing.start(number)
    finally:
        await other.close()
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), limit=5)
        await settle(pilot)
        assert any("sam" in str(n.message) for n in app._notifications)


async def test_slip_of_another_order_opens_it_and_leaving_releases(
    shop: Services, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, ((A_SKU, 1),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        await pack_screen(pilot)
        await pilot.press(*"PL:ORDER:1044", "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, OrderScreen) and app.screen.ref == 1044
        )
    # The claim was given back: another packer may start at once.
    other = Services.build(shop.settings.model_copy(update={"operator": "sam"}), clock=clock)
    try:
        session = await other.packing.start(number)
        assert session.took_over_from is None
    finally:
        await other.close()


def test_weights_typed_by_a_person() -> None:
    assert grams_of("850") == 850
    assert grams_of("850 g") == 850
    assert grams_of("1.2kg") == 1200
    assert grams_of("heavy") is None
    assert grams_of("-3") is None
    assert grams_of("nan") is None


async def test_slip_scanned_on_the_queue_opens_its_pack_screen(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "PL:ORDER:1044\n")  # processing, one stock line: ready to pack
        screen = await pack_screen(pilot)
        assert screen.ref == 1044
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        assert isinstance(app.screen, OrderScreen) and app.screen.ref == 1044
        # Anywhere else a slip opens the order; an order with nothing to pack is shown.
        burst(app, "PL:ORDER:1005\n")
        await wait_for(
            pilot, lambda: isinstance(app.screen, OrderScreen) and app.screen.ref == 1005
        )


async def test_slip_of_an_order_not_ready_to_pack_shows_the_order(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "PL:ORDER:1005\n")  # ready to ship: nothing to pack
        await wait_for(
            pilot, lambda: isinstance(app.screen, OrderScreen) and app.screen.ref == 1005
        )
        await settle(pilot)
        assert not any(isinstance(s, PackScreen) for s in app.screen_stack)


async def test_a_person_typing_p_still_gets_it_delivered(shop: Services) -> None:
    app = PacklineApp(shop, order="1044")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")  # held a moment (it could start a slip), then delivered
        await pack_screen(pilot)


async def test_a_serialised_product_asks_for_its_serial_in_the_same_field(
    shop: Services,
) -> None:
    number = await order_to_pack(shop, ((SERIAL_SKU, 1),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pack_screen(pilot)
        line = screen.progress.lines[0] if screen.progress else None
        assert line is not None and line.serialized
        await pilot.press(*line.barcode, "enter")
        await wait_for(pilot, lambda: screen.scanned == 1)
        assert "serial ›" in screen_text(app)
        assert screen.progress is not None and screen.progress.units_packed == 0
        await pilot.press(*"SN-0001", "enter")
        await wait_for(pilot, lambda: screen.scanned == 2)
        assert screen.progress.units_packed == 1
        assert "scan ›" in screen_text(app)


async def test_f1_lists_the_pack_keys(shop: Services) -> None:
    number = await order_to_pack(shop, ((A_SKU, 1),))
    app = PacklineApp(shop, pack=str(number))
    async with app.run_test(size=(100, 40)) as pilot:
        await pack_screen(pilot)
        await pilot.press("f1")
        await wait_for(
            pilot, lambda: "Next package" in screen_text(app) and "Undo" in screen_text(app)
        )
