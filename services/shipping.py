"""Shipping: shipments with validated tracking numbers, the status following the goods,
deleting a shipment entered by mistake, and auto-complete.

A shipment carries some units of some lines under one tracking number. Line quantities
are stages a unit passes through, as the workflow guards and the pack service count them:
`packed` is packed and not yet shipped, `shipped` is on its way, and `quantity - packed -
shipped` is still to pack. Shipping moves units of a stock line from `packed` to `shipped`
(drop-ship lines are packed by their vendor and go straight to `shipped`); deleting a
shipment moves them back to `packed`.

The status is never typed in here: after the lines change, the order goes to
`partially_shipped` or `shipped` through `OrderService.apply_transition`, in the same
transaction as the shipment, its history, audit, search term and outbox rows. Every refusal
happens before anything is committed.

Several packages of one order (a vendor's file with several tracking numbers for one PO) go
in together through `ship_many`, or `record_shipments` inside a caller's unit of work: all
or none, one status change, one customer e-mail. A back-ordered order may ship its
drop-ship lines while its stock lines wait; it stays in backorder (see record_shipments).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services import carriers, outbox, search
from services.db import Database
from services.errors import InvalidInput, NotFound, Refused
from services.models import (
    Order,
    OrderLine,
    PurchaseOrder,
    Shipment,
    ShipmentLine,
    StatusEvent,
    Vendor,
)
from services.orders import OrderService, facts_of
from services.settings import Settings

# Re-exported: what callers build and catch (screens import them from shipment_entry).
from services.shipment_entry import CannotShip as CannotShip
from services.shipment_entry import DuplicateTracking as DuplicateTracking
from services.shipment_entry import NewShipment as NewShipment
from services.statuses import Fulfillment, Status
from services.tracking_client import TrackingClient, TrackingError, check_url
from services.uow import Clock, UnitOfWork, utcnow
from services.views import (
    AutoCompleteReport,
    OrderDetail,
    ShipmentRecord,
    ShippableLine,
    ShipPlan,
    ShipResult,
    TrackingCheck,
)
from services.workflow import NOTIFY_EVENT, Request

S = Status
# Backorder: only its vendor (drop-ship) lines, while the stock lines wait (see _ready).
SHIPS_FROM = (S.PROCESSING, S.READY_TO_SHIP, S.PARTIALLY_SHIPPED, S.BACKORDER)
MAX_TEXT = 10_000
MAX_LINES = 500
# A ship date this far ahead of today (time zones) is still "today somewhere".
SHIP_DATE_SLACK = timedelta(days=1)
AUTO_COMPLETE_LIMIT = 1000
TRACKING_CONCURRENCY = 8

# Stock follows the goods (services/inventory.py registers these): called inside the
# shipment's transaction with the lines and units that left, or that came back when a
# shipment is deleted, before the status changes.
_Take = list[tuple[OrderLine, int]]
StockHook = Callable[[UnitOfWork, Order, Sequence[tuple[OrderLine, int]]], Awaitable[None]]


@dataclass(frozen=True)
class _Delivery:
    """What the tracking service said about one order's packages."""

    number: int
    delivered: str = ""  # why to complete, when every package is delivered
    error: str = ""


def _check_text(**fields: str) -> None:
    for name, value in fields.items():
        if len(value) > MAX_TEXT:
            raise InvalidInput(f"{name} is too long ({len(value)} characters; at most {MAX_TEXT})")


def _merge(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    """(SKU, quantity) pairs as asked, a SKU named twice counted once with the sum."""
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"a shipment names at most {MAX_LINES} lines")
    wanted: dict[str, int] = {}
    for sku, qty in lines:
        name = sku.strip()
        if not name:
            raise InvalidInput("a shipment line needs a SKU (SKU=QTY)")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise InvalidInput(f"quantity for {name} must be a whole number of 1 or more")
        wanted[name] = wanted.get(name, 0) + qty
    return wanted


def _joined(texts: Iterable[str], sep: str = "\n") -> str:
    """Distinct non-empty texts of several shipments, in order, as one."""
    out: list[str] = []
    for text in texts:
        if text.strip() and text.strip() not in out:
            out.append(text.strip())
    return sep.join(out)


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _tracking(raw: str, carrier: str | None) -> carriers.Tracking:
    try:
        return carriers.validate(raw, carrier)
    except carriers.InvalidTracking as exc:
        raise InvalidInput(str(exc)) from None


def _record(sh: Shipment, skus: dict[int, str]) -> ShipmentRecord:
    return ShipmentRecord(
        id=sh.id,
        carrier=sh.carrier,
        tracking=sh.tracking,
        url=carriers.tracking_url(sh.carrier, sh.tracking),
        shipped_at=sh.shipped_at,
        expected_delivery=sh.expected_delivery,
        source=sh.source,
        created_by=sh.created_by,
        lines=tuple((skus.get(sl.order_line_id, "?"), sl.quantity) for sl in sh.lines),
        deleted_at=sh.deleted_at,
        delete_reason=sh.delete_reason,
    )


class ShippingService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        settings: Settings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.settings = settings
        self.clock = clock
        self.on_shipped: list[StockHook] = []
        self.on_unshipped: list[StockHook] = []

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.orders.operator)

    @property
    def requires_packing(self) -> bool:
        return self.settings.ship_requires_packing

    # -- what may ship ------------------------------------------------------------------

    def _ready(self, line: OrderLine, status: Status) -> int:
        """What of this line may ship now, and what a shipment takes by default: the units
        packed and not yet shipped (stock lines, when packing comes first), else every unit
        not yet shipped (drop-ship lines: the vendor packs them). A back-ordered order's
        stock lines wait for stock: none of them ship until it is back in processing."""
        left = max(line.quantity - line.shipped, 0)
        if line.fulfillment is Fulfillment.STOCK and status is S.BACKORDER:
            return 0
        if line.fulfillment is Fulfillment.STOCK and self.requires_packing:
            return min(left, max(line.packed, 0))
        return left

    @staticmethod
    def why_not_ship(order: Order) -> str | None:
        if order.status in SHIPS_FROM:
            return None
        if order.status is S.SHIPPED:
            return f"order #{order.number} has shipped in full; nothing is left to ship"
        if order.status is S.HELD:
            why = order.hold_reason.value if order.hold_reason else "no reason"
            return f"order #{order.number} is held ({why}); release the hold before shipping"
        return (
            f"order #{order.number} is {order.status.value}; only orders that are processing, "
            "ready_to_ship, partially_shipped or (vendor lines only) backorder can ship"
        )

    async def plan(self, ref: str | int) -> ShipPlan:
        """What the tracking screen opens with: lines with default and largest quantities,
        every shipment (deleted ones too) and whether the order can ship now."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            vendors = await self._vendor_names(uow, order.lines)
            shipments = await self._records(uow, order, include_deleted=True)
            lines = tuple(
                ShippableLine(
                    line_id=ln.id,
                    sku=ln.sku,
                    name=ln.name,
                    fulfillment=ln.fulfillment.value,
                    vendor=vendors.get(ln.vendor_id) if ln.vendor_id else None,
                    quantity=ln.quantity,
                    packed=ln.packed,
                    shipped=ln.shipped,
                    ready=self._ready(ln, order.status),
                )
                for ln in order.lines
            )
            why = self.why_not_ship(order)
            if why is None and not any(ln.ready for ln in lines):
                why = self._nothing_ready(order)
            return ShipPlan(
                number=order.number,
                status=order.status,
                version=order.version,
                why_not=why,
                requires_packing=self.requires_packing,
                lines=lines,
                shipments=shipments,
                carriers=carriers.KNOWN_CARRIERS,
            )

    async def check_tracking(self, raw: str, carrier: str | None = None) -> TrackingCheck:
        """Validate a number as it is typed: carrier, link, and the orders already using it."""
        t = _tracking(raw, carrier)
        async with self._uow() as uow:
            used = await self._used_on(uow, t.number)
        return TrackingCheck(
            number=t.number,
            carrier=t.carrier,
            service=t.service,
            url=t.url,
            country=t.country,
            used_on=tuple(sorted({number for _, number in used})),
        )

    async def shipments(
        self, ref: str | int, *, include_deleted: bool = True
    ) -> list[ShipmentRecord]:
        async with self._uow() as uow:
            order = await uow.order(ref)
            return list(await self._records(uow, order, include_deleted=include_deleted))

    # -- ship ---------------------------------------------------------------------------

    async def ship(
        self, ref: str | int, new: NewShipment, *, expected_version: int | None = None
    ) -> ShipResult:
        """Record one shipment and move the order along: some lines shipped ->
        partially_shipped, every line -> shipped; with `notify`, the customer e-mail for
        that status carries the tracking number, link, expected date, what went and what
        is still coming. Refused, with nothing written: an invalid tracking number, one
        already used on another order (unless `confirm_duplicate`), more than was ordered,
        unpacked stock lines when packing comes first, an order that cannot ship."""
        self._checked(new)  # bad input is refused before a transaction is opened
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            (record,) = await self.record_shipments(uow, order, [new])
            number = order.number
            await uow.commit()
        return ShipResult(order=await self._detail(number), shipment=record)

    async def ship_many(
        self,
        ref: str | int,
        news: Sequence[NewShipment],
        *,
        expected_version: int | None = None,
    ) -> tuple[ShipmentRecord, ...]:
        """Several packages of one order in one transaction (a vendor's file naming several
        tracking numbers for one PO): all of them, or none when any is refused. See
        `record_shipments`. Returns the shipments; the caller reloads the order if it
        needs it (an import does not)."""
        for new in news:
            self._checked(new)
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            records = await self.record_shipments(uow, order, news)
            await uow.commit()
        return records

    async def record_shipments(
        self, uow: UnitOfWork, order: Order, news: Sequence[NewShipment]
    ) -> tuple[ShipmentRecord, ...]:
        """Record shipments of `order` (locked by the caller) inside the caller's unit of
        work, which commits or, on any refusal, rolls back all of them.

        The status follows the goods once, after every package is in, so the history has
        one change and the customer one e-mail (with `notify` on any of them) for what
        left together: the shipped e-mail lists every package of the order, and the
        payload's `shipments` names each tracking number of this delivery. A customer
        whose vendor sent three boxes the same day wants one message with three links,
        not three messages a second apart. Webhooks and audit rows stay one per shipment.

        A back-ordered order may take shipments of its vendor (drop-ship) lines while its
        stock lines wait; it goes to partially_shipped (the e-mail) and then straight
        back to backorder in the same transaction, so it stays where staff look for
        orders waiting for stock and returns to processing the usual way when it is in.
        """
        if not news:
            raise InvalidInput("no shipment to record")
        if len(news) > MAX_LINES:
            raise InvalidInput(f"at most {MAX_LINES} shipments at once")
        checked = [self._checked(new) for new in news]
        seen: set[str] = set()
        for tracking, _, _ in checked:
            if tracking.number in seen:
                raise InvalidInput(f"tracking number {tracking.number} is named twice")
            seen.add(tracking.number)
        why = self.why_not_ship(order)
        if why:
            raise CannotShip(why)
        came_from = order.status
        now = self.clock()
        today = now.date()
        for _, _, ship_day in checked:
            if ship_day < order.placed_at.date():
                raise InvalidInput(
                    f"ship date {ship_day.isoformat()} is before order #{order.number} was "
                    f"placed ({order.placed_at.date().isoformat()})"
                )
        made: list[tuple[NewShipment, Shipment, carriers.Tracking, _Take, list[tuple[int, int]]]]
        made = []
        # Each package takes from what the previous ones left; a refusal on any of them
        # raises before the commit, so the caller's transaction keeps none of them.
        for new, (tracking, wanted, ship_day) in zip(news, checked, strict=True):
            take = self._default_take(order) if not wanted else self._take(order, wanted)
            used = await self._used_on(uow, tracking.number)
            self._check_duplicates(order, tracking.number, used, new.confirm_duplicate)
            shipped_at = now if ship_day == today else datetime.combine(ship_day, now.timetz())
            drop = all(ln.fulfillment is Fulfillment.DROP_SHIP for ln, _ in take)
            shipment = Shipment(
                order_id=order.id,
                carrier=tracking.carrier,
                tracking=tracking.number,
                shipped_at=shipped_at,
                expected_delivery=new.expected_delivery,
                source="vendor" if drop else "shop",
                purchase_order_id=await self._purchase_order(uow, order, take) if drop else None,
                created_by=uow.actor,
                delete_reason="",
            )
            for line, qty in take:
                shipment.lines.append(ShipmentLine(order_line_id=line.id, quantity=qty))
                line.shipped += qty
                if line.fulfillment is Fulfillment.STOCK:
                    # Packed units go first; without the packing rule the rest go unpacked.
                    line.packed = max(line.packed - qty, 0)
            uow.session.add(shipment)
            await uow.session.flush()
            for hook in self.on_shipped:
                await hook(uow, order, take)
            made.append((new, shipment, tracking, take, used))

        each = [self._payload(order, sh, t, take) for _, sh, t, take, _ in made]
        payload = {
            **each[0],
            "lines_shipped": [ln for p in each for ln in p["lines_shipped"]],
            "shipments": [{k: v for k, v in p.items() if k != "lines_remaining"} for p in each],
        }
        everything = all(ln.shipped >= ln.quantity for ln in order.lines)
        await self._move(
            uow,
            order,
            S.SHIPPED if everything else S.PARTIALLY_SHIPPED,
            comment=_joined(new.comment for new in news),
            memo=_joined((new.memo for new in news), "; "),
            notify=any(new.notify for new in news),
            payload=payload,
        )
        waiting = [
            ln.sku
            for ln in order.lines
            if ln.fulfillment is Fulfillment.STOCK and ln.shipped < ln.quantity
        ]
        if (
            came_from is S.BACKORDER
            and waiting
            and order.status is S.PARTIALLY_SHIPPED
            and S.BACKORDER not in self.orders.workflow.disabled
        ):
            await self.orders.apply_transition(
                uow,
                order,
                Request(S.BACKORDER),
                memo=f"vendor lines shipped; still waiting for stock: {', '.join(waiting)}",
            )
        skus = {ln.id: ln.sku for ln in order.lines}
        for (new, shipment, tracking, take, used), one in zip(made, each, strict=True):
            outbox.webhooks(
                uow,
                order,
                "order.shipment_created",
                self.orders.webhooks,
                payload={**one, "at": uow.clock().isoformat(), "actor": uow.actor},
            )
            uow.audit(
                "shipment.create",
                "order",
                order.number,
                shipment_id=shipment.id,
                carrier=tracking.carrier,
                tracking=tracking.number,
                service=tracking.service,
                lines=[{"sku": ln.sku, "quantity": q} for ln, q in take],
                status=order.status.value,
                notify=new.notify,
                also_on=sorted({n for oid, n in used if oid != order.id}),
            )
        await search.add_terms(uow.session, order.id, [t.number for _, _, t, _, _ in made])
        return tuple(_record(sh, skus) for _, sh, _, _, _ in made)

    def _checked(self, new: NewShipment) -> tuple[carriers.Tracking, dict[str, int], date]:
        """What can be checked without the order: texts, tracking number, lines, dates."""
        _check_text(comment=new.comment, memo=new.memo)
        tracking = _tracking(new.tracking, new.carrier)
        wanted = _merge(new.lines)
        today = self.clock().date()
        ship_day = new.ship_date or today
        if ship_day - today > SHIP_DATE_SLACK:
            raise InvalidInput(f"ship date {ship_day.isoformat()} is in the future")
        if new.expected_delivery is not None and new.expected_delivery < ship_day:
            raise InvalidInput(
                f"expected delivery {new.expected_delivery.isoformat()} is before the ship date "
                f"{ship_day.isoformat()}"
            )
        return tracking, wanted, ship_day

    def _nothing_ready(self, order: Order) -> str:
        if all(ln.shipped >= ln.quantity for ln in order.lines):
            return f"every line of order #{order.number} has shipped; nothing is left to ship"
        if order.status is S.BACKORDER:
            return (
                f"order #{order.number} is waiting for stock (backorder) and has no vendor "
                "line left to ship; move it to processing when the stock is in"
            )
        return f"nothing on order #{order.number} is packed and not yet shipped; pack it first"

    def _default_take(self, order: Order) -> list[tuple[OrderLine, int]]:
        take = [(ln, self._ready(ln, order.status)) for ln in order.lines]
        take = [(ln, q) for ln, q in take if q > 0]
        if not take:
            raise CannotShip(self._nothing_ready(order))
        return take

    def _take(self, order: Order, wanted: dict[str, int]) -> list[tuple[OrderLine, int]]:
        """Spread each SKU's quantity over its lines (a SKU may be on several), or refuse."""
        by_sku: dict[str, list[OrderLine]] = {}
        for ln in order.lines:
            by_sku.setdefault(ln.sku, []).append(ln)
        take: list[tuple[OrderLine, int]] = []
        for sku, qty in wanted.items():
            lines = by_sku.get(sku)
            if not lines:
                known = ", ".join(by_sku) or "none"
                raise InvalidInput(f"{sku} is not on order #{order.number} (its SKUs: {known})")
            ordered = sum(ln.quantity for ln in lines)
            left = sum(max(ln.quantity - ln.shipped, 0) for ln in lines)
            if qty > left:
                raise CannotShip(
                    f"{sku}: cannot ship {_units(qty)}; {ordered} ordered, "
                    f"{ordered - left} already shipped, so at most {left} can go"
                )
            most = sum(self._ready(ln, order.status) for ln in lines)
            if qty > most and order.status is S.BACKORDER:
                raise CannotShip(
                    f"{sku}: order #{order.number} is waiting for stock (backorder); only its "
                    "vendor (drop-ship) lines can ship until it is back in processing"
                )
            if qty > most:
                raise CannotShip(
                    f"{sku}: cannot ship {_units(qty)}; only {most} packed and not yet "
                    "shipped (this shop ships stock lines after packing: pack them first)"
                )
            for ln in lines:
                part = min(qty, self._ready(ln, order.status))
                if part > 0:
                    take.append((ln, part))
                    qty -= part
        take.sort(key=lambda pair: pair[0].position)
        return take

    def _check_duplicates(
        self, order: Order, number: str, used: list[tuple[int, int]], confirmed: bool
    ) -> None:
        if any(oid == order.id for oid, _ in used):
            raise CannotShip(
                f"tracking number {number} is already a shipment of order #{order.number}; "
                "to correct it, delete that shipment and enter it again"
            )
        others = tuple(sorted({n for _, n in used}))
        if others and not confirmed:
            names = ", ".join(f"#{n}" for n in others)
            raise DuplicateTracking(
                f"tracking number {number} is already used on order {names}; if one package "
                "really carries both orders, confirm the duplicate (--confirm-duplicate)",
                others,
            )

    @staticmethod
    def _payload(
        order: Order,
        shipment: Shipment,
        tracking: carriers.Tracking,
        take: list[tuple[OrderLine, int]],
    ) -> dict[str, Any]:
        """What the shipped / partially_shipped e-mail and webhooks need about this shipment."""
        return {
            "shipment_id": shipment.id,
            "tracking": tracking.number,
            "carrier": tracking.carrier,
            "url": tracking.url,
            "shipped_at": shipment.shipped_at.isoformat(),
            "expected_delivery": (
                shipment.expected_delivery.isoformat() if shipment.expected_delivery else None
            ),
            "lines_shipped": [{"sku": ln.sku, "name": ln.name, "quantity": q} for ln, q in take],
            "lines_remaining": [
                {"sku": ln.sku, "name": ln.name, "quantity": ln.quantity - ln.shipped}
                for ln in order.lines
                if ln.quantity > ln.shipped
            ],
        }

    async def _move(
        self,
        uow: UnitOfWork,
        order: Order,
        target: Status,
        *,
        comment: str,
        memo: str,
        notify: bool,
        payload: dict[str, Any],
    ) -> StatusEvent:
        """The status change through the workflow; when the status stays (a second partial
        shipment, or a deletion that leaves it partial), a history row of kind `shipment`
        and, with `notify`, the e-mail of the current status."""
        if target is not order.status:
            return await self.orders.apply_transition(
                uow,
                order,
                Request(target),
                comment=comment,
                memo=memo,
                notify=notify,
                payload=payload,
            )
        event = StatusEvent(
            order_id=order.id,
            kind="shipment",
            from_status=order.status,
            to_status=order.status,
            actor=uow.actor,
            at=uow.clock(),
            comment=comment.strip(),
            memo=memo.strip(),
        )
        uow.session.add(event)
        if memo.strip():
            order.last_memo = memo.strip()
        uow.touch(order)
        event_name = NOTIFY_EVENT.get(order.status)
        if notify and event_name:
            body = {
                "from": order.status.value,
                "to": order.status.value,
                "comment": comment.strip(),
                **payload,
            }
            outbox.email_to_customer(uow, order, event_name, payload=body, status_event=event)
        return event

    # -- delete -------------------------------------------------------------------------

    async def delete_shipment(
        self,
        ref: str | int,
        tracking: str,
        *,
        reason: str,
        expected_version: int | None = None,
    ) -> ShipResult:
        """Undo a shipment entered by mistake: its units go back to packed-not-shipped and
        the status goes back (shipped -> partially_shipped while other shipments remain,
        else to the status it had before shipping). The row is kept, marked deleted with
        the reason, which also goes into the history memo and the audit log."""
        why = reason.strip()
        if not why:
            raise InvalidInput("deleting a shipment needs a reason")
        _check_text(reason=why)
        wanted = {carriers.normalise(tracking)}
        with contextlib.suppress(carriers.InvalidTracking):
            wanted.add(carriers.validate(tracking).number)  # a USPS 420+ZIP form, too
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            active = await self._active(uow, order)
            match = [sh for sh in active if sh.tracking in wanted]
            if not match:
                have = ", ".join(sh.tracking for sh in active) or "none"
                raise NotFound(
                    f"order #{order.number} has no shipment with tracking number "
                    f"{carriers.normalise(tracking)[:40]} (its shipments: {have})"
                )
            if order.status not in (S.SHIPPED, S.PARTIALLY_SHIPPED, S.BACKORDER):
                raise CannotShip(
                    f"order #{order.number} is {order.status.value}; a shipment can only be "
                    "deleted while the order is shipped, partially_shipped or backorder"
                )
            shipment = match[0]
            lines = {ln.id: ln for ln in order.lines}
            for sl in shipment.lines:
                line = lines.get(sl.order_line_id)
                if line is None or line.shipped < sl.quantity:
                    raise CannotShip(
                        f"shipment {shipment.tracking} does not match the lines of order "
                        f"#{order.number}; it cannot be deleted here"
                    )

            # -- nothing has been written up to here --------------------------------------
            for sl in shipment.lines:
                line = lines[sl.order_line_id]
                line.shipped -= sl.quantity
                if line.fulfillment is Fulfillment.STOCK:
                    # Back in the box, waiting for the carrier (never more than is unshipped).
                    line.packed = min(line.packed + sl.quantity, line.quantity - line.shipped)
            shipment.deleted_at = uow.clock()
            shipment.delete_reason = why
            back = [(lines[sl.order_line_id], sl.quantity) for sl in shipment.lines]
            for hook in self.on_unshipped:
                await hook(uow, order, back)
            if order.status is S.BACKORDER:
                target = S.BACKORDER  # a vendor shipment taken while it waits: it still waits
            elif all(ln.shipped >= ln.quantity for ln in order.lines):
                target = S.SHIPPED
            elif any(ln.shipped > 0 for ln in order.lines):
                target = S.PARTIALLY_SHIPPED
            else:
                target = await self._origin(uow, order)
            skus = {ln.id: ln.sku for ln in order.lines}
            detail = {
                "shipment_id": shipment.id,
                "tracking": shipment.tracking,
                "carrier": shipment.carrier,
                "reason": why,
                "lines": [
                    {"sku": skus.get(sl.order_line_id, "?"), "quantity": sl.quantity}
                    for sl in shipment.lines
                ],
            }
            await self._move(
                uow,
                order,
                target,
                comment="",
                memo=f"shipment {shipment.carrier} {shipment.tracking} deleted: {why}",
                notify=False,
                payload={"shipment_deleted": detail},
            )
            outbox.webhooks(
                uow,
                order,
                "order.shipment_deleted",
                self.orders.webhooks,
                payload={**detail, "at": uow.clock().isoformat(), "actor": uow.actor},
            )
            uow.audit("shipment.delete", "order", order.number, **detail)
            record = _record(shipment, skus)
            number = order.number
            await uow.commit()
        return ShipResult(order=await self._detail(number), shipment=record, key="deleted_shipment")

    async def _origin(self, uow: UnitOfWork, order: Order) -> Status:
        """The status the order shipped from (its history says), if the workflow allows it
        now; otherwise ready_to_ship or processing, whichever it allows."""
        recorded = (
            await uow.session.execute(
                select(StatusEvent.from_status)
                .where(
                    StatusEvent.order_id == order.id,
                    StatusEvent.kind == "status",
                    StatusEvent.to_status.in_([S.PARTIALLY_SHIPPED, S.SHIPPED]),
                    StatusEvent.from_status.in_([S.READY_TO_SHIP, S.PROCESSING]),
                )
                .order_by(StatusEvent.id.desc())
                .limit(1)
            )
        ).scalar()
        facts = facts_of(order)
        candidates = [s for s in (recorded, S.READY_TO_SHIP, S.PROCESSING) if s is not None]
        for status in candidates:
            if self.orders.workflow.why_not(facts, Request(status)) is None:
                return status
        return S.PROCESSING  # the transition will say why not

    # -- auto-complete ------------------------------------------------------------------

    async def auto_complete(
        self,
        *,
        notify: bool = False,
        limit: int = AUTO_COMPLETE_LIMIT,
        client: TrackingClient | None = None,
    ) -> AutoCompleteReport:
        """Complete shipped orders whose last shipment went `auto_complete_days` ago and,
        with a tracking service configured, those whose every package the carrier reports
        delivered. Each order is completed in a transaction of its own; one that the
        workflow refuses (e.g. unpaid) is skipped with the reason, one the tracking
        service cannot answer for is reported as an error. Both off: nothing happens."""
        if not 1 <= limit <= 100_000:
            raise InvalidInput("limit must be between 1 and 100000")
        days = self.settings.auto_complete_days
        use_tracking = bool(self.settings.tracking_url.strip())
        if use_tracking:
            try:
                check_url(self.settings.tracking_url)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        completed: list[tuple[int, str]] = []
        skipped: list[tuple[int, str]] = []
        errors: list[tuple[int, str]] = []
        checked = 0
        done: set[int] = set()
        if days > 0:
            cutoff = self.clock() - timedelta(days=days)
            for number, last in await self._shipped_before(cutoff, limit):
                checked += 1
                why = f"shipped {last.date().isoformat()}, over {days} days ago"
                await self._complete(number, why, notify, completed, skipped)
                done.add(number)
        if use_tracking and len(done) < limit:
            candidates = await self._shipped_packages(limit - len(done), exclude=done)
            checked += len(candidates)
            async with contextlib.AsyncExitStack() as stack:
                if client is None:
                    client = await stack.enter_async_context(
                        TrackingClient(
                            self.settings.tracking_url,
                            key=self.settings.tracking_key,
                            timeout=self.settings.tracking_timeout,
                        )
                    )
                answers = await self._ask_carriers(client, candidates)
            for answer in answers:
                if answer.error:
                    errors.append((answer.number, answer.error))
                elif answer.delivered:
                    await self._complete(
                        answer.number, answer.delivered, notify, completed, skipped
                    )
        return AutoCompleteReport(
            days=days,
            tracking=use_tracking,
            checked=checked,
            completed=tuple(completed),
            skipped=tuple(skipped),
            errors=tuple(errors),
        )

    async def _shipped_before(self, cutoff: datetime, limit: int) -> list[tuple[int, datetime]]:
        last = func.max(Shipment.shipped_at)
        async with self._uow() as uow:
            rows = (
                await uow.session.execute(
                    select(Order.number, last)
                    .join(Shipment, Shipment.order_id == Order.id)
                    .where(Order.status == S.SHIPPED, Shipment.deleted_at.is_(None))
                    .group_by(Order.number)
                    .having(last <= cutoff)
                    .order_by(Order.number)
                    .limit(limit)
                )
            ).all()
        return [(int(n), when) for n, when in rows]

    async def _shipped_packages(
        self, limit: int, *, exclude: set[int]
    ) -> list[tuple[int, list[tuple[str, str]]]]:
        async with self._uow() as uow:
            numbers = [
                int(n)
                for n in (
                    await uow.session.execute(
                        select(Order.number)
                        .where(Order.status == S.SHIPPED)
                        .order_by(Order.number)
                        .limit(limit + len(exclude))
                    )
                ).scalars()
                if int(n) not in exclude
            ][:limit]
            if not numbers:
                return []
            rows = (
                await uow.session.execute(
                    select(Order.number, Shipment.carrier, Shipment.tracking)
                    .join(Shipment, Shipment.order_id == Order.id)
                    .where(Order.number.in_(numbers), Shipment.deleted_at.is_(None))
                    .order_by(Order.number, Shipment.id)
                )
            ).all()
        packages: dict[int, list[tuple[str, str]]] = {n: [] for n in numbers}
        for number, carrier, tracking in rows:
            packages[int(number)].append((carrier, tracking))
        return [(n, p) for n, p in packages.items() if p]

    async def _ask_carriers(
        self, client: TrackingClient, candidates: list[tuple[int, list[tuple[str, str]]]]
    ) -> list[_Delivery]:
        """Ask about every package of every candidate, a few requests at a time."""
        gate = asyncio.Semaphore(TRACKING_CONCURRENCY)

        async def one(number: int, packages: list[tuple[str, str]]) -> _Delivery:
            latest: datetime | None = None
            for carrier, tracking in packages:
                try:
                    async with gate:
                        status = await client.status(carrier, tracking)
                except TrackingError as exc:
                    return _Delivery(number, error=f"{carrier} {tracking}: {exc}")
                if not status.delivered:
                    return _Delivery(number)
                if status.delivered_at and (latest is None or status.delivered_at > latest):
                    latest = status.delivered_at
            when = f" on {latest.date().isoformat()}" if latest else ""
            what = "its package" if len(packages) == 1 else f"all {len(packages)} packages"
            return _Delivery(number, delivered=f"carrier reports {what} delivered{when}")

        return list(await asyncio.gather(*(one(n, p) for n, p in candidates)))

    async def _complete(
        self,
        number: int,
        why: str,
        notify: bool,
        completed: list[tuple[int, str]],
        skipped: list[tuple[int, str]],
    ) -> None:
        try:
            async with self._uow(write=True) as uow:
                order = await uow.order(number, for_update=True)
                if order.status is not S.SHIPPED:
                    skipped.append((number, f"now {order.status.value}"))
                    return
                await self.orders.apply_transition(
                    uow, order, Request(S.COMPLETE), memo=f"auto-complete: {why}", notify=notify
                )
                await uow.commit()
        except Refused as exc:
            skipped.append((number, str(exc)))
            return
        completed.append((number, why))

    # -- reading ------------------------------------------------------------------------

    async def _detail(self, number: int) -> OrderDetail:
        async with self._uow() as fresh:
            return await self.orders.detail_of(fresh, await fresh.order(number))

    @staticmethod
    async def _used_on(uow: UnitOfWork, number: str) -> list[tuple[int, int]]:
        """(order id, order number) of every active shipment with this tracking number."""
        rows = (
            await uow.session.execute(
                select(Shipment.order_id, Order.number)
                .join(Order, Order.id == Shipment.order_id)
                .where(Shipment.tracking == number, Shipment.deleted_at.is_(None))
            )
        ).all()
        return [(int(oid), int(n)) for oid, n in rows]

    @staticmethod
    async def _active(uow: UnitOfWork, order: Order) -> list[Shipment]:
        return list(
            (
                await uow.session.execute(
                    select(Shipment)
                    .where(Shipment.order_id == order.id, Shipment.deleted_at.is_(None))
                    .options(selectinload(Shipment.lines))
                    .order_by(Shipment.id.desc())
                )
            ).scalars()
        )

    @staticmethod
    async def _records(
        uow: UnitOfWork, order: Order, *, include_deleted: bool
    ) -> tuple[ShipmentRecord, ...]:
        stmt = (
            select(Shipment)
            .where(Shipment.order_id == order.id)
            .options(selectinload(Shipment.lines))
            .order_by(Shipment.id)
        )
        if not include_deleted:
            stmt = stmt.where(Shipment.deleted_at.is_(None))
        skus = {ln.id: ln.sku for ln in order.lines}
        return tuple(_record(sh, skus) for sh in (await uow.session.execute(stmt)).scalars())

    @staticmethod
    async def _vendor_names(uow: UnitOfWork, lines: Iterable[OrderLine]) -> dict[int, str]:
        ids = {ln.vendor_id for ln in lines if ln.vendor_id is not None}
        if not ids:
            return {}
        rows = await uow.session.execute(select(Vendor.id, Vendor.name).where(Vendor.id.in_(ids)))
        return {int(i): name for i, name in rows.all()}

    @staticmethod
    async def _purchase_order(
        uow: UnitOfWork, order: Order, take: list[tuple[OrderLine, int]]
    ) -> int | None:
        """A vendor's shipment belongs to that vendor's PO for this order, when there is one."""
        vendors = {ln.vendor_id for ln, _ in take}
        if len(vendors) != 1 or None in vendors:
            return None
        po = (
            await uow.session.execute(
                select(PurchaseOrder.id)
                .where(PurchaseOrder.order_id == order.id, PurchaseOrder.vendor_id.in_(vendors))
                .order_by(PurchaseOrder.id.desc())
                .limit(1)
            )
        ).scalar()
        return int(po) if po is not None else None
