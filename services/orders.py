"""Orders: the queue (keyset pages, filters, search, counts), one order in full, status
changes and memos. Every change writes the new state, its history row, its audit row
and its outbox rows in one transaction.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import selectinload

from services import outbox, search
from services.carriers import tracking_url
from services.db import Database
from services.errors import InvalidInput
from services.models import (
    Address,
    Customer,
    Notification,
    Order,
    OrderLine,
    Payment,
    Product,
    ProductBarcode,
    PurchaseOrder,
    Shipment,
    StatusEvent,
    StockLevel,
    Vendor,
)
from services.statuses import Fulfillment, HoldReason, PaymentMethod, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.views import (
    AddressView,
    CustomerView,
    HistoryEntry,
    LineView,
    NotificationView,
    OrderDetail,
    OrderRow,
    Page,
    PaymentView,
    POView,
    ShipmentView,
)
from services.workflow import LineFacts, OrderFacts, Request, Workflow

Sort = Literal["date", "total", "number"]
MAX_PAGE = 500
FIRST_ORDER_NUMBER = 1001
MAX_MEMO = 10_000
# Up to this many matching orders, a search is answered from the id list directly.
SEARCH_ID_LIMIT = 10_000


@dataclass(frozen=True)
class NewAddress:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str = "US"
    region: str = ""
    line2: str = ""
    company: str = ""
    phone: str = ""


@dataclass(frozen=True)
class NewOrder:
    """An order as it arrives (storefront, file, or typed in): lines name catalogue SKUs."""

    customer_name: str
    email: str
    shipping: NewAddress
    lines: tuple[tuple[str, int], ...]
    billing: NewAddress | None = None
    payment_method: PaymentMethod = PaymentMethod.CARD
    note: str = ""
    channel: str = "manual"
    channel_ref: str | None = None
    shipping_total: int = 0
    tax_total: int = 0
    placed_at: datetime | None = None


@dataclass(frozen=True)
class OrderFilter:
    status: Status | None = None
    search: str = ""
    sort: Sort = "date"
    descending: bool = True


def facts_of(order: Order) -> OrderFacts:
    return OrderFacts(
        number=order.number,
        status=order.status,
        payment_status=order.payment_status,
        terms_accepted=order.terms_accepted,
        held_from=order.held_from,
        lines=tuple(
            LineFacts(
                sku=ln.sku,
                quantity=ln.quantity,
                packed=ln.packed,
                shipped=ln.shipped,
                fulfillment=ln.fulfillment,
            )
            for ln in order.lines
        ),
    )


def address_view(a: Address | None) -> AddressView | None:
    if a is None:
        return None
    return AddressView(
        name=a.name,
        company=a.company,
        line1=a.line1,
        line2=a.line2,
        city=a.city,
        region=a.region,
        postal_code=a.postal_code,
        country=a.country,
        phone=a.phone,
    )


def _customer_view(order: Order) -> CustomerView:
    c = order.customer
    return CustomerView(name=c.name if c else "", email=order.email or (c.email if c else ""))


def row_of(order: Order, shipments: tuple[ShipmentView, ...] = ()) -> OrderRow:
    return OrderRow(
        number=order.number,
        placed_at=order.placed_at,
        customer=_customer_view(order),
        items=order.item_count,
        total=order.total,
        currency=order.currency,
        payment_status=order.payment_status,
        status=order.status,
        hold_reason=order.hold_reason,
        last_memo=order.last_memo,
        risk_score=order.risk_score,
        risk_reasons=tuple(order.risk_reasons or ()),
        version=order.version,
        updated_at=order.updated_at,
        updated_by=order.updated_by,
        shipping_address=address_view(order.shipping_address),
        shipments=shipments,
    )


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"invalid page cursor {cursor[:20]!r}") from exc
    if not isinstance(values, list) or len(values) != 2:
        raise InvalidInput(f"invalid page cursor {cursor[:20]!r}")
    return values


class OrderService:
    def __init__(
        self,
        db: Database,
        workflow: Workflow,
        *,
        operator: str,
        clock: Clock = utcnow,
        webhooks: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.workflow = workflow
        self.operator = operator
        self.clock = clock
        self.webhooks = webhooks

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.operator)

    # -- the queue --------------------------------------------------------------------

    async def page(
        self,
        flt: OrderFilter = OrderFilter(),
        *,
        after: str | None = None,
        limit: int = 50,
        with_details: bool = False,
    ) -> Page[OrderRow]:
        """One page of the queue, newest first by default; `next_cursor` fetches the next."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        key_cols = {
            "date": (Order.placed_at, Order.id),
            "total": (Order.total, Order.id),
            "number": (Order.number, Order.id),
        }[flt.sort]
        stmt: Select[Order] = select(Order).options(
            selectinload(Order.customer), selectinload(Order.shipping_address)
        )
        if flt.status is not None:
            stmt = stmt.where(Order.status == flt.status)
        async with self._uow() as uow:
            words = search.query_words(flt.search)
            if words:
                ids = await self._search_ids(uow, words)
                if ids is not None:
                    if not ids:
                        return Page(rows=[], next_cursor=None)
                    stmt = stmt.where(Order.id.in_(ids))
                else:
                    for word in words:
                        stmt = stmt.where(Order.id.in_(search.prefix_select(word)))
            if after:
                first, last_id = _decode_cursor(after)
                if flt.sort == "date":
                    first = datetime.fromisoformat(first)
                cmp = tuple_(*key_cols)
                stmt = stmt.where(
                    cmp < (first, last_id) if flt.descending else cmp > (first, last_id)
                )
            order_by = [c.desc() if flt.descending else c.asc() for c in key_cols]
            stmt = stmt.order_by(*order_by).limit(limit + 1)
            orders = list((await uow.session.execute(stmt)).scalars())
            more = len(orders) > limit
            orders = orders[:limit]
            shipments = (
                await self._shipments_by_order(uow, [o.id for o in orders]) if with_details else {}
            )
            rows = [row_of(o, shipments.get(o.id, ())) for o in orders]
            next_cursor = None
            if more and orders:
                last = orders[-1]
                first_value: Any = {
                    "date": last.placed_at.isoformat(),
                    "total": last.total,
                    "number": last.number,
                }[flt.sort]
                next_cursor = _encode_cursor([first_value, last.id])
        return Page(rows=rows, next_cursor=next_cursor)

    async def _search_ids(self, uow: UnitOfWork, words: list[str]) -> set[int] | None:
        """Matching order ids, or None when there are too many to list (then filter in SQL)."""
        result: set[int] | None = None
        for word in words:
            stmt = search.prefix_select(word).distinct().limit(SEARCH_ID_LIMIT + 1)
            ids = set((await uow.session.execute(stmt)).scalars())
            if len(ids) > SEARCH_ID_LIMIT:
                continue  # too common to list: narrow with the other words, or fall back
            result = ids if result is None else result & ids
            if not result:
                return set()
        return result

    async def counts(self) -> dict[Status, int]:
        """Orders per status (every status present, zero where none)."""
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(Order.status, func.count()).group_by(Order.status)
            )
            found = {status: int(n) for status, n in rows.all()}
        return {s: found.get(s, 0) for s in Status}

    async def last_change(self) -> tuple[datetime | None, int]:
        """A cheap token that changes whenever any order changes (for polling screens)."""
        async with self._uow() as uow:
            row = (
                await uow.session.execute(select(func.max(Order.updated_at), func.count(Order.id)))
            ).one()
        return row[0], int(row[1])

    # -- one order ----------------------------------------------------------------------

    async def show(self, ref: str | int) -> OrderDetail:
        async with self._uow() as uow:
            order = await uow.order(ref)
            return await self.detail_of(uow, order)

    async def detail_of(self, uow: UnitOfWork, order: Order) -> OrderDetail:
        s = uow.session
        product_ids = [ln.product_id for ln in order.lines if ln.product_id is not None]
        barcodes: dict[int, str] = {}
        bins: dict[int, str] = {}
        if product_ids:
            # The line shows a product's first GTIN; an internal code only when it has none.
            for pid, code in (
                await s.execute(
                    select(ProductBarcode.product_id, ProductBarcode.code)
                    .where(ProductBarcode.product_id.in_(product_ids))
                    .order_by(
                        ProductBarcode.product_id,
                        ProductBarcode.kind == "internal",
                        ProductBarcode.code,
                    )
                )
            ).all():
                barcodes.setdefault(pid, code)
            stock = (
                select(StockLevel.product_id, StockLevel.bin, StockLevel.warehouse_id)
                .where(StockLevel.product_id.in_(product_ids))
                .order_by(StockLevel.product_id, StockLevel.warehouse_id)
            )
            for pid, bin_, wid in (await s.execute(stock)).all():
                if pid not in bins or wid == order.warehouse_id:
                    bins[pid] = bin_
        vendor_ids = {ln.vendor_id for ln in order.lines if ln.vendor_id is not None}
        vendors = (
            {
                v.id: v.name
                for v in (
                    await s.execute(select(Vendor).where(Vendor.id.in_(vendor_ids)))
                ).scalars()
            }
            if vendor_ids
            else {}
        )
        lines = tuple(
            LineView(
                id=ln.id,
                sku=ln.sku,
                name=ln.name,
                barcode=barcodes.get(ln.product_id, "") if ln.product_id else "",
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                picked=ln.picked,
                packed=ln.packed,
                shipped=ln.shipped,
                fulfillment=ln.fulfillment.value,
                vendor=vendors.get(ln.vendor_id) if ln.vendor_id else None,
                bin=bins.get(ln.product_id, "") if ln.product_id else "",
            )
            for ln in order.lines
        )
        payments = tuple(
            PaymentView(
                kind=p.kind,
                amount=p.amount,
                state=p.state,
                method=p.method.value,
                reason=p.reason,
                at=p.created_at,
                actor=p.actor,
            )
            for p in (
                await s.execute(
                    select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
                )
            ).scalars()
        )
        shipments = (await self._shipments_by_order(uow, [order.id])).get(order.id, ())
        pos = tuple(
            POView(
                number=po.number,
                vendor=name,
                status=po.status.value,
                lines=tuple((pl.vendor_sku, pl.quantity) for pl in po.lines),
            )
            for po, name in (
                await s.execute(
                    select(PurchaseOrder, Vendor.name)
                    .join(Vendor, Vendor.id == PurchaseOrder.vendor_id)
                    .where(PurchaseOrder.order_id == order.id)
                    .options(selectinload(PurchaseOrder.lines))
                    .order_by(PurchaseOrder.id)
                )
            ).all()
        )
        history = tuple(
            HistoryEntry(
                kind=e.kind,
                from_status=e.from_status,
                to_status=e.to_status,
                at=e.at,
                actor=e.actor,
                comment=e.comment,
                memo=e.memo,
                reason=e.reason,
            )
            for e in (
                await s.execute(
                    select(StatusEvent)
                    .where(StatusEvent.order_id == order.id)
                    .order_by(StatusEvent.id)
                )
            ).scalars()
        )
        notes = tuple(
            NotificationView(
                event=n.event,
                channel=n.channel,
                to=n.recipient,
                state=n.state.value,
                attempts=n.attempts,
                last_error=n.last_error,
                created_at=n.created_at,
            )
            for n in (
                await s.execute(
                    select(Notification)
                    .where(Notification.order_id == order.id)
                    .order_by(Notification.id)
                )
            ).scalars()
        )
        return OrderDetail(
            row=row_of(order, shipments),
            channel=order.channel,
            payment_method=order.payment_method.value,
            terms_accepted=order.terms_accepted,
            note=order.note,
            shipping_method=order.shipping_method,
            hold_note=order.hold_note,
            held_from=order.held_from,
            subtotal=order.subtotal,
            shipping_total=order.shipping_total,
            tax_total=order.tax_total,
            billing_address=address_view(order.billing_address),
            lines=lines,
            payments=payments,
            purchase_orders=pos,
            history=history,
            notifications=notes,
        )

    async def _shipments_by_order(
        self, uow: UnitOfWork, order_ids: list[int]
    ) -> dict[int, tuple[ShipmentView, ...]]:
        if not order_ids:
            return {}
        rows = (
            (
                await uow.session.execute(
                    select(Shipment)
                    .where(Shipment.order_id.in_(order_ids), Shipment.deleted_at.is_(None))
                    .options(selectinload(Shipment.lines))
                    .order_by(Shipment.id)
                )
            )
            .scalars()
            .all()
        )
        line_ids = {sl.order_line_id for sh in rows for sl in sh.lines}
        skus = (
            dict(
                (
                    await uow.session.execute(
                        select(OrderLine.id, OrderLine.sku).where(OrderLine.id.in_(line_ids))
                    )
                ).all()
            )
            if line_ids
            else {}
        )
        out: dict[int, list[ShipmentView]] = defaultdict(list)
        for sh in rows:
            out[sh.order_id].append(
                ShipmentView(
                    carrier=sh.carrier,
                    tracking=sh.tracking,
                    shipped_at=sh.shipped_at,
                    expected_delivery=sh.expected_delivery,
                    url=tracking_url(sh.carrier, sh.tracking),
                    lines=tuple((skus.get(sl.order_line_id, "?"), sl.quantity) for sl in sh.lines),
                )
            )
        return {k: tuple(v) for k, v in out.items()}

    async def options(self, ref: str | int) -> dict[Status, str | None]:
        """What the status dialog may offer: each reachable status and why not (None = ok)."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            return self.workflow.available(facts_of(order))

    # -- changes ------------------------------------------------------------------------

    async def create(self, new: NewOrder, *, notify: bool = False) -> OrderDetail:
        """Take in one order, whole or not at all; it starts `new`."""
        if not new.lines:
            raise InvalidInput("an order needs at least one line")
        for sku, qty in new.lines:
            if qty < 1:
                raise InvalidInput(f"quantity for {sku} must be a whole number of 1 or more")
        _check_text(note=new.note, name=new.customer_name)
        async with self._uow(write=True) as uow:
            s = uow.session
            skus = [sku for sku, _ in new.lines]
            products = {
                p.sku: p
                for p in (await s.execute(select(Product).where(Product.sku.in_(skus)))).scalars()
            }
            missing = [sku for sku in skus if sku not in products]
            if missing:
                raise InvalidInput(f"unknown SKU: {', '.join(missing)}")
            now = uow.clock()
            customer = (
                (
                    await s.execute(
                        select(Customer).where(Customer.email == new.email.strip()).limit(1)
                    )
                ).scalar_one_or_none()
                if new.email.strip()
                else None
            )
            if customer is None:
                customer = Customer(name=new.customer_name, email=new.email.strip(), created_at=now)
                s.add(customer)
                await s.flush()
            ship = _address_row(new.shipping, customer.id)
            bill = _address_row(new.billing, customer.id) if new.billing else ship
            s.add_all({ship, bill})
            await s.flush()
            number = await uow.next_number("order_number", await self._first_number(uow))
            lines = [
                OrderLine(
                    position=i,
                    product_id=products[sku].id,
                    sku=sku,
                    name=products[sku].name,
                    quantity=qty,
                    unit_price=products[sku].price,
                    fulfillment=Fulfillment.DROP_SHIP
                    if products[sku].drop_ship
                    else Fulfillment.STOCK,
                )
                for i, (sku, qty) in enumerate(new.lines)
            ]
            subtotal = sum(ln.quantity * ln.unit_price for ln in lines)
            order = Order(
                number=number,
                channel=new.channel,
                channel_ref=new.channel_ref,
                customer_id=customer.id,
                email=new.email.strip(),
                status=Status.NEW,
                payment_method=new.payment_method,
                subtotal=subtotal,
                shipping_total=new.shipping_total,
                tax_total=new.tax_total,
                total=subtotal + new.shipping_total + new.tax_total,
                item_count=sum(ln.quantity for ln in lines),
                note=new.note,
                shipping_address_id=ship.id,
                billing_address_id=bill.id,
                placed_at=new.placed_at or now,
                updated_at=now,
                updated_by=uow.actor,
                lines=lines,
            )
            s.add(order)
            await s.flush()
            s.add(
                StatusEvent(
                    order_id=order.id,
                    kind="status",
                    from_status=None,
                    to_status=Status.NEW,
                    actor=uow.actor,
                    at=now,
                )
            )
            await search.reindex(
                s,
                order.id,
                search.terms_for(number, name=new.customer_name, email=new.email, skus=skus),
            )
            if notify:
                outbox.email_to_customer(uow, order, "order_confirmation")
            outbox.webhooks(
                uow,
                order,
                "order.created",
                self.webhooks,
                payload={"at": now.isoformat(), "channel": new.channel},
            )
            uow.audit("order.create", "order", number, channel=new.channel, lines=len(lines))
            await uow.commit()
        return await self._reload(number)

    async def _first_number(self, uow: UnitOfWork) -> int:
        """Order numbers continue after whatever is already there (imports, seeds)."""
        highest = (await uow.session.execute(select(func.max(Order.number)))).scalar()
        return max(int(highest or 0) + 1, FIRST_ORDER_NUMBER)

    async def set_status(
        self,
        ref: str | int,
        to: Status,
        *,
        comment: str = "",
        memo: str = "",
        notify: bool = False,
        reason: HoldReason | None = None,
        note: str = "",
        expected_version: int | None = None,
    ) -> OrderDetail:
        _check_text(comment=comment, memo=memo, note=note)
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            await self.apply_transition(
                uow,
                order,
                Request(to, reason=reason, note=note),
                comment=comment,
                memo=memo,
                notify=notify,
            )
            await uow.commit()
        return await self._reload(order.number)

    async def apply_transition(
        self,
        uow: UnitOfWork,
        order: Order,
        request: Request,
        *,
        comment: str = "",
        memo: str = "",
        notify: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> StatusEvent:
        """The one way an order changes status: table check, state, history, audit, outbox.

        Other services (shipping, payments, imports) call this inside their own unit of work.
        """
        change = self.workflow.transition(facts_of(order), request)
        order.status = change.to_status
        order.held_from = change.held_from
        order.hold_reason = change.reason
        order.hold_note = change.note
        if memo.strip():
            order.last_memo = memo.strip()
        uow.touch(order)
        event = StatusEvent(
            order_id=order.id,
            kind="status",
            from_status=change.from_status,
            to_status=change.to_status,
            reason=change.reason.value if change.reason else "",
            actor=uow.actor,
            at=uow.clock(),
            comment=comment.strip(),
            memo=memo.strip(),
        )
        uow.session.add(event)
        body = {
            "from": change.from_status.value,
            "to": change.to_status.value,
            "comment": comment.strip(),
            **(payload or {}),
        }
        if notify and change.notify_event:
            outbox.email_to_customer(
                uow, order, change.notify_event, payload=body, status_event=event
            )
        outbox.webhooks(
            uow,
            order,
            "order.status_changed",
            self.webhooks,
            payload={**body, "at": uow.clock().isoformat(), "actor": uow.actor},
        )
        uow.audit(
            "order.set_status",
            "order",
            order.number,
            **{
                "from": change.from_status.value,
                "to": change.to_status.value,
                "reason": change.reason.value if change.reason else None,
                "notify": notify,
                "effects": [e.value for e in change.effects],
            },
        )
        return event

    async def add_memo(
        self, ref: str | int, text: str, *, expected_version: int | None = None
    ) -> OrderDetail:
        memo = text.strip()
        if not memo:
            raise InvalidInput("a memo needs some text")
        _check_text(memo=memo)
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            order.last_memo = memo
            uow.touch(order)
            uow.session.add(
                StatusEvent(
                    order_id=order.id,
                    kind="memo",
                    from_status=order.status,
                    to_status=order.status,
                    actor=uow.actor,
                    at=uow.clock(),
                    memo=memo,
                )
            )
            uow.audit("order.memo", "order", order.number, length=len(memo))
            await uow.commit()
        return await self._reload(order.number)

    async def _reload(self, number: int) -> OrderDetail:
        """The order as committed, read in a fresh transaction."""
        async with self._uow() as fresh:
            return await self.detail_of(fresh, await fresh.order(number))


def _address_row(a: NewAddress, customer_id: int) -> Address:
    return Address(
        customer_id=customer_id,
        name=a.name,
        company=a.company,
        line1=a.line1,
        line2=a.line2,
        city=a.city,
        region=a.region,
        postal_code=a.postal_code,
        country=a.country.upper()[:2],
        phone=a.phone,
    )


def _check_text(**fields: str) -> None:
    for name, value in fields.items():
        if len(value) > MAX_MEMO:
            raise InvalidInput(f"{name} is too long ({len(value)} characters; at most {MAX_MEMO})")
