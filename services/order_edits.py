"""Editing an order: attach a customer account, add, remove or change products and
quantities while the order has not shipped.

What a caller may rely on:

- One transaction: every check first (the order's status, SKUs, quantities never below
  what is packed or shipped, the version the operator saw), then the lines, the totals
  (subtotal from the lines less any discount the order came with, plus shipping and
  tax), the search terms, one history row of kind `edit` (the operator, and the changes
  in words in the memo), an audit row and an `order.edited` webhook.
- Stock follows: lines taken off give back what they held; an order holding stock (or
  processing, ready to ship, partially shipped) reserves what the edit added, through
  services/inventory.py. A ready_to_ship order with units left to pack goes back to
  processing; an order that cannot get the stock goes to backorder, the missing lines
  in the memo; both through the status machine.
- A line with history (scans, a purchase order) is kept at quantity 0 when removed, so
  the pack journal and the PO still point at it; otherwise it is deleted.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select

from services import outbox, search
from services.db import Database
from services.display import money
from services.errors import InvalidInput, NotFound, Refused
from services.inventory import InventoryService, shortage_memo
from services.models import (
    Customer,
    Order,
    OrderLine,
    POLine,
    Product,
    ReturnLine,
    ScanEvent,
    Shipment,
    ShipmentLine,
    StatusEvent,
)
from services.order_edit_spec import EditResult, OrderEdit
from services.orders import OrderService
from services.statuses import Fulfillment, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import Request

S = Status
EDITABLE = frozenset(
    {S.NEW, S.PROCESSING, S.HELD, S.BACKORDER, S.READY_TO_SHIP, S.PARTIALLY_SHIPPED}
)
# An order in these holds (or is about to hold) stock: edits reserve what they add.
RESERVING = frozenset({S.PROCESSING, S.READY_TO_SHIP, S.PARTIALLY_SHIPPED})
MAX_LINES = 500
MAX_QUANTITY = 100_000


class NotEditable(Refused):
    """The order has shipped (or is closed); nothing was changed."""


def _check(edit: OrderEdit) -> None:
    if edit.empty:
        raise InvalidInput("nothing to change: add, set or remove a product, or attach a customer")
    for what, pairs in (("add", edit.add), ("set", edit.set)):
        for sku, qty in pairs:
            if not sku.strip():
                raise InvalidInput(f"{what} needs a SKU (SKU=QTY)")
            if isinstance(qty, bool) or not isinstance(qty, int):
                raise InvalidInput(f"quantity for {sku} must be a whole number")
            low = 1 if what == "add" else 0
            if not low <= qty <= MAX_QUANTITY:
                raise InvalidInput(
                    f"quantity for {sku} must be a whole number from {low} to {MAX_QUANTITY}"
                )
    named = [s.strip() for s, _ in edit.set] + [s.strip() for s in edit.remove]
    twice = sorted({s for s in named if named.count(s) > 1})
    if twice:
        raise InvalidInput(f"{', '.join(twice)} is named twice (set or remove it once)")
    if edit.customer_email is not None:
        email = edit.customer_email.strip()
        if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
            raise InvalidInput(f"{email[:60]!r} is not an e-mail address")
        if edit.customer_name is not None and len(edit.customer_name) > 200:
            raise InvalidInput("a customer name has at most 200 characters")
    if len(edit.memo) > 10_000:
        raise InvalidInput("the memo is too long (at most 10000 characters)")


class OrderEditService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        inventory: InventoryService,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.inventory = inventory
        self.clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, write=True, clock=self.clock, actor=self.orders.operator)

    async def edit(
        self, ref: str | int, edit: OrderEdit, *, expected_version: int | None = None
    ) -> EditResult:
        """Apply `edit` to order `ref` (see the module docstring); refused with nothing
        changed when it cannot be applied whole."""
        _check(edit)
        async with self._uow() as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            if order.status not in EDITABLE:
                raise NotEditable(
                    f"order #{order.number} is {order.status.value}; only orders that have "
                    "not shipped can be edited"
                )
            s = uow.session
            wanted = {sku.strip() for sku, _ in (*edit.add, *edit.set)}
            products = {
                p.sku: p
                for p in (await s.execute(select(Product).where(Product.sku.in_(wanted)))).scalars()
            }
            by_sku: dict[str, list[OrderLine]] = {}
            for ln in order.lines:
                by_sku.setdefault(ln.sku, []).append(ln)
            old_lines = sum(ln.quantity * ln.unit_price for ln in order.lines)
            discount = max(old_lines - order.subtotal, 0)
            old_total = order.total
            changes: list[str] = []
            plan: list[tuple[OrderLine, int]] = []  # (line, new quantity)
            new: list[tuple[Product, int]] = []

            def one_line(sku: str) -> OrderLine | None:
                lines = [ln for ln in by_sku.get(sku, []) if ln.quantity > 0]
                if len(lines) > 1:
                    raise InvalidInput(
                        f"{sku} is on {len(lines)} lines of order #{order.number}; "
                        "edit them on the order screen"
                    )
                return lines[0] if lines else None

            def floor(ln: OrderLine, qty: int) -> None:
                done = ln.packed + ln.shipped
                if qty < done:
                    parts = [f"{ln.packed} packed"] * bool(ln.packed) + [
                        f"{ln.shipped} shipped"
                    ] * bool(ln.shipped)
                    raise InvalidInput(
                        f"{ln.sku}: {' and '.join(parts)}; its quantity cannot go below {done}"
                    )

            for sku in (x.strip() for x in edit.remove):
                lines = [ln for ln in by_sku.get(sku, []) if ln.quantity > 0]
                if not lines:
                    raise NotFound(f"{sku} is not on order #{order.number}")
                for line in lines:
                    floor(line, 0)
                    plan.append((line, 0))
            for sku, qty in ((x.strip(), q) for x, q in edit.set):
                found = one_line(sku)
                if found is None:
                    if qty == 0:
                        raise NotFound(f"{sku} is not on order #{order.number}")
                    new.append((self._product(products, sku), qty))
                    continue
                floor(found, qty)
                plan.append((found, qty))
            for sku, qty in ((x.strip(), q) for x, q in edit.add):
                found = one_line(sku)
                if found is None:
                    new.append((self._product(products, sku), qty))
                elif any(line is found for line, _ in plan):
                    raise InvalidInput(f"{sku} is changed twice; give its new quantity once")
                else:
                    plan.append((found, found.quantity + qty))
            if len(order.lines) + len(new) > MAX_LINES:
                raise InvalidInput(f"an order has at most {MAX_LINES} lines")
            customer = None
            if edit.customer_email is not None:
                customer, made = await self._customer(uow, order, edit)
                if customer.id != order.customer_id or order.email != customer.email:
                    changes.append(
                        f"customer {customer.email}" + (" (new account)" if made else "")
                    )

            # -- nothing has been written up to here ----------------------------------------
            gone: list[OrderLine] = []
            for ln, qty in plan:
                if qty == ln.quantity:
                    continue
                changes.append(
                    f"removed {ln.sku} ×{ln.quantity}"
                    if qty == 0
                    else f"{ln.sku} {ln.quantity} → {qty}"
                )
                if qty == 0:
                    await self.inventory.release(uow, order, [ln])
                    gone.append(ln)
                ln.quantity = qty
            position = max((ln.position for ln in order.lines), default=-1) + 1
            for product, qty in new:
                line = OrderLine(
                    order_id=order.id,
                    position=position,
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    quantity=qty,
                    unit_price=product.price,
                    fulfillment=Fulfillment.DROP_SHIP if product.drop_ship else Fulfillment.STOCK,
                )
                position += 1
                order.lines.append(line)
                changes.append(f"added {product.sku} ×{qty}")
            if not changes:
                raise InvalidInput(f"nothing changes on order #{order.number}")
            await self._drop(uow, order, gone)
            if customer is not None:
                order.customer_id = customer.id
                order.email = customer.email
            await s.flush()
            lines_total = sum(ln.quantity * ln.unit_price for ln in order.lines)
            order.subtotal = max(lines_total - discount, 0)
            order.total = order.subtotal + order.shipping_total + order.tax_total
            order.item_count = sum(ln.quantity for ln in order.lines)
            if order.total != old_total:
                changes.append(
                    f"total {money(old_total, order.currency)} → "
                    f"{money(order.total, order.currency)}"
                )
            await self._reindex(uow, order)
            summary = "; ".join(changes)
            memo = f"{summary} ({edit.memo.strip()})" if edit.memo.strip() else summary
            uow.session.add(
                StatusEvent(
                    order_id=order.id,
                    kind="edit",
                    from_status=order.status,
                    to_status=order.status,
                    actor=uow.actor,
                    at=uow.clock(),
                    memo=memo,
                )
            )
            order.last_memo = memo
            uow.touch(order)
            uow.audit(
                "order.edit",
                "order",
                order.number,
                changes=changes,
                lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in order.lines],
                total=order.total,
            )
            outbox.webhooks(
                uow,
                order,
                "order.edited",
                self.orders.webhooks,
                payload={"at": uow.clock().isoformat(), "actor": uow.actor, "changes": changes},
            )
            stock = await self._stock(uow, order)
            number = order.number
            await uow.commit()
        return EditResult(order=await self.orders.show(number), summary=summary, stock=stock)

    @staticmethod
    def _product(products: dict[str, Product], sku: str) -> Product:
        product = products.get(sku)
        if product is None:
            raise NotFound(f"unknown SKU {sku[:64]!r}")
        if not product.active:
            raise InvalidInput(f"{sku} is no longer sold (inactive)")
        return product

    async def _customer(
        self, uow: UnitOfWork, order: Order, edit: OrderEdit
    ) -> tuple[Customer, bool]:
        email = (edit.customer_email or "").strip()
        found = (
            await uow.session.execute(
                select(Customer).where(Customer.email == email).order_by(Customer.id).limit(1)
            )
        ).scalar_one_or_none()
        if found is not None:
            return found, False
        ship = order.shipping_address
        name = edit.customer_name or (ship.name if ship is not None else "") or email
        customer = Customer(name=name, email=email, created_at=uow.clock())
        uow.session.add(customer)
        await uow.session.flush()
        return customer, True

    async def _drop(self, uow: UnitOfWork, order: Order, gone: list[OrderLine]) -> None:
        """Delete removed lines nothing else points at; keep the others at quantity 0."""
        s = uow.session
        for ln in gone:
            referenced = (
                await s.execute(
                    select(
                        or_(
                            exists().where(ScanEvent.order_line_id == ln.id),
                            exists().where(POLine.order_line_id == ln.id),
                            exists().where(ShipmentLine.order_line_id == ln.id),
                            exists().where(ReturnLine.order_line_id == ln.id),
                        )
                    )
                )
            ).scalar()
            if not referenced:
                order.lines.remove(ln)
                await s.delete(ln)

    async def _reindex(self, uow: UnitOfWork, order: Order) -> None:
        s = uow.session
        trackings = list(
            (
                await s.execute(
                    select(Shipment.tracking).where(
                        Shipment.order_id == order.id, Shipment.deleted_at.is_(None)
                    )
                )
            ).scalars()
        )
        name = (
            await s.execute(select(Customer.name).where(Customer.id == order.customer_id))
        ).scalar() or ""
        await search.reindex(
            s,
            order.id,
            search.terms_for(
                order.number,
                name=name,
                email=order.email,
                skus=[ln.sku for ln in order.lines if ln.quantity > 0],
                trackings=trackings,
                extra=[order.channel_ref] if order.channel_ref else [],
            ),
        )

    async def _stock(self, uow: UnitOfWork, order: Order) -> str:
        """Reservations follow the edit; the status follows the stock (see the docstring)."""
        holds = order.status in RESERVING or any(ln.reserved for ln in order.lines)
        if not holds:
            return ""
        unpacked = any(
            ln.fulfillment is Fulfillment.STOCK and ln.packed + ln.shipped < ln.quantity
            for ln in order.lines
        )
        if order.status is S.READY_TO_SHIP and unpacked:
            await self.orders.apply_transition(
                uow, order, Request(S.PROCESSING), memo="edited: new units to pack"
            )
            return f"back to {order.status.value}: new units to pack"
        shortages = await self.inventory.reserve(uow, order)
        if not shortages:
            return "stock reserved" if order.status in RESERVING else ""
        memo = shortage_memo(shortages)
        if order.status in (S.PROCESSING, S.PARTIALLY_SHIPPED) and (
            S.BACKORDER not in self.orders.workflow.disabled
        ):
            await self.orders.apply_transition(uow, order, Request(S.BACKORDER), memo=memo)
            return f"to backorder: {memo}"
        return memo
