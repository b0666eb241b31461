"""Returns and exchanges (RMA): ask back goods of a shipped order, receive them (restock or
write off per line), refund through the payments service, exchange for a linked new order.

What a caller may rely on:

- `open`: lines and quantities of what shipped and is not already in a return, with a
  reason; one transaction writes the return and moves the order to `return_requested`
  through the status machine (the customer e-mail `return_requested` with `notify`). An
  order already in `return_requested` takes a second return without a status change; a
  `returned` order may be asked again (the table allows returned -> return_requested).
- `receive`: what came back per line (by SKU or a scanned barcode), each restocked (at
  the line's warehouse, else the first by priority stocking the product; `stock.changed`
  to the channels) or written off; `order_lines.returned` counts it. When no other return
  of the order is open, the order goes to `returned` (`return_received` e-mail with
  `notify`). Then, after that commit, the refund goes through `PaymentService.refund`
  (its own transaction and gateway call): the goods received are a fact whatever the
  gateway says, and a refund that cannot be made now is reported in `notes` with the
  command that makes it.
- `exchange`: a new order (channel `exchange`, channel ref `RMA-<id>`, linked by
  `orders.exchange_of_id`) for the replacement, paid for by the goods coming back: the
  return's value is taken off its subtotal (the rest, if any, is due as usual), and the
  refund on receipt is only what the exchange did not use. Running it again after a crash
  between creating and linking finds the order by its channel ref and finishes the link.
- `cancel`: a return request withdrawn before anything came back; the order goes back to
  the status it had before the request.
Refusals change nothing; text (reasons) is stored exactly as given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from services import outbox
from services.db import Database
from services.display import money
from services.errors import InvalidInput, NotFound, Refused
from services.inventory import InventoryService
from services.models import (
    Address,
    Order,
    OrderLine,
    Product,
    ProductBarcode,
    Return,
    ReturnLine,
    StatusEvent,
    StockLevel,
    Warehouse,
)
from services.orders import NewAddress, NewOrder, OrderService, return_view
from services.payments import PaymentService
from services.return_views import (
    CANCELED,
    RECEIVED,
    REQUESTED,
    RESTOCK,
    RMA_PREFIX,
    WRITE_OFF,
    Receipt,
    ReturnableLine,
    ReturnResult,
    ReturnView,
    rma_name,
)
from services.statuses import Fulfillment, HoldReason, PaymentStatus, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.views import OrderDetail, PaymentResult
from services.workflow import Request

S = Status
# Where a return may be asked from: goods have left. Not partially_shipped: `returned` is
# final for the lines, so lines still to ship would be stranded.
RETURNABLE_FROM = frozenset({S.SHIPPED, S.COMPLETE, S.RETURN_REQUESTED, S.RETURNED})
EXCHANGE_CHANNEL = "exchange"
MAX_REASON = 1_000
MAX_QUANTITY = 100_000


def parse_rma(ref: str | int) -> int:
    """`RMA-12`, `rma12`, `#12` and `12` all name return 12."""
    text = str(ref).strip().upper().removeprefix(RMA_PREFIX).removeprefix("RMA").lstrip("#")
    if not text.isdigit() or len(text) > 18:
        raise NotFound(f"{str(ref)[:40]!r} is not a return number (try RMA-12 or 12)")
    return int(text)


def _check_pairs(pairs: Sequence[tuple[str, int]], what: str) -> dict[str, int]:
    merged: dict[str, int] = {}
    for code, qty in pairs:
        code = code.strip()
        if not code:
            raise InvalidInput(f"{what} needs a SKU (SKU=QTY)")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QUANTITY:
            raise InvalidInput(f"quantity for {code[:64]} must be a whole number of 1 or more")
        merged[code] = merged.get(code, 0) + qty
    return merged


@dataclass
class _Counted:
    """Units of one order line already in returns: asked in open ones, received in closed."""

    by_line: dict[int, int]


class ReturnService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        payments: PaymentService,
        inventory: InventoryService,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.payments = payments
        self.inventory = inventory
        self.clock = clock

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.orders.operator)

    # -- reading ------------------------------------------------------------------------

    async def returnable(self, ref: str | int) -> tuple[ReturnableLine, ...]:
        """Each line of the order with what may still be asked back (shipped, not in a return)."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            counted = await self._counted(uow, order)
            return tuple(
                ReturnableLine(
                    line_id=ln.id,
                    sku=ln.sku,
                    name=ln.name,
                    shipped=ln.shipped,
                    in_returns=counted.by_line.get(ln.id, 0),
                    returnable=max(ln.shipped - counted.by_line.get(ln.id, 0), 0),
                    unit_price=ln.unit_price,
                )
                for ln in order.lines
            )

    async def for_order(self, ref: str | int) -> tuple[ReturnView, ...]:
        async with self._uow() as uow:
            order = await uow.order(ref)
            rows = await self._returns_of(uow, order.id)
            return tuple([await self._view(uow, r, order) for r in rows])

    async def get(self, rma: str | int) -> ReturnView:
        async with self._uow() as uow:
            ret = await self._return(uow, rma)
            order = await self._order_by_id(uow, ret.order_id)
            return await self._view(uow, ret, order)

    async def list_returns(
        self, *, status: str | None = None, limit: int = 100
    ) -> tuple[ReturnView, ...]:
        """Returns across orders, newest first (`status` requested: what is expected back)."""
        if status is not None and status not in (REQUESTED, RECEIVED, CANCELED):
            raise InvalidInput(f"a return is {REQUESTED}, {RECEIVED} or {CANCELED}, not {status!r}")
        limit = max(1, min(limit, 1_000))
        async with self._uow() as uow:
            stmt = select(Return).options(selectinload(Return.lines)).order_by(Return.id.desc())
            if status is not None:
                stmt = stmt.where(Return.status == status)
            rows = list((await uow.session.execute(stmt.limit(limit))).scalars())
            out = []
            orders: dict[int, Order] = {}
            for r in rows:
                if r.order_id not in orders:
                    orders[r.order_id] = await self._order_by_id(uow, r.order_id)
                out.append(await self._view(uow, r, orders[r.order_id]))
            return tuple(out)

    # -- actions ------------------------------------------------------------------------

    async def open(
        self,
        ref: str | int,
        lines: Sequence[tuple[str, int]],
        *,
        reason: str,
        comment: str = "",
        notify: bool = False,
        expected_version: int | None = None,
    ) -> ReturnResult:
        """Ask goods of a shipped order back (see the module docstring)."""
        wanted = _check_pairs(lines, "a return line")
        if not wanted:
            raise InvalidInput("a return needs at least one line (SKU=QTY)")
        if not reason.strip():
            raise InvalidInput("a return needs a reason (what is wrong with the goods)")
        if len(reason) > MAX_REASON or len(comment) > MAX_REASON:
            raise InvalidInput(f"a reason or comment has at most {MAX_REASON} characters")
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            n = order.number
            if order.status not in RETURNABLE_FROM:
                why = (
                    "part of it has not shipped yet: ship or remove the rest first"
                    if order.status is S.PARTIALLY_SHIPPED
                    else "nothing has shipped yet"
                )
                raise Refused(f"order #{n} is {order.status.value}; no return: {why}")
            counted = await self._counted(uow, order)
            take: list[tuple[OrderLine, int]] = []
            for code, qty in wanted.items():
                matching = _lines_for(order, code)
                if not matching:
                    skus = ", ".join(ln.sku for ln in order.lines[:8])
                    raise InvalidInput(f"{code[:64]} is not on order #{n} (its lines: {skus})")
                free = {
                    ln.id: max(ln.shipped - counted.by_line.get(ln.id, 0), 0) for ln in matching
                }
                if qty > sum(free.values()):
                    shipped = sum(ln.shipped for ln in matching)
                    raise InvalidInput(
                        f"only {sum(free.values())} of {matching[0].sku} can be returned on #{n} "
                        f"({shipped} shipped, {shipped - sum(free.values())} already in a return)"
                    )
                left = qty
                for ln in matching:
                    part = min(free[ln.id], left)
                    if part:
                        take.append((ln, part))
                        left -= part
            ret = Return(
                order_id=order.id,
                status=REQUESTED,
                reason=reason,
                created_at=uow.clock(),
                created_by=uow.actor,
                lines=[ReturnLine(order_line_id=ln.id, quantity=q) for ln, q in take],
            )
            uow.session.add(ret)
            await uow.session.flush()
            rma = rma_name(ret.id)
            what = ", ".join(f"{ln.sku} ×{q}" for ln, q in take)
            memo = f"{rma} asked: {what}; reason: {reason.strip()}"
            payload = {"rma": rma, "reason": reason, "lines": _payload_lines(take)}
            if order.status is S.RETURN_REQUESTED:
                self._note(uow, order, memo)
            else:
                await self.orders.apply_transition(
                    uow,
                    order,
                    Request(S.RETURN_REQUESTED),
                    comment=comment,
                    memo=memo,
                    notify=notify,
                    payload=payload,
                )
            uow.audit("return.open", "order", n, rma=rma, reason=reason, lines=payload["lines"])
            await uow.commit()
            rid = ret.id
        return await self._result(rid)

    async def receive(
        self,
        rma: str | int,
        receipts: Sequence[Receipt] = (),
        *,
        restock: bool = True,
        refund: bool = True,
        notify: bool = False,
        memo: str = "",
    ) -> ReturnResult:
        """The goods are in: `receipts` per line (SKU or barcode, units, restock or not), or
        with none, everything asked for (restocked when `restock`, drop-ship goods written
        off). Then the order, the e-mail and the refund (see the module docstring)."""
        if len(memo) > MAX_REASON:
            raise InvalidInput(f"a memo has at most {MAX_REASON} characters")
        for r in receipts:
            if isinstance(r.quantity, bool) or not 0 <= r.quantity <= MAX_QUANTITY:
                raise InvalidInput(f"quantity for {r.code[:64]} must be a whole number, 0 or more")
        async with self._uow(write=True) as uow:
            ret = await self._return(uow, rma, for_update=True)
            name = rma_name(ret.id)
            order = await uow.order(await self._number_of(uow, ret.order_id), for_update=True)
            n = order.number
            if ret.status != REQUESTED:
                raise Refused(
                    f"{name} of #{n} is {ret.status}; only a requested return is received"
                )
            lines = {ln.id: ln for ln in order.lines}
            plan = await self._receipt_plan(uow, ret, lines, receipts, restock, name)
            if not any(qty for _rl, qty, _d in plan):
                raise InvalidInput(
                    f"nothing of {name} was received: cancel the return instead "
                    f"(`packline return cancel {name} --reason ...`)"
                )
            # -- nothing has been written up to here ----------------------------------------
            touched: set[int] = set()
            done: list[str] = []
            for rl, qty, disposition in plan:
                ln = lines[rl.order_line_id]
                rl.received = qty
                rl.disposition = disposition if qty else ""
                if not qty:
                    continue
                ln.returned += qty
                if disposition == RESTOCK and ln.product_id is not None:
                    code = await self._restock(uow, ln, qty)
                    touched.add(ln.product_id)
                    done.append(f"{ln.sku} ×{qty} restocked at {code}")
                else:
                    done.append(f"{ln.sku} ×{qty} written off")
            ret.status = RECEIVED
            ret.received_at = uow.clock()
            text = f"{name} received: " + "; ".join(done)
            if memo.strip():
                text += f" ({memo.strip()})"
            payload = {
                "rma": name,
                "lines": [
                    {"sku": lines[rl.order_line_id].sku, "quantity": q, "disposition": d}
                    for rl, q, d in plan
                    if q
                ],
            }
            still_open = [
                r
                for r in await self._returns_of(uow, order.id)
                if r.status == REQUESTED and r.id != ret.id
            ]
            if order.status is S.RETURN_REQUESTED and not still_open:
                await self.orders.apply_transition(
                    uow, order, Request(S.RETURNED), memo=text, notify=notify, payload=payload
                )
            else:
                self._note(uow, order, text)
                if notify:
                    outbox.email_to_customer(uow, order, "return_received", payload=payload)
            if touched:
                await self.inventory.announce(uow, touched, order=order, reason="returned")
            uow.audit("return.receive", "order", n, rma=name, lines=payload["lines"])
            refund_lines = [(lines[rl.order_line_id].sku, q) for rl, q, _d in plan if q]
            value = sum(lines[rl.order_line_id].unit_price * q for rl, q, _d in plan if q)
            credit = await self._credit_used(uow, ret)
            rid = ret.id
            await uow.commit()
        notes: list[str] = []
        result: PaymentResult | None = None
        if refund:
            result, notes = await self._refund(n, name, refund_lines, value, credit, notify)
        return await self._result(rid, refund=result, notes=notes)

    async def cancel(self, rma: str | int, *, reason: str) -> ReturnResult:
        """Withdraw a request before anything came back; the order returns to its status
        from before the request when no other return is open."""
        if not reason.strip():
            raise InvalidInput("say why the return is canceled (--reason)")
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"a reason has at most {MAX_REASON} characters")
        async with self._uow(write=True) as uow:
            ret = await self._return(uow, rma, for_update=True)
            name = rma_name(ret.id)
            order = await uow.order(await self._number_of(uow, ret.order_id), for_update=True)
            if ret.status != REQUESTED:
                raise Refused(f"{name} is {ret.status}; only a requested return can be canceled")
            if ret.exchange_order_id is not None:
                ex = await self._number_of(uow, ret.exchange_order_id)
                raise Refused(
                    f"{name} has exchange order #{ex}: cancel that order first, or receive "
                    "the goods"
                )
            ret.status = CANCELED
            text = f"{name} canceled: {reason.strip()}"
            others = [
                r
                for r in await self._returns_of(uow, order.id)
                if r.status == REQUESTED and r.id != ret.id
            ]
            if order.status is S.RETURN_REQUESTED and not others:
                back = await self._status_before_request(uow, order)
                await self.orders.apply_transition(uow, order, Request(back), memo=text)
            else:
                self._note(uow, order, text)
            uow.audit("return.cancel", "order", order.number, rma=name, reason=reason)
            await uow.commit()
            rid = ret.id
        return await self._result(rid)

    async def exchange(
        self,
        rma: str | int,
        lines: Sequence[tuple[str, int]] = (),
        *,
        notify: bool = False,
    ) -> ReturnResult:
        """A linked new order for the replacement (default: the same products and quantities
        as asked back), paid for by the return's value (see the module docstring)."""
        wanted = _check_pairs(lines, "an exchange line")
        async with self._uow() as uow:
            ret = await self._return(uow, rma)
            name = rma_name(ret.id)
            order = await self._order_by_id(uow, ret.order_id)
            if ret.status == CANCELED:
                raise Refused(f"{name} is canceled; there is nothing to exchange")
            if ret.exchange_order_id is not None:
                ex = await self._number_of(uow, ret.exchange_order_id)
                raise Refused(f"{name} already has exchange order #{ex}")
            by_id = {ln.id: ln for ln in order.lines}
            if not wanted:
                for rl in ret.lines:
                    ln = by_id[rl.order_line_id]
                    wanted[ln.sku] = wanted.get(ln.sku, 0) + rl.quantity
            existing = await self._exchange_order(uow, name)
            new = None
            if existing is None:
                new = self._new_exchange(order, name, wanted)
            rid = ret.id
        if new is not None:
            # Made at the same moment by another operator (same channel ref): link that one.
            with contextlib.suppress(IntegrityError):
                await self.orders.create(new, notify=notify)
        return await self._link_exchange(rid)

    # -- helpers ------------------------------------------------------------------------

    def _new_exchange(self, order: Order, name: str, wanted: dict[str, int]) -> NewOrder:
        ship = order.shipping_address
        if ship is None:
            raise Refused(f"order #{order.number} has no shipping address to send a replacement to")
        bill = order.billing_address
        customer = order.customer
        return NewOrder(
            customer_name=customer.name if customer is not None else ship.name,
            email=order.email,
            shipping=_new_address(ship),
            billing=_new_address(bill) if bill is not None and bill.id != ship.id else None,
            lines=tuple(wanted.items()),
            payment_method=order.payment_method,
            note=f"exchange for order #{order.number} ({name})",
            channel=EXCHANGE_CHANNEL,
            channel_ref=name,
        )

    async def _link_exchange(self, rid: int) -> ReturnResult:
        async with self._uow(write=True) as uow:
            ret = await self._return(uow, rid, for_update=True)
            name = rma_name(ret.id)
            found = await self._exchange_order(uow, name)
            if found is None:  # the create above failed on another constraint
                raise Refused(f"the exchange order of {name} could not be made; try again")
            ex = await uow.order(found.number, for_update=True)
            original = await uow.order(await self._number_of(uow, ret.order_id), for_update=True)
            if ret.exchange_order_id is None:
                by_id = {ln.id: ln for ln in original.lines}
                value = sum(by_id[rl.order_line_id].unit_price * rl.quantity for rl in ret.lines)
                credit = min(value, ex.subtotal)
                ex.exchange_of_id = original.id
                ex.subtotal -= credit
                ex.total = ex.subtotal + ex.shipping_total + ex.tax_total
                ret.exchange_order_id = ex.id
                cur = ex.currency
                text = (
                    f"exchange for #{original.number} ({name}): {money(credit, cur)} paid by the "
                    f"goods coming back; {money(ex.total, cur)} due"
                )
                if ex.total == 0:  # nothing to charge: the goods coming back pay for it
                    ex.payment_status = PaymentStatus.PAID
                uow.touch(ex)
                if (
                    ex.total == 0
                    and ex.status is S.HELD
                    and ex.hold_reason is HoldReason.AWAITING_PAYMENT
                ):
                    await self.orders.apply_transition(
                        uow, ex, Request(ex.held_from or S.NEW), memo=text
                    )
                else:
                    self._note(uow, ex, text)
                self._note(uow, original, f"{name}: exchange order #{ex.number}")
                uow.audit(
                    "return.exchange",
                    "order",
                    original.number,
                    rma=name,
                    exchange=ex.number,
                    credit=credit,
                )
                await uow.commit()
            exchange_number = ex.number
        detail = await self.orders.show(exchange_number)
        return await self._result(rid, exchange=detail)

    async def _exchange_order(self, uow: UnitOfWork, name: str) -> Order | None:
        return (
            await uow.session.execute(
                select(Order).where(Order.channel == EXCHANGE_CHANNEL, Order.channel_ref == name)
            )
        ).scalar_one_or_none()

    async def _credit_used(self, uow: UnitOfWork, ret: Return) -> int:
        """What an exchange order took off its subtotal for this return."""
        if ret.exchange_order_id is None:
            return 0
        ex = (
            await uow.session.execute(
                select(Order)
                .where(Order.id == ret.exchange_order_id)
                .options(selectinload(Order.lines))
            )
        ).scalar_one()
        return max(sum(ln.quantity * ln.unit_price for ln in ex.lines) - ex.subtotal, 0)

    async def _refund(
        self,
        number: int,
        name: str,
        lines: list[tuple[str, int]],
        value: int,
        credit: int,
        notify: bool,
    ) -> tuple[PaymentResult | None, list[str]]:
        """The money for goods received, less what an exchange used; never blocks the receipt."""
        reason = f"return {name}"
        due = value - credit
        if due <= 0:
            return None, [f"no refund: the exchange order used the return's value ({name})"]
        try:
            if credit:
                result = await self.payments.refund(
                    number, amount=due, reason=reason, notify=notify
                )
            else:
                result = await self.payments.refund(
                    number, lines=lines, reason=reason, notify=notify
                )
        except Refused as exc:
            how = (
                f"--amount {due / 100:.2f}"
                if credit
                else " ".join(f"--line {sku}={q}" for sku, q in lines)
            )
            return None, [
                f"the goods are received but no refund was made: {exc}; refund with "
                f"`packline pay refund {number} {how}`"
            ]
        notes = [] if result.outcome == "approved" else [result.message]
        return result, notes

    async def _receipt_plan(
        self,
        uow: UnitOfWork,
        ret: Return,
        lines: dict[int, OrderLine],
        receipts: Sequence[Receipt],
        restock: bool,
        name: str,
    ) -> list[tuple[ReturnLine, int, str]]:
        """(return line, units received, disposition) for every line of the return."""

        def default(ln: OrderLine, wants_restock: bool) -> str:
            stock = ln.fulfillment is Fulfillment.STOCK and ln.product_id is not None
            return RESTOCK if wants_restock and stock else WRITE_OFF

        if not receipts:
            return [
                (rl, rl.quantity, default(lines[rl.order_line_id], restock)) for rl in ret.lines
            ]
        codes = {r.code.strip() for r in receipts}
        by_barcode = dict(
            (
                await uow.session.execute(
                    select(ProductBarcode.code, Product.sku)
                    .join(Product, Product.id == ProductBarcode.product_id)
                    .where(ProductBarcode.code.in_(codes))
                )
            ).all()
        )
        counts: dict[int, int] = {}
        dispositions: dict[int, str] = {}
        for r in receipts:
            code = r.code.strip()
            asked_skus = {lines[rl.order_line_id].sku for rl in ret.lines}
            sku = code if code in asked_skus else by_barcode.get(code)
            if sku is None:
                sku = next((k for k in asked_skus if k.casefold() == code.casefold()), None)
            candidates = [rl for rl in ret.lines if lines[rl.order_line_id].sku == sku]
            if not candidates:
                asked = ", ".join(sorted(asked_skus))
                raise InvalidInput(f"{code[:64]} is not in {name} (it asks back: {asked})")
            left = r.quantity
            for rl in candidates:
                ln = lines[rl.order_line_id]
                wants = default(ln, r.restock is not False)
                if r.restock is True and wants == WRITE_OFF:
                    raise InvalidInput(
                        f"{ln.sku} ships from a vendor (drop ship): it was never in our stock, "
                        "so it cannot be restocked; receive it as written off"
                    )
                part = min(rl.quantity - counts.get(rl.id, 0), left)
                if part <= 0:
                    continue
                if dispositions.setdefault(rl.id, wants) != wants:
                    raise InvalidInput(
                        f"{ln.sku}: restock or write off, not both, for one line of {name}"
                    )
                counts[rl.id] = counts.get(rl.id, 0) + part
                left -= part
                if not left:
                    break
            if left > 0:
                asked_n = sum(rl.quantity for rl in candidates)
                raise InvalidInput(
                    f"{name} asks back {asked_n} of {sku}; more were received than asked"
                )
        return [(rl, counts.get(rl.id, 0), dispositions.get(rl.id, WRITE_OFF)) for rl in ret.lines]

    async def _restock(self, uow: UnitOfWork, ln: OrderLine, qty: int) -> str:
        """Back on the shelf: the line's warehouse, else the first by priority stocking the
        product, else the first there is. Returns the warehouse code."""
        assert ln.product_id is not None
        s = uow.session
        wid: int | None = ln.warehouse_id
        if wid is None:
            wid = (
                await s.execute(
                    select(Warehouse.id)
                    .join(StockLevel, StockLevel.warehouse_id == Warehouse.id)
                    .where(StockLevel.product_id == ln.product_id)
                    .order_by(Warehouse.priority, Warehouse.id)
                    .limit(1)
                )
            ).scalar()
        if wid is None:
            wid = (
                await s.execute(
                    select(Warehouse.id).order_by(Warehouse.priority, Warehouse.id).limit(1)
                )
            ).scalar()
        if wid is None:
            raise InvalidInput("there is no warehouse to put the goods back into")
        changed = await s.execute(
            update(StockLevel)
            .where(StockLevel.product_id == ln.product_id, StockLevel.warehouse_id == wid)
            .values(on_hand=StockLevel.on_hand + qty)
        )
        if not getattr(changed, "rowcount", 0):
            s.add(StockLevel(product_id=ln.product_id, warehouse_id=wid, on_hand=qty))
            await s.flush()
        code = (await s.execute(select(Warehouse.code).where(Warehouse.id == wid))).scalar()
        return str(code)

    async def _status_before_request(self, uow: UnitOfWork, order: Order) -> Status:
        last = (
            await uow.session.execute(
                select(StatusEvent.from_status)
                .where(
                    StatusEvent.order_id == order.id,
                    StatusEvent.kind == "status",
                    StatusEvent.to_status == S.RETURN_REQUESTED,
                )
                .order_by(StatusEvent.id.desc())
                .limit(1)
            )
        ).scalar()
        if last in (S.SHIPPED, S.COMPLETE, S.RETURNED):
            return last
        return S.SHIPPED

    def _note(self, uow: UnitOfWork, order: Order, memo: str) -> None:
        """A history row for a return step that changes no status."""
        uow.note(order, memo, last_memo=True)

    async def _counted(self, uow: UnitOfWork, order: Order) -> _Counted:
        by_line: dict[int, int] = {}
        for r in await self._returns_of(uow, order.id):
            if r.status == CANCELED:
                continue
            for rl in r.lines:
                units = rl.quantity if r.status == REQUESTED else rl.received
                by_line[rl.order_line_id] = by_line.get(rl.order_line_id, 0) + units
        return _Counted(by_line)

    async def _returns_of(self, uow: UnitOfWork, order_id: int) -> list[Return]:
        return list(
            (
                await uow.session.execute(
                    select(Return)
                    .where(Return.order_id == order_id)
                    .options(selectinload(Return.lines))
                    .order_by(Return.id)
                )
            ).scalars()
        )

    async def _return(self, uow: UnitOfWork, rma: str | int, *, for_update: bool = False) -> Return:
        rid = parse_rma(rma)
        stmt = select(Return).where(Return.id == rid).options(selectinload(Return.lines))
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update(of=Return)
        found = (await uow.session.execute(stmt)).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no return {rma_name(rid)}")
        return found

    async def _number_of(self, uow: UnitOfWork, order_id: int) -> int:
        return int(
            (
                await uow.session.execute(select(Order.number).where(Order.id == order_id))
            ).scalar_one()
        )

    async def _order_by_id(self, uow: UnitOfWork, order_id: int) -> Order:
        return await uow.order(await self._number_of(uow, order_id))

    async def _view(self, uow: UnitOfWork, r: Return, order: Order) -> ReturnView:
        exchange = None
        if r.exchange_order_id is not None:
            exchange = await self._number_of(uow, r.exchange_order_id)
        return return_view(r, order, exchange)

    async def _result(
        self,
        rid: int,
        *,
        refund: PaymentResult | None = None,
        exchange: OrderDetail | None = None,
        notes: Sequence[str] = (),
    ) -> ReturnResult:
        async with self._uow() as uow:
            ret = await self._return(uow, rid)
            order = await self._order_by_id(uow, ret.order_id)
            view = await self._view(uow, ret, order)
            detail = await self.orders.detail_of(uow, order)
        return ReturnResult(
            return_=view, order=detail, refund=refund, exchange=exchange, notes=tuple(notes)
        )


def _lines_for(order: Order, code: str) -> list[OrderLine]:
    exact = [ln for ln in order.lines if ln.sku == code]
    return exact or [ln for ln in order.lines if ln.sku.casefold() == code.casefold()]


def _payload_lines(take: Sequence[tuple[OrderLine, int]]) -> list[dict[str, object]]:
    return [{"sku": ln.sku, "name": ln.name, "quantity": q} for ln, q in take]


def _new_address(a: Address) -> NewAddress:
    return NewAddress(
        name=a.name,
        line1=a.line1,
        city=a.city,
        postal_code=a.postal_code,
        country=a.country,
        region=a.region,
        line2=a.line2,
        company=a.company,
        phone=a.phone,
    )
