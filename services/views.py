"""Plain, frozen views of orders: what screens render and the CLI prints as JSON.

Screens never see ORM rows (no lazy loads on the event loop, no sessions outside
services); the JSON shape is the CLI contract in DESIGN §4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from services.statuses import HoldReason, PaymentStatus, Status

T = TypeVar("T")

RISK_REVIEW_AT = 1
RISK_HIGH_AT = 60


def money(cents: int, currency: str = "USD") -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}.get(currency, "")
    text = f"{sign}{symbol}{whole:,}.{frac:02d}"
    return text if symbol else f"{text} {currency}"


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def risk_flag(score: int, high_at: int = RISK_HIGH_AT) -> str:
    if score >= high_at:
        return "high"
    return "review" if score >= RISK_REVIEW_AT else ""


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

    @property
    def risk_flag(self) -> str:
        return risk_flag(self.risk_score)

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

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "amount": self.amount,
            "state": self.state,
            "method": self.method,
            "reason": self.reason or None,
            "at": iso(self.at),
            "actor": self.actor,
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

    @property
    def number(self) -> int:
        return self.row.number

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
