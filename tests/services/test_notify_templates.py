"""E-mail templates and the status dialog's preview, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from services.container import Services
from services.errors import InvalidInput, NotFound
from services.notifications import EMAIL_EVENTS, EmailPreview
from services.statuses import HoldReason, Status
from services.workflow import NOTIFY_EVENT
from tests.conftest import FixedClock
from tests.services.test_notify_support import (
    free_port,
    new_order,
    notify_settings,
    open_shop,
    ship,
)

TRACK_URL = "https://www.ups.com/track?tracknum=1Z999AA10123456784"


@pytest.fixture
async def shop(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    s = await open_shop(notify_settings(db_url, free_port()), clock)
    try:
        yield s
    finally:
        await s.close()


async def test_preview_renders_every_status_e_mail(shop: Services) -> None:
    number = await new_order(shop)
    for status, event in NOTIFY_EVENT.items():
        preview = await shop.notifications.preview(number, status, "Your parcel: see below.")
        assert isinstance(preview, EmailPreview)
        assert f"#{number}" in preview.subject, event
        assert "\n" not in preview.subject and "\r" not in preview.subject
        assert preview.to == "ada@example.org"
        assert "Your parcel: see below." in preview.text, event
        assert "Your parcel: see below." in preview.html, event
        assert "Hello Ada Lovelace," in preview.text
        assert "Tinker &amp; Sons" in preview.html and "Tinker & Sons" in preview.text
        assert "help@shop.example" in preview.text  # reply-to from the config
        assert "TINKER" in preview.html  # logo text


async def test_preview_refusals(shop: Services) -> None:
    number = await new_order(shop)
    with pytest.raises(InvalidInput, match="status new sends no customer e-mail"):
        await shop.notifications.preview(number, Status.NEW, "")
    with pytest.raises(NotFound):
        await shop.notifications.preview(999_999, Status.PROCESSING, "")
    no_mail = await new_order(shop, email="")
    assert (await shop.notifications.preview(no_mail, Status.PROCESSING, "")).to == ""


async def held_mails(s: Services, number: int) -> list[str]:
    detail = await s.orders.show(number)
    return [n.event for n in detail.notifications if n.event == "held"]


async def test_held_e_mail_only_for_the_holds_the_shop_tells_customers_of(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    asked = await new_order(shop)
    await shop.orders.set_status(
        asked, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER, notify=True
    )
    assert await held_mails(shop, asked) == ["held"]
    # A risk hold is the shop's own business by default: saved, nothing e-mailed.
    risky = await new_order(shop, email="eve@example.org")
    held = await shop.orders.set_status(
        risky, Status.HELD, reason=HoldReason.HIGH_RISK, notify=True, memo="card looks stolen"
    )
    assert held.status is Status.HELD and await held_mails(shop, risky) == []
    assert not shop.orders.tells_customer(Status.HELD, HoldReason.HIGH_RISK)
    assert shop.orders.tells_customer(Status.HELD, HoldReason.AWAITING_PAYMENT)
    assert not shop.orders.tells_customer(Status.NEW)
    with pytest.raises(InvalidInput, match="does not tell customers of a high_risk hold"):
        await shop.notifications.preview(risky, Status.HELD, "", reason=HoldReason.HIGH_RISK)
    # A shop that tells customers of no hold at all.
    quiet = await open_shop(
        notify_settings(db_url, free_port(), notify_held_reasons=[]), clock, seed=False
    )
    try:
        number = await new_order(quiet, email="bob@example.org")
        await quiet.orders.set_status(
            number, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER, notify=True
        )
        assert await held_mails(quiet, number) == []
        await quiet.orders.set_status(number, Status.NEW, notify=True)  # released: no e-mail
        await quiet.orders.set_status(number, Status.PROCESSING, notify=True)
        events = [n.event for n in (await quiet.orders.show(number)).notifications]
        assert events == ["new_order_staff", "processing"]
    finally:
        await quiet.close()


async def test_shipped_e_mail_has_carrier_tracking_link_and_date(shop: Services) -> None:
    number = await new_order(shop)
    await ship(shop, number, expected=date(2026, 11, 25))
    preview = await shop.notifications.preview(number, Status.SHIPPED, "")
    assert "UPS" in preview.text and "1Z999AA10123456784" in preview.text
    assert TRACK_URL in preview.text
    assert f'href="{TRACK_URL}"' in preview.html
    assert "Wednesday, November 25, 2026" in preview.text
    assert "Wednesday, November 25, 2026" in preview.html


async def test_partially_shipped_says_what_went_and_what_is_coming(shop: Services) -> None:
    number = await new_order(shop, lines=(("PL-10001", 2), ("PL-10003", 1)))
    await ship(shop, number, quantities={"PL-10001": 2})
    detail = await shop.orders.show(number)
    names = {ln.sku: ln.name for ln in detail.lines}
    preview = await shop.notifications.preview(number, Status.PARTIALLY_SHIPPED, "")
    went, _, coming = preview.text.partition("Still to come")
    assert "In this package" in went and names["PL-10001"] in went
    assert names["PL-10003"] in coming and names["PL-10001"] not in coming
    assert "1 x " + names["PL-10003"] in coming
    assert "Still to come" in preview.html


async def test_customer_text_is_data_never_markup_or_template(shop: Services) -> None:
    number = await new_order(shop, name="<b>Eve</b> {{ 7*7 }}")
    comment = "<script>alert(1)</script>\n{% if x %}second line"
    preview = await shop.notifications.preview(number, Status.PROCESSING, comment)
    assert "<script>" not in preview.html and "<b>Eve" not in preview.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>" in preview.html
    assert "&lt;b&gt;Eve&lt;/b&gt; {{ 7*7 }}" in preview.html
    assert "{% if x %}second line" in preview.html
    assert comment in preview.text  # plain text keeps it as typed
    assert "Hello <b>Eve</b> {{ 7*7 }}," in preview.text


async def test_hold_e_mail_never_mentions_risk(shop: Services) -> None:
    number = await new_order(shop)
    await shop.orders.set_status(number, Status.HELD, reason=HoldReason.HIGH_RISK)
    preview = await shop.notifications.preview(number, Status.HELD, "")
    assert "check a few details" in preview.text
    assert "risk" not in (preview.text + preview.html + preview.subject).lower()
    other = await new_order(shop)
    address = await shop.notifications.preview(
        other, Status.HELD, "", reason=HoldReason.INCORRECT_ADDRESS
    )
    assert "confirm your shipping address" in address.text


async def test_every_event_renders_with_the_order_as_it_is(shop: Services) -> None:
    number = await new_order(shop)
    await ship(shop, number)
    assert {"order_confirmation", "new_order_staff", "refunded"} <= set(EMAIL_EVENTS)
    assert set(NOTIFY_EVENT.values()) <= set(EMAIL_EVENTS)
    for event in EMAIL_EVENTS:
        payload = {"comment": "", "amount": 1234, "full": False}
        body = await shop.notifications.preview_event(number, event, payload)
        assert str(number) in body.subject, event
        assert str(number) in body.text and str(number) in body.html, event
        assert body.html.lstrip().startswith("<!DOCTYPE html>"), event
    refund = await shop.notifications.preview_event(number, "refunded", {"amount": 1234})
    assert "$12.34" in refund.text and "A refund for your order" in refund.subject
    full = await shop.notifications.preview_event(
        number, "refunded", {"amount": 1234, "full": True}
    )
    assert "in full: $12.34" in full.text and "has been refunded" in full.subject
    staff = await shop.notifications.preview_event(number, "new_order_staff")
    assert "Ada Lovelace" in staff.subject and "ada@example.org" in staff.text


async def test_a_shops_templates_override_and_broken_ones_name_file_and_line(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    own = tmp_path / "templates" / "email"
    own.mkdir(parents=True)
    (own / "processing.subject.txt").write_text("Custom: {{ number }} for {{ customer_name }}")
    (own / "shipped.html").write_text("<p>fine</p>\n<p>{{ order.nope.deeper }}</p>\n")
    (own / "complete.txt").write_text("{% if %}\n")
    settings = notify_settings(db_url, free_port(), templates_dir=str(tmp_path / "templates"))
    shop = await open_shop(settings, clock)
    try:
        number = await new_order(shop, name="Eve\r\nBcc: evil@example.net")
        preview = await shop.notifications.preview(number, Status.PROCESSING, "")
        assert preview.subject == f"Custom: {number} for Eve Bcc: evil@example.net"
        assert "Good news" in preview.text  # the parts not overridden are the package's
        with pytest.raises(InvalidInput, match=r"template email/shipped\.html line 2: .*nope"):
            await shop.notifications.preview(number, Status.SHIPPED, "")
        with pytest.raises(InvalidInput, match=r"template email/complete\.txt line 1"):
            await shop.notifications.preview(number, Status.COMPLETE, "")
        # fixed on disk: picked up without a restart
        (own / "shipped.html").write_text("<p>fixed {{ number }}</p>\n")
        assert "fixed" in (await shop.notifications.preview(number, Status.SHIPPED, "")).html
    finally:
        await shop.close()


# What each event's e-mail must say, in the plain part and the HTML part alike.
WORDING: dict[Status, tuple[str, ...]] = {
    Status.PROCESSING: ("started working on your order",),
    Status.READY_TO_SHIP: ("packed and", "waiting for the carrier"),
    Status.PARTIALLY_SHIPPED: ("Part of your order",),
    Status.SHIPPED: ("is on its way",),
    Status.COMPLETE: ("Thank you for shopping with Tinker",),
    Status.CANCELED: ("has been canceled", "You have not been charged"),
    Status.BACKORDER: ("temporarily out of stock", "Waiting for"),
    Status.HELD: ("We have paused your order", "a little more information from you"),
    Status.RETURN_REQUESTED: ("return",),
    Status.RETURNED: ("has arrived",),
}


async def test_each_event_says_what_happened_and_signs_with_the_shop(shop: Services) -> None:
    number = await new_order(shop)
    assert set(WORDING) == set(NOTIFY_EVENT)
    for status, phrases in WORDING.items():
        reason = HoldReason.AWAITING_CUSTOMER if status is Status.HELD else None
        mail = await shop.notifications.preview(number, status, "", reason=reason)
        for phrase in phrases:
            assert phrase in mail.text, (status, phrase)
            assert phrase in mail.html.replace("<strong>", "").replace("</strong>", ""), (
                status,
                phrase,
            )
        # shop name, address, reply-to and logo text come from the config
        for part in (mail.text, mail.html):
            assert "1 Market Street, Springfield" in part, status
            assert "help@shop.example" in part and "TINKER" in part, status
        assert 'href="mailto:help@shop.example"' in mail.html
    # the backorder e-mail lists what is still to come
    backorder = await shop.notifications.preview(number, Status.BACKORDER, "")
    detail = await shop.orders.show(number)
    for line in detail.lines:
        assert f"{line.quantity} x {line.name}" in backorder.text


async def test_return_received_names_the_rma_and_what_came_back(shop: Services) -> None:
    number = await new_order(shop)
    names = {ln.sku: ln.name for ln in (await shop.orders.show(number)).lines}
    payload = {
        "rma": "RMA-7",
        "lines": [
            {"sku": "PL-10001", "quantity": 1, "disposition": "restock"},
            {"sku": "PL-10003", "quantity": 0, "disposition": "restock"},  # none came back
            "not a line",
        ],
    }
    mail = await shop.notifications.preview_event(number, "return_received", payload)
    assert mail.subject == f"We have received your return for order #{number}"
    assert f"Your return RMA-7 for order #{number} has arrived" in mail.text
    assert f"1 x {names['PL-10001']} (PL-10001)" in mail.text
    assert names["PL-10003"] not in mail.text.split("We received:")[1]
    assert "<strong>RMA-7</strong>" in mail.html and names["PL-10001"] in mail.html
    # without the returns service's details it still reads well
    bare = await shop.notifications.preview_event(number, "return_received")
    assert f"Your return for order #{number} has arrived" in bare.text
    assert "We received:" not in bare.text


async def test_confirmation_lists_the_order_and_shipped_without_a_date_omits_it(
    shop: Services,
) -> None:
    number = await new_order(shop)
    detail = await shop.orders.show(number)
    mail = await shop.notifications.preview_event(number, "order_confirmation")
    assert f"We have received order #{number}" in mail.text
    for line in detail.lines:
        assert f"{line.quantity} x {line.name} ({line.sku})" in mail.text
        assert line.name in mail.html
    assert "Total:    $33.97" in mail.text and "$33.97" in mail.html
    assert "12 Analytical Way" in mail.text and "12 Analytical Way" in mail.html
    await ship(shop, number)  # no expected delivery date given
    shipped = await shop.notifications.preview(number, Status.SHIPPED, "")
    assert "1Z999AA10123456784" in shipped.text and TRACK_URL in shipped.text
    assert "Expected delivery" not in shipped.text + shipped.html


async def test_a_shops_own_html_template_is_autoescaped_and_sandboxed(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    own = tmp_path / "email"
    own.mkdir()
    (own / "processing.html").write_text("<p>Hi {{ customer_name }}: {{ comment }}</p>\n")
    (own / "processing.txt").write_text("Hi {{ customer_name }}: {{ comment }}\n")
    (own / "complete.txt").write_text("{{ shop.__class__.__mro__ }}\n")
    settings = notify_settings(db_url, free_port(), templates_dir=str(tmp_path))
    shop = await open_shop(settings, clock)
    try:
        number = await new_order(shop, name="<b>Eve</b>")
        mail = await shop.notifications.preview(number, Status.PROCESSING, "<img src=x>")
        assert mail.html == "<p>Hi &lt;b&gt;Eve&lt;/b&gt;: &lt;img src=x&gt;</p>\n"
        assert mail.text == "Hi <b>Eve</b>: <img src=x>\n"  # plain text: as typed
        with pytest.raises(InvalidInput, match=r"template email/complete\.txt line 1"):
            await shop.notifications.preview(number, Status.COMPLETE, "")
    finally:
        await shop.close()
