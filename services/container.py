"""The services, wired: what the console and the CLI hold. One place builds them."""

from __future__ import annotations

from dataclasses import dataclass

from services.db import Database
from services.notifications import NotificationService
from services.orders import OrderService
from services.settings import Settings
from services.uow import Clock, utcnow
from services.workflow import Workflow


@dataclass
class Services:
    settings: Settings
    db: Database
    workflow: Workflow
    orders: OrderService
    notifications: NotificationService

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock = utcnow) -> Services:
        db = Database(settings.db)
        workflow = Workflow.from_config(settings.statuses.disabled, settings.statuses.labels)
        orders = OrderService(
            db, workflow, operator=settings.operator, clock=clock, webhooks=tuple(settings.webhooks)
        )
        notifications = NotificationService(db, settings, orders, workflow, clock=clock)
        return cls(
            settings=settings,
            db=db,
            workflow=workflow,
            orders=orders,
            notifications=notifications,
        )

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock = utcnow) -> Services:
        """Build and make sure the schema is current (an empty database is created)."""
        services = cls.build(settings, clock=clock)
        try:
            await services.db.ensure_schema()
        except BaseException:
            await services.db.dispose()
            raise
        return services

    async def close(self) -> None:
        await self.db.dispose()
