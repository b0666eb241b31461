"""Orders out as CSV in Shopify's order-export layout (services/shopify_csv.HEADER), so the
file opens where shops already use Shopify's, and `packline import shopify` reads it back.

Streaming: orders are read in keyset batches (`id > last ORDER BY id LIMIT n`) with their
lines, addresses and payments fetched per batch and written straight to the file, so a
million orders export in the same memory as a thousand.

What goes where (docs/imports.md has the table): Name is `#<our number>`; Source is the
channel the order came from and Tags its reference there; statuses map to Shopify's
(Financial Status from the payment status, Fulfillment Status fulfilled / partial /
unfulfilled from the lines, Cancelled at for canceled orders); amounts are decimal text.
Cells a spreadsheet would take for a formula (starting with = + - @) get Shopify's
leading apostrophe, as do all-digit ZIP codes with a leading zero; the importer removes
it again.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select

from services.db import Database
from services.errors import InvalidInput
from services.models import Address, Customer, Order, OrderLine, Payment, Shipment, Vendor
from services.shopify_csv import HEADER
from services.statuses import PaymentStatus, Status
from services.uow import Clock, UnitOfWork, parse_ref, utcnow

BATCH = 1000
FINANCIAL = {
    PaymentStatus.UNPAID: "pending",
    PaymentStatus.AUTHORIZED: "authorized",
    PaymentStatus.PAID: "paid",
    PaymentStatus.PARTIALLY_REFUNDED: "partially_refunded",
    PaymentStatus.REFUNDED: "refunded",
    PaymentStatus.DECLINED: "pending",
    PaymentStatus.VOIDED: "voided",
}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
COLUMN = {name: i for i, name in enumerate(HEADER)}

# rows written so far (the total is unknown while streaming)
ExportProgress = Callable[[int], None]


@dataclass(frozen=True)
class ExportReport:
    file: str
    orders: int
    rows: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "orders": self.orders,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
        }


def safe(value: str) -> str:
    """A cell a spreadsheet will not run: a leading apostrophe before = + - @."""
    return "'" + value if value.startswith(_FORMULA) else value


def zip_cell(value: str) -> str:
    return "'" + value if value[:1] == "0" and value.isdigit() else safe(value)


def cents(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    return f"{sign}{whole}.{frac:02d}"


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %z") if value is not None else ""


class ExportService:
    def __init__(self, db: Database, *, operator: str, clock: Clock = utcnow) -> None:
        self.db = db
        self.operator = operator
        self.clock = clock
        self.batch = BATCH

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, write=False, clock=self.clock, actor=self.operator)

    async def export_csv(
        self,
        path: str | Path,
        *,
        status: Status | None = None,
        since: datetime | None = None,
        refs: Sequence[str | int] | None = None,
        progress: ExportProgress | None = None,
    ) -> ExportReport:
        """Write the orders (all, or of `status`, placed at or after `since`, or exactly the
        `refs` selected in the queue) to `path`, oldest first; one row per line item."""
        started = time.perf_counter()
        target = Path(path)
        where: list[ColumnElement[bool]] = []
        if status is not None:
            where.append(Order.status == status)
        if since is not None:
            if since.tzinfo is None:
                raise InvalidInput("--since needs a time zone (or give a date)")
            where.append(Order.placed_at >= since)
        if refs is not None:
            numbers = sorted({parse_ref(r) for r in refs})
            if not numbers:
                raise InvalidInput("no orders selected")
            where.append(Order.number.in_(numbers))
        try:
            handle = await asyncio.to_thread(target.open, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None
        orders = rows = 0
        try:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            last = 0
            while True:
                async with self._uow() as uow:
                    batch = await self._batch(uow, where, last)
                    if not batch:
                        break
                    last = batch[-1][0].id
                    out = await self._rows(uow, batch)
                await asyncio.to_thread(writer.writerows, out)
                orders += len(batch)
                rows += len(out)
                if progress is not None:
                    progress(rows)
        finally:
            await asyncio.to_thread(handle.close)
        return ExportReport(str(target), orders, rows, time.perf_counter() - started)

    async def _batch(
        self, uow: UnitOfWork, where: list[ColumnElement[bool]], after: int
    ) -> list[tuple[Order, str, str]]:
        """The next orders by id, with their customer's name and phone."""
        stmt = (
            select(Order, Customer.name, Customer.phone)
            .outerjoin(Customer, Customer.id == Order.customer_id)
            .where(Order.id > after, *where)
            .order_by(Order.id)
            .limit(self.batch)
        )
        result = await uow.session.execute(stmt)
        out = [(o, name or "", phone or "") for o, name, phone in result.all()]
        uow.session.expunge_all()  # rows are read once; keep the identity map empty
        return out

    async def _rows(self, uow: UnitOfWork, batch: list[tuple[Order, str, str]]) -> list[list[str]]:
        s = uow.session
        ids = [o.id for o, _, _ in batch]
        lines: dict[int, list[Any]] = defaultdict(list)
        line_rows = await s.execute(
            select(
                OrderLine.order_id,
                OrderLine.sku,
                OrderLine.name,
                OrderLine.quantity,
                OrderLine.unit_price,
                OrderLine.shipped,
                Vendor.name,
            )
            .outerjoin(Vendor, Vendor.id == OrderLine.vendor_id)
            .where(OrderLine.order_id.in_(ids))
            .order_by(OrderLine.order_id, OrderLine.position, OrderLine.id)
        )
        for row in line_rows.all():
            lines[row[0]].append(row)
        address_ids = {
            a for o, _, _ in batch for a in (o.shipping_address_id, o.billing_address_id) if a
        }
        addresses = {
            a.id: a
            for a in (await s.execute(select(Address).where(Address.id.in_(address_ids)))).scalars()
        }
        money: dict[int, dict[str, tuple[int, datetime]]] = defaultdict(dict)
        for oid, kind, amount, first in (
            await s.execute(
                select(
                    Payment.order_id,
                    Payment.kind,
                    func.sum(Payment.amount),
                    func.min(Payment.created_at),
                )
                .where(Payment.order_id.in_(ids), Payment.state == "approved")
                .group_by(Payment.order_id, Payment.kind)
            )
        ).all():
            money[oid][kind] = (int(amount or 0), first)
        shipped_at = dict(
            (
                await s.execute(
                    select(Shipment.order_id, func.max(Shipment.shipped_at))
                    .where(Shipment.order_id.in_(ids), Shipment.deleted_at.is_(None))
                    .group_by(Shipment.order_id)
                )
            ).all()
        )
        s.expunge_all()
        out: list[list[str]] = []
        for order, customer, phone in batch:
            out += self._order_rows(
                order,
                customer,
                phone,
                lines.get(order.id, []),
                addresses,
                money.get(order.id, {}),
                shipped_at.get(order.id),
            )
        return out

    @staticmethod
    def _order_rows(
        o: Order,
        customer: str,
        phone: str,
        lines: list[Any],
        addresses: dict[int, Address],
        money: dict[str, tuple[int, datetime]],
        shipped_at: Any,
    ) -> list[list[str]]:
        name = f"#{o.number}"
        placed = stamp(o.placed_at)
        items = lines or [(o.id, "", "", 0, 0, 0, None)]
        shipped_lines = sum(1 for ln in lines if ln[5] >= ln[3] > 0)
        if lines and shipped_lines == len(lines):
            fulfillment = "fulfilled"
        elif shipped_lines or any(ln[5] for ln in lines):
            fulfillment = "partial"
        else:
            fulfillment = "unfulfilled"
        paid = money.get("charge") or money.get("capture")
        refunded = money.get("refund", (0, None))[0]
        line_sum = sum(ln[3] * ln[4] for ln in lines)
        out: list[list[str]] = []
        for i, (_oid, sku, title, qty, price, shipped, vendor) in enumerate(items):
            row = [""] * len(HEADER)

            def put(column: str, value: str, row: list[str] = row) -> None:
                row[COLUMN[column]] = value

            put("Name", name)
            put("Email", safe(o.email))
            put("Created at", placed)
            put("Lineitem quantity", str(qty))
            put("Lineitem name", safe(title))
            put("Lineitem price", cents(price))
            put("Lineitem sku", safe(sku))
            put("Lineitem requires shipping", "true")
            put("Lineitem taxable", "true")
            put("Lineitem fulfillment status", "fulfilled" if shipped >= qty > 0 else "pending")
            put("Vendor", safe(vendor or ""))
            put("Lineitem discount", "0.00")
            if i == 0:
                put("Financial Status", FINANCIAL[o.payment_status])
                put("Paid at", stamp(paid[1]) if paid else "")
                put("Fulfillment Status", fulfillment)
                if fulfillment == "fulfilled":
                    put("Fulfilled at", stamp(shipped_at or o.updated_at))
                put("Accepts Marketing", "no")
                put("Currency", o.currency)
                put("Subtotal", cents(o.subtotal))
                put("Shipping", cents(o.shipping_total))
                put("Taxes", cents(o.tax_total))
                put("Total", cents(o.total))
                put("Discount Amount", cents(max(line_sum - o.subtotal, 0)))
                put("Shipping Method", safe(o.shipping_method))
                for word, aid in (
                    ("Billing", o.billing_address_id),
                    ("Shipping", o.shipping_address_id),
                ):
                    a = addresses.get(aid) if aid else None
                    if a is None:
                        continue
                    put(f"{word} Name", safe(a.name))
                    put(f"{word} Street", safe(" ".join(p for p in (a.line1, a.line2) if p)))
                    put(f"{word} Address1", safe(a.line1))
                    put(f"{word} Address2", safe(a.line2))
                    put(f"{word} Company", safe(a.company))
                    put(f"{word} City", safe(a.city))
                    put(f"{word} Zip", zip_cell(a.postal_code))
                    put(f"{word} Province", safe(a.region))
                    put(f"{word} Country", a.country)
                    put(f"{word} Phone", safe(a.phone))
                put("Notes", safe(o.note))
                if o.status is Status.CANCELED:
                    put("Cancelled at", stamp(o.updated_at))
                put("Payment Method", o.payment_method.value)
                put("Refunded Amount", cents(refunded))
                put("Outstanding Balance", cents(max(o.total - (paid[0] if paid else 0), 0)))
                put("Tags", safe(o.channel_ref or ""))
                put("Source", safe(o.channel))
                put("Phone", safe(phone))
            out.append(row)
        return out
