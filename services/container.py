"""The services, wired: what the console and the CLI hold. One place builds them.

The services that hook into each other (an order's arrival, its transitions' effects,
stock following shipments, POs following payments and shipments) are built at once; the
rest on first use, with their imports: a CLI call or the console's start pays only for
what it uses (`packline orders list` does not import the template, CSV or SFTP code).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from services.db import Database
from services.gateways import build_gateway
from services.inventory import InventoryService
from services.live import ChangeFeed  # imports live_signal: this process's writes NOTIFY
from services.orders import OrderService
from services.payments import PaymentService
from services.review import ReviewService
from services.roles import Roles
from services.settings import Settings
from services.shipping import ShippingService
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import Workflow

if TYPE_CHECKING:
    from services.documents import DocumentService
    from services.exports import ExportService
    from services.imports import ImportService
    from services.models import Order, OrderLine
    from services.notifications import NotificationService
    from services.order_edits import OrderEditService
    from services.order_entry import OrderEntryService
    from services.packing import PackService
    from services.picking import PickService
    from services.printing import PrintService
    from services.purchasing import PurchasingService
    from services.returns import ReturnService


class Services:
    def __init__(self, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db = Database(settings.db)
        self.workflow = Workflow.from_config(settings.statuses.disabled, settings.statuses.labels)
        self.orders = orders = OrderService(
            db,
            self.workflow,
            operator=settings.operator,
            clock=clock,
            webhooks=tuple(settings.webhooks),
            staff_email=settings.shop.staff_email,
            held_email_reasons=frozenset(settings.notify_held_reasons),
        )
        # Review before payments: both hook into an order's arrival, in this order, and a
        # high-risk hold (the manager's call) takes precedence over a payment hold.
        self.roles = roles = Roles.from_config(settings.roles)
        orders.transition_checks.append(roles.check_transition)  # who may cancel
        self.review = review = ReviewService(
            db,
            orders,
            rules=settings.risk.rules(),
            roles=roles,
            operator=settings.operator,
            clock=clock,
            usual_sample=settings.risk.usual_sample,
            usual_min_orders=settings.risk.usual_min_orders,
        )
        self.payments = payments = PaymentService(
            db,
            orders,
            gateway=build_gateway(
                settings.payment_gateway,
                url=settings.payment_url,
                key=settings.payment_key,
                timeout=settings.payment_timeout,
            ),
            roles=roles,
            operator=settings.operator,
            clock=clock,
            review=review,
            webhooks=tuple(settings.webhooks),
        )
        self.inventory = inventory = InventoryService(
            db,
            orders,
            operator=settings.operator,
            clock=clock,
            webhooks=tuple(settings.stock_webhooks),
        )
        self.shipping = shipping = ShippingService(db, orders, settings, clock=clock)
        shipping.on_shipped.append(inventory.consume)
        shipping.on_unshipped.append(inventory.unconsume)
        payments.on_restocked.append(inventory.restocked)
        # POs follow payments (purchasing.auto_send) and vendor shipments; the purchasing
        # service itself is built when one of these first happens.
        payments.after_paid.append(self._po_on_paid)
        shipping.on_shipped.append(self._po_follow_shipment)
        shipping.on_unshipped.append(self._po_follow_shipment)
        self.live = ChangeFeed(db, clock=clock)

    async def _po_on_paid(self, number: int) -> str | None:
        return await self.purchasing.on_paid(number)

    async def _po_follow_shipment(
        self, uow: UnitOfWork, order: Order, lines: Sequence[tuple[OrderLine, int]]
    ) -> None:
        await self.purchasing.follow_shipment(uow, order, lines)

    # -- built on first use ---------------------------------------------------------------

    @cached_property
    def purchasing(self) -> PurchasingService:
        from services.purchasing import PurchasingService

        return PurchasingService(
            self.db, self.orders, self.shipping, self.settings, clock=self.clock
        )

    @cached_property
    def notifications(self) -> NotificationService:
        from services.notifications import NotificationService

        return NotificationService(self.db, self.settings, self.workflow, clock=self.clock)

    @cached_property
    def packing(self) -> PackService:
        from services.packing import PackService

        return PackService(
            self.db, self.orders, self.settings, operator=self.settings.operator, clock=self.clock
        )

    @cached_property
    def picking(self) -> PickService:
        from services.picking import PickService

        return PickService(
            self.db,
            operator=self.settings.operator,
            shop_name=self.settings.shop.name,
            clock=self.clock,
        )

    @cached_property
    def documents(self) -> DocumentService:
        from services.documents import DocumentService

        return DocumentService(self.db, self.orders, self.settings, clock=self.clock)

    @cached_property
    def printing(self) -> PrintService:
        from services.printing import PrintService

        return PrintService(self.settings)

    @cached_property
    def imports(self) -> ImportService:
        from services.imports import ImportService

        return ImportService(self.db, self.orders, self.inventory, self.settings, clock=self.clock)

    @cached_property
    def exports(self) -> ExportService:
        from services.exports import ExportService

        return ExportService(self.db, operator=self.settings.operator, clock=self.clock)

    @cached_property
    def edits(self) -> OrderEditService:
        from services.order_edits import OrderEditService

        return OrderEditService(self.db, self.orders, self.inventory, clock=self.clock)

    @cached_property
    def returns(self) -> ReturnService:
        from services.returns import ReturnService

        return ReturnService(self.db, self.orders, self.payments, self.inventory, clock=self.clock)

    @cached_property
    def entry(self) -> OrderEntryService:
        from services.order_entry import OrderEntryService

        return OrderEntryService(self.db, self.orders, clock=self.clock)

    # -- life -----------------------------------------------------------------------------

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock = utcnow) -> Services:
        return cls(settings, clock=clock)

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock = utcnow) -> Services:
        """Build and make sure the schema is current (an empty database is created)."""
        services = cls(settings, clock=clock)
        try:
            await services.db.ensure_schema()
        except BaseException:
            await services.db.dispose()
            raise
        return services

    async def close(self) -> None:
        await self.live.stop()
        await self.db.dispose()
