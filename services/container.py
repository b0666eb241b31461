"""The services, wired: what the console and the CLI hold. One place builds them."""

from __future__ import annotations

from dataclasses import dataclass

from services.db import Database
from services.documents import DocumentService
from services.exports import ExportService
from services.gateways import build_gateway
from services.imports import ImportService
from services.inventory import InventoryService
from services.live import ChangeFeed  # imports live_signal: this process's writes NOTIFY
from services.notifications import NotificationService
from services.order_edits import OrderEditService
from services.order_entry import OrderEntryService
from services.orders import OrderService
from services.packing import PackService
from services.payments import PaymentService
from services.picking import PickService
from services.printing import PrintService
from services.purchasing import PurchasingService
from services.returns import ReturnService
from services.review import ReviewService
from services.roles import Roles
from services.settings import Settings
from services.shipping import ShippingService
from services.uow import Clock, utcnow
from services.workflow import Workflow


@dataclass
class Services:
    settings: Settings
    db: Database
    workflow: Workflow
    orders: OrderService
    notifications: NotificationService
    packing: PackService
    picking: PickService
    shipping: ShippingService
    documents: DocumentService
    printing: PrintService
    roles: Roles
    review: ReviewService
    payments: PaymentService
    inventory: InventoryService
    imports: ImportService
    exports: ExportService
    edits: OrderEditService
    purchasing: PurchasingService
    returns: ReturnService
    entry: OrderEntryService
    live: ChangeFeed

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock = utcnow) -> Services:
        db = Database(settings.db)
        workflow = Workflow.from_config(settings.statuses.disabled, settings.statuses.labels)
        orders = OrderService(
            db,
            workflow,
            operator=settings.operator,
            clock=clock,
            webhooks=tuple(settings.webhooks),
            staff_email=settings.shop.staff_email,
            held_email_reasons=frozenset(settings.notify_held_reasons),
        )
        notifications = NotificationService(db, settings, workflow, clock=clock)
        packing = PackService(db, orders, settings, operator=settings.operator, clock=clock)
        picking = PickService(
            db, operator=settings.operator, shop_name=settings.shop.name, clock=clock
        )
        # Review before payments: both hook into an order's arrival, in this order, and a
        # high-risk hold (the manager's call) takes precedence over a payment hold.
        roles = Roles.from_config(settings.roles)
        orders.transition_checks.append(roles.check_transition)  # who may cancel
        review = ReviewService(
            db,
            orders,
            rules=settings.risk.rules(),
            roles=roles,
            operator=settings.operator,
            clock=clock,
            usual_sample=settings.risk.usual_sample,
            usual_min_orders=settings.risk.usual_min_orders,
        )
        payments = PaymentService(
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
        inventory = InventoryService(
            db,
            orders,
            operator=settings.operator,
            clock=clock,
            webhooks=tuple(settings.stock_webhooks),
        )
        shipping = ShippingService(db, orders, settings, clock=clock)
        shipping.on_shipped.append(inventory.consume)
        shipping.on_unshipped.append(inventory.unconsume)
        payments.on_restocked.append(inventory.restocked)
        purchasing = PurchasingService(db, orders, shipping, settings, clock=clock)
        payments.after_paid.append(purchasing.on_paid)  # purchasing.auto_send: POs when paid
        shipping.on_shipped.append(purchasing.follow_shipment)  # POs follow vendor shipments
        shipping.on_unshipped.append(purchasing.follow_shipment)
        return cls(
            settings=settings,
            db=db,
            workflow=workflow,
            orders=orders,
            notifications=notifications,
            shipping=shipping,
            documents=DocumentService(db, orders, settings, clock=clock),
            printing=PrintService(settings),
            packing=packing,
            picking=picking,
            roles=roles,
            review=review,
            payments=payments,
            inventory=inventory,
            imports=ImportService(db, orders, inventory, settings, clock=clock),
            exports=ExportService(db, operator=settings.operator, clock=clock),
            edits=OrderEditService(db, orders, inventory, clock=clock),
            purchasing=purchasing,
            returns=ReturnService(db, orders, payments, inventory, clock=clock),
            entry=OrderEntryService(db, orders, clock=clock),
            live=ChangeFeed(db, clock=clock),
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
        await self.live.stop()
        await self.db.dispose()
