"""The schema: SQLAlchemy 2.0 typed ORM. Money is integer minor units (cents), never float.

Enums are stored as their canonical string value (no native DB enums), so a new
status or state is a code change and a migration-free one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.statuses import (
    Fulfillment,
    HoldReason,
    NotificationState,
    PaymentMethod,
    PaymentStatus,
    POMethod,
    POStatus,
    Status,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC: SQLite has no time zones, PostgreSQL does."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # the common case, and a hot path in bulk inserts
            return value.replace(tzinfo=None)
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(kind: type[Any], length: int = 24) -> Enum:
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it from the class
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        Status: _enum(Status),
        PaymentStatus: _enum(PaymentStatus),
        HoldReason: _enum(HoldReason),
        PaymentMethod: _enum(PaymentMethod),
        NotificationState: _enum(NotificationState),
        Fulfillment: _enum(Fulfillment),
        POMethod: _enum(POMethod),
        POStatus: _enum(POStatus),
    }


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), default="", index=True)
    phone: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class Address(Base):
    """An address as written on an order (a snapshot: editing a customer leaves orders alone)."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    line1: Mapped[str] = mapped_column(String(200), default="")
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(2), default="US")
    phone: Mapped[str] = mapped_column(String(64), default="")


class Warehouse(Base):
    __tablename__ = "warehouses"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(default=100)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    weight_grams: Mapped[int] = mapped_column(default=0)
    serialized: Mapped[bool] = mapped_column(Boolean, default=False)
    drop_ship: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    barcodes: Mapped[list[ProductBarcode]] = relationship(back_populates="product")


class ProductBarcode(Base):
    """A code that identifies a product: UPC-A, EAN-13, EAN-8, GTIN-14 or an internal code."""

    __tablename__ = "product_barcodes"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    product: Mapped[Product] = relationship(back_populates="barcodes")


class StockLevel(Base):
    __tablename__ = "stock_levels"
    __table_args__ = (UniqueConstraint("product_id", "warehouse_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    bin: Mapped[str] = mapped_column(String(32), default="")
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)


class Vendor(Base):
    __tablename__ = "vendors"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), default="")
    po_method: Mapped[POMethod] = mapped_column(default=POMethod.EMAIL)
    edi_qualifier: Mapped[str] = mapped_column(String(2), default="")
    edi_id: Mapped[str] = mapped_column(String(15), default="")
    lead_time_days: Mapped[int] = mapped_column(default=3)


class ProductVendor(Base):
    __tablename__ = "product_vendors"
    __table_args__ = (UniqueConstraint("product_id", "vendor_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    vendor_sku: Mapped[str] = mapped_column(String(64))
    cost: Mapped[int] = mapped_column(BigInteger)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "channel_ref"),
        Index("ix_orders_placed", "placed_at", "id"),
        Index("ix_orders_status_placed", "status", "placed_at", "id"),
        Index("ix_orders_total", "total", "id"),
        Index("ix_orders_updated", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    channel: Mapped[str] = mapped_column(String(32), default="manual")
    channel_ref: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[Status] = mapped_column(default=Status.NEW)
    held_from: Mapped[Status | None]
    hold_reason: Mapped[HoldReason | None]
    hold_note: Mapped[str] = mapped_column(Text, default="")
    payment_status: Mapped[PaymentStatus] = mapped_column(default=PaymentStatus.UNPAID)
    payment_method: Mapped[PaymentMethod] = mapped_column(default=PaymentMethod.CARD)
    terms_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_total: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_total: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    item_count: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    shipping_method: Mapped[str] = mapped_column(String(64), default="standard")
    shipping_address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    billing_address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    risk_score: Mapped[int] = mapped_column(default=0)
    risk_reasons: Mapped[list[str]] = mapped_column(default=list)
    # Warnings an import or a check left for staff (e.g. "unknown SKU X imported as a note").
    flags: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    exchange_of_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    # The latest staff memo, kept on the row so the queue can show it without a join.
    last_memo: Mapped[str] = mapped_column(Text, default="")
    placed_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[int] = mapped_column(default=1)

    customer: Mapped[Customer | None] = relationship()
    shipping_address: Mapped[Address | None] = relationship(foreign_keys=[shipping_address_id])
    billing_address: Mapped[Address | None] = relationship(foreign_keys=[billing_address_id])
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.position"
    )

    # Optimistic locking: every UPDATE says WHERE version = <as read>. The new value is set
    # by UnitOfWork.touch, once per unit of work, so one change is one version however
    # many times the session flushes in between.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger, default=0)
    picked: Mapped[int] = mapped_column(default=0)
    packed: Mapped[int] = mapped_column(default=0)
    shipped: Mapped[int] = mapped_column(default=0)
    returned: Mapped[int] = mapped_column(default=0, server_default="0")
    # Stock held for this line at `warehouse_id` (reserved on processing, released on cancel).
    reserved: Mapped[int] = mapped_column(default=0, server_default="0")
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    fulfillment: Mapped[Fulfillment] = mapped_column(default=Fulfillment.STOCK)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"))
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()


class Payment(Base):
    """One gateway or manual money movement; the order's payment status is derived from these."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # authorize | charge | capture | refund | void
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # approved | declined | error | unknown
    method: Mapped[PaymentMethod] = mapped_column(default=PaymentMethod.CARD)
    gateway_ref: Mapped[str] = mapped_column(String(100), default="")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    # For refunds by line: [{"sku", "line_id", "quantity", "amount", "restock"}].
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")


class Shipment(Base):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    tracking: Mapped[str] = mapped_column(String(64), index=True)
    shipped_at: Mapped[datetime]
    expected_delivery: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(16), default="shop")  # shop | vendor
    purchase_order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_orders.id"))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    deleted_at: Mapped[datetime | None]
    delete_reason: Mapped[str] = mapped_column(Text, default="")
    lines: Mapped[list[ShipmentLine]] = relationship(back_populates="shipment")


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]
    shipment: Mapped[Shipment] = relationship(back_populates="lines")


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    status: Mapped[POStatus] = mapped_column(default=POStatus.DRAFT)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100), default="")
    lines: Mapped[list[POLine]] = relationship(back_populates="purchase_order")


class POLine(Base):
    __tablename__ = "po_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    vendor_sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_cost: Mapped[int] = mapped_column(BigInteger)
    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")


class Package(Base):
    """A box of an order: packed scans name it by number; it may carry a weight."""

    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("order_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    number: Mapped[int] = mapped_column(default=1)
    weight_grams: Mapped[int | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100), default="")


class Return(Base):
    """A return request and, once the goods are in, what came back and where it went."""

    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100), default="")
    received_at: Mapped[datetime | None]
    exchange_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    lines: Mapped[list[ReturnLine]] = relationship(back_populates="return_")


class ReturnLine(Base):
    __tablename__ = "return_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int]
    received: Mapped[int] = mapped_column(default=0)
    disposition: Mapped[str] = mapped_column(String(16), default="")  # restock | write_off
    return_: Mapped[Return] = relationship(back_populates="lines")


class PackSession(Base):
    __tablename__ = "pack_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    operator: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]


class ScanEvent(Base):
    """Every scan as it happened, accepted or refused: the pack screen's crash-safe journal."""

    __tablename__ = "scan_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("pack_sessions.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    code: Mapped[str] = mapped_column(String(300))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    accepted: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text, default="")
    package_no: Mapped[int] = mapped_column(default=1)
    serial: Mapped[str | None] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime]


class StatusEvent(Base):
    """History: a status change or a memo. comment is customer-visible, memo is staff-only."""

    __tablename__ = "status_events"
    __table_args__ = (Index("ix_status_events_order", "order_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(16), default="status")  # status | memo | edit
    from_status: Mapped[Status | None]
    to_status: Mapped[Status | None]
    reason: Mapped[str] = mapped_column(String(32), default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")
    memo: Mapped[str] = mapped_column(Text, default="")


class Notification(Base):
    """Outbox row, written in the transaction that caused it; delivered after commit."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    status_event_id: Mapped[int | None] = mapped_column(ForeignKey("status_events.id"))
    event: Mapped[str] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    recipient: Mapped[str] = mapped_column(String(500), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[NotificationState] = mapped_column(default=NotificationState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    status_event: Mapped[StatusEvent | None] = relationship()


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OrderSearchTerm(Base):
    """Index-backed search: every searchable word of an order (number, names, e-mail, SKU,
    tracking), lower-cased, so a prefix lookup costs the same at 1k and 1M orders."""

    __tablename__ = "order_search"
    # Byte order on PostgreSQL too, so the prefix range scan matches exactly what starts with q.
    term: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Counter(Base):
    """Named gap-free counters (order numbers, PO numbers, EDI control numbers)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


__all__ = [
    "Address",
    "AuditLog",
    "Base",
    "Counter",
    "Customer",
    "Notification",
    "Order",
    "OrderLine",
    "OrderSearchTerm",
    "POLine",
    "PackSession",
    "Package",
    "Payment",
    "Product",
    "ProductBarcode",
    "ProductVendor",
    "PurchaseOrder",
    "Return",
    "ReturnLine",
    "ScanEvent",
    "Shipment",
    "ShipmentLine",
    "StatusEvent",
    "StockLevel",
    "Vendor",
    "Warehouse",
]


class OrderStatusCount(Base):
    """+1/-1 per order entering/leaving a status, written by database triggers
    (services/migrations/order_triggers.py); summed by services/status_counts.py."""

    __tablename__ = "order_status_counts"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[Status] = mapped_column()
    n: Mapped[int] = mapped_column()
