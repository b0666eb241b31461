"""The transactional outbox: notification rows written in the same transaction as the
change that causes them, delivered after commit by the notification worker.

A row's idempotency key is fixed when it is written and becomes the e-mail's
Message-ID / the webhook's delivery id, so a retry never makes a different message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.models import Notification, Order, StatusEvent
from services.statuses import NotificationState
from services.uow import UnitOfWork

NO_RECIPIENT = "no recipient: the order has no e-mail address"
NO_STAFF_ADDRESS = "no recipient: no staff address configured (shop.staff_email)"


def new_key() -> str:
    return uuid.uuid4().hex


def email_to_customer(
    uow: UnitOfWork,
    order: Order,
    event: str,
    *,
    payload: dict[str, Any] | None = None,
    status_event: StatusEvent | None = None,
) -> Notification:
    """Queue one customer e-mail; with no address it is saved dead so staff see why."""
    now = uow.clock()
    recipient = order.email.strip()
    row = Notification(
        order_id=order.id,
        status_event=status_event,
        event=event,
        channel="email",
        recipient=recipient,
        payload={"number": order.number, **(payload or {})},
        state=NotificationState.QUEUED if recipient else NotificationState.DEAD,
        last_error="" if recipient else NO_RECIPIENT,
        next_attempt_at=now,
        idempotency_key=new_key(),
        created_at=now,
    )
    uow.session.add(row)
    return row


def email_to_staff(
    uow: UnitOfWork,
    order: Order,
    event: str,
    address: str,
    *,
    payload: dict[str, Any] | None = None,
) -> Notification:
    """Queue one e-mail to the shop's own staff address (e.g. `new_order_staff`)."""
    now = uow.clock()
    recipient = address.strip()
    row = Notification(
        order_id=order.id,
        event=event,
        channel="email",
        recipient=recipient,
        payload={"number": order.number, **(payload or {})},
        state=NotificationState.QUEUED if recipient else NotificationState.DEAD,
        last_error="" if recipient else NO_STAFF_ADDRESS,
        next_attempt_at=now,
        idempotency_key=new_key(),
        created_at=now,
    )
    uow.session.add(row)
    return row


def webhooks(
    uow: UnitOfWork, order: Order, event: str, urls: Sequence[str], *, payload: dict[str, Any]
) -> list[Notification]:
    """One delivery per configured URL; systems hear about every change, e-mail or not."""
    now = uow.clock()
    rows = [
        Notification(
            order_id=order.id,
            event=event,
            channel="webhook",
            recipient=url,
            payload={"event": event, "number": order.number, **payload},
            state=NotificationState.QUEUED,
            next_attempt_at=now,
            idempotency_key=new_key(),
            created_at=now,
        )
        for url in urls
    ]
    uow.session.add_all(rows)
    return rows
