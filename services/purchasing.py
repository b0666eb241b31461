"""Drop shipping: vendor choice per line, purchase orders, sending them by e-mail or EDI.

One PO per vendor per "Create POs": its own number (a gap-free counter), the customer's
shipping address as ship-to, lines with the vendor's SKU and cost. Creating (and, with
`send`, sending) happens in one transaction on the locked order, so two operators pressing
"Create POs" at once make one set of POs, not two.

Sending never leaves a half state. By e-mail, the PO document goes into the notification
outbox in the same transaction that marks the PO sent (delivered after commit, once). By
EDI, the 850 is written to a hidden temporary file in ``edi_dir`` before commit and renamed
to its final name only after the commit succeeded, so a vendor's translator never picks up
a PO we do not have as sent, and control numbers come from gap-free counters. A vendor we
cannot send to (no e-mail, no EDI ids, manual) leaves its PO a draft and says why.

PO statuses: draft -> sent -> acknowledged -> shipped -> received, and canceled from any
status before shipped. Tracking coming back from vendors is in services/po_tracking.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services import outbox, po_documents, po_tracking, search
from services.db import Database
from services.edi_x12 import ACK_REJECTED, Party, POAcknowledgment, ShipTo
from services.errors import InvalidInput, NotFound, Refused
from services.mailer import BadAddress, parse_address
from services.models import (
    Notification,
    Order,
    OrderLine,
    POLine,
    ProductBarcode,
    ProductVendor,
    PurchaseOrder,
    Shipment,
    ShipmentLine,
    StockLevel,
    Vendor,
)
from services.orders import OrderService
from services.po_views import (
    AppliedAck,
    ImportProblem,
    ImportReport,
    PlanLine,
    POLineView,
    POPlan,
    POResult,
    PurchaseOrderView,
    SendOutcome,
    VendorChoice,
    VendorView,
)
from services.settings import Settings
from services.shipping import ShippingService
from services.statuses import (
    PO_TRANSITIONS,
    Fulfillment,
    NotificationState,
    POMethod,
    POStatus,
    Status,
)
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import PAID_ENOUGH, Request

S = Status
P = POStatus

PO_COUNTER = "purchase_order"
PO_FIRST = 10001
EDI_COUNTERS = ("edi_isa", "edi_gs", "edi_st")
PO_EMAIL_EVENT = "po_vendor"
PO_CANCEL_EVENT = "po_canceled"
MAX_REASON = 2000

# Orders POs may be created for. New ones move to processing (the goods are on their way
# to being sourced); the others keep their status.
ORDERS_FROM = (S.NEW, S.PROCESSING, S.BACKORDER, S.READY_TO_SHIP, S.PARTIALLY_SHIPPED)
SENDABLE = (P.DRAFT, P.SENT, P.ACKNOWLEDGED)
# What the PO screen and `po mark` offer: shipped is left out, tracking numbers set it.
BY_HAND: dict[POStatus, tuple[POStatus, ...]] = {
    status: tuple(s for s in targets if s is not P.SHIPPED)
    for status, targets in PO_TRANSITIONS.items()
}
LIVE = (P.DRAFT, P.SENT, P.ACKNOWLEDGED, P.SHIPPED, P.RECEIVED)


class CannotOrder(Refused):
    """The order, its lines or the vendor chosen do not allow this PO."""


class CannotSend(Refused):
    """The vendor cannot receive this PO automatically; it stays as it was."""


@dataclass
class _Staged:
    """An EDI file written under a temporary name, published after commit."""

    temp: Path
    final: Path


@dataclass
class _Sending:
    outcomes: list[SendOutcome] = field(default_factory=list)
    staged: list[_Staged] = field(default_factory=list)

    def discard(self) -> None:
        for f in self.staged:
            with contextlib.suppress(OSError):
                f.temp.unlink()

    def publish(self) -> list[str]:
        """Rename the staged files; a failure here is reported (the PO is already sent)."""
        problems = []
        for f in self.staged:
            try:
                os.replace(f.temp, f.final)
            except OSError as exc:
                problems.append(f"could not publish {f.final.name}: {exc.strerror or exc}")
        return problems


def _write_temp(folder: Path, name: str, text: str) -> _Staged:
    """Write the file under a hidden temporary name next to its final one (same folder, so
    the rename that publishes it is atomic); raises ValueError worded for the operator."""
    folder = folder.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the EDI folder {folder}: {exc.strerror or exc}") from None
    final = folder / name
    temp = folder / f".{name}.tmp"
    try:
        with open(temp, "x", encoding="ascii", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise ValueError(f"cannot write {temp}: {exc.strerror or exc}") from None
    return _Staged(temp, final)


def _read(path: str | Path) -> bytes:
    return Path(path).expanduser().read_bytes()


def _dropped(where: str) -> list[Path]:
    folder = Path(where).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"drop folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _file_away(path: Path, report: ImportReport) -> None:
    """processed/ or failed/ (with the reasons), next to where the file was dropped."""
    target = path.parent / ("failed" if report.problems else "processed")
    target.mkdir(exist_ok=True)
    if report.problems:
        (target / f"{path.name}.errors.txt").write_text(
            "".join(f"{p}\n" for p in report.problems), encoding="utf-8"
        )
    os.replace(path, target / path.name)


def _merge(reports: Sequence[ImportReport]) -> ImportReport:
    return ImportReport(
        tuple(s for r in reports for s in r.sources),
        tuple(s for r in reports for s in r.shipments),
        tuple(p for r in reports for p in r.problems),
        tuple(a for r in reports for a in r.acknowledged),
    )


_QUALIFIER = re.compile(r"[0-9A-Z]{2}")
_EDI_ID = re.compile(r"[!-)+-=?-}][ !-)+-=?-}]{0,13}[!-)+-=?-}]")


def _send_problem(vendor: Vendor, edi_dir: str) -> str:
    """Why a PO to this vendor cannot go out automatically ("" = it can)."""
    if vendor.po_method is POMethod.EMAIL:
        if not vendor.email.strip():
            return f"vendor {vendor.code} takes POs by e-mail but has no e-mail address"
    elif vendor.po_method is POMethod.EDI:
        if not vendor.edi_id.strip() or not vendor.edi_qualifier.strip():
            return (
                f"vendor {vendor.code} takes POs by EDI but has no EDI identifiers "
                "(interchange qualifier and id)"
            )
        if not edi_dir.strip():
            return f"vendor {vendor.code} takes POs by EDI but PACKLINE_EDI_DIR is not set"
    else:
        return f"vendor {vendor.code} takes POs by hand (manual): send it, then mark it sent"
    return ""


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


class PurchasingService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        shipping: ShippingService,
        settings: Settings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.shipping = shipping
        self.settings = settings
        self.clock = clock

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.orders.operator)

    def reader(self) -> UnitOfWork:
        """A read-only unit of work (the tracking importer checks a PO's rows in one)."""
        return self._uow()

    @property
    def edi_dir(self) -> str:
        return self.settings.edi_dir

    # -- reading ------------------------------------------------------------------------

    async def plan(self, ref: str | int) -> POPlan:
        """The PO screen: each line with its vendors (default pre-selected, cost, margin),
        what is left to order, the order's POs, and why nothing can be ordered (if so)."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            return await self._plan(uow, order)

    async def get(self, number: str) -> PurchaseOrderView:
        async with self._uow() as uow:
            po = await self._po(uow, number)
            return (await self._views(uow, [po]))[0]

    async def find(
        self, *, status: POStatus | None = None, ref: str | int | None = None, limit: int = 200
    ) -> list[PurchaseOrderView]:
        """POs newest first, of one status and/or one order."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        async with self._uow() as uow:
            stmt = (
                select(PurchaseOrder)
                .options(selectinload(PurchaseOrder.lines))
                .order_by(PurchaseOrder.id.desc())
                .limit(limit)
            )
            if status is not None:
                stmt = stmt.where(PurchaseOrder.status == status)
            if ref is not None:
                order = await uow.order(ref)
                stmt = stmt.where(PurchaseOrder.order_id == order.id)
            pos = list((await uow.session.execute(stmt)).scalars())
            return await self._views(uow, pos)

    async def _po(self, uow: UnitOfWork, number: str, *, lock: bool = False) -> PurchaseOrder:
        wanted = number.strip()
        if not wanted:
            raise InvalidInput("a PO number is needed (e.g. PO10001)")
        stmt = (
            select(PurchaseOrder)
            .where(func.upper(PurchaseOrder.number) == wanted.upper())
            .options(selectinload(PurchaseOrder.lines))
        )
        if lock and not self.db.is_sqlite:
            stmt = stmt.with_for_update(of=PurchaseOrder)
        po = (await uow.session.execute(stmt)).scalar_one_or_none()
        if po is None:
            raise NotFound(f"no purchase order {wanted[:40]!r}")
        return po

    async def _views(
        self, uow: UnitOfWork, pos: Sequence[PurchaseOrder]
    ) -> list[PurchaseOrderView]:
        if not pos:
            return []
        s = uow.session
        vendors = {
            v.id: v
            for v in (
                await s.execute(select(Vendor).where(Vendor.id.in_({p.vendor_id for p in pos})))
            ).scalars()
        }
        line_ids = {pl.order_line_id for p in pos for pl in p.lines}
        lines = (
            {
                ln.id: ln
                for ln in (
                    await s.execute(select(OrderLine).where(OrderLine.id.in_(line_ids)))
                ).scalars()
            }
            if line_ids
            else {}
        )
        numbers = dict(
            (
                await s.execute(
                    select(Order.id, Order.number).where(Order.id.in_({p.order_id for p in pos}))
                )
            ).all()
        )
        tracking: dict[int, list[str]] = {}
        for po_id, number in (
            await s.execute(
                select(Shipment.purchase_order_id, Shipment.tracking)
                .where(
                    Shipment.purchase_order_id.in_([p.id for p in pos]),
                    Shipment.deleted_at.is_(None),
                )
                .order_by(Shipment.id)
            )
        ).all():
            if po_id is not None:
                tracking.setdefault(int(po_id), []).append(number)
        out = []
        for po in pos:
            vendor = vendors[po.vendor_id]
            out.append(
                PurchaseOrderView(
                    number=po.number,
                    order_number=int(numbers[po.order_id]),
                    vendor_code=vendor.code,
                    vendor_name=vendor.name,
                    method=vendor.po_method.value,
                    status=po.status.value,
                    created_at=po.created_at,
                    sent_at=po.sent_at,
                    created_by=po.created_by,
                    lines=tuple(
                        POLineView(
                            sku=lines[pl.order_line_id].sku if pl.order_line_id in lines else "?",
                            name=lines[pl.order_line_id].name if pl.order_line_id in lines else "",
                            vendor_sku=pl.vendor_sku,
                            quantity=pl.quantity,
                            unit_cost=pl.unit_cost,
                            shipped=(
                                lines[pl.order_line_id].shipped if pl.order_line_id in lines else 0
                            ),
                        )
                        for pl in sorted(po.lines, key=lambda x: x.id)
                    ),
                    tracking=tuple(tracking.get(po.id, ())),
                    can_mark=tuple(s.value for s in BY_HAND[po.status]),
                )
            )
        return out

    async def _order_pos(self, uow: UnitOfWork, order: Order) -> list[PurchaseOrder]:
        return list(
            (
                await uow.session.execute(
                    select(PurchaseOrder)
                    .where(PurchaseOrder.order_id == order.id)
                    .options(selectinload(PurchaseOrder.lines))
                    .order_by(PurchaseOrder.id)
                )
            ).scalars()
        )

    async def _plan(self, uow: UnitOfWork, order: Order) -> POPlan:
        s = uow.session
        pos = await self._order_pos(uow, order)
        on_po: dict[int, int] = {}
        for po in pos:
            if po.status is not P.CANCELED:
                for pl in po.lines:
                    on_po[pl.order_line_id] = on_po.get(pl.order_line_id, 0) + pl.quantity
        product_ids = {ln.product_id for ln in order.lines if ln.product_id is not None}
        links: dict[int, list[tuple[ProductVendor, Vendor]]] = {}
        stocked: dict[int, int] = {}
        if product_ids:
            for link, vendor in (
                await s.execute(
                    select(ProductVendor, Vendor)
                    .join(Vendor, Vendor.id == ProductVendor.vendor_id)
                    .where(ProductVendor.product_id.in_(product_ids))
                    .order_by(ProductVendor.product_id, ProductVendor.cost, Vendor.code)
                )
            ).all():
                links.setdefault(link.product_id, []).append((link, vendor))
            stocked = {
                int(pid): int(n or 0)
                for pid, n in (
                    await s.execute(
                        select(StockLevel.product_id, func.sum(StockLevel.on_hand))
                        .where(StockLevel.product_id.in_(product_ids))
                        .group_by(StockLevel.product_id)
                    )
                ).all()
            }
        lines = []
        for ln in order.lines:
            options = links.get(ln.product_id, []) if ln.product_id is not None else []
            choices = tuple(
                VendorChoice(
                    code=v.code,
                    name=v.name,
                    vendor_sku=link.vendor_sku,
                    cost=link.cost,
                    margin=ln.unit_price - link.cost,
                    is_default=link.is_default,
                    method=v.po_method.value,
                    send_problem=_send_problem(v, self.edi_dir),
                )
                for link, v in options
            )
            ordered = on_po.get(ln.id, 0)
            left = max(ln.quantity - max(ordered, ln.shipped), 0)
            problem = ""
            selected: str | None = None
            if ln.fulfillment is Fulfillment.STOCK:
                left = 0
                have = stocked.get(ln.product_id, 0) if ln.product_id is not None else 0
                if not options and have <= 0 and ln.shipped + ln.packed < ln.quantity:
                    problem = f"{ln.sku}: no vendor and no stock; it cannot be sourced"
                choices = ()
            elif left > 0:
                if ln.product_id is None:
                    problem = f"{ln.sku} is not in the catalogue: no vendor can be chosen"
                elif not options:
                    problem = f"{ln.sku}: no vendor and no stock; link a vendor to the product"
                else:
                    by_id = {v.id: v.code for _, v in options}
                    default = next((v.code for lk, v in options if lk.is_default), None)
                    selected = by_id.get(ln.vendor_id or -1) or default or options[0][1].code
            lines.append(
                PlanLine(
                    line_id=ln.id,
                    sku=ln.sku,
                    name=ln.name,
                    quantity=ln.quantity,
                    unit_price=ln.unit_price,
                    fulfillment=ln.fulfillment.value,
                    on_po=ordered,
                    shipped=ln.shipped,
                    to_order=left,
                    choices=choices,
                    selected=selected,
                    problem=problem,
                )
            )
        why = self._why_not(order, lines)
        return POPlan(
            number=order.number,
            status=order.status.value,
            version=order.version,
            lines=tuple(lines),
            purchase_orders=tuple(await self._views(uow, pos)),
            why_not=why,
        )

    @staticmethod
    def _why_not(order: Order, lines: Sequence[PlanLine]) -> str | None:
        n = order.number
        if order.status is S.HELD:
            why = order.hold_reason.value if order.hold_reason else "no reason"
            return f"order #{n} is held ({why}); release the hold before ordering from vendors"
        if order.status not in ORDERS_FROM:
            return f"order #{n} is {order.status.value}; POs are only created for open orders"
        if not any(ln.fulfillment == Fulfillment.DROP_SHIP.value for ln in lines):
            return f"order #{n} has no drop-ship lines: everything ships from stock"
        if any(ln.orderable for ln in lines):
            return None
        stuck = [ln.problem for ln in lines if ln.problem and ln.to_order > 0]
        if stuck:
            return "; ".join(stuck)
        return f"nothing left to order on #{n}: every drop-ship line is on a PO or shipped"

    # -- vendors ------------------------------------------------------------------------

    async def vendors(self) -> list[VendorView]:
        """Every vendor with how it takes POs and whether that can work as configured."""
        async with self._uow() as uow:
            return await self._vendor_views(uow)

    async def _vendor_views(self, uow: UnitOfWork, code: str | None = None) -> list[VendorView]:
        stmt = (
            select(Vendor, func.count(ProductVendor.id))
            .outerjoin(ProductVendor, ProductVendor.vendor_id == Vendor.id)
            .group_by(Vendor.id)
            .order_by(Vendor.code)
        )
        if code is not None:
            stmt = stmt.where(Vendor.id == (await self._vendor(uow, code)).id)
        return [
            VendorView(
                code=v.code,
                name=v.name,
                email=v.email,
                method=v.po_method.value,
                edi_qualifier=v.edi_qualifier,
                edi_id=v.edi_id,
                lead_time_days=v.lead_time_days,
                products=int(n),
                send_problem=_send_problem(v, self.edi_dir),
            )
            for v, n in (await uow.session.execute(stmt)).all()
        ]

    @staticmethod
    async def _vendor(uow: UnitOfWork, code: str) -> Vendor:
        key = code.strip().casefold()
        for v in (await uow.session.execute(select(Vendor))).scalars():
            if key in (v.code.casefold(), v.name.casefold()):
                return v
        raise NotFound(f"no vendor {code.strip()[:40]!r}")

    async def update_vendor(
        self,
        code: str,
        *,
        email: str | None = None,
        method: POMethod | None = None,
        edi_qualifier: str | None = None,
        edi_id: str | None = None,
        lead_time_days: int | None = None,
    ) -> VendorView:
        """Change how a vendor takes POs; each value is checked before anything is saved."""
        if email is not None and email.strip():
            try:
                parse_address(email)
            except BadAddress as exc:
                raise InvalidInput(str(exc)) from None
        if edi_qualifier is not None and edi_qualifier and not _QUALIFIER.fullmatch(edi_qualifier):
            raise InvalidInput(
                f"EDI qualifier {edi_qualifier[:10]!r} must be 2 letters or digits (e.g. ZZ, 01)"
            )
        if edi_id is not None and edi_id and not _EDI_ID.fullmatch(edi_id):
            raise InvalidInput(
                f"EDI id {edi_id[:20]!r} must be 2 to 15 letters, digits or spaces inside, "
                "without * ~ > (the X12 separators)"
            )
        if lead_time_days is not None and not 0 <= lead_time_days <= 365:
            raise InvalidInput("lead time must be between 0 and 365 days")
        async with self._uow(write=True) as uow:
            vendor = await self._vendor(uow, code)
            changes: dict[str, Any] = {}
            for field_name, value in (
                ("email", email.strip() if email is not None else None),
                ("po_method", method),
                ("edi_qualifier", edi_qualifier),
                ("edi_id", edi_id),
                ("lead_time_days", lead_time_days),
            ):
                if value is not None and getattr(vendor, field_name) != value:
                    changes[field_name] = str(value)
                    setattr(vendor, field_name, value)
            if changes:
                uow.audit("vendor.update", "vendor", vendor.id, code=vendor.code, **changes)
            await uow.commit()
            found = vendor.code
        async with self._uow() as uow:
            return (await self._vendor_views(uow, found))[0]

    # -- create -------------------------------------------------------------------------

    async def create(
        self,
        ref: str | int,
        *,
        vendors: Mapping[str, str] | None = None,
        send: bool = False,
        expected_version: int | None = None,
    ) -> POResult:
        """One PO per vendor for every drop-ship line not yet ordered (the line's vendor
        or the product's default, unless `vendors` maps its SKU to another vendor code);
        with `send`, each goes to its vendor at once. A new order moves to processing.

        Refused with nothing written: a held/closed order, nothing left to order, a SKU or
        vendor in `vendors` that does not fit. Lines that cannot be sourced are left out
        and named in the history memo and the result's outcomes."""
        wanted = {k.strip().upper(): v.strip() for k, v in (vendors or {}).items()}
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            plan = await self._plan(uow, order)
            if plan.why_not:
                raise CannotOrder(plan.why_not)
            picks = self._picks(plan, wanted)
            # -- nothing has been written up to here --------------------------------------
            created = await self._write_pos(uow, order, picks)
            skipped = [ln.problem for ln in plan.lines if ln.problem and ln.to_order > 0]
            names = ", ".join(f"{po.number} ({code})" for po, code in created)
            memo = f"purchase orders created: {names}"
            if skipped:
                memo += "; not ordered: " + "; ".join(skipped)
            if order.status is S.NEW:
                await self.orders.apply_transition(uow, order, Request(S.PROCESSING), memo=memo)
            else:
                self._history(uow, order, memo)
            sending = _Sending()
            try:
                if send:
                    for po, _ in created:
                        await self._send_one(uow, order, po, sending, resend=False)
                number = order.number
                await uow.commit()
            except BaseException:
                sending.discard()
                raise
        notes = sending.publish()
        return await self._result(
            number, [po.number for po, _ in created], sending.outcomes, notes=notes
        )

    def _picks(self, plan: POPlan, wanted: dict[str, str]) -> list[tuple[PlanLine, VendorChoice]]:
        by_sku: dict[str, list[PlanLine]] = {}
        for ln in plan.lines:
            by_sku.setdefault(ln.sku.upper(), []).append(ln)
        for sku, vendor in wanted.items():
            lines = by_sku.get(sku)
            if not lines:
                known = ", ".join(ln.sku for ln in plan.lines) or "none"
                raise InvalidInput(f"{sku} is not on order #{plan.number} (its SKUs: {known})")
            for ln in lines:
                if ln.fulfillment != Fulfillment.DROP_SHIP.value:
                    raise CannotOrder(f"{ln.sku} ships from stock; it is not drop-shipped")
                if ln.to_order <= 0:
                    raise CannotOrder(f"{ln.sku} has nothing left to order (on a PO or shipped)")
                if not any(self._is(c, vendor) for c in ln.choices):
                    names = ", ".join(c.code for c in ln.choices) or "none"
                    raise InvalidInput(
                        f"vendor {vendor!r} does not supply {ln.sku} (its vendors: {names})"
                    )
        picks = []
        for ln in plan.lines:
            if not ln.orderable:
                continue
            override = wanted.get(ln.sku.upper())
            choice = next(
                (
                    c
                    for c in ln.choices
                    if (self._is(c, override) if override else c.code == ln.selected)
                ),
                None,
            )
            if choice is not None:
                picks.append((ln, choice))
        return picks

    @staticmethod
    def _is(choice: VendorChoice, name: str) -> bool:
        key = name.strip().casefold()
        return key in (choice.code.casefold(), choice.name.casefold())

    async def _write_pos(
        self,
        uow: UnitOfWork,
        order: Order,
        picks: Sequence[tuple[PlanLine, VendorChoice]],
    ) -> list[tuple[PurchaseOrder, str]]:
        s = uow.session
        codes = sorted({c.code for _, c in picks})
        vendor_ids = dict(
            (await s.execute(select(Vendor.code, Vendor.id).where(Vendor.code.in_(codes)))).all()
        )
        lines = {ln.id: ln for ln in order.lines}
        created: list[tuple[PurchaseOrder, str]] = []
        for code in codes:  # vendors in a fixed order: PO numbers do not depend on a dict
            group = [(ln, c) for ln, c in picks if c.code == code]
            po = PurchaseOrder(
                number=f"PO{await uow.next_number(PO_COUNTER, PO_FIRST)}",
                order_id=order.id,
                vendor_id=vendor_ids[code],
                status=P.DRAFT,
                created_at=uow.clock(),
                sent_at=None,
                created_by=uow.actor,
            )
            for ln, choice in group:
                po.lines.append(
                    POLine(
                        order_line_id=ln.line_id,
                        vendor_sku=choice.vendor_sku,
                        quantity=ln.to_order,
                        unit_cost=choice.cost,
                    )
                )
                lines[ln.line_id].vendor_id = vendor_ids[code]
            s.add(po)
            created.append((po, code))
            uow.audit(
                "po.create",
                "order",
                order.number,
                po=po.number,
                vendor=code,
                lines=[
                    {
                        "sku": ln.sku,
                        "vendor_sku": c.vendor_sku,
                        "quantity": ln.to_order,
                        "cost": c.cost,
                    }
                    for ln, c in group
                ],
            )
        await s.flush()
        await search.add_terms(s, order.id, [po.number for po, _ in created])
        uow.touch(order)
        return created

    @staticmethod
    def _history(uow: UnitOfWork, order: Order, memo: str) -> None:
        """A staff-only history row for a purchasing step that leaves the status alone."""
        uow.note(order, memo, kind="purchase")

    # -- send ---------------------------------------------------------------------------

    async def send(self, number: str) -> POResult:
        """Send (or re-send) one PO to its vendor the way the vendor takes POs. Refused,
        the PO left as it was, when the vendor cannot receive it (no e-mail, no EDI ids,
        manual) or the PO is canceled, shipped or received."""
        async with self._uow(write=True) as uow:
            po = await self._po(uow, number, lock=True)
            order = await uow.order(await self._number_of(uow, po), for_update=True)
            if po.status not in SENDABLE:
                raise CannotSend(f"PO {po.number} is {po.status.value}; there is nothing to send")
            resend = po.status is not P.DRAFT
            sending = _Sending()
            try:
                await self._send_one(uow, order, po, sending, resend=resend)
                outcome = sending.outcomes[-1]
                if not outcome.ok:
                    raise CannotSend(f"PO {po.number} stays {po.status.value}: {outcome.detail}")
                self._history(
                    uow,
                    order,
                    f"PO {po.number} {'re-sent' if resend else 'sent'}: {outcome.detail}",
                )
                await uow.commit()
            except BaseException:
                sending.discard()
                raise
            order_number = order.number
        notes = sending.publish()
        return await self._result(order_number, [], sending.outcomes, notes=notes)

    @staticmethod
    async def _number_of(uow: UnitOfWork, po: PurchaseOrder) -> int:
        return int(
            (
                await uow.session.execute(select(Order.number).where(Order.id == po.order_id))
            ).scalar_one()
        )

    async def _send_one(
        self, uow: UnitOfWork, order: Order, po: PurchaseOrder, sending: _Sending, *, resend: bool
    ) -> None:
        vendor = await uow.session.get(Vendor, po.vendor_id)
        assert vendor is not None  # a foreign key
        problem = _send_problem(vendor, self.edi_dir)
        via = vendor.po_method.value
        if not problem and order.shipping_address is None:
            problem = f"order #{order.number} has no shipping address to drop-ship to"
        if problem:
            sending.outcomes.append(SendOutcome(po.number, vendor.code, False, via, problem))
            return
        doc = await self._document(uow, order, po, vendor)
        if vendor.po_method is POMethod.EMAIL:
            detail = vendor.email.strip()
            self._queue_email(
                uow, order, vendor, PO_EMAIL_EVENT, po_documents.email_payload(doc, resend=resend)
            )
        else:
            try:
                detail = await self._stage_edi(uow, doc, vendor, sending)
            except ValueError as exc:
                sending.outcomes.append(SendOutcome(po.number, vendor.code, False, via, str(exc)))
                return
        if po.status is P.DRAFT:
            po.status = P.SENT
        po.sent_at = uow.clock()
        uow.audit("po.send", "order", order.number, po=po.number, via=via, to=detail, resend=resend)
        sending.outcomes.append(SendOutcome(po.number, vendor.code, True, via, detail))

    @staticmethod
    def _queue_email(
        uow: UnitOfWork, order: Order, vendor: Vendor, event: str, payload: dict[str, Any]
    ) -> None:
        """The vendor's e-mail through the outbox (exactly once, retried, never lost)."""
        now = uow.clock()
        uow.session.add(
            Notification(
                order_id=order.id,
                event=event,
                channel="email",
                recipient=vendor.email.strip(),
                payload={"number": order.number, **payload},
                state=NotificationState.QUEUED,
                next_attempt_at=now,
                idempotency_key=outbox.new_key(),
                created_at=now,
            )
        )

    async def _document(
        self, uow: UnitOfWork, order: Order, po: PurchaseOrder, vendor: Vendor
    ) -> po_documents.PODocument:
        lines = {ln.id: ln for ln in order.lines}
        product_ids = {
            lines[pl.order_line_id].product_id
            for pl in po.lines
            if pl.order_line_id in lines and lines[pl.order_line_id].product_id is not None
        }
        upcs: dict[int, str] = {}
        if product_ids:
            for pid, code in (
                await uow.session.execute(
                    select(ProductBarcode.product_id, ProductBarcode.code)
                    .where(
                        ProductBarcode.product_id.in_(product_ids), ProductBarcode.kind == "UPC-A"
                    )
                    .order_by(ProductBarcode.code)
                )
            ).all():
                upcs.setdefault(int(pid), code)
        a = order.shipping_address
        assert a is not None
        doc_lines = []
        for i, pl in enumerate(sorted(po.lines, key=lambda x: x.id), start=1):
            ln = lines.get(pl.order_line_id)
            doc_lines.append(
                po_documents.DocLine(
                    line_no=i,
                    sku=ln.sku if ln else "",
                    name=ln.name if ln else "",
                    vendor_sku=pl.vendor_sku,
                    upc=upcs.get(ln.product_id, "") if ln and ln.product_id else "",
                    quantity=pl.quantity,
                    unit_cost=pl.unit_cost,
                )
            )
        return po_documents.PODocument(
            po_number=po.number,
            order_number=order.number,
            created=uow.clock(),
            vendor_code=vendor.code,
            vendor_name=vendor.name,
            ship_to=ShipTo(
                name=a.name,
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                region=a.region,
                postal_code=a.postal_code,
                country=a.country,
            ),
            ship_to_company=a.company,
            ship_to_phone=a.phone,
            lines=tuple(doc_lines),
            currency=order.currency,
            buyer=self.settings.shop.name,
        )

    async def _stage_edi(
        self, uow: UnitOfWork, doc: po_documents.PODocument, vendor: Vendor, sending: _Sending
    ) -> str:
        cfg = self.settings.purchasing

        def render(isa: int, gs: int, st: int) -> str:
            return po_documents.x12_850(
                doc,
                sender=Party(cfg.edi_sender_qualifier, cfg.edi_sender_id),
                receiver=Party(vendor.edi_qualifier.strip(), vendor.edi_id.strip()),
                interchange=isa,
                group=gs,
                transaction=st,
                test=cfg.edi_test,
            )

        render(1, 1, 1)  # refuse what cannot be sent before a control number is used up
        isa, gs, st = [await uow.next_number(name, 1) for name in EDI_COUNTERS]
        text = render(isa, gs, st)
        name = po_documents.edi_file_name(vendor.code, doc.po_number, isa)
        staged = await asyncio.to_thread(_write_temp, Path(self.edi_dir), name, text)
        sending.staged.append(staged)
        return str(staged.final)

    # -- by hand ------------------------------------------------------------------------

    async def mark(self, number: str, to: POStatus, *, note: str = "") -> POResult:
        """Record by hand what a vendor told us (sent by phone, acknowledged, received), or
        cancel. Canceling frees the lines to be ordered again; a vendor that got the PO by
        e-mail is told by e-mail."""
        text = note.strip()
        if len(text) > MAX_REASON:
            raise InvalidInput(f"note is too long ({len(text)} characters; at most {MAX_REASON})")
        async with self._uow(write=True) as uow:
            po = await self._po(uow, number, lock=True)
            order = await uow.order(await self._number_of(uow, po), for_update=True)
            if to not in PO_TRANSITIONS[po.status]:
                allowed = ", ".join(s.value for s in PO_TRANSITIONS[po.status]) or "nowhere"
                raise CannotOrder(f"PO {po.number} is {po.status.value}; it can go to {allowed}")
            if to is P.SHIPPED and not await self._all_shipped(uow, po):
                raise CannotOrder(
                    f"PO {po.number} has lines without a shipment; enter or import the "
                    "vendor's tracking numbers (they mark it shipped)"
                )
            vendor = await uow.session.get(Vendor, po.vendor_id)
            assert vendor is not None
            was = po.status
            po.status = to
            if to is P.SENT:
                po.sent_at = uow.clock()
            told = ""
            if to is P.CANCELED and was is not P.DRAFT:
                if vendor.po_method is POMethod.EMAIL and vendor.email.strip():
                    self._queue_email(
                        uow,
                        order,
                        vendor,
                        PO_CANCEL_EVENT,
                        {"po": {"number": po.number, "vendor": vendor.name, "reason": text}},
                    )
                    told = f"; {vendor.email.strip()} is told by e-mail"
                else:
                    told = f"; tell {vendor.name} (not sent automatically)"
            memo = f"PO {po.number} {was.value} -> {to.value}{told}"
            self._history(uow, order, memo + (f": {text}" if text else ""))
            uow.audit("po.status", "order", order.number, po=po.number, to=to.value, note=text)
            order_number = order.number
            await uow.commit()
        return await self._result(order_number, [], [])

    async def _all_shipped(self, uow: UnitOfWork, po: PurchaseOrder) -> bool:
        shipped = dict(
            (
                await uow.session.execute(
                    select(ShipmentLine.order_line_id, func.sum(ShipmentLine.quantity))
                    .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                    .where(Shipment.purchase_order_id == po.id, Shipment.deleted_at.is_(None))
                    .group_by(ShipmentLine.order_line_id)
                )
            ).all()
        )
        return all(int(shipped.get(pl.order_line_id) or 0) >= pl.quantity for pl in po.lines)

    async def follow_shipment(
        self, uow: UnitOfWork, order: Order, moved: Sequence[tuple[OrderLine, int]]
    ) -> None:
        """ShippingService hook (on_shipped and on_unshipped), inside the shipment's
        transaction: a PO whose lines all have vendor shipments becomes shipped, and one
        that no longer has them (a shipment deleted as a mistake) goes back to sent. So
        tracking typed in on the order moves the PO just as an imported file does."""
        if not any(ln.fulfillment is Fulfillment.DROP_SHIP for ln, _ in moved):
            return
        for po in await self._order_pos(uow, order):
            if po.status in (P.DRAFT, P.SENT, P.ACKNOWLEDGED):
                if await self._all_shipped(uow, po):
                    po.status = P.SHIPPED
                    uow.audit("po.status", "order", order.number, po=po.number, to="shipped")
            elif po.status is P.SHIPPED and not await self._all_shipped(uow, po):
                po.status = P.SENT
                uow.audit("po.status", "order", order.number, po=po.number, to="sent")

    async def settle_shipped(self, number: str) -> bool:
        """Mark a sent/acknowledged PO shipped once every line has a vendor shipment (the
        tracking import calls it; running it twice changes nothing). True if it changed."""
        async with self._uow(write=True) as uow:
            po = await self._po(uow, number, lock=True)
            if po.status not in (P.SENT, P.ACKNOWLEDGED, P.DRAFT):
                return False
            if not await self._all_shipped(uow, po):
                return False
            po.status = P.SHIPPED
            uow.audit("po.status", "purchase_order", po.id, po=po.number, to=P.SHIPPED.value)
            await uow.commit()
        return True

    # -- tracking back in ---------------------------------------------------------------

    async def import_data(self, name: str, data: bytes) -> ImportReport:
        """Import one vendor file, told apart by content: CSV or X12 856 tracking (see
        po_tracking), or X12 855 acknowledgments."""
        acks = po_tracking.read_acks(name, data)
        if acks is not None:
            return await self._apply_acks(name, *acks)
        rows, problems = po_tracking.read_any(name, data)
        return await po_tracking.TrackingImporter(self).apply(rows, problems, [name])

    async def _apply_acks(
        self, name: str, acks: Sequence[POAcknowledgment], problems: Sequence[ImportProblem]
    ) -> ImportReport:
        """Each 855 on its own: an accepted one moves its PO to acknowledged (once; again
        changes nothing), a rejection or an unknown PO is reported with its segment."""
        done: list[AppliedAck] = []
        bad = list(problems)
        for ack in acks:
            if not ack.accepted:
                why = ACK_REJECTED.get(ack.kind, ack.kind)
                bad.append(
                    ImportProblem(
                        name,
                        ack.segment_line,
                        ack.po_number[:40],
                        f"the vendor rejected the PO (BAK {ack.kind}: {why}); it stays as it "
                        "was: cancel it and order from another vendor",
                    )
                )
                continue
            try:
                order_number, new = await self.acknowledge(
                    ack.po_number, note=f"855 {ack.kind} in {name}"
                )
            except (NotFound, InvalidInput, Refused) as exc:
                bad.append(ImportProblem(name, ack.segment_line, ack.po_number[:40], str(exc)))
                continue
            done.append(AppliedAck(ack.po_number.upper(), order_number, ack.kind, new))
        bad.sort(key=lambda p: p.line)
        return ImportReport((name,), (), tuple(bad), tuple(done))

    async def acknowledge(self, number: str, *, note: str = "") -> tuple[int, bool]:
        """The vendor confirmed PO `number` (an 855, or by hand through `mark`): a sent PO
        becomes acknowledged. One already acknowledged, shipped or received is left as it
        is (a repeated file changes nothing). Returns (order number, whether it changed)."""
        async with self._uow(write=True) as uow:
            po = await self._po(uow, number, lock=True)
            order = await uow.order(await self._number_of(uow, po), for_update=True)
            if po.status in (P.ACKNOWLEDGED, P.SHIPPED, P.RECEIVED):
                return order.number, False
            if P.ACKNOWLEDGED not in PO_TRANSITIONS[po.status]:
                raise CannotOrder(
                    f"PO {po.number} is {po.status.value}; only a sent PO can be acknowledged"
                )
            po.status = P.ACKNOWLEDGED
            memo = f"PO {po.number} sent -> acknowledged" + (f": {note}" if note else "")
            self._history(uow, order, memo)
            uow.audit(
                "po.status", "order", order.number, po=po.number, to="acknowledged", note=note
            )
            order_number = order.number
            await uow.commit()
        return order_number, True

    async def import_files(self, paths: Sequence[str | Path]) -> ImportReport:
        """Import files given on the command line; an unreadable one is a reported problem."""
        reports = []
        for path in paths:
            try:
                data = await asyncio.to_thread(_read, path)
            except OSError as exc:
                problem = ImportProblem(str(path), 0, "", f"cannot read: {exc.strerror or exc}")
                reports.append(ImportReport((str(path),), (), (problem,)))
                continue
            reports.append(await self.import_data(str(path), data))
        return _merge(reports)

    async def import_dir(self, folder: str | Path | None = None) -> ImportReport:
        """Import every file dropped in `folder` (default: `purchasing.drop_dir`): a file
        imported cleanly moves to `processed/`, one with problems to `failed/` with a
        `.errors.txt` beside it saying which lines and why."""
        where = str(folder or self.settings.purchasing.drop_dir)
        if not where.strip():
            raise InvalidInput("no drop folder: give one or set purchasing.drop_dir")
        files = await asyncio.to_thread(_dropped, where)
        reports = []
        for path in files:
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                problem = ImportProblem(path.name, 0, "", f"cannot read: {exc.strerror or exc}")
                reports.append(ImportReport((path.name,), (), (problem,)))
                continue
            report = await self.import_data(path.name, data)
            reports.append(report)
            await asyncio.to_thread(_file_away, path, report)
        return _merge(reports) if reports else ImportReport((), (), ())

    async def fetch(self, feed: str | None = None) -> ImportReport:
        """Fetch and import tracking files from the configured SFTP feeds (all, or one by
        name). A feed that cannot be reached is a reported problem; the others still run."""
        feeds = self.settings.purchasing.sftp
        if feed is not None:
            feeds = [f for f in feeds if f.name.casefold() == feed.strip().casefold()]
            if not feeds:
                names = ", ".join(f.name for f in self.settings.purchasing.sftp) or "none"
                raise NotFound(f"no SFTP feed {feed!r} (configured: {names})")
        if not feeds:
            raise InvalidInput("no SFTP feeds configured ([[purchasing.sftp]] in the config)")
        from services import sftp_feed  # asyncssh: a fifth of a second to import; only here

        reports: list[ImportReport] = []

        async def handle(name: str, data: bytes) -> bool:
            report = await self.import_data(name, data)
            reports.append(report)
            return not report.problems

        for one in feeds:
            try:
                await sftp_feed.fetch(one, handle)
            except sftp_feed.FeedError as exc:
                reports.append(
                    ImportReport(
                        (f"sftp:{one.name}",),
                        (),
                        (ImportProblem(f"sftp:{one.name}", 0, "", str(exc)),),
                    )
                )
        return _merge(reports) if reports else ImportReport((), (), ())

    async def collect(self) -> ImportReport:
        """One round of what vendors sent: the drop folder and every SFTP feed configured
        (for `packline po watch`, run in one place, e.g. a systemd service or cron, so two
        consoles never take the same file)."""
        if not self.settings.purchasing.drop_dir.strip() and not self.settings.purchasing.sftp:
            raise InvalidInput(
                "nothing to collect: set purchasing.drop_dir or add [[purchasing.sftp]] feeds"
            )
        reports = []
        if self.settings.purchasing.drop_dir.strip():
            reports.append(await self.import_dir())
        if self.settings.purchasing.sftp:
            reports.append(await self.fetch())
        return _merge(reports)

    # -- automation ---------------------------------------------------------------------

    async def auto_order(self, ref: str | int) -> POResult | None:
        """With `purchasing.auto_send` on: create and send POs to the default vendors for
        a paid order with drop-ship lines left to order. None when there is nothing to do."""
        if not self.settings.purchasing.auto_send:
            return None
        async with self._uow() as uow:
            order = await uow.order(ref)
            paid = order.payment_status in PAID_ENOUGH or order.terms_accepted
            plan = await self._plan(uow, order)
        if not paid or plan.why_not:
            return None
        try:
            return await self.create(ref, send=True)
        except CannotOrder:
            return None  # someone ordered them meanwhile

    async def on_paid(self, number: int) -> str | None:
        """The payment service's `after_paid` hook: auto_order, worded for its result. The
        payment is already recorded, so a refusal here is a note, never an error."""
        try:
            result = await self.auto_order(number)
        except Refused as exc:
            return f"drop-ship POs not created: {exc}"
        if result is None:
            return None
        sent = ", ".join(s.po for s in result.sent if s.ok)
        note = f"drop-ship POs created: {', '.join(result.created)}"
        note += f"; sent {sent}" if sent else ""
        for problem in result.problems:
            note += f"; {problem.po or problem.vendor} not sent: {problem.detail}"
        return note

    # -- results ------------------------------------------------------------------------

    async def _result(
        self,
        number: int,
        created: Sequence[str],
        outcomes: Sequence[SendOutcome],
        *,
        notes: Sequence[str] = (),
    ) -> POResult:
        async with self._uow() as uow:
            order = await uow.order(number)
            pos = await self._order_pos(uow, order)
            views = await self._views(uow, pos)
            status = order.status.value
        extra = tuple(SendOutcome("", "", False, "edi", n) for n in notes)
        return POResult(
            order_number=number,
            status=status,
            created=tuple(created),
            sent=(*outcomes, *extra),
            purchase_orders=tuple(views),
        )


__all__ = ["CannotOrder", "CannotSend", "PurchasingService"]
