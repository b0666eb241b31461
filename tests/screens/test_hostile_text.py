"""Hostile text in every field a customer, vendor, file or operator can fill in.

Markup must show as typed, escape sequences (colours, clear screen, window title) and
control characters as visible symbols, and the frame must stay a clean 80×24 grid.
"""

from __future__ import annotations

from sqlalchemy import select, update
from textual.strip import Strip

from console.app import PacklineApp
from screens.status_dialog import StatusDialog
from services.container import Services
from services.models import Order, OrderLine, Shipment
from services.orders import NewAddress
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.screens.helpers import (
    create_order,
    screen_strips,
    screen_text,
    settle,
    ship_everything,
    wait_for,
)

MARKUP = "[bold red]x[/]"
COLOUR = "\x1b[31mRED\x1b[0m"
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
CONTROLS = "a\bb\rc\td\x00e\u202eevil"
HOSTILE = f"{MARKUP} {COLOUR} {TITLE} {CLEAR} {CONTROLS}"


def assert_clean(strips: list[Strip], width: int, height: int) -> None:
    assert len(strips) == height
    for strip in strips:
        assert strip.cell_length == width
        for segment in strip:
            bad = [c for c in segment.text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
            assert not bad, f"control characters reached the terminal: {segment.text!r}"
            assert "\u202e" not in segment.text


def assert_markup_literal(strips: list[Strip]) -> None:
    """`[bold red]x[/]` is one run of text: no style starts or ends inside it."""
    assert any(MARKUP in segment.text for strip in strips for segment in strip), "markup lost"


async def hostile_order(shop: Services, clock: FixedClock) -> int:
    clock.advance(3600 * 6)  # newest: first row of the queue
    number = await create_order(
        shop,
        name=HOSTILE,
        email="eve@example.org",
        shipping=NewAddress(
            name=HOSTILE, line1=HOSTILE, line2=COLOUR, city=TITLE, postal_code="1", country="US"
        ),
        note=HOSTILE,
    )
    async with shop.db.write_session() as s, s.begin():
        order_id = (await s.execute(select(Order.id).where(Order.number == number))).scalar_one()
        await s.execute(
            update(OrderLine).where(OrderLine.order_id == order_id).values(name=HOSTILE)
        )
    await shop.orders.set_status(number, Status.PROCESSING, comment=HOSTILE, memo=HOSTILE)
    await shop.orders.set_status(
        number, Status.HELD, reason=HoldReason.OTHER, note=HOSTILE, memo=HOSTILE
    )
    await shop.orders.add_memo(number, HOSTILE)
    await ship_everything(shop, number, "1Z" + TITLE)
    async with shop.db.write_session() as s, s.begin():
        await s.execute(
            update(Shipment).values(carrier=COLOUR).where(Shipment.tracking.like("1Z%"))
        )
    return number


async def test_hostile_text_is_shown_literally_everywhere(
    shop: Services, clock: FixedClock
) -> None:
    number = await hostile_order(shop, clock)
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        # The queue: customer and memo columns.
        strips = screen_strips(app)
        assert_clean(strips, 80, 24)
        text = screen_text(app)
        assert f"{number}" in text
        assert "[bold red]x…" in text  # cut to the column, still literal
        # The order: every section.
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(6):
            strips = screen_strips(app)
            assert_clean(strips, 80, 24)
            await pilot.press("pagedown")
            await settle(pilot)
    app = PacklineApp(shop)
    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        await settle(pilot)
        app.open_order(number)
        await wait_for(  # the order's sections are in (a loaded machine is slower)
            pilot,
            lambda: any(MARKUP in seg.text for strip in screen_strips(app) for seg in strip),
        )
        await settle(pilot)
        strips = screen_strips(app)
        assert_clean(strips, 200, 60)
        assert_markup_literal(strips)
        text = screen_text(app)
        for shown in (
            "␛[31mRED␛[0m",  # colour codes, visible
            "␛]0;pwned␇",  # the window-title sequence, visible and harmless
            "␛[2J",  # clear-screen, visible
            "a␈b␍c␉d␀e<U+202E>evil",  # backspace, CR, tab, NUL, bidi override
        ):
            assert shown in text, shown
        assert "Held" in text and "other" in text
        # and in the status dialog, whose title and preview quote the order
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
        await settle(pilot)
        assert_clean(screen_strips(app), 200, 60)
