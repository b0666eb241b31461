"""What the screens need from the services, as protocols.

Screens may not import the database layer (an import-linter contract), so they name
the service methods they call here; `services.container.Services` satisfies these
structurally and the composition root hands one in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from services.order_query import OrderFilter, QueuePage
from services.roles import Action
from services.shipment_entry import NewShipment
from services.statuses import HoldReason, NotificationState, PaymentMethod, Status
from services.views import (
    Document,
    OrderDetail,
    PaymentResult,
    PaymentSummary,
    PrintJob,
    ShipmentRecord,
    ShipPlan,
    ShipResult,
    TrackingCheck,
)
from services.workflow import Workflow

if TYPE_CHECKING:  # pydantic is a fifth of start-up: the console paints before loading it
    from services.settings import Settings


class OrderQueries(Protocol):
    async def page(
        self,
        flt: OrderFilter | None = None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 50,
        with_details: bool = False,
    ) -> QueuePage: ...

    async def counts(self) -> dict[Status, int]: ...

    async def last_change(self) -> tuple[datetime | None, int]: ...

    async def show(self, ref: str | int) -> OrderDetail: ...

    async def options(self, ref: str | int) -> dict[Status, str | None]: ...

    async def set_status(
        self,
        ref: str | int,
        to: Status,
        *,
        comment: str = "",
        memo: str = "",
        notify: bool = False,
        reason: HoldReason | None = None,
        note: str = "",
        expected_version: int | None = None,
    ) -> OrderDetail: ...

    async def add_memo(
        self, ref: str | int, text: str, *, expected_version: int | None = None
    ) -> OrderDetail: ...

    def tells_customer(self, to: Status, reason: HoldReason | None = None) -> bool: ...


class ConsoleServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def workflow(self) -> Workflow: ...

    @property
    def orders(self) -> OrderQueries: ...


class EmailPreview(Protocol):
    @property
    def to(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...


class EmailPreviewer(Protocol):
    async def preview(
        self, ref: str | int, to: Status, comment: str, *, reason: HoldReason | None = None
    ) -> EmailPreview: ...


def email_previewer(services: object) -> EmailPreviewer | None:
    """The notification service's preview, when this build has one (it may not yet)."""
    notifications = getattr(services, "notifications", None)
    if notifications is None or not callable(getattr(notifications, "preview", None)):
        return None
    return cast(EmailPreviewer, notifications)


# -- shipping, payments, notifications (services that import the database layer) --------
# Screens reach them through these protocols; `Services` satisfies them structurally.


class ShippingActions(Protocol):
    async def plan(self, ref: str | int) -> ShipPlan: ...

    async def check_tracking(self, raw: str, carrier: str | None = None) -> TrackingCheck: ...

    async def ship(
        self, ref: str | int, new: NewShipment, *, expected_version: int | None = None
    ) -> ShipResult: ...

    async def ship_many(
        self,
        ref: str | int,
        news: Sequence[NewShipment],
        *,
        expected_version: int | None = None,
    ) -> tuple[ShipmentRecord, ...]: ...

    async def delete_shipment(
        self,
        ref: str | int,
        tracking: str,
        *,
        reason: str,
        expected_version: int | None = None,
    ) -> ShipResult: ...


class PaymentActions(Protocol):
    async def summary(self, ref: str | int) -> PaymentSummary: ...

    async def charge(
        self, ref: str | int, amount: int | None = None, *, expected_version: int | None = None
    ) -> PaymentResult: ...

    async def record(
        self,
        ref: str | int,
        amount: int,
        method: PaymentMethod,
        *,
        note: str = "",
        expected_version: int | None = None,
    ) -> PaymentResult: ...

    async def refund(
        self,
        ref: str | int,
        *,
        amount: int | None = None,
        lines: Sequence[tuple[str, int]] = (),
        restock: bool = False,
        reason: str = "",
        notify: bool = False,
        expected_version: int | None = None,
    ) -> PaymentResult: ...


class RoleCheck(Protocol):
    def allowed(self, action: Action, login: str) -> bool: ...


class OutboxRow(Protocol):
    """One outbox row as the outbox screen shows it (`notifications.OutboxEntry`)."""

    @property
    def id(self) -> int: ...
    @property
    def order_number(self) -> int | None: ...
    @property
    def event(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def state(self) -> NotificationState: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class OutboxActions(Protocol):
    async def problems(self, limit: int = 100) -> Sequence[OutboxRow]: ...

    async def retry(self, notification_id: int) -> OutboxRow: ...

    async def discard(self, notification_id: int) -> OutboxRow: ...

    async def set_recipient(self, notification_id: int, address: str) -> OutboxRow: ...

    def wake(self) -> None: ...


class DocumentPrinting(Protocol):
    """`documents.render` then `printing.print`, as `packline print` does."""

    async def render(
        self, kind: str, refs: Sequence[str | int], **options: Any
    ) -> list[Document]: ...


class Printer(Protocol):
    async def print(
        self, docs: Sequence[Document], *, printer: str | None = None
    ) -> list[PrintJob]: ...


async def print_documents(services: object, kind: str, number: int) -> list[PrintJob]:
    """Render `kind` (invoice, slip, label) for one order and send it to the printer."""
    documents = cast(DocumentPrinting, services.documents)  # type: ignore[attr-defined]
    printing = cast(Printer, services.printing)  # type: ignore[attr-defined]
    return await printing.print(await documents.render(kind, [number]))


def shipping_of(services: object) -> ShippingActions:
    return cast(ShippingActions, services.shipping)  # type: ignore[attr-defined]


def payments_of(services: object) -> PaymentActions:
    return cast(PaymentActions, services.payments)  # type: ignore[attr-defined]


def outbox_of(services: object) -> OutboxActions:
    return cast(OutboxActions, services.notifications)  # type: ignore[attr-defined]


def may(services: object, action: Action) -> bool:
    """Whether the operator's role allows `action` (no role table: everyone may)."""
    roles = getattr(services, "roles", None)
    settings = getattr(services, "settings", None)
    if roles is None or settings is None:
        return True
    return cast(RoleCheck, roles).allowed(action, settings.operator)


def wake_notifications(services: object) -> None:
    """Ask the console's notification worker to deliver now (after Save + Send Email)."""
    notifications = getattr(services, "notifications", None)
    wake = getattr(notifications, "wake", None)
    if callable(wake):
        wake()
