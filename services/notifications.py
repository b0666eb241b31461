"""Notification delivery: the worker that empties the transactional outbox, and what staff
need to look after it (list, retry, discard, fix a recipient) and to preview an e-mail.

Outbox states::

    queued ──claim──> sending ──ok──> sent
                         │ transient error ──> failed ──(backoff)──> claimed again
                         │ permanent error, or the last of N attempts ──> dead
                         └ worker died: after the lease, the row is due again

Claiming is safe with any number of workers on one database (each console runs one, a
server may run `packline notify run` too): due rows are taken in one write transaction
(SQLite's BEGIN IMMEDIATE serialises claimers; PostgreSQL uses FOR UPDATE SKIP LOCKED),
set to `sending`, their `attempts` counted up and `next_attempt_at` moved to the end of
the lease. A worker may only finish a row it still holds: the finishing UPDATE matches
the `attempts` and lease end it claimed with, so a worker that lost its lease cannot
overwrite the one that took over.

Exactly once, as far as the other side can tell: the row's idempotency key is the
e-mail's Message-ID and the webhook's delivery id, so the one case where a message goes
twice (sent, then the worker died before marking it) is the same message twice, which
mail clients and webhook receivers fold into one.

E-mails are rendered at delivery time, in a read transaction, from the row's payload
and the order as it is then. Nothing here runs inside a status change: a packer's Save
only writes the row, so a slow or dead mail server never slows a packer down.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from services.db import Database
from services.errors import InvalidInput, NotFound, Refused
from services.mail_context import MailOrder, build_context, load_orders
from services.mailer import (
    BadAddress,
    DeliveryError,
    Envelope,
    SmtpConfig,
    SmtpSession,
    build_message,
    domain_of,
    message_id,
    parse_address,
    redact,
)
from services.models import Notification, Order
from services.settings import Settings
from services.statuses import HoldReason, NotificationState, Status
from services.templating import RenderedEmail, TemplateFailure, Templates, one_line
from services.uow import Clock, UnitOfWork, utcnow
from services.webhooks import WebhookConfig, WebhookSender, check_url, safe_url
from services.workflow import NOTIFY_EVENT, Workflow

log = logging.getLogger("packline.notifications")

Q = NotificationState
DUE_STATES = (Q.QUEUED, Q.FAILED, Q.SENDING)  # sending: only once its lease has run out
MIN_SLEEP = 0.25

# Events with a customer e-mail template besides the status ones in workflow.NOTIFY_EVENT.
EXTRA_EVENTS: tuple[str, ...] = ("order_confirmation", "new_order_staff", "refunded")
EMAIL_EVENTS: tuple[str, ...] = (*EXTRA_EVENTS, *dict.fromkeys(NOTIFY_EVENT.values()))


@dataclass(frozen=True)
class EmailPreview:
    """The e-mail exactly as "Save + Send Email" would send it (`to` is "" without one)."""

    subject: str
    text: str
    html: str
    to: str


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as staff see it; webhook URLs are shown without credentials."""

    id: int
    order_number: int | None
    event: str
    channel: str
    to: str
    state: NotificationState
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order": self.order_number,
            "event": self.event,
            "channel": self.channel,
            "to": self.to,
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.last_error or None,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "key": self.key,
        }


@dataclass
class DeliveryReport:
    """What one pass of the worker did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0  # handed back unsent (stopping, or the lease ran short)
    lost: int = 0  # another worker took the row over after our lease ran out
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.released += other.released
        self.lost += other.lost
        self.errors.extend(other.errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "failed": self.failed,
            "dead": self.dead,
            "released": self.released,
            "lost": self.lost,
            "errors": self.errors[:20],
        }


@dataclass(frozen=True)
class _Claim:
    """A row this worker holds: `attempts` and `lease_end` are its fencing token."""

    id: int
    order_id: int | None
    event: str
    channel: str
    recipient: str
    payload: dict[str, Any]
    key: str
    attempts: int
    lease_end: datetime
    created_at: datetime


class NotificationService:
    """Delivery and the outbox. The console runs `run_forever(stop)` as a background task
    (`asyncio.create_task(services.notifications.run_forever(stop))`, then `stop.set()`
    on quit) and may call `wake()` after a change that queued mail; `packline notify run`
    is the same loop without a console. Any number of them may share one database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        workflow: Workflow,
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.workflow = workflow
        self.clock = clock
        self.operator = settings.operator
        self.templates = Templates(settings.templates_dir or None)
        self._rng = rng or random.Random()
        self._wake: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"NotificationService(db={self.db.display!r})"

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.operator)

    # -- preview -----------------------------------------------------------------------

    async def preview(
        self, ref: str | int, to: Status, comment: str, *, reason: HoldReason | None = None
    ) -> EmailPreview:
        """Render the customer e-mail a change of order `ref` to `to` would send now.

        `reason` is the hold reason chosen in the dialog (the held e-mail words it).
        Raises InvalidInput for a status that sends no e-mail (a hold whose reason the shop
        keeps from customers included), NotFound for no order, and
        InvalidInput naming the template and line when a shop's template is broken.
        """
        event = NOTIFY_EVENT.get(to)
        if event is None:
            raise InvalidInput(f"status {to.value} sends no customer e-mail")
        told = self.settings.notify_held_reasons
        if to is Status.HELD and reason is not None and reason not in told:
            raise InvalidInput(
                f"this shop does not tell customers of a {reason.value} hold "
                "(settings: notify_held_reasons); Save + Send Email sends nothing"
            )
        payload: dict[str, Any] = {"to": to.value, "comment": comment.strip()}
        if reason is not None:
            payload["reason"] = reason.value
        return await self.preview_event(ref, event, payload, status=to)

    async def preview_event(
        self,
        ref: str | int,
        event: str,
        payload: dict[str, Any] | None = None,
        *,
        status: Status | None = None,
    ) -> EmailPreview:
        """Render any e-mail event for order `ref` as it is now (the outbox screen can show
        what a failed row would send); `to` is the order's e-mail address."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            recipient = order.email.strip()
            facts = (await load_orders(uow, [order.id]))[order.id]
        full = {"number": facts.number, "from": facts.status.value, **(payload or {})}
        try:
            body = self.render(event, full, facts, status=status)
        except TemplateFailure as exc:
            raise InvalidInput(str(exc)) from exc
        return EmailPreview(subject=body.subject, text=body.text, html=body.html, to=recipient)

    def render(
        self,
        event: str,
        payload: dict[str, Any],
        order: MailOrder | None,
        *,
        status: Status | None = None,
    ) -> RenderedEmail:
        """Subject, text and HTML of `event` for this payload and order (TemplateFailure
        when a template is broken)."""
        context = build_context(event, payload, order, self.settings, self.workflow, status=status)
        return self.templates.render_email(event, context)

    # -- the worker --------------------------------------------------------------------

    def wake(self) -> None:
        """Ask a running `run_forever` to look for due rows now (call it on its loop)."""
        if self._wake is not None:
            self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set: a pass whenever rows are due, else a cheap read
        every `notify_poll_seconds` (or sooner after `wake()`). Errors are logged and
        retried on the next poll; only cancellation ends it early."""
        self._wake = asyncio.Event()
        poll = self.settings.notify_poll_seconds
        while not stop.is_set():
            delay = poll
            try:
                nxt = await self._next_due()
                if nxt is not None and nxt <= self.clock():
                    await self.run_once(stop=stop)
                    nxt = await self._next_due()
                if nxt is not None:
                    delay = (nxt - self.clock()).total_seconds()
                    delay = min(max(delay, MIN_SLEEP), poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a locked or unreachable database: try again later
                log.warning("notification worker: %s", self._safe(exc))
            await self._sleep(delay, stop)

    async def _sleep(self, delay: float, stop: asyncio.Event) -> None:
        wake = self._wake
        waiters = [asyncio.ensure_future(stop.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            if wake is not None:
                wake.clear()

    async def run_once(
        self, *, retry_all: bool = False, stop: asyncio.Event | None = None
    ) -> DeliveryReport:
        """Deliver everything due now (batch after batch) and return what happened.

        `retry_all` first makes every failed row due, ignoring its backoff.
        """
        report = DeliveryReport()
        if retry_all:
            await self.retry_failed_now()
        while stop is None or not stop.is_set():
            claims = await self._claim(self.settings.notify_batch_size)
            if not claims:
                break
            batch = await self._deliver(claims, stop)
            report.add(batch)
            if batch.released and batch.sent + batch.failed + batch.dead == 0:
                break  # could not make progress (stopping): leave the rest to the next pass
        return report

    async def _next_due(self) -> datetime | None:
        async with self._uow() as uow:
            value = (
                await uow.session.execute(
                    select(func.min(Notification.next_attempt_at)).where(
                        Notification.state.in_(DUE_STATES)
                    )
                )
            ).scalar()
        return value

    async def _claim(self, limit: int) -> list[_Claim]:
        # A read first, so an idle poll never takes SQLite's write lock.
        nxt = await self._next_due()
        if nxt is None or nxt > self.clock():
            return []
        async with self._uow(write=True) as uow:
            now = uow.clock()
            stmt = (
                select(Notification)
                .where(Notification.state.in_(DUE_STATES), Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(limit)
            )
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await uow.session.execute(stmt)).scalars())
            lease_end = now + timedelta(seconds=self.settings.notify_lease_seconds)
            claims = []
            for row in rows:
                row.state = Q.SENDING
                row.attempts += 1
                row.next_attempt_at = lease_end
                claims.append(
                    _Claim(
                        id=row.id,
                        order_id=row.order_id,
                        event=row.event,
                        channel=row.channel,
                        recipient=row.recipient,
                        payload=dict(row.payload or {}),
                        key=row.idempotency_key,
                        attempts=row.attempts,
                        lease_end=lease_end,
                        created_at=row.created_at,
                    )
                )
            await uow.commit()
        return claims

    async def _deliver(self, claims: list[_Claim], stop: asyncio.Event | None) -> DeliveryReport:
        report = DeliveryReport(claimed=len(claims))
        # Stop starting new sends well before the lease runs out, so no other worker can
        # take a row over while we are still sending it.
        lease = self.settings.notify_lease_seconds
        margin = min(lease / 2, max(self.settings.smtp_timeout, self.settings.webhook_timeout))
        deadline = time.monotonic() + lease - margin
        emails = [c for c in claims if c.channel == "email"]
        hooks = [c for c in claims if c.channel == "webhook"]
        for c in claims:
            if c.channel not in ("email", "webhook"):
                err = DeliveryError(f"unknown channel {c.channel!r}", permanent=True)
                await self._failed(c, err, report)
        if emails:
            await self._deliver_emails(emails, report, stop, deadline)
        if hooks:
            await self._deliver_webhooks(hooks, report, stop, deadline)
        return report

    def _smtp_config(self) -> SmtpConfig:
        s = self.settings
        return SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            tls=s.smtp_tls,
            user=s.smtp_user,
            password=s.smtp_password,
            timeout=s.smtp_timeout,
            ca_file=s.smtp_ca_file,
        )

    async def _deliver_emails(
        self,
        claims: list[_Claim],
        report: DeliveryReport,
        stop: asyncio.Event | None,
        deadline: float,
    ) -> None:
        sender = self.settings.smtp_from
        # The orders as they are now, for the whole batch in one read transaction.
        async with self._uow() as uow:
            orders = await load_orders(uow, {c.order_id for c in claims if c.order_id})
        # Marking a row sent (a write transaction) overlaps with sending the next message;
        # it still starts the moment the server said yes, so the window in which a crash
        # makes a duplicate is no wider.
        marking: asyncio.Task[None] | None = None
        try:
            async with SmtpSession(self._smtp_config()) as smtp:
                for i, claim in enumerate(claims):
                    if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                        await _settle(marking)
                        await self._release(claims[i:], report)
                        return
                    try:
                        msg, recipient = self._message_for(claim, orders)
                        await smtp.send(msg, sender=sender, recipient=recipient)
                    except DeliveryError as err:
                        await _settle(marking)
                        await self._failed(claim, err, report)
                        if err.server:  # cannot connect or log in: the rest fail the same
                            for rest in claims[i + 1 :]:
                                await self._failed(rest, err, report)
                            return
                        continue
                    await _settle(marking)
                    marking = asyncio.create_task(self._sent(claim, report))
        finally:
            await _settle(marking)

    def _message_for(self, claim: _Claim, orders: dict[int, MailOrder]) -> tuple[EmailMessage, str]:
        try:
            recipient = parse_address(claim.recipient)
        except BadAddress as exc:
            if not claim.recipient.strip():
                raise DeliveryError("no recipient", permanent=True) from None
            raise DeliveryError(str(exc), permanent=True) from None
        order = None
        if claim.order_id is not None:
            order = orders.get(claim.order_id)
            if order is None:
                raise DeliveryError(f"order id {claim.order_id} no longer exists", permanent=True)
        try:
            body = self.render(claim.event, claim.payload, order)
        except TemplateFailure as exc:
            # A shop's broken template: visible on the row, retried (the shop may fix it).
            raise DeliveryError(str(exc), permanent=False) from None
        s = self.settings
        domain = s.message_id_domain.strip() or domain_of(s.smtp_from)
        env = Envelope(
            sender=s.smtp_from,
            sender_name=s.shop.name,
            recipient=recipient.addr_spec,
            reply_to=s.shop.reply_to,
            message_id=message_id(claim.key, domain),
            date=claim.created_at,
            event=claim.event,
        )
        try:
            return build_message(env, body), recipient.addr_spec
        except (BadAddress, ValueError) as exc:
            # smtp_from itself is unusable: configuration, so retry rather than kill.
            raise DeliveryError(
                f"cannot build the message: {one_line(exc)}", permanent=False
            ) from None

    async def _deliver_webhooks(
        self,
        claims: list[_Claim],
        report: DeliveryReport,
        stop: asyncio.Event | None,
        deadline: float,
    ) -> None:
        cfg = WebhookConfig(
            secret=self.settings.webhook_secret, timeout=self.settings.webhook_timeout
        )
        unreachable: dict[str, DeliveryError] = {}
        async with WebhookSender(cfg) as sender:
            for i, claim in enumerate(claims):
                if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                    await self._release(claims[i:], report)
                    return
                url = claim.recipient.strip()
                if url in unreachable:  # one dead host must not eat the whole lease
                    await self._failed(claim, unreachable[url], report)
                    continue
                try:
                    await sender.post(
                        url,
                        event=str(claim.payload.get("event") or claim.event),
                        delivery_id=claim.key,
                        payload=claim.payload,
                    )
                except DeliveryError as err:
                    if err.server:
                        unreachable[url] = err
                    await self._failed(claim, err, report)
                    continue
                await self._sent(claim, report)

    # -- finishing a claimed row ---------------------------------------------------------

    async def _finish(self, claim: _Claim, **values: Any) -> bool:
        async with self._uow(write=True) as uow:
            result = await uow.session.execute(
                update(Notification)
                .where(
                    Notification.id == claim.id,
                    Notification.state == Q.SENDING,
                    Notification.attempts == claim.attempts,
                    Notification.next_attempt_at == claim.lease_end,
                )
                .values(**values)
            )
            await uow.commit()
        return cast(CursorResult[Any], result).rowcount == 1

    async def _sent(self, claim: _Claim, report: DeliveryReport) -> None:
        now = self.clock()
        if await self._finish(claim, state=Q.SENT, sent_at=now, last_error="", next_attempt_at=now):
            report.sent += 1
        else:
            report.lost += 1
            log.warning("notification %s: sent, but another worker had taken it over", claim.id)

    async def _failed(self, claim: _Claim, err: DeliveryError, report: DeliveryReport) -> None:
        now = self.clock()
        text = self._safe(err)
        limit = self.settings.notify_max_attempts
        if err.permanent:
            state, when = Q.DEAD, now
        elif claim.attempts >= limit:
            state, when = Q.DEAD, now
            text = f"gave up after {claim.attempts} attempts: {text}"
        else:
            state, when = Q.FAILED, now + timedelta(seconds=self.backoff(claim.attempts))
        if await self._finish(claim, state=state, last_error=text[:2000], next_attempt_at=when):
            if state is Q.DEAD:
                report.dead += 1
            else:
                report.failed += 1
            report.errors.append(f"#{claim.id} {claim.event}: {text}")
            log.info("notification %s (%s) %s: %s", claim.id, claim.event, state.value, text)
        else:
            report.lost += 1

    async def _release(self, claims: Sequence[_Claim], report: DeliveryReport) -> None:
        """Hand rows back unsent and with the attempt uncounted (we are stopping)."""
        for claim in claims:
            done = await self._finish(
                claim, state=Q.QUEUED, attempts=claim.attempts - 1, next_attempt_at=self.clock()
            )
            if done:
                report.released += 1

    def backoff(self, attempts: int) -> float:
        """Seconds before try `attempts + 1`: doubling from the base, capped, with jitter
        (half fixed, half random) so many failed rows do not all come back at once."""
        s = self.settings
        full = min(
            s.notify_backoff_max_seconds, s.notify_backoff_seconds * 2.0 ** max(attempts - 1, 0)
        )
        return float(full / 2 + self._rng.uniform(0, full / 2))

    def _safe(self, exc: BaseException) -> str:
        text = one_line(str(exc)) or type(exc).__name__
        return redact(text, self.settings.smtp_password, self.settings.webhook_secret)

    # -- what staff see and do -----------------------------------------------------------

    async def entries(
        self,
        *,
        states: Collection[NotificationState] = (),
        order: str | int | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Outbox rows, newest first; `states` filters (e.g. failed + dead for the screen)."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        stmt = (
            select(Notification, Order.number)
            .outerjoin(Order, Order.id == Notification.order_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
        if states:
            stmt = stmt.where(Notification.state.in_(list(states)))
        async with self._uow() as uow:
            if order is not None:
                target = await uow.order(order)
                stmt = stmt.where(Notification.order_id == target.id)
            rows = (await uow.session.execute(stmt)).all()
            return [_entry(n, number) for n, number in rows]

    async def problems(self, limit: int = 100) -> list[OutboxEntry]:
        """Failed (will retry) and dead (gave up) rows with their errors, newest first."""
        return await self.entries(states=(Q.FAILED, Q.DEAD), limit=limit)

    async def counts(self) -> dict[NotificationState, int]:
        async with self._uow() as uow:
            rows = (
                await uow.session.execute(
                    select(Notification.state, func.count()).group_by(Notification.state)
                )
            ).all()
        found = {state: int(n) for state, n in rows}
        return {s: found.get(s, 0) for s in NotificationState}

    async def get(self, notification_id: int) -> OutboxEntry:
        async with self._uow() as uow:
            row = await self._row(uow, notification_id)
            return _entry(row, await self._number(uow, row))

    async def retry(self, notification_id: int) -> OutboxEntry:
        """Queue a failed or dead row again now, with a fresh set of attempts."""
        async with self._uow(write=True) as uow:
            row = await self._row(uow, notification_id, for_update=True)
            self._refuse_if_busy(row, "retried")
            if not row.recipient.strip():
                raise InvalidInput(
                    f"notification {row.id} has no recipient; set one first "
                    f"(packline notify set-recipient {row.id} ADDRESS)"
                )
            before = row.state
            self._requeue(row, uow.clock())
            uow.audit("notification.retry", "notification", row.id, state=before.value)
            await uow.commit()
            entry = _entry(row, await self._number(uow, row))
        self.wake()
        return entry

    async def discard(self, notification_id: int) -> OutboxEntry:
        """Give up on a row that has not been sent: it goes dead, saying who discarded it."""
        async with self._uow(write=True) as uow:
            row = await self._row(uow, notification_id, for_update=True)
            self._refuse_if_busy(row, "discarded")
            before = row.state
            note = f"discarded by {uow.actor}"
            row.last_error = f"{note} ({row.last_error})" if row.last_error else note
            row.state = Q.DEAD
            uow.audit("notification.discard", "notification", row.id, state=before.value)
            await uow.commit()
            return _entry(row, await self._number(uow, row))

    async def set_recipient(self, notification_id: int, address: str) -> OutboxEntry:
        """Correct where a row goes; a failed or dead row is queued again at once."""
        async with self._uow(write=True) as uow:
            row = await self._row(uow, notification_id, for_update=True)
            self._refuse_if_busy(row, "changed")
            try:
                if row.channel == "email":
                    value = parse_address(address).addr_spec
                else:
                    value = check_url(address)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            row.recipient = value
            if row.state in (Q.FAILED, Q.DEAD):
                self._requeue(row, uow.clock())
            uow.audit("notification.set_recipient", "notification", row.id, channel=row.channel)
            await uow.commit()
            entry = _entry(row, await self._number(uow, row))
        self.wake()
        return entry

    async def retry_failed_now(self) -> int:
        """Make every failed row due now, ignoring its backoff (`notify run --all`)."""
        async with self._uow(write=True) as uow:
            result = await uow.session.execute(
                update(Notification)
                .where(Notification.state == Q.FAILED)
                .values(next_attempt_at=uow.clock())
            )
            await uow.commit()
        return int(cast(CursorResult[Any], result).rowcount or 0)

    @staticmethod
    def _requeue(row: Notification, now: datetime) -> None:
        row.state = Q.QUEUED
        row.attempts = 0
        row.next_attempt_at = now

    def _refuse_if_busy(self, row: Notification, what: str) -> None:
        if row.state is Q.SENT:
            when = row.sent_at.strftime("%Y-%m-%d %H:%M UTC") if row.sent_at else "earlier"
            raise Refused(f"notification {row.id} was already sent ({when}); it cannot be {what}")
        if row.state is Q.SENDING:
            raise Refused(
                f"notification {row.id} is being sent right now; if its worker died it is "
                "retried automatically when the lease runs out"
            )

    async def _row(
        self, uow: UnitOfWork, notification_id: int, *, for_update: bool = False
    ) -> Notification:
        stmt = select(Notification).where(Notification.id == notification_id)
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        row = (await uow.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        return row

    @staticmethod
    async def _number(uow: UnitOfWork, row: Notification) -> int | None:
        if row.order_id is None:
            return None
        value = (
            await uow.session.execute(select(Order.number).where(Order.id == row.order_id))
        ).scalar()
        return int(value) if value is not None else None


async def _settle(task: asyncio.Task[None] | None) -> None:
    """Wait for a pending mark (re-raising what it raised)."""
    if task is not None:
        await task


def _entry(n: Notification, number: int | None) -> OutboxEntry:
    waiting = n.state in (Q.QUEUED, Q.FAILED, Q.SENDING)
    return OutboxEntry(
        id=n.id,
        order_number=number,
        event=n.event,
        channel=n.channel,
        to=safe_url(n.recipient) if n.channel == "webhook" else n.recipient,
        state=n.state,
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=n.created_at,
        next_attempt_at=n.next_attempt_at if waiting else None,
        sent_at=n.sent_at,
        key=n.idempotency_key,
    )
