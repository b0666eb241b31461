"""What an e-mail template sees: the order as it is, loaded for a whole batch at once, and
turned into plain data (dicts, lists, strings; no ORM rows, no methods).

Loading is batched (a handful of queries for fifty e-mails, not fifty order screens),
which is what makes the worker fast on SQLite; `preview` uses the same loader, so the
status dialog shows exactly what delivery will send.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.carriers import tracking_url
from services.display import money
from services.models import Order, OrderLine, Payment, Shipment
from services.orders import address_view
from services.settings import Settings
from services.statuses import HoldReason, PaymentStatus, Status
from services.uow import UnitOfWork
from services.views import ShipmentView
from services.workflow import Workflow

CARRIER_NAMES = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "post": "Post"}

# What a customer is told about a hold; "high_risk" deliberately says nothing about risk.
HOLD_REASON_TEXT = {
    HoldReason.AWAITING_PAYMENT: "we are waiting for your payment to clear",
    HoldReason.HIGH_RISK: "we need to check a few details before we can ship",
    HoldReason.INCORRECT_ADDRESS: "we need to confirm your shipping address",
    HoldReason.OUT_OF_STOCK: "an item is waiting for new stock",
    HoldReason.AWAITING_CUSTOMER: "we need a little more information from you",
    HoldReason.OTHER: "we need to sort something out before we can continue",
}


@dataclass(frozen=True)
class MailLine:
    sku: str
    name: str
    quantity: int
    shipped: int
    unit_price: int


@dataclass(frozen=True)
class MailOrder:
    """The parts of an order a customer e-mail may mention."""

    number: int
    status: Status
    hold_reason: HoldReason | None
    placed_at: datetime
    customer_name: str
    email: str
    currency: str
    subtotal: int
    shipping_total: int
    tax_total: int
    total: int
    payment_status: PaymentStatus
    shipping_method: str
    note: str
    address: tuple[str, ...]
    lines: tuple[MailLine, ...]
    shipments: tuple[ShipmentView, ...]
    refunded: int  # approved refunds so far, in minor units


async def load_orders(uow: UnitOfWork, order_ids: Collection[int]) -> dict[int, MailOrder]:
    """The orders by id, in a few queries whatever their number."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    s = uow.session
    orders = (
        await s.execute(
            select(Order)
            .where(Order.id.in_(ids))
            .options(
                selectinload(Order.lines),
                selectinload(Order.customer),
                selectinload(Order.shipping_address),
            )
        )
    ).scalars()
    shipments: dict[int, list[ShipmentView]] = defaultdict(list)
    rows = (
        await s.execute(
            select(Shipment)
            .where(Shipment.order_id.in_(ids), Shipment.deleted_at.is_(None))
            .options(selectinload(Shipment.lines))
            .order_by(Shipment.id)
        )
    ).scalars()
    found = list(rows)
    line_ids = {sl.order_line_id for sh in found for sl in sh.lines}
    skus: dict[int, str] = {}
    if line_ids:
        skus = {
            int(i): str(sku)
            for i, sku in (
                await s.execute(
                    select(OrderLine.id, OrderLine.sku).where(OrderLine.id.in_(line_ids))
                )
            ).all()
        }
    for sh in found:
        shipments[sh.order_id].append(
            ShipmentView(
                carrier=sh.carrier,
                tracking=sh.tracking,
                shipped_at=sh.shipped_at,
                expected_delivery=sh.expected_delivery,
                url=tracking_url(sh.carrier, sh.tracking),
                lines=tuple((skus.get(sl.order_line_id, "?"), sl.quantity) for sl in sh.lines),
            )
        )
    refunds = {
        int(oid): int(total or 0)
        for oid, total in (
            await s.execute(
                select(Payment.order_id, func.sum(Payment.amount))
                .where(
                    Payment.order_id.in_(ids),
                    Payment.kind == "refund",
                    Payment.state == "approved",
                )
                .group_by(Payment.order_id)
            )
        ).all()
    }
    out: dict[int, MailOrder] = {}
    for o in orders:
        address = address_view(o.shipping_address)
        customer = o.customer
        out[o.id] = MailOrder(
            number=o.number,
            status=o.status,
            hold_reason=o.hold_reason,
            placed_at=o.placed_at,
            customer_name=(customer.name if customer else "") or (address.name if address else ""),
            email=o.email or (customer.email if customer else ""),
            currency=o.currency,
            subtotal=o.subtotal,
            shipping_total=o.shipping_total,
            tax_total=o.tax_total,
            total=o.total,
            payment_status=o.payment_status,
            shipping_method=o.shipping_method,
            note=o.note,
            address=tuple(address.lines()) if address else (),
            lines=tuple(
                MailLine(ln.sku, ln.name, ln.quantity, ln.shipped, ln.unit_price) for ln in o.lines
            ),
            shipments=tuple(shipments.get(o.id, ())),
            refunded=abs(refunds.get(o.id, 0)),
        )
    return out


def long_date(d: date) -> str:
    return f"{d:%A}, {d:%B} {d.day}, {d.year}"


def build_context(
    event: str,
    payload: dict[str, Any],
    order: MailOrder | None,
    settings: Settings,
    workflow: Workflow,
    *,
    status: Status | None = None,
) -> dict[str, Any]:
    """The template context. `status` overrides the order's (a preview of a change not yet
    saved). Keys are documented by the package templates; shops' templates may use any."""
    shop = settings.shop
    ctx: dict[str, Any] = {
        "event": event,
        "payload": payload,
        "comment": str(payload.get("comment") or "").strip(),
        "shop": {
            "name": shop.name,
            "address": shop.address,
            "reply_to": shop.reply_to,
            "logo_text": shop.logo_text or shop.name,
            "staff_email": shop.staff_email,
        },
        "number": payload.get("number"),
        "order": None,
        "customer_name": "",
        "shipments": [],
        "shipment": None,
        "still_coming": [],
        "refund": None,
        "returned": [],
        "rma": str(payload.get("rma") or ""),
        "hold_reason": "",
        "hold_reason_text": "",
    }
    if order is None:
        return ctx
    currency = order.currency
    current = status or order.status
    names = {ln.sku: ln.name for ln in order.lines}
    lines: list[dict[str, Any]] = [
        {
            "sku": ln.sku,
            "name": ln.name,
            "quantity": ln.quantity,
            "shipped": ln.shipped,
            "remaining": max(ln.quantity - ln.shipped, 0),
            "price": money(ln.unit_price, currency),
            "amount": money(ln.unit_price * ln.quantity, currency),
        }
        for ln in order.lines
    ]
    shipments = [
        {
            "carrier": sh.carrier,
            "carrier_name": CARRIER_NAMES.get(sh.carrier.lower(), sh.carrier),
            "tracking": sh.tracking,
            "url": sh.url,
            "expected_delivery": long_date(sh.expected_delivery) if sh.expected_delivery else "",
            "shipped_at": sh.shipped_at.date().isoformat() if sh.shipped_at else "",
            "contents": [
                {"sku": sku, "name": names.get(sku, sku), "quantity": qty} for sku, qty in sh.lines
            ],
        }
        for sh in order.shipments
    ]
    wanted = str(payload.get("tracking") or "")
    shipment = next((s for s in shipments if s["tracking"] == wanted), None) if wanted else None
    if shipment is None and shipments:
        shipment = shipments[-1]
    ctx.update(
        order={
            "number": order.number,
            "status": current.value,
            "status_label": workflow.labels.get(current, current.value),
            "placed_at": order.placed_at.date().isoformat(),
            "placed_on": long_date(order.placed_at.date()),
            "email": order.email,
            "lines": lines,
            "item_count": sum(ln.quantity for ln in order.lines),
            "subtotal": money(order.subtotal, currency),
            "shipping_total": money(order.shipping_total, currency),
            "tax_total": money(order.tax_total, currency),
            "total": money(order.total, currency),
            "currency": currency,
            "payment_status": order.payment_status.value,
            "shipping_method": order.shipping_method,
            "shipping_address": list(order.address),
            "note": order.note,
        },
        customer_name=order.customer_name,
        shipments=shipments,
        shipment=shipment,
        still_coming=[ln for ln in lines if int(ln["remaining"]) > 0],
    )
    reason_value = str(
        payload.get("reason") or (order.hold_reason.value if order.hold_reason else "")
    )
    if reason_value:
        with contextlib.suppress(ValueError):
            reason = HoldReason(reason_value)
            ctx["hold_reason"] = reason.value
            ctx["hold_reason_text"] = HOLD_REASON_TEXT[reason]
    if event == "refunded":
        ctx["refund"] = _refund(payload, order)
    ctx["returned"] = _returned(payload, names)
    return ctx


def _returned(payload: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """What came back in a return (the returns service's payload `lines`), named."""
    found = payload.get("lines")
    if not isinstance(found, list):
        return []
    out: list[dict[str, Any]] = []
    for item in found:
        if not isinstance(item, dict):
            continue
        sku = str(item.get("sku") or "")
        quantity = item.get("quantity")
        if sku and isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            out.append({"sku": sku, "name": names.get(sku, sku), "quantity": quantity})
    return out


def _refund(payload: dict[str, Any], order: MailOrder) -> dict[str, Any]:
    """Amount and kind of a refund: from the payload when the payments service gave it,
    otherwise from the order's approved refund rows."""
    amount = payload.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        amount = order.refunded
    full = payload.get("full")
    if not isinstance(full, bool):
        full = order.payment_status is PaymentStatus.REFUNDED or abs(amount) >= order.total
    return {
        "amount": money(abs(amount), order.currency),
        "full": full,
        "reason": str(payload.get("reason") or ""),
    }
