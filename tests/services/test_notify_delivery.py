"""Delivery against real servers on 127.0.0.1 (aiosmtpd, http.server), on SQLite and
PostgreSQL: exactly once by Message-ID / delivery id, retries, dead letters, crashes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.container import Services
from services.errors import InvalidInput, Refused
from services.models import Notification
from services.statuses import NotificationState, Status
from services.webhooks import verify_signature
from tests.conftest import FixedClock
from tests.services.test_notify_support import (
    SENDER,
    STAFF,
    Inbox,
    Received,
    free_port,
    hook_server,
    new_order,
    notify_settings,
    open_shop,
    self_signed,
    ship,
    smtp_server,
)
from tests.services.test_returns_support import A as RETURN_SKU
from tests.services.test_returns_support import shipped_order
from tests.services.test_returns_support import shop as returns_shop

ROOT = Path(__file__).resolve().parents[2]
TRACK_URL = "https://www.ups.com/track?tracknum=1Z999AA10123456784"


async def rows(services: Services, **where: Any) -> list[Notification]:
    async with services.db.read_session() as s:
        stmt = select(Notification).order_by(Notification.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Notification, key) == value)
        return list((await s.execute(stmt)).scalars())


def keys_once(inbox: Inbox, notifications: list[Notification]) -> None:
    """Each notification's key is the Message-ID of exactly one distinct message."""
    ids = Counter(inbox.ids())
    distinct = set(ids)
    assert len(distinct) == len(notifications)
    for n in notifications:
        assert f"<{n.idempotency_key}@shop.example>" in distinct


@pytest.fixture
def smtp() -> Any:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def shop(db_url: str, clock: FixedClock, smtp: tuple[int, Inbox]) -> AsyncIterator[Services]:
    s = await open_shop(notify_settings(db_url, smtp[0]), clock)
    try:
        yield s
    finally:
        await s.close()


async def test_e_mails_arrive_with_both_parts_comment_and_tracking(
    shop: Services, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    number = await new_order(shop, notify=True)
    await shop.orders.set_status(
        number, Status.PROCESSING, comment="We engrave it today.\nThanks!", notify=True
    )
    await ship(shop, number, expected=date(2026, 11, 25))
    await shop.orders.set_status(number, Status.SHIPPED, comment="Enjoy <3", notify=True)
    report = await shop.notifications.run_once()
    assert (report.sent, report.failed, report.dead) == (4, 0, 0)

    # the staff address hears of the new order, with who ordered what
    [staff] = inbox.to(STAFF)
    assert staff.rcpt == [STAFF]
    assert staff.message["Subject"] == f"New order #{number}: $33.97 from Ada Lovelace"
    assert "Customer: Ada Lovelace <ada@example.org>" in staff.part("plain")
    assert "PL-10001" in staff.part("plain") and "PL-10001" in staff.part("html")
    assert [m.rcpt for m in inbox.customers()] == [["ada@example.org"]] * 3
    confirmation, processing, shipped = inbox.customers()
    assert confirmation.message["Subject"] == f"We have received your order #{number}"
    assert processing.message["Subject"] == f"We are preparing your order #{number}"
    assert shipped.message["Subject"] == f"Your order #{number} has shipped"
    for m in inbox.messages:
        assert m.mail_from == SENDER
        assert m.message.get_content_type() == "multipart/alternative"
        [sender] = m.message["From"].addresses
        assert (sender.display_name, sender.addr_spec) == ("Tinker & Sons", SENDER)
        assert m.message["Reply-To"] == "help@shop.example"
        assert m.message["Auto-Submitted"] == "auto-generated"
    assert "We engrave it today.\nThanks!" in processing.part("plain")
    assert "We engrave it today.<br>\nThanks!" in processing.part("html")
    assert "Enjoy <3" in shipped.part("plain") and "Enjoy &lt;3" in shipped.part("html")
    assert TRACK_URL in shipped.part("plain") and f'href="{TRACK_URL}"' in shipped.part("html")
    assert "Wednesday, November 25, 2026" in shipped.part("plain")

    mails = await rows(shop, channel="email")
    assert [n.event for n in mails] == [
        "order_confirmation",
        "new_order_staff",
        "processing",
        "shipped",
    ]
    assert [n.state for n in mails] == [NotificationState.SENT] * 4
    assert all(n.attempts == 1 and n.sent_at is not None for n in mails)
    keys_once(inbox, mails)
    # one connection for the whole batch
    assert len({m.peer for m in inbox.messages}) == 1
    # the order shows them as sent
    detail = await shop.orders.show(number)
    assert [n.state for n in detail.notifications] == ["sent"] * 4
    # nothing left: a second pass sends nothing
    assert (await shop.notifications.run_once()).claimed == 0
    assert len(inbox.messages) == 4


async def test_the_preview_is_exactly_what_arrives(shop: Services, smtp: tuple[int, Inbox]) -> None:
    _, inbox = smtp
    number = await new_order(shop)
    comment = "Engraved <today>\nThanks & see you"
    preview = await shop.notifications.preview(number, Status.PROCESSING, comment)
    await shop.orders.set_status(number, Status.PROCESSING, comment=comment, notify=True)
    assert (await shop.notifications.run_once()).sent == 2
    [got] = inbox.customers()
    assert got.rcpt == [preview.to]
    assert got.message["Subject"] == preview.subject
    assert got.part("plain") == preview.text
    assert got.part("html") == preview.html


async def test_save_without_e_mail_sends_nothing_and_bulk_sends_one_each(
    shop: Services, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    quiet = await new_order(shop)
    await shop.orders.set_status(quiet, Status.PROCESSING, comment="not sent")
    numbers = [await new_order(shop, email=f"c{i}@example.org") for i in range(6)]
    for number in numbers:  # the bulk action: one transaction per order
        await shop.orders.set_status(number, Status.PROCESSING, notify=True)
    report = await shop.notifications.run_once()
    assert report.sent == 6 + 7  # one per notified change, and the staff's new-order notices
    assert sorted(r for m in inbox.customers() for r in m.rcpt) == sorted(
        f"c{i}@example.org" for i in range(6)
    )
    assert inbox.to("ada@example.org") == []
    assert len(inbox.to(STAFF)) == 7


async def test_mail_server_down_saves_instantly_then_delivers_exactly_once(
    db_url: str, clock: FixedClock
) -> None:
    port = free_port()  # nothing listens here yet
    shop = await open_shop(notify_settings(db_url, port), clock)
    try:
        numbers = [await new_order(shop, email=f"c{i}@example.org") for i in range(3)]
        started = time.perf_counter()
        for number in numbers:
            await shop.orders.set_status(number, Status.PROCESSING, notify=True)
        assert time.perf_counter() - started < 1.5  # the change never waits for SMTP

        report = await shop.notifications.run_once()
        assert (report.sent, report.failed) == (0, 6)  # 3 changes, 3 new-order staff notices
        failed = await rows(shop)
        assert all(n.state is NotificationState.FAILED for n in failed)
        assert all("cannot reach the mail server" in n.last_error for n in failed)
        assert all(n.next_attempt_at > clock.now for n in failed)
        assert (await shop.notifications.run_once()).claimed == 0  # backing off

        with smtp_server(port) as (_, inbox):
            assert (await shop.notifications.run_once()).claimed == 0  # still backing off
            clock.advance(3600)
            report = await shop.notifications.run_once()
            assert report.sent == 6
            assert (await shop.notifications.run_once()).claimed == 0
            sent = await rows(shop)
            assert all(n.state is NotificationState.SENT and n.attempts == 2 for n in sent)
            assert len(inbox.messages) == 6 and len(inbox.to(STAFF)) == 3
            keys_once(inbox, sent)
    finally:
        await shop.close()


async def test_gives_up_after_max_attempts_and_staff_can_retry(
    db_url: str, clock: FixedClock
) -> None:
    port = free_port()
    shop = await open_shop(notify_settings(db_url, port, notify_max_attempts=2), clock)
    try:
        number = await new_order(shop)
        await shop.orders.set_status(number, Status.PROCESSING, notify=True)
        assert (await shop.notifications.run_once()).failed == 2  # the staff notice too
        clock.advance(3600)
        assert (await shop.notifications.run_once()).dead == 2
        dead, staff = await shop.notifications.problems()  # newest first, both visible
        assert (staff.event, staff.to, staff.state) == (
            "new_order_staff",
            STAFF,
            NotificationState.DEAD,
        )
        assert dead.event == "processing"
        assert dead.state is NotificationState.DEAD and dead.attempts == 2
        assert dead.last_error.startswith("gave up after 2 attempts: cannot reach")
        with smtp_server(port) as (_, inbox):
            assert (await shop.notifications.run_once()).claimed == 0  # dead stays dead
            again = await shop.notifications.retry(dead.id)
            assert (again.state, again.attempts) == (NotificationState.QUEUED, 0)
            assert (await shop.notifications.run_once()).sent == 1
            assert [m.rcpt for m in inbox.messages] == [["ada@example.org"]]
            with pytest.raises(Refused, match="already sent"):
                await shop.notifications.retry(dead.id)
    finally:
        await shop.close()


async def test_permanent_refusal_is_dead_at_once_temporary_one_retries(
    shop: Services, smtp: tuple[int, Inbox], clock: FixedClock
) -> None:
    _, inbox = smtp
    inbox.refuse["gone@example.org"] = "550 5.1.1 mailbox unavailable"
    inbox.refuse["busy@example.org"] = "451 4.3.0 try again later"
    for address in ("gone@example.org", "busy@example.org", "fine@example.org"):
        await shop.orders.set_status(
            await new_order(shop, email=address), Status.PROCESSING, notify=True
        )
    report = await shop.notifications.run_once()
    assert (report.sent, report.failed, report.dead) == (1 + 3, 1, 1)  # 3 staff notices
    by_to = {n.recipient: n for n in await rows(shop, event="processing")}
    assert by_to["gone@example.org"].state is NotificationState.DEAD
    assert "550" in by_to["gone@example.org"].last_error
    assert by_to["busy@example.org"].state is NotificationState.FAILED
    assert "451" in by_to["busy@example.org"].last_error
    # the refusals did not spoil the connection for the next message
    assert [m.rcpt for m in inbox.customers()] == [["fine@example.org"]]
    assert [m.rcpt for m in inbox.messages[-2:]] == [[STAFF], ["fine@example.org"]]
    del inbox.refuse["busy@example.org"]
    clock.advance(3600)
    assert (await shop.notifications.run_once()).sent == 1


async def test_content_refused_after_data_permanent_dead_temporary_retried(
    shop: Services, smtp: tuple[int, Inbox], clock: FixedClock
) -> None:
    """A refusal of the whole message (after DATA), not of the recipient: 5xx is dead at
    once, 4xx is retried; neither spoils the connection for the next message."""
    _, inbox = smtp
    inbox.refuse_data["spam@example.org"] = "554 5.6.0 message content rejected"
    inbox.refuse_data["full@example.org"] = "452 4.2.2 mailbox full"
    for address in ("spam@example.org", "full@example.org", "fine@example.org"):
        await shop.orders.set_status(
            await new_order(shop, email=address), Status.PROCESSING, notify=True
        )
    report = await shop.notifications.run_once()
    assert (report.sent, report.failed, report.dead) == (1 + 3, 1, 1)
    by_to = {n.recipient: n for n in await rows(shop, event="processing")}
    spam, full = by_to["spam@example.org"], by_to["full@example.org"]
    assert (spam.state, spam.attempts) == (NotificationState.DEAD, 1)
    assert "554" in spam.last_error and "content rejected" in spam.last_error
    assert full.state is NotificationState.FAILED and "452" in full.last_error
    assert [m.rcpt for m in inbox.customers()] == [["fine@example.org"]]
    assert inbox.refused_data == 2
    assert len({m.peer for m in inbox.messages}) == 1  # one connection throughout
    del inbox.refuse_data["full@example.org"]
    clock.advance(3600)
    assert (await shop.notifications.run_once()).sent == 1
    assert inbox.refused_data == 2  # the dead one was not tried again
    assert [m.rcpt for m in inbox.customers()][-1] == ["full@example.org"]


async def test_retries_back_off_doubling_capped_with_jitter(db_url: str, clock: FixedClock) -> None:
    settings = notify_settings(
        db_url, free_port(), notify_backoff_seconds=10, notify_backoff_max_seconds=40
    )
    shop = await open_shop(settings, clock)
    try:
        for i in range(4):
            await new_order(shop, email=f"c{i}@example.org", notify=True)
        # nothing listens: every row fails together, and comes back spread out
        for attempt, (low, high) in enumerate([(5, 10), (10, 20), (20, 40), (20, 40)], 1):
            started = clock.now
            report = await shop.notifications.run_once()
            assert report.failed == 8, attempt
            failed = await rows(shop)
            assert all(n.attempts == attempt for n in failed)
            delays = [(n.next_attempt_at - started).total_seconds() for n in failed]
            assert all(low <= d <= high for d in delays), (attempt, delays)
            assert len(set(delays)) > 1, "no jitter: they would all retry at once"
            assert (await shop.notifications.run_once()).claimed == 0  # not due yet
            clock.advance(high)
        draws = [shop.notifications.backoff(9) for _ in range(200)]
        assert all(20 <= d <= 40 for d in draws) and max(draws) - min(draws) > 10
    finally:
        await shop.close()


async def test_refund_e_mails_say_the_amount_partial_then_full(
    db_url: str, clock: FixedClock, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    shop = await open_shop(notify_settings(db_url, port, payment_gateway="manual"), clock)
    try:
        number = await new_order(shop)
        await shop.payments.charge(number)
        await shop.payments.refund(number, amount=500, reason="scratched box", notify=True)
        await shop.payments.refund(number, notify=True)  # the rest
        report = await shop.notifications.run_once()
        assert (report.sent, report.failed, report.dead) == (3, 0, 0)  # + the staff notice
        partial, full = inbox.customers()
        assert partial.rcpt == full.rcpt == ["ada@example.org"]
        assert partial.message["Subject"] == f"A refund for your order #{number}"
        text = partial.part("plain")
        assert f"We have refunded $5.00 of your order #{number} (order total $33.97)" in text
        assert "Reason: scratched box" in text
        assert "$5.00" in partial.part("html")
        assert full.message["Subject"] == f"Your order #{number} has been refunded"
        assert f"We have refunded your order #{number} in full: $28.97" in full.part("plain")
        assert "$28.97" in full.part("html")
    finally:
        await shop.close()


async def test_a_return_tells_the_customer_what_arrived_and_what_was_refunded(
    db_url: str, clock: FixedClock, smtp: tuple[int, Inbox]
) -> None:
    """Through the returns service: opened, received, refunded; the e-mails at the server."""
    port, inbox = smtp
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": SENDER}
    async with returns_shop(db_url, clock, **mail) as shop:
        number = await shipped_order(shop)
        opened = await shop.returns.open(number, [(RETURN_SKU, 1)], reason="too big", notify=True)
        rma = opened.return_.rma
        got = await shop.returns.receive(rma, notify=True)
        assert got.refund is not None and got.refund.payment.amount > 0
        report = await shop.notifications.run_once()
        assert (report.failed, report.dead) == (0, 0)
        by_subject = {str(m.message["Subject"]): m for m in inbox.to("zoe@example.org")}
        requested = by_subject[f"Your return request for order #{number}"]
        received = by_subject[f"We have received your return for order #{number}"]
        refunded = by_subject[f"A refund for your order #{number}"]
        name = next(ln.name for ln in got.order.lines if ln.sku == RETURN_SKU)
        text = received.part("plain")
        assert f"Your return {rma} for order #{number} has arrived" in text
        assert f"1 x {name} ({RETURN_SKU})" in text and name in received.part("html")
        amount = f"${got.refund.payment.amount / 100:,.2f}"
        assert f"We have refunded {amount} of your order #{number}" in refunded.part("plain")
        assert requested.rcpt == received.rcpt == refunded.rcpt == ["zoe@example.org"]


async def test_no_recipient_is_dead_visible_and_fixable(
    shop: Services, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    number = await new_order(shop, email="")
    detail = await shop.orders.set_status(number, Status.PROCESSING, notify=True)
    assert detail.status is Status.PROCESSING
    [problem] = await shop.notifications.problems()
    assert problem.state is NotificationState.DEAD and "no recipient" in problem.last_error
    assert problem.order_number == number
    with pytest.raises(InvalidInput, match="has no recipient"):
        await shop.notifications.retry(problem.id)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        await shop.notifications.set_recipient(problem.id, "ada@example.org\r\nBcc: x@y.z")
    fixed = await shop.notifications.set_recipient(problem.id, " ada@example.org ")
    assert (fixed.to, fixed.state) == ("ada@example.org", NotificationState.QUEUED)
    assert (await shop.notifications.run_once()).sent == 2  # and the staff's notice
    assert [m.rcpt for m in inbox.customers()] == [["ada@example.org"]]
    [staff] = inbox.to(STAFF)
    assert "Customer: Ada Lovelace\n" in staff.part("plain")  # no address to show


async def test_discard(shop: Services, smtp: tuple[int, Inbox]) -> None:
    _, inbox = smtp
    number = await new_order(shop, notify=True)
    [row] = await rows(shop, event="order_confirmation")
    gone = await shop.notifications.discard(row.id)
    assert gone.state is NotificationState.DEAD and gone.last_error == "discarded by tester"
    assert (await shop.notifications.run_once()).claimed == 1  # the staff notice alone
    assert [m.rcpt for m in inbox.messages] == [[STAFF]]
    assert [(n.event, n.state) for n in (await shop.orders.show(number)).notifications] == [
        ("order_confirmation", "dead"),
        ("new_order_staff", "sent"),
    ]


async def test_header_injection_is_neutralised(
    db_url: str, clock: FixedClock, smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    own = tmp_path / "email"
    own.mkdir()
    (own / "processing.subject.txt").write_text("For {{ customer_name }}")
    settings = notify_settings(
        db_url,
        port,
        templates_dir=str(tmp_path),
        shop={
            "name": "Evil\r\nBcc: shopbcc@example.net",
            "reply_to": "a@b.example\r\nX: y",
            "staff_email": STAFF,
        },
    )
    shop = await open_shop(settings, clock)
    try:
        good = await new_order(shop, name="Eve\r\nBcc: evil@example.net\r\n\r\nbody")
        bad = await new_order(shop, email="ada@example.org\r\nBcc: evil@example.net")
        for number in (good, bad):
            await shop.orders.set_status(number, Status.PROCESSING, notify=True)
        report = await shop.notifications.run_once()
        assert (report.sent, report.dead) == (1 + 2, 1)  # the staff's notices go out
        [m] = inbox.customers()
        assert m.rcpt == ["ada@example.org"]
        assert m.message["Bcc"] is None and m.message["X"] is None
        assert m.message["Subject"] == "For Eve Bcc: evil@example.net body"
        assert "shopbcc" not in m.rcpt[0]
        [dead] = await shop.notifications.problems()
        assert "not an e-mail address" in dead.last_error
        # the customer's name is in the staff notice's subject too: one line, no headers
        told = inbox.to(STAFF)
        assert [s.rcpt for s in told] == [[STAFF], [STAFF]]
        assert all(s.message["Bcc"] is None and s.message["X"] is None for s in told)
        assert told[0].message["Subject"].endswith("from Eve Bcc: evil@example.net body")
    finally:
        await shop.close()


async def test_a_broken_shop_template_fails_visibly_and_stops_nothing_else(
    db_url: str, clock: FixedClock, smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    own = tmp_path / "email"
    own.mkdir()
    (own / "processing.html").write_text("<p>ok</p>\n<p>{{ order.lines[0].nope.x }}</p>\n")
    shop = await open_shop(notify_settings(db_url, port, templates_dir=str(tmp_path)), clock)
    try:
        number = await new_order(shop, notify=True)
        await shop.orders.set_status(number, Status.PROCESSING, notify=True)
        report = await shop.notifications.run_once()
        assert (report.sent, report.failed) == (2, 1)
        [failed] = await shop.notifications.problems()
        assert failed.event == "processing"
        assert failed.last_error.startswith("template email/processing.html line 2:")
        assert [m.message["Subject"] for m in inbox.customers()] == [
            f"We have received your order #{number}"
        ]
        assert len(inbox.to(STAFF)) == 1
        (own / "processing.html").unlink()  # the shop fixes it; the retry goes out
        clock.advance(3600)
        assert (await shop.notifications.run_once()).sent == 1
    finally:
        await shop.close()


async def test_login_and_no_password_in_errors_logs_or_repr(
    db_url: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    password = "hunter2-Secret!"
    with smtp_server(login=("shop", password)) as (port, inbox):
        wrong = notify_settings(db_url, port, smtp_user="shop", smtp_password="wrong-" + password)
        shop = await open_shop(wrong, clock)
        try:
            caplog.set_level(logging.DEBUG)
            await shop.orders.set_status(await new_order(shop), Status.PROCESSING, notify=True)
            report = await shop.notifications.run_once()
            assert report.failed == 2  # the change's e-mail and the staff notice
            [row] = await rows(shop, event="processing")
            assert "login refused" in row.last_error
            for text in (row.last_error, caplog.text, repr(shop.settings), repr(report)):
                assert password not in text
            assert password not in repr(shop.notifications)
        finally:
            await shop.close()
        right = notify_settings(db_url, port, smtp_user="shop", smtp_password=password)
        shop = await open_shop(right, clock, seed=False)
        try:
            assert (await shop.notifications.run_once(retry_all=True)).sent == 2
            assert sorted(m.rcpt[0] for m in inbox.messages) == ["ada@example.org", STAFF]
        finally:
            await shop.close()


async def test_concurrent_workers_never_send_one_row_twice(
    db_url: str, clock: FixedClock, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    settings = notify_settings(db_url, port, notify_batch_size=4)
    shop = await open_shop(settings, clock)
    others = [await open_shop(settings, clock, seed=False) for _ in range(2)]
    try:
        for i in range(12):
            await new_order(shop, email=f"c{i}@example.org", notify=True)
        reports = await asyncio.gather(
            shop.notifications.run_once(), *(o.notifications.run_once() for o in others)
        )
        assert sum(r.sent for r in reports) == 24  # a confirmation and a staff notice each
        assert sum(r.lost for r in reports) == 0
        assert len(inbox.messages) == 24 and len(inbox.to(STAFF)) == 12
        keys_once(inbox, await rows(shop))
    finally:
        for s in (shop, *others):
            await s.close()


async def test_worker_killed_between_send_and_mark_resends_the_same_message(
    db_url: str, tmp_path: Path
) -> None:
    inbox = Inbox()
    received = threading.Event()
    release = threading.Event()
    first = True

    async def stall_first(_got: Received) -> None:
        nonlocal first
        if first:  # the server has the DATA; the worker never hears "250"
            first = False
            received.set()
            for _ in range(600):
                if release.is_set():
                    break
                await asyncio.sleep(0.05)

    inbox.on_data = stall_first
    with smtp_server(inbox=inbox) as (port, _):
        settings = notify_settings(db_url, port)
        shop = await open_shop(settings)  # the real clock, as the worker process has
        try:
            for i in range(3):
                await new_order(shop, email=f"c{i}@example.org", notify=True)
            config = tmp_path / "packline.toml"
            config.write_text(
                f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_from = "{SENDER}"\n'
                '[shop]\nname = "Tinker & Sons"\nlogo_text = "TINKER"\n'
                'address = "1 Market Street, Springfield"\nreply_to = "help@shop.example"\n'
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
            env["PACKLINE_CONFIG"] = str(config)
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from console.cli import main; main()",
                "--db",
                db_url,
                "notify",
                "run",
                "--once",
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                assert await asyncio.to_thread(received.wait, 30), "the worker sent nothing"
            finally:
                worker.kill()  # SIGKILL: no cleanup, no "sent" written
                await asyncio.wait_for(worker.wait(), 10)
                release.set()
            assert worker.returncode == -9
            stuck = await rows(shop)
            assert {n.state for n in stuck} == {NotificationState.SENDING}
            assert len(inbox.messages) == 1
            with pytest.raises(Refused, match="being sent right now"):
                await shop.notifications.retry(stuck[0].id)
            assert (await shop.notifications.run_once()).claimed == 0  # the lease holds

            # A new worker, once the dead one's lease has run out.
            later = await open_shop(
                settings, lambda: datetime.now(UTC) + timedelta(hours=1), seed=False
            )
            try:
                report = await later.notifications.run_once()
            finally:
                await later.close()
            assert report.sent == 6  # 3 confirmations, 3 staff notices
            done = await rows(shop)
            assert {n.state for n in done} == {NotificationState.SENT}
            assert len(inbox.messages) == 7  # the first one twice...
            keys_once(inbox, done)  # ...as one message: the same Message-ID
            twice = [mid for mid, n in Counter(inbox.ids()).items() if n == 2]
            assert len(twice) == 1
            copies = [m for m in inbox.messages if m.message_id == twice[0]]
            assert copies[0].part("plain") == copies[1].part("plain")
        finally:
            await shop.close()


async def test_run_forever_wakes_early_and_stops(
    db_url: str, smtp: tuple[int, Inbox], clock: FixedClock
) -> None:
    port, inbox = smtp
    shop = await open_shop(notify_settings(db_url, port, notify_poll_seconds=60), clock)
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(shop.notifications.run_forever(stop))
        await asyncio.sleep(0.2)
        await new_order(shop, notify=True)
        shop.notifications.wake()
        for _ in range(100):
            if len(inbox.messages) >= 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(m.rcpt[0] for m in inbox.messages) == ["ada@example.org", STAFF]
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await shop.close()


async def test_webhooks_signed_retried_and_stopped(db_url: str, clock: FixedClock) -> None:
    secret = "whsec-test-123"
    script = {"/ok": [200], "/flaky": [500, 204], "/gone": [410], "/bad": [400]}
    with hook_server(script) as hooks:
        settings = notify_settings(
            db_url,
            free_port(),
            webhooks=[hooks.url(p) for p in script],
            webhook_secret=secret,
        )
        shop = await open_shop(settings, clock)
        try:
            number = await new_order(shop)
            report = await shop.notifications.run_once()
            # the staff notice fails too: no mail server listens in this test
            assert (report.sent, report.failed, report.dead) == (1, 1 + 1, 2)
            state = {n.recipient.rsplit("/", 1)[1]: n for n in await rows(shop, channel="webhook")}
            assert state["ok"].state is NotificationState.SENT
            assert state["flaky"].state is NotificationState.FAILED
            assert "HTTP 500" in state["flaky"].last_error
            assert state["gone"].state is NotificationState.DEAD
            assert "HTTP 410" in state["gone"].last_error
            assert state["bad"].state is NotificationState.DEAD
            assert "HTTP 400" in state["bad"].last_error

            [post] = hooks.to("/ok")
            timestamp = post.headers["Packline-Timestamp"]
            expected = hmac.new(
                secret.encode(), f"{timestamp}.".encode() + post.body, hashlib.sha256
            ).hexdigest()
            assert post.headers["Packline-Signature"] == f"t={timestamp},v1={expected}"
            assert verify_signature(secret, post.headers["Packline-Signature"], post.body)
            assert not verify_signature("other", post.headers["Packline-Signature"], post.body)
            assert post.headers["Packline-Delivery"] == state["ok"].idempotency_key
            assert post.headers["Packline-Event"] == "order.created"
            assert post.headers["Content-Type"] == "application/json"
            assert b'"number":%d' % number in post.body

            clock.advance(3600)
            report = await shop.notifications.run_once()
            # 410 and 400 are not retried; the flaky hook and the staff e-mail are
            assert (report.claimed, report.sent) == (2, 1)
            first, second = hooks.to("/flaky")
            assert first.body == second.body
            assert first.headers["Packline-Delivery"] == second.headers["Packline-Delivery"]
            assert len(hooks.to("/gone")) == 1 and len(hooks.to("/bad")) == 1
        finally:
            await shop.close()


async def test_unreachable_webhook_host_retries_and_hides_credentials(
    db_url: str, clock: FixedClock
) -> None:
    port = free_port()
    url = f"http://hookuser:pa55-w0rd@127.0.0.1:{port}/hook"
    settings = notify_settings(db_url, free_port(), webhooks=[url])
    shop = await open_shop(settings, clock)
    try:
        await new_order(shop)
        await new_order(shop)
        report = await shop.notifications.run_once()
        assert report.failed == 4  # two webhooks, two staff e-mails (no mail server here)
        assert all(n.state is NotificationState.FAILED for n in await rows(shop))
        hooks = [e for e in await shop.notifications.problems() if e.channel == "webhook"]
        assert len(hooks) == 2
        for entry in hooks:
            assert entry.to == f"http://127.0.0.1:{port}/hook"
            assert entry.last_error.startswith(f"http://127.0.0.1:{port}/hook: ")
            assert "pa55-w0rd" not in entry.last_error + entry.to
    finally:
        await shop.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = self_signed(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("no openssl program to make a test certificate")
    return made


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_and_login(
    sqlite_url: str, clock: FixedClock, certificate: tuple[Path, Path], mode: str
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    login = ("shop", "tls-Secret-42")
    with smtp_server(login=login, tls=server_tls, implicit_tls=mode == "tls") as (port, inbox):
        common = {"smtp_tls": mode, "smtp_user": login[0], "smtp_password": login[1]}
        # The system's CAs do not know this certificate: refused, kept for a retry.
        untrusted = await open_shop(notify_settings(sqlite_url, port, **common), clock)
        try:
            await untrusted.orders.set_status(
                await new_order(untrusted), Status.PROCESSING, notify=True
            )
            report = await untrusted.notifications.run_once()
            assert (report.sent, report.failed) == (0, 2)
            assert "certificate" in report.errors[0].lower()
        finally:
            await untrusted.close()
        trusted = notify_settings(sqlite_url, port, smtp_ca_file=str(cert), **common)
        shop = await open_shop(trusted, clock, seed=False)
        try:
            assert (await shop.notifications.run_once(retry_all=True)).sent == 2
            assert [m.rcpt for m in inbox.customers()] == [["ada@example.org"]]
            assert len(inbox.to(STAFF)) == 1
        finally:
            await shop.close()
