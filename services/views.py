"""Plain, frozen views of orders: what screens render and the CLI prints as JSON.

Screens never see ORM rows (no lazy loads on the event loop, no sessions outside
services); the JSON shape is the CLI contract in DESIGN §4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from services.display import RISK_HIGH_AT, iso, money, risk_flag, rma_name
from services.statuses import HoldReason, PaymentStatus, Status

T = TypeVar("T")


@dataclass(frozen=True)
class AddressView:
    name: str
    company: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str = ""

    def lines(self) -> list[str]:
        city = " ".join(p for p in (self.city, self.region, self.postal_code) if p)
        parts = [self.name, self.company, self.line1, self.line2, city, self.country]
        return [p for p in parts if p]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "company": self.company,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "phone": self.phone,
        }


@dataclass(frozen=True)
class CustomerView:
    name: str
    email: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class OrderRow:
    """One line of the queue."""

    number: int
    placed_at: datetime
    customer: CustomerView
    items: int
    total: int
    currency: str
    payment_status: PaymentStatus
    status: Status
    hold_reason: HoldReason | None
    last_memo: str
    risk_score: int
    risk_reasons: tuple[str, ...]
    version: int
    updated_at: datetime
    updated_by: str
    shipping_address: AddressView | None = None
    shipments: tuple[ShipmentView, ...] = ()
    risk_high_at: int = RISK_HIGH_AT  # the shop's hold threshold (risk settings)
    flags: tuple[str, ...] = ()  # warnings left for staff (orders.flags); the queue marks them

    @property
    def risk_flag(self) -> str:
        return risk_flag(self.risk_score, self.risk_high_at)

    @property
    def total_text(self) -> str:
        return money(self.total, self.currency)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "status": self.status.value,
            "payment_status": self.payment_status.value,
            "hold_reason": self.hold_reason.value if self.hold_reason else None,
            "placed_at": iso(self.placed_at),
            "customer": self.customer.to_json(),
            "shipping_address": self.shipping_address.to_json() if self.shipping_address else None,
            "items": self.items,
            "total": self.total,
            "total_text": self.total_text,
            "currency": self.currency,
            "memo": self.last_memo,
            "risk": {
                "score": self.risk_score,
                "reasons": list(self.risk_reasons),
                "flag": self.risk_flag,
            },
            "shipments": [s.to_json() for s in self.shipments],
            "flags": list(self.flags),
            "version": self.version,
        }
        return out


@dataclass(frozen=True)
class LineView:
    id: int
    sku: str
    barcode: str
    name: str
    quantity: int
    unit_price: int
    picked: int
    packed: int
    shipped: int
    fulfillment: str
    vendor: str | None
    bin: str

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "barcode": self.barcode,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "picked": self.picked,
            "packed": self.packed,
            "shipped": self.shipped,
            "fulfillment": self.fulfillment,
            "vendor": self.vendor,
            "bin": self.bin,
        }


@dataclass(frozen=True)
class ShipmentView:
    carrier: str
    tracking: str
    shipped_at: datetime | None = None
    expected_delivery: date | None = None
    url: str = ""
    lines: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "tracking": self.tracking,
            "url": self.url,
            "shipped_at": iso(self.shipped_at),
            "expected_delivery": iso(self.expected_delivery),
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in self.lines],
        }


@dataclass(frozen=True)
class POView:
    number: str
    vendor: str
    status: str
    lines: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "vendor": self.vendor,
            "status": self.status,
            "lines": [{"vendor_sku": sku, "quantity": qty} for sku, qty in self.lines],
        }


@dataclass(frozen=True)
class ReturnLineView:
    line_id: int
    sku: str
    name: str
    unit_price: int
    quantity: int  # asked to return
    received: int  # came back (0 until received)
    disposition: str  # "" until received, then restock | write_off

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "unit_price": self.unit_price,
            "quantity": self.quantity,
            "received": self.received,
            "disposition": self.disposition or None,
        }


@dataclass(frozen=True)
class ReturnView:
    """A return (RMA): on its order's detail, and from the returns service."""

    id: int
    order_number: int
    status: str  # requested | received | canceled
    reason: str
    created_at: datetime
    created_by: str
    received_at: datetime | None
    exchange_order: int | None
    currency: str
    lines: tuple[ReturnLineView, ...]

    @property
    def rma(self) -> str:
        return rma_name(self.id)

    @property
    def value(self) -> int:
        """What the goods asked back are worth at the prices paid."""
        return sum(ln.quantity * ln.unit_price for ln in self.lines)

    @property
    def value_text(self) -> str:
        return money(self.value, self.currency)

    def to_json(self) -> dict[str, Any]:
        return {
            "rma": self.rma,
            "id": self.id,
            "order": self.order_number,
            "status": self.status,
            "reason": self.reason,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "received_at": iso(self.received_at),
            "exchange_order": self.exchange_order,
            "value": self.value,
            "currency": self.currency,
            "lines": [ln.to_json() for ln in self.lines],
        }


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    from_status: Status | None
    to_status: Status | None
    at: datetime
    actor: str
    comment: str
    memo: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "from": self.from_status.value if self.from_status else None,
            "to": self.to_status.value if self.to_status else None,
            "at": iso(self.at),
            "actor": self.actor,
            "comment": self.comment,
            "memo": self.memo,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class NotificationView:
    event: str
    channel: str
    to: str
    state: str
    attempts: int
    last_error: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "channel": self.channel,
            "to": self.to,
            "state": self.state,
            "attempts": self.attempts,
            "error": self.last_error or None,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class PaymentView:
    kind: str
    amount: int
    state: str
    method: str
    reason: str
    at: datetime
    actor: str
    # Refund by line: which goods, how much each, whether they went back on the shelf.
    lines: tuple[RefundLineView, ...] = ()
    gateway_ref: str = ""
    idempotency_key: str = ""  # what to search for at the gateway when the state is unknown

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "amount": self.amount,
            "state": self.state,
            "method": self.method,
            "reason": self.reason or None,
            "at": iso(self.at),
            "actor": self.actor,
            "lines": [ln.to_json() for ln in self.lines],
            "gateway_ref": self.gateway_ref or None,
            "idempotency_key": self.idempotency_key or None,
        }


@dataclass(frozen=True)
class OrderDetail:
    row: OrderRow
    channel: str
    payment_method: str
    terms_accepted: bool
    note: str
    shipping_method: str
    hold_note: str
    held_from: Status | None
    subtotal: int
    shipping_total: int
    tax_total: int
    billing_address: AddressView | None
    lines: tuple[LineView, ...]
    payments: tuple[PaymentView, ...]
    purchase_orders: tuple[POView, ...]
    history: tuple[HistoryEntry, ...]
    notifications: tuple[NotificationView, ...]
    returns: tuple[ReturnView, ...] = ()

    @property
    def number(self) -> int:
        return self.row.number

    @property
    def flags(self) -> tuple[str, ...]:
        """Warnings an import or a check left for staff (orders.flags), e.g. an unknown SKU."""
        return self.row.flags

    @property
    def status(self) -> Status:
        return self.row.status

    @property
    def version(self) -> int:
        return self.row.version

    def to_json(self) -> dict[str, Any]:
        out = self.row.to_json()
        out.update(
            {
                "channel": self.channel,
                "payment_method": self.payment_method,
                "terms_accepted": self.terms_accepted,
                "note": self.note,
                "shipping_method": self.shipping_method,
                "hold": (
                    {
                        "reason": self.row.hold_reason.value,
                        "note": self.hold_note,
                        "from": self.held_from.value if self.held_from else None,
                    }
                    if self.row.hold_reason
                    else None
                ),
                "subtotal": self.subtotal,
                "shipping_total": self.shipping_total,
                "tax_total": self.tax_total,
                "billing_address": self.billing_address.to_json() if self.billing_address else None,
                "lines": [ln.to_json() for ln in self.lines],
                "payments": [p.to_json() for p in self.payments],
                "purchase_orders": [p.to_json() for p in self.purchase_orders],
                "returns": [r.to_json() for r in self.returns],
                "history": [h.to_json() for h in self.history],
                "notifications": [n.to_json() for n in self.notifications],
                "updated_at": iso(self.row.updated_at),
                "updated_by": self.row.updated_by,
            }
        )
        return out


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


# -- packing and picking (services/packing.py, services/picking.py) ------------------------


class ScanOutcome(StrEnum):
    """What one scan did; the pack screen picks its sound and colour from this alone."""

    ACCEPTED = "accepted"  # counted, or a command / quantity prefix understood
    REFUSED = "refused"  # nothing changed; the message says why
    NEEDS_SERIAL = "needs_serial"  # a serialised product: the next scan is its serial
    OPEN_ORDER = "open_order"  # the packing slip of another order: open that one
    FINISHED = "finished"  # packing is done (ready_to_ship, or split); the session ended
    OFFER_BACKORDER = "offer_backorder"  # part packed: confirm with split_backorder()
    ABORTED = "aborted"  # session ended by the packer; what was packed stays packed


@dataclass(frozen=True)
class PackLineView:
    """One order line as the pack screen shows it: how many, how many packed, where."""

    line_id: int
    sku: str
    name: str
    barcode: str
    bin: str
    ordered: int
    packed: int
    shipped: int
    fulfillment: str  # stock | drop_ship (drop-ship lines are shown, never packed here)
    serialized: bool

    @property
    def packable(self) -> bool:
        return self.fulfillment == "stock"

    @property
    def remaining(self) -> int:
        """Units still to pack (0 for drop-ship lines)."""
        return max(self.ordered - self.packed - self.shipped, 0) if self.packable else 0

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "barcode": self.barcode,
            "bin": self.bin,
            "ordered": self.ordered,
            "packed": self.packed,
            "shipped": self.shipped,
            "remaining": self.remaining,
            "fulfillment": self.fulfillment,
            "serialized": self.serialized,
        }


@dataclass(frozen=True)
class PackProgress:
    """The whole order's packing state: enough to redraw the pack screen from scratch."""

    order_number: int
    status: Status
    lines: tuple[PackLineView, ...]
    package_no: int  # the package scans go into now
    pending_serial: str | None = None  # SKU whose serial the next scan must be
    pending_quantity: int | None = None  # a "5*" scanned alone: the next product counts 5

    @property
    def fully_packed(self) -> bool:
        stock = [ln for ln in self.lines if ln.packable]
        return bool(stock) and all(ln.done for ln in stock)

    @property
    def units_packed(self) -> int:
        return sum(ln.packed for ln in self.lines if ln.packable)

    @property
    def units_to_pack(self) -> int:
        return sum(ln.ordered - ln.shipped for ln in self.lines if ln.packable)

    def line(self, line_id: int) -> PackLineView | None:
        return next((ln for ln in self.lines if ln.line_id == line_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order_number,
            "status": self.status.value,
            "package": self.package_no,
            "fully_packed": self.fully_packed,
            "units_packed": self.units_packed,
            "units_to_pack": self.units_to_pack,
            "pending_serial": self.pending_serial,
            "pending_quantity": self.pending_quantity,
            "lines": [ln.to_json() for ln in self.lines],
        }


@dataclass(frozen=True)
class ScanResult:
    """The answer to one scan: the screen renders it directly (no second query)."""

    outcome: ScanOutcome
    message: str  # for the operator; codes in it are made printable
    code: str  # what was scanned, printable
    progress: PackProgress
    session_id: int
    line: PackLineView | None = None  # the line this scan was about, after it
    counted: int = 0  # units this scan added (negative for an undo)
    serial: str | None = None
    open_order: int | None = None  # OPEN_ORDER: the order to open
    backorder: tuple[tuple[str, int], ...] = ()  # OFFER_BACKORDER: what a split would move
    backorder_number: int | None = None  # FINISHED by a split: the new backorder's number

    @property
    def accepted(self) -> bool:
        return self.outcome is not ScanOutcome.REFUSED

    @property
    def fully_packed(self) -> bool:
        return self.progress.fully_packed

    @property
    def package_no(self) -> int:
        return self.progress.package_no

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "message": self.message,
            "code": self.code,
            "session": self.session_id,
            "order": self.progress.order_number,
            "status": self.progress.status.value,
            "package": self.package_no,
            "fully_packed": self.fully_packed,
            "counted": self.counted,
            "serial": self.serial,
            "line": (
                {
                    "sku": self.line.sku,
                    "name": self.line.name,
                    "packed": self.line.packed,
                    "ordered": self.line.ordered,
                }
                if self.line
                else None
            ),
            "open_order": self.open_order,
            "backorder": [{"sku": sku, "quantity": qty} for sku, qty in self.backorder],
            "backorder_number": self.backorder_number,
            "progress": self.progress.to_json(),
        }


@dataclass(frozen=True)
class PackageView:
    number: int
    weight_grams: int | None
    items: tuple[tuple[str, int], ...]  # (sku, units) packed into this package
    created_at: datetime
    created_by: str

    @property
    def units(self) -> int:
        return sum(qty for _, qty in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "weight_grams": self.weight_grams,
            "units": self.units,
            "items": [{"sku": sku, "quantity": qty} for sku, qty in self.items],
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class PackSessionView:
    """What start() hands the pack screen: who holds the order, until when, and the state."""

    session_id: int
    order_number: int
    operator: str
    claimed_until: datetime
    resumed: bool  # this operator's own open session, picked up again (crash, lost link)
    took_over_from: str | None  # an expired claim of someone else, taken over
    customer: str
    progress: PackProgress
    packages: tuple[PackageView, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "order": self.order_number,
            "operator": self.operator,
            "claimed_until": iso(self.claimed_until),
            "resumed": self.resumed,
            "took_over_from": self.took_over_from,
            "customer": self.customer,
            "progress": self.progress.to_json(),
            "packages": [p.to_json() for p in self.packages],
        }


@dataclass(frozen=True)
class PickRow:
    """One stop on the walk: a bin, a SKU, how many, and for which orders."""

    warehouse: str  # warehouse code; "" when no warehouse stocks the product
    bin: str
    sku: str
    name: str
    barcode: str
    quantity: int
    orders: tuple[tuple[int, int], ...]  # (order number, units)

    def to_json(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse,
            "bin": self.bin,
            "sku": self.sku,
            "name": self.name,
            "barcode": self.barcode,
            "quantity": self.quantity,
            "orders": [{"number": n, "quantity": q} for n, q in self.orders],
        }


@dataclass(frozen=True)
class PickList:
    orders: tuple[int, ...]  # the orders this list picks for
    rows: tuple[PickRow, ...]  # in walking order
    skipped: tuple[tuple[int, str], ...]  # (order number, why) for orders with nothing here
    created_at: datetime
    created_by: str

    @property
    def units(self) -> int:
        return sum(r.quantity for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "orders": list(self.orders),
            "units": self.units,
            "rows": [r.to_json() for r in self.rows],
            "skipped": [{"number": n, "reason": why} for n, why in self.skipped],
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


# -- shipping, documents, printing (services/shipping.py, documents.py, printing.py) ------


@dataclass(frozen=True)
class ShipmentRecord:
    """One shipment as the tracking screen lists it; deleted ones are kept and shown."""

    id: int
    carrier: str
    tracking: str
    url: str
    shipped_at: datetime
    expected_delivery: date | None
    source: str  # shop | vendor
    created_by: str
    lines: tuple[tuple[str, int], ...]
    deleted_at: datetime | None = None
    delete_reason: str = ""

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "carrier": self.carrier,
            "tracking": self.tracking,
            "url": self.url,
            "shipped_at": iso(self.shipped_at),
            "expected_delivery": iso(self.expected_delivery),
            "source": self.source,
            "created_by": self.created_by,
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in self.lines],
            "deleted_at": iso(self.deleted_at),
            "delete_reason": self.delete_reason or None,
        }


@dataclass(frozen=True)
class ShippableLine:
    """A line as the tracking screen offers it: `ready` is what may ship now, and the
    default quantity of the next shipment."""

    line_id: int
    sku: str
    name: str
    fulfillment: str
    vendor: str | None
    quantity: int
    packed: int
    shipped: int
    ready: int

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "fulfillment": self.fulfillment,
            "vendor": self.vendor,
            "quantity": self.quantity,
            "packed": self.packed,
            "shipped": self.shipped,
            "ready": self.ready,
        }


@dataclass(frozen=True)
class ShipPlan:
    """What the tracking screen opens with: can this order ship now, and what."""

    number: int
    status: Status
    version: int
    why_not: str | None  # None: it can ship now
    requires_packing: bool
    lines: tuple[ShippableLine, ...]
    shipments: tuple[ShipmentRecord, ...]
    carriers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status.value,
            "version": self.version,
            "why_not": self.why_not,
            "requires_packing": self.requires_packing,
            "lines": [ln.to_json() for ln in self.lines],
            "shipments": [s.to_json() for s in self.shipments],
            "carriers": list(self.carriers),
        }


@dataclass(frozen=True)
class TrackingCheck:
    """A tracking number as typed, checked: its carrier, link, and orders already using it."""

    number: str
    carrier: str
    service: str
    url: str
    country: str
    used_on: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "carrier": self.carrier,
            "service": self.service,
            "url": self.url,
            "country": self.country or None,
            "used_on": list(self.used_on),
        }


@dataclass(frozen=True)
class ShipResult:
    """The order after a shipment was added (or deleted), and that shipment."""

    order: OrderDetail
    shipment: ShipmentRecord
    key: str = "shipment"  # JSON key for the shipment: "shipment" or "deleted_shipment"

    def to_json(self) -> dict[str, Any]:
        return {**self.order.to_json(), self.key: self.shipment.to_json()}


@dataclass(frozen=True)
class AutoCompleteReport:
    """One auto-complete pass: which shipped orders were completed, and why others were not."""

    days: int  # 0: completing by age is off
    tracking: bool  # a tracking service was asked
    checked: int
    completed: tuple[tuple[int, str], ...]  # (order number, why)
    skipped: tuple[tuple[int, str], ...]
    errors: tuple[tuple[int, str], ...]

    @property
    def enabled(self) -> bool:
        return self.days > 0 or self.tracking

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "days": self.days,
            "tracking": self.tracking,
            "checked": self.checked,
            "completed": [{"number": n, "why": why} for n, why in self.completed],
            "skipped": [{"number": n, "why": why} for n, why in self.skipped],
            "errors": [{"number": n, "error": e} for n, e in self.errors],
        }


@dataclass(frozen=True)
class Document:
    """A rendered document of one order; `bodies` maps a format (html, txt, zpl) to text."""

    kind: str  # invoice | packing_slip | label
    order_number: int
    name: str  # file name without extension, e.g. "invoice-1042" or "label-1042-1Z…"
    title: str
    bodies: dict[str, str]
    # Pictures that go with it, by file suffix: {"barcode.png": b"\x89PNG…"}.
    images: dict[str, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "order": self.order_number,
            "name": self.name,
            "title": self.title,
            "formats": sorted(self.bodies),
            "images": sorted(self.images),
        }


@dataclass(frozen=True)
class PrintJob:
    """One document handed to a printer (or written to a folder)."""

    document: str
    kind: str
    order_number: int
    printer: str
    format: str
    size: int  # bytes sent or written
    files: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "kind": self.kind,
            "order": self.order_number,
            "printer": self.printer,
            "format": self.format,
            "bytes": self.size,
            "files": list(self.files),
        }


# -- payments and review (services/payments.py, services/review.py) ----------------------


@dataclass(frozen=True)
class RefundLineView:
    """One line of a refund by line: `restock` says whether the goods went back on a shelf."""

    sku: str
    line_id: int
    quantity: int
    amount: int
    restock: bool
    warehouse: str = ""  # warehouse code the goods went back to (restock only)

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "line_id": self.line_id,
            "quantity": self.quantity,
            "amount": self.amount,
            "restock": self.restock,
            "warehouse": self.warehouse or None,
        }


@dataclass(frozen=True)
class RefundableLine:
    """What the refund dialog offers per order line."""

    line_id: int
    sku: str
    name: str
    quantity: int
    unit_price: int
    refunded: int  # units refunded so far
    refundable: int  # units that may still be refunded
    restockable: int  # units that shipped and have not been put back yet

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "refunded": self.refunded,
            "refundable": self.refundable,
            "restockable": self.restockable,
        }


@dataclass(frozen=True)
class PaymentSummary:
    """An order's money at a glance: what the `c` and `r` dialogs need."""

    number: int
    status: PaymentStatus
    order_status: Status
    method: str  # card | check | cash | cod | terms
    terms_accepted: bool
    currency: str
    total: int
    captured: int
    refunded: int
    authorized: int  # an open authorization (0 when none)
    gateway: str  # the gateway a card charge would use: none | manual | http
    gateway_problem: str | None  # why card charges cannot happen now (None: they can)
    charge_op: str  # what `c` does: charge | capture | record | "" (nothing to do)
    chargeable: int  # the amount on the charge button
    refundable_lines: tuple[RefundableLine, ...]
    unresolved: PaymentView | None  # a gateway operation whose outcome is unknown
    next_step: str  # a hint for the operator ("" when there is nothing to do)

    @property
    def refundable(self) -> int:
        return max(self.captured - self.refunded, 0)

    @property
    def balance_due(self) -> int:
        return max(self.total - self.captured, 0)

    def money(self, cents: int) -> str:
        return money(cents, self.currency)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "payment_status": self.status.value,
            "status": self.order_status.value,
            "method": self.method,
            "terms_accepted": self.terms_accepted,
            "currency": self.currency,
            "total": self.total,
            "captured": self.captured,
            "refunded": self.refunded,
            "refundable": self.refundable,
            "authorized": self.authorized,
            "balance_due": self.balance_due,
            "gateway": self.gateway,
            "gateway_problem": self.gateway_problem,
            "charge": {"op": self.charge_op or None, "amount": self.chargeable},
            "refundable_lines": [ln.to_json() for ln in self.refundable_lines],
            "unresolved": self.unresolved.to_json() if self.unresolved else None,
            "next_step": self.next_step or None,
        }


@dataclass(frozen=True)
class PaymentResult:
    """What one payment action did. `outcome` is the gateway's answer: approved, declined,
    error (nothing happened) or unknown (check the gateway; a retry reuses the key)."""

    outcome: str
    message: str
    payment: PaymentView
    summary: PaymentSummary
    released_to: Status | None = None  # a payment hold released by this payment
    notes: tuple[str, ...] = ()  # follow-ups: restocked goods, a hold that stays, ...

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "message": self.message,
            "payment": self.payment.to_json(),
            "payment_status": self.summary.status.value,
            "status": self.summary.order_status.value,
            "released_to": self.released_to.value if self.released_to else None,
            "notes": list(self.notes),
            "summary": self.summary.to_json(),
        }
        if not self.approved:
            out["error"] = self.message
        return out


@dataclass(frozen=True)
class ReviewView:
    """An order's review: the risk score with its reasons, and what a person should read
    before shipping (addresses, the customer's note) next to the facts behind the score."""

    number: int
    status: Status
    hold_reason: HoldReason | None
    score: int
    reasons: tuple[str, ...]
    hold_threshold: int
    previous_score: int
    email: str
    total: int
    currency: str
    shipping_address: AddressView | None
    billing_address: AddressView | None
    note: str
    usual_total: int | None
    recent_same_email: int
    recent_same_address: int
    window_hours: int
    declined_attempts: int

    @property
    def flag(self) -> str:
        if self.score <= 0:
            return ""
        return "high" if self.score >= self.hold_threshold else "review"

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status.value,
            "hold_reason": self.hold_reason.value if self.hold_reason else None,
            "risk": {"score": self.score, "reasons": list(self.reasons), "flag": self.flag},
            "hold_threshold": self.hold_threshold,
            "previous_score": self.previous_score,
            "email": self.email,
            "total": self.total,
            "currency": self.currency,
            "shipping_address": self.shipping_address.to_json() if self.shipping_address else None,
            "billing_address": self.billing_address.to_json() if self.billing_address else None,
            "note": self.note,
            "facts": {
                "usual_total": self.usual_total,
                "recent_orders_same_email": self.recent_same_email,
                "recent_orders_same_address": self.recent_same_address,
                "window_hours": self.window_hours,
                "declined_attempts": self.declined_attempts,
            },
        }
