"""The order screen and its dialogs (status, memo, conflict), by keys, on a real database."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import OptionList

from console.app import PacklineApp
from screens.confirm import ConfirmDialog
from screens.memo_dialog import MemoDialog
from screens.order import OrderScreen
from screens.queue import QueueScreen
from screens.status_dialog import StatusDialog
from services.container import Services
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.screens.helpers import rendered, screen_text, settle, wait_for

# Seeded (seed 7, anchor 2026-11-20): complete, with purchase orders, shipments, a PO-box
# ship-to and risk reasons; ready to ship (packed and paid, not shipped); new.
FULL = 1050
READY = 1005
NEW = 1018


async def open_order(app: PacklineApp, pilot: object, number: int) -> None:
    app.open_order(number)
    await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))  # type: ignore[arg-type]
    await settle(pilot)  # type: ignore[arg-type]


async def open_status_dialog(app: PacklineApp, pilot: object, number: int) -> None:
    """The order's screen, then `s`: the status dialog, settled."""
    await open_order(app, pilot, number)
    await pilot.press("s")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))  # type: ignore[arg-type]
    await settle(pilot)  # type: ignore[arg-type]


async def test_detail_shows_the_whole_order(shop: Services) -> None:
    detail = await shop.orders.show(FULL)
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_order(app, pilot, FULL)
        text = screen_text(app)
        assert f"Order #{FULL}" in text and "Complete" in text and "paid" in text
        assert f"risk {detail.row.risk_score}" in text
        alerts = rendered(app, "order-alerts")
        assert "PO box" in alerts and "only the postal service delivers there" in alerts
        for reason in detail.row.risk_reasons:
            assert reason[:40] in alerts.replace("\n", " ")
        assert detail.row.customer.name in rendered(app, "customer")
        assert detail.row.shipping_address is not None
        assert detail.row.shipping_address.line1 in rendered(app, "ship-to")
        lines = rendered(app, "order-lines")
        for line in detail.lines:
            assert line.sku in lines
            if line.vendor:
                assert line.vendor[:10] in lines
        shipments = rendered(app, "order-shipments")
        for shipment in detail.row.shipments:
            assert shipment.tracking in shipments
        pos = rendered(app, "order-pos")
        for po in detail.purchase_orders:
            assert po.number in pos
        payments = rendered(app, "order-payments")
        assert "charge" in payments and "approved" in payments
        timeline = rendered(app, "order-timeline")
        assert "New → Processing" in timeline
        assert "Shipped → Complete" in timeline
        for note in detail.notifications:
            if note.channel == "email":
                assert f"✉ email {note.event} to {note.to}  {note.state}" in timeline
        # the timeline is reachable from the keyboard
        await pilot.press("end")
        await settle(pilot)
        assert "Timeline" in screen_text(app)


async def test_set_status_with_comment_and_email(shop: Services, clock: FixedClock) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_status_dialog(app, pilot, NEW)
        dialog = app.screen
        assert isinstance(dialog, StatusDialog)
        assert dialog.chosen is Status.PROCESSING  # the first allowed status
        clock.advance(60)
        await pilot.press("tab", *"Thank you for your order!", "tab", *"gift wrap", "ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        assert "Processing" in screen_text(app).splitlines()[0]
    detail = await shop.orders.show(NEW)
    assert detail.status is Status.PROCESSING
    last = detail.history[-1]
    assert (last.from_status, last.to_status, last.actor) == (
        Status.NEW,
        Status.PROCESSING,
        "tester",
    )
    assert (last.comment, last.memo, last.at) == (
        "Thank you for your order!",
        "gift wrap",
        clock.now,
    )
    [mail] = [n for n in detail.notifications if n.channel == "email"]
    assert (mail.event, mail.state) == ("processing", "queued")
    assert detail.row.last_memo == "gift wrap"


async def test_disallowed_statuses_show_why_and_cannot_be_chosen(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_status_dialog(app, pilot, READY)
        text = screen_text(app)
        assert "Shipped" not in text.split("Comment")[0]  # not offered…
        assert "F2: show" in text  # …but can be shown
        await pilot.press("f2")
        await settle(pilot)
        assert "Shipped  not every line has a shipment" in screen_text(app)
        dialog = app.screen
        assert isinstance(dialog, StatusDialog)
        prompts = {
            str(option.id): str(option.prompt) + ("" if not option.disabled else " (disabled)")
            for option in dialog.query_one(OptionList).options
        }
        assert prompts["shipped"].startswith("Shipped  not every line has a shipment with")
        assert prompts["shipped"].endswith("(disabled)")
        assert prompts["processing"] == "Processing"
        # walking down the list never lands on a refused status
        for _ in range(8):
            await pilot.press("down")
            chosen = dialog.chosen
            assert chosen is None or chosen in {
                s for s, why in (await shop.orders.options(READY)).items() if why is None
            }
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OrderScreen)
    assert (await shop.orders.show(READY)).status is Status.READY_TO_SHIP


async def test_hold_needs_a_reason_and_keeps_the_dialog_open(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_status_dialog(app, pilot, NEW)
        await pilot.press("down")  # Held
        dialog = app.screen
        assert isinstance(dialog, StatusDialog) and dialog.chosen is Status.HELD
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, StatusDialog)
        assert "a hold needs a reason" in screen_text(app)
        await pilot.press("tab", "enter")  # open the reason select
        await pilot.press("down", "down", "down", "enter")  # Incorrect address
        await settle(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    detail = await shop.orders.show(NEW)
    assert detail.status is Status.HELD
    assert detail.row.hold_reason is HoldReason.INCORRECT_ADDRESS


async def test_memo_key_adds_a_staff_memo(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_order(app, pilot, NEW)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MemoDialog))
        await pilot.press(*"call before delivery", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        assert "staff memo: call before delivery" in rendered(app, "order-timeline")
    detail = await shop.orders.show(NEW)
    assert detail.history[-1].kind == "memo"
    assert detail.history[-1].memo == "call before delivery"
    assert detail.row.last_memo == "call before delivery"


async def test_conflict_offers_reload_and_keeps_the_text(shop: Services, clock: FixedClock) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_status_dialog(app, pilot, NEW)
        await pilot.press("tab", *"We are on it")
        # Meanwhile another operator (same database, other name) adds a memo.
        clock.advance(30)
        await shop.orders.add_memo(NEW, "other desk: customer called")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = screen_text(app)
        assert f"order #{NEW} was changed by tester at 2026-11-20 12:00:30" in text
        await pilot.press("enter")  # Reload
        await wait_for(pilot, lambda: isinstance(app.screen, StatusDialog))
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, StatusDialog)
        assert dialog.targets[0].version == (await shop.orders.show(NEW)).version
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    detail = await shop.orders.show(NEW)
    assert detail.status is Status.PROCESSING
    assert detail.history[-1].comment == "We are on it"
    assert [h.kind for h in detail.history][-2:] == ["memo", "status"]


async def test_unknown_order_is_refused_without_leaving(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.open_order(999_999)
        await wait_for(pilot, lambda: "no order #999999" in screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert app.is_running


def break_database(database: Path, keep: Path) -> None:
    shutil.move(database, keep)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 100)


async def test_database_failure_is_reported_and_retry_works(shop: Services, tmp_path: Path) -> None:
    database = Path(shop.db.url.database or "")
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        # The file is replaced by something that is not a database.
        await shop.db.dispose()
        break_database(database, tmp_path / "saved.sqlite")
        app.open_order(NEW)
        await settle(pilot)
        text = screen_text(app)
        assert "Could not load the order" in text and "ctrl+r to retry" in text
        assert app.is_running
        # Put it back; ctrl+r loads it.
        await shop.db.dispose()
        shutil.move(tmp_path / "saved.sqlite", database)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert f"Order #{NEW}" in screen_text(app)


async def test_a_memo_typed_fast_then_saved_keeps_every_character(shop: Services) -> None:
    """Over a slow link (or a paste) the keys arrive together: ctrl+s is a priority key,
    yet it saves only after the characters that came before it are in the field."""
    from textual import events

    from tests.screens.burst import key_events

    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_order(app, pilot, NEW)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MemoDialog))
        await settle(pilot)
        text = "deliver by Friday, ring twice"
        driver = app._driver
        assert driver is not None
        for event in [*key_events(text), events.Key("ctrl+s", None)]:
            event.set_sender(app)
            driver.send_message(event)
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
    assert (await shop.orders.show(NEW)).row.last_memo == text


async def test_save_and_email_is_off_for_a_hold_the_shop_keeps_private(shop: Services) -> None:
    """A risk hold e-mails nobody by default (notify_held_reasons): the dialog says so by
    switching Save + Send Email off for that reason, and on again for one customers hear of."""
    from textual.widgets import Button, Select

    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_status_dialog(app, pilot, NEW)
        await pilot.press("down")  # Held
        dialog = app.screen
        assert isinstance(dialog, StatusDialog) and dialog.chosen is Status.HELD
        reason = dialog.query_one("#hold-reason", Select)
        email = dialog.query_one("#save-email", Button)
        reason.value = HoldReason.HIGH_RISK
        await settle(pilot)
        assert email.disabled and not dialog.check_action("save", (True,))
        reason.value = HoldReason.INCORRECT_ADDRESS
        await settle(pilot)
        assert not email.disabled and dialog.check_action("save", (True,))
