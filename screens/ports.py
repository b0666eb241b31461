"""What the screens need from the services, as protocols.

Screens may not import the database layer (an import-linter contract), so they name
the service methods they call here; `services.container.Services` satisfies these
structurally and the composition root hands one in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, cast

from services.order_query import OrderFilter, QueuePage
from services.settings import Settings
from services.statuses import HoldReason, Status
from services.views import OrderDetail
from services.workflow import Workflow


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


class ConsoleServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def workflow(self) -> Workflow: ...

    @property
    def orders(self) -> OrderQueries: ...


class EmailPreview(Protocol):
    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...


class EmailPreviewer(Protocol):
    async def preview(self, ref: str | int, to: Status, comment: str) -> EmailPreview: ...


def email_previewer(services: object) -> EmailPreviewer | None:
    """The notification service's preview, when this build has one (it may not yet)."""
    notifications = getattr(services, "notifications", None)
    if notifications is None or not callable(getattr(notifications, "preview", None)):
        return None
    return cast(EmailPreviewer, notifications)
