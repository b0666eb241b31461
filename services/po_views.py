"""Frozen views of drop-ship purchasing: what the PO screen renders and the CLI prints.

Plain data only (no ORM rows), each with ``to_json()`` in the CLI's JSON shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.display import iso


@dataclass(frozen=True)
class VendorChoice:
    """One vendor who can drop-ship a line: their SKU and cost, our margin on it."""

    code: str
    name: str
    vendor_sku: str
    cost: int  # per unit, minor units
    margin: int  # our unit price minus their cost (can be negative)
    is_default: bool
    method: str  # email | edi | manual
    # Why a PO to this vendor could not be sent automatically ("" = it can).
    send_problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "vendor_sku": self.vendor_sku,
            "cost": self.cost,
            "margin": self.margin,
            "default": self.is_default,
            "method": self.method,
            "send_problem": self.send_problem or None,
        }


@dataclass(frozen=True)
class PlanLine:
    """An order line as the PO screen shows it.

    ``to_order`` units are neither shipped nor on a live PO; ``selected`` is the vendor
    pre-chosen for them (the line's vendor, else the product's default). A line with a
    ``problem`` cannot be ordered and the screen says why.
    """

    line_id: int
    sku: str
    name: str
    quantity: int
    unit_price: int
    fulfillment: str  # stock | drop_ship
    on_po: int
    shipped: int
    to_order: int
    choices: tuple[VendorChoice, ...]
    selected: str | None
    problem: str = ""

    @property
    def orderable(self) -> bool:
        return self.to_order > 0 and bool(self.choices) and not self.problem

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "fulfillment": self.fulfillment,
            "on_po": self.on_po,
            "shipped": self.shipped,
            "to_order": self.to_order,
            "selected": self.selected,
            "choices": [c.to_json() for c in self.choices],
            "problem": self.problem or None,
        }


@dataclass(frozen=True)
class POLineView:
    sku: str
    name: str
    vendor_sku: str
    quantity: int
    unit_cost: int
    shipped: int  # units of this order line shipped so far (by anyone)

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "vendor_sku": self.vendor_sku,
            "quantity": self.quantity,
            "unit_cost": self.unit_cost,
            "shipped": self.shipped,
        }


@dataclass(frozen=True)
class PurchaseOrderView:
    number: str
    order_number: int
    vendor_code: str
    vendor_name: str
    method: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    created_by: str
    lines: tuple[POLineView, ...]
    tracking: tuple[str, ...] = ()
    # Statuses an operator may record by hand now (`mark`): what the vendor said
    # (acknowledged), what arrived (received), a PO sent by phone, a cancellation. Shipped
    # is not among them: it follows the tracking numbers.
    can_mark: tuple[str, ...] = ()

    @property
    def total_cost(self) -> int:
        return sum(ln.unit_cost * ln.quantity for ln in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "order": self.order_number,
            "vendor": self.vendor_name,
            "vendor_code": self.vendor_code,
            "method": self.method,
            "status": self.status,
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
            "created_by": self.created_by,
            "total_cost": self.total_cost,
            "lines": [ln.to_json() for ln in self.lines],
            "tracking": list(self.tracking),
            "can_mark": list(self.can_mark),
        }


@dataclass(frozen=True)
class POPlan:
    """What the PO screen opens with. ``why_not`` says why nothing can be ordered now."""

    number: int
    status: str
    version: int
    lines: tuple[PlanLine, ...]
    purchase_orders: tuple[PurchaseOrderView, ...]
    why_not: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "version": self.version,
            "why_not": self.why_not,
            "lines": [ln.to_json() for ln in self.lines],
            "purchase_orders": [po.to_json() for po in self.purchase_orders],
        }


@dataclass(frozen=True)
class SendOutcome:
    """One PO's sending: ``ok`` with how (``via``, and for EDI the file), or why not."""

    po: str
    vendor: str
    ok: bool
    via: str  # email | edi | manual
    detail: str  # the address, the file, or the reason it stays as it was

    def to_json(self) -> dict[str, Any]:
        return {
            "po": self.po,
            "vendor": self.vendor,
            "ok": self.ok,
            "via": self.via,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class POResult:
    """What create / send / cancel did; ``purchase_orders`` are the order's POs after it."""

    order_number: int
    status: str
    created: tuple[str, ...]
    sent: tuple[SendOutcome, ...]
    purchase_orders: tuple[PurchaseOrderView, ...]

    @property
    def problems(self) -> tuple[SendOutcome, ...]:
        return tuple(s for s in self.sent if not s.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order_number,
            "status": self.status,
            "created": list(self.created),
            "sent": [s.to_json() for s in self.sent],
            "purchase_orders": [po.to_json() for po in self.purchase_orders],
        }


@dataclass(frozen=True)
class ImportProblem:
    """A row (CSV line, or 856 segment) that was not applied, and why."""

    source: str
    line: int
    po: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source} line {self.line}" if self.line else self.source
        po = f" (PO {self.po})" if self.po else ""
        return f"{where}{po}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "po": self.po, "error": self.message}


@dataclass(frozen=True)
class AppliedShipment:
    po: str
    order_number: int
    tracking: str
    carrier: str
    lines: tuple[tuple[str, int], ...]  # our SKU, units
    new: bool  # False: it was already there (a re-import), nothing changed

    def to_json(self) -> dict[str, Any]:
        return {
            "po": self.po,
            "order": self.order_number,
            "tracking": self.tracking,
            "carrier": self.carrier,
            "lines": [{"sku": s, "quantity": q} for s, q in self.lines],
            "new": self.new,
        }


@dataclass(frozen=True)
class AppliedAck:
    """A vendor's 855 for one PO: ``new`` when it moved the PO to acknowledged."""

    po: str
    order_number: int
    kind: str  # BAK02, e.g. AC
    new: bool

    def to_json(self) -> dict[str, Any]:
        return {"po": self.po, "order": self.order_number, "kind": self.kind, "new": self.new}


@dataclass(frozen=True)
class ImportReport:
    sources: tuple[str, ...]
    shipments: tuple[AppliedShipment, ...]
    problems: tuple[ImportProblem, ...]
    acknowledged: tuple[AppliedAck, ...] = ()

    @property
    def created(self) -> int:
        return sum(1 for s in self.shipments if s.new)

    @property
    def unchanged(self) -> int:
        return sum(1 for s in self.shipments if not s.new)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "created": self.created,
            "unchanged": self.unchanged,
            "shipments": [s.to_json() for s in self.shipments],
            "acknowledged": [a.to_json() for a in self.acknowledged],
            "errors": [p.to_json() for p in self.problems],
        }


@dataclass(frozen=True)
class VendorView:
    code: str
    name: str
    email: str
    method: str
    edi_qualifier: str
    edi_id: str
    lead_time_days: int
    products: int  # catalogue products this vendor can drop-ship
    send_problem: str  # why a PO cannot go out automatically ("" = it can)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "email": self.email,
            "method": self.method,
            "edi_qualifier": self.edi_qualifier,
            "edi_id": self.edi_id,
            "lead_time_days": self.lead_time_days,
            "products": self.products,
            "send_problem": self.send_problem or None,
        }
