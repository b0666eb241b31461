"""Payments: charge (or capture an authorization), authorize, void, refund (in full, an
amount, or by line with restock), money received by hand, payment terms; and the order's
payment status, derived from its payment rows by one pure function.

How a gateway operation runs (see services/gateways.py for the gateways and their API):

1. In one transaction, with the order locked: check the request, then write the payment
   row as `pending` with a fresh idempotency key and commit. Nothing is locked while the
   gateway thinks.
2. Call the gateway with that key.
3. In a second transaction: record the answer on the row (approved / declined / error /
   unknown), derive the payment status and store it on the order, restock refunded goods,
   queue the refund e-mail and the webhook; all at once.

A row left `pending` (the process died) or `unknown` (timeout, garbage, 5xx) is
unresolved: the operator checks the gateway and runs the same command again, which sends
the same idempotency key, so the gateway answers with its first result instead of moving
the money twice. While a row is unresolved, other payment actions on the order are refused.
The `manual` gateway and manual payment methods (check, cash, COD, terms) never leave the
process, so for them all of this is one transaction.

Refunds go back to the payments they came from, newest payment first (where the payment
status derivation allocates them too: `payment_state.refund_source`). A refund larger
than what is left on one payment (an order paid in parts: a deposit and the balance) is
spread over the payments, newest first, one refund each through that payment's own
gateway (a card part through the card gateway, a check part recorded by hand) with its
own payment row and idempotency key; the goods of a refund by line ride on its first
part; the customer's e-mail tells the whole amount once, with the last part that goes
through. A part that is not approved stops the spread, and the operator is told what
went back and what is left. A refund by line is priced at the line's unit price;
`restock` puts shipped goods back at the line's warehouse (or the highest-priority
warehouse that stocks the product). Goods that never shipped are still on the shelf, so
they cannot be restocked; the returns flow owns `order_lines.returned`.

The payment status is derived from the rows by `services.payment_state.derive_status`
and stored on the order in the same transaction as every payment change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from services import outbox
from services.amounts import MAX_AMOUNT
from services.db import Database
from services.display import money
from services.errors import InvalidInput, Refused
from services.gateways import (
    Gateway,
    GatewayNotConfigured,
    GatewayRequest,
    GatewayResult,
    ManualGateway,
    Op,
    Outcome,
    problem_for,
)
from services.models import (
    Order,
    OrderLine,
    Payment,
    Return,
    ReturnLine,
    StatusEvent,
    StockLevel,
    Warehouse,
)
from services.orders import OrderService, payment_view
from services.payment_state import (
    ATTEMPTS,
    PENDING,
    UNRESOLVED,
    Tally,
    derive_status,
    refund_source,
    tally,
)
from services.review import ReviewService, acting_as
from services.roles import Action, Roles
from services.statuses import (
    MANUAL_PAYMENT_METHODS,
    Fulfillment,
    HoldReason,
    PaymentMethod,
    PaymentStatus,
    Status,
)
from services.uow import Clock, UnitOfWork, utcnow
from services.views import (
    OrderDetail,
    PaymentResult,
    PaymentSummary,
    PaymentView,
    RefundableLine,
)
from services.workflow import PAID_ENOUGH, Change, Effect, Request

CLOSED = frozenset({Status.CANCELED, Status.RETURNED})
LATER_PAYMENT = frozenset({PaymentMethod.TERMS, PaymentMethod.COD})
PAYMENT_ACTOR = "payments"
REFUND_FLAG = "refund due:"
VOID_FLAG = "authorization open:"
MAX_REASON = 1_000
_GATEWAY_SEP = " | gateway: "


# -- the service ----------------------------------------------------------------------------


@dataclass
class _Plan:
    """One gateway operation, checked and ready to run."""

    op: Op
    amount: int
    method: PaymentMethod
    gateway: Gateway
    target: str = ""
    reason: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    retry: Payment | None = None  # an unresolved row sent again with its own key
    notify: bool = False
    notes: list[str] = field(default_factory=list)
    rest: int = 0  # a spread refund: what goes back to the next payment(s) after this one
    told: int = 0  # a spread refund's e-mail: the whole amount refunded (0: this row's)


Planner = Callable[[UnitOfWork, Order, list[Payment]], Awaitable[_Plan]]
# Told, inside the refund's transaction, which products a refund put back on a shelf
# (inventory announces the new quantities to the channels: stock.changed).
RestockListener = Callable[[UnitOfWork, Order, set[int]], Awaitable[None]]

_VERB = {
    Op.CHARGE: "charge",
    Op.CAPTURE: "capture",
    Op.AUTHORIZE: "authorization",
    Op.VOID: "void",
    Op.REFUND: "refund",
}
_COMMAND = {
    Op.CHARGE: "charge",
    Op.CAPTURE: "charge",
    Op.AUTHORIZE: "authorize",
    Op.VOID: "void",
    Op.REFUND: "refund",
}


def _own_reason(text: str) -> str:
    return text.split(_GATEWAY_SEP, 1)[0]


def _with_gateway_reason(own: str, gateway: str) -> str:
    if not gateway:
        return own
    return f"{own}{_GATEWAY_SEP}{gateway}" if own else gateway


def _unresolved(rows: Sequence[Payment]) -> Payment | None:
    return next((p for p in rows if p.state in UNRESOLVED), None)


class PaymentService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        *,
        gateway: Gateway,
        roles: Roles,
        operator: str,
        clock: Clock = utcnow,
        review: ReviewService | None = None,
        webhooks: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.orders = orders
        self.gateway = gateway  # for card payments
        self.manual = ManualGateway()  # for money staff move by hand
        self.roles = roles
        self.operator = operator
        self.clock = clock
        self.review = review
        self.webhooks = webhooks
        # Run after money came in and was committed (order number -> a note for the result,
        # or None): drop-ship POs go out when an order is paid (services/purchasing.py).
        self.after_paid: list[Callable[[int], Awaitable[str | None]]] = []
        orders.effects[Effect.OFFER_REFUND] = self._offer_refund
        orders.arrival_hooks.append(self._on_arrival)
        self.on_restocked: list[RestockListener] = []

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.operator)

    # -- reading ------------------------------------------------------------------------

    async def summary(self, ref: str | int) -> PaymentSummary:
        """What is paid, due, refundable (per line too), and what to do next."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            return await self._summary(uow, order, await self._rows(uow, order))

    async def _rows(self, uow: UnitOfWork, order: Order) -> list[Payment]:
        stmt = select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
        return list((await uow.session.execute(stmt)).scalars())

    async def _summary(self, uow: UnitOfWork, order: Order, rows: list[Payment]) -> PaymentSummary:
        t = tally(rows)
        status = derive_status(rows, order.total)
        refunded_units, restocked_units = await self._line_history(uow, order, rows)
        lines = tuple(
            RefundableLine(
                line_id=ln.id,
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                refunded=refunded_units.get(ln.id, 0),
                refundable=max(ln.quantity - refunded_units.get(ln.id, 0), 0),
                restockable=self._restockable(ln, restocked_units),
            )
            for ln in order.lines
        )
        unresolved = _unresolved(rows)
        due = max(order.total - t.captured, 0)
        op, chargeable = "", 0
        if unresolved is not None:
            op, chargeable = unresolved.kind, unresolved.amount
        elif order.status not in CLOSED and not t.refunded:
            if order.payment_method in MANUAL_PAYMENT_METHODS:
                op, chargeable = ("record", due) if due else ("", 0)
            elif t.authorized:
                op, chargeable = Op.CAPTURE.value, t.authorized
            elif due:
                op, chargeable = Op.CHARGE.value, due
        return PaymentSummary(
            number=order.number,
            status=status,
            order_status=order.status,
            method=order.payment_method.value,
            terms_accepted=order.terms_accepted,
            currency=order.currency,
            total=order.total,
            captured=t.captured,
            refunded=t.refunded,
            authorized=t.authorized,
            gateway=self.gateway.name,
            gateway_problem=self.gateway.problem,
            charge_op=op,
            chargeable=chargeable,
            refundable_lines=lines,
            unresolved=payment_view(unresolved) if unresolved else None,
            next_step=self._next_step(order, t, status, unresolved, due),
        )

    def _next_step(
        self,
        order: Order,
        t: Tally[Payment],
        status: PaymentStatus,
        unresolved: Payment | None,
        due: int,
    ) -> str:
        n, cur = order.number, order.currency
        if unresolved is not None:
            cmd = _COMMAND.get(Op(unresolved.kind), unresolved.kind)
            return (
                f"the {unresolved.kind} of {money(unresolved.amount, cur)} is unknown, check the "
                f"gateway (key {unresolved.idempotency_key}); then `packline pay {cmd} {n}` "
                "settles it with the same key"
            )
        if order.status in CLOSED:
            if t.refundable:
                return f"paid {money(t.refundable, cur)}: refund with `packline pay refund {n}`"
            if t.authorized:
                return f"authorized {money(t.authorized, cur)}: void with `packline pay void {n}`"
            return ""
        method = order.payment_method
        if method in MANUAL_PAYMENT_METHODS and due and not order.terms_accepted:
            hint = (
                f"waiting for {money(due, cur)} by {method.value}: record it with "
                f"`packline pay record {n} --amount {due / 100:.2f} --method {method.value}`"
            )
            if method in LATER_PAYMENT:
                hint += f", or a manager accepts the terms (`packline pay accept-terms {n}`)"
            return hint
        if status is PaymentStatus.DECLINED:
            return "the last charge was declined: contact the customer to update the payment method"
        if method not in MANUAL_PAYMENT_METHODS and t.authorized:
            return f"authorized {money(t.authorized, cur)}: capture with `packline pay charge {n}`"
        if method not in MANUAL_PAYMENT_METHODS and due and not t.refunded:
            return f"{money(due, cur)} to charge: `packline pay charge {n}`"
        return ""

    async def _line_history(
        self, uow: UnitOfWork, order: Order, rows: Sequence[Payment]
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Units refunded per line (approved or unresolved refunds) and units already put back
        on a shelf per line (by refunds with restock, or by a received return)."""
        refunded: dict[int, int] = {}
        restocked: dict[int, int] = {}
        for p in rows:
            if p.kind != Op.REFUND.value or p.state not in UNRESOLVED | {"approved"}:
                continue
            for item in p.lines or ():
                line_id, qty = int(item.get("line_id") or 0), int(item.get("quantity") or 0)
                refunded[line_id] = refunded.get(line_id, 0) + qty
                if item.get("restock") and p.state == Outcome.APPROVED.value:
                    restocked[line_id] = restocked.get(line_id, 0) + qty
        returned = await uow.session.execute(
            select(ReturnLine.order_line_id, ReturnLine.received)
            .join(Return, Return.id == ReturnLine.return_id)
            .where(Return.order_id == order.id, ReturnLine.disposition == "restock")
        )
        for line_id, received in returned.all():
            restocked[line_id] = restocked.get(line_id, 0) + int(received or 0)
        return refunded, restocked

    @staticmethod
    def _restockable(line: OrderLine, restocked: dict[int, int]) -> int:
        if line.fulfillment is not Fulfillment.STOCK or line.product_id is None:
            return 0
        return max(line.shipped - restocked.get(line.id, 0), 0)

    # -- actions ------------------------------------------------------------------------

    async def charge(
        self, ref: str | int, amount: int | None = None, *, expected_version: int | None = None
    ) -> PaymentResult:
        """Charge the card: what is due (or `amount` of it); captures an open authorization
        instead when there is one."""
        _check_amount(amount)

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            _refuse_closed(order, "charged")
            retry = self._retry_or_refuse(order, rows, {Op.CHARGE, Op.CAPTURE}, amount=amount)
            if retry:
                return retry
            t = tally(rows)
            cur = order.currency
            if order.payment_method in MANUAL_PAYMENT_METHODS:
                self._due_or_refuse(order, t, amount, "charge")  # "already paid" comes first
                m = order.payment_method.value
                raise Refused(
                    f"order #{order.number} is paid by {m}, not by card: record the money when "
                    f"it arrives (`packline pay record {order.number} --amount A --method {m}`)"
                )
            if t.open_authorization is not None:
                take = amount or t.authorized
                if take > t.authorized:
                    raise InvalidInput(
                        f"order #{order.number} has {money(t.authorized, cur)} authorized; "
                        f"capture at most that (asked {money(take, cur)})"
                    )
                auth = t.open_authorization
                return _Plan(
                    Op.CAPTURE,
                    take,
                    auth.method,
                    self._gateway_for(auth.method, auth.gateway_ref),
                    target=auth.gateway_ref,
                )
            take = self._due_or_refuse(order, t, amount, "charge")
            return _Plan(Op.CHARGE, take, PaymentMethod.CARD, self.gateway)

        return await self._execute(ref, Action.CHARGE, plan, expected_version=expected_version)

    async def authorize(
        self, ref: str | int, amount: int | None = None, *, expected_version: int | None = None
    ) -> PaymentResult:
        """Put a hold on the card for what is due (captured later by `charge`)."""
        _check_amount(amount)

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            _refuse_closed(order, "charged")
            retry = self._retry_or_refuse(order, rows, {Op.AUTHORIZE}, amount=amount)
            if retry:
                return retry
            if order.payment_method in MANUAL_PAYMENT_METHODS:
                raise Refused(
                    f"order #{order.number} is paid by {order.payment_method.value}; "
                    "only card payments are authorized"
                )
            t = tally(rows)
            if t.authorized:
                raise Refused(
                    f"order #{order.number} already has {money(t.authorized, order.currency)} "
                    f"authorized: capture it (`packline pay charge {order.number}`) or void it"
                )
            take = self._due_or_refuse(order, t, amount, "authorize")
            return _Plan(Op.AUTHORIZE, take, PaymentMethod.CARD, self.gateway)

        return await self._execute(ref, Action.CHARGE, plan, expected_version=expected_version)

    async def record(
        self,
        ref: str | int,
        amount: int,
        method: PaymentMethod,
        *,
        note: str = "",
        expected_version: int | None = None,
    ) -> PaymentResult:
        """Money received by hand (a check, cash, COD, a terms invoice paid). Releases a
        payment hold once the order is paid in full."""
        _check_amount(amount)
        _check_reason(note, "note")
        if method not in MANUAL_PAYMENT_METHODS:
            choices = ", ".join(sorted(m.value for m in MANUAL_PAYMENT_METHODS))
            raise InvalidInput(
                f"record takes a payment made by hand ({choices}); "
                "card payments go through `packline pay charge`"
            )

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            _refuse_closed(order, "paid")
            self._retry_or_refuse(order, rows, set(), amount=amount)
            take = self._due_or_refuse(order, tally(rows), amount, "record")
            return _Plan(Op.CHARGE, take, method, self.manual, reason=note.strip())

        return await self._execute(
            ref, Action.RECORD_PAYMENT, plan, expected_version=expected_version
        )

    async def refund(
        self,
        ref: str | int,
        *,
        amount: int | None = None,
        lines: Sequence[tuple[str, int]] = (),
        restock: bool = False,
        reason: str = "",
        notify: bool = False,
        expected_version: int | None = None,
    ) -> PaymentResult:
        """Give money back: everything refundable, `amount`, or `lines` [(sku, qty)] priced at
        their unit price (`restock` puts shipped goods back on the shelf)."""
        _check_amount(amount)
        _check_reason(reason, "reason")
        if amount is not None and lines:
            raise InvalidInput("refund an amount or lines, not both")
        if restock and not lines:
            raise InvalidInput("restock goes with lines: say which goods came back (SKU=QTY)")
        wanted = _merge_lines(lines)

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            unresolved = _unresolved(rows)
            if unresolved is not None and unresolved.kind == Op.REFUND.value:
                earlier = _merge_lines(
                    (str(i.get("sku")), int(i.get("quantity") or 0)) for i in unresolved.lines
                )
                same_restock = all(bool(i.get("restock")) == restock for i in unresolved.lines)
                same_lines = not wanted or (earlier == wanted and same_restock)
                if (amount is None or amount == unresolved.amount) and same_lines:
                    return self._retry_plan(order, rows, unresolved)
            self._retry_or_refuse(order, rows, set(), amount=amount)
            t = tally(rows)
            cur, n = order.currency, order.number
            if t.captured <= 0:
                raise Refused(
                    f"order #{n} has no captured payment to refund "
                    f"(payment is {derive_status(rows, order.total).value})"
                )
            if t.refundable <= 0:
                raise Refused(f"order #{n} is already refunded in full ({money(t.refunded, cur)})")
            entries: list[dict[str, Any]] = []
            if wanted:
                entries = await self._refund_lines(uow, order, rows, wanted, restock)
                take = sum(int(e["amount"]) for e in entries)
                if take <= 0:
                    raise InvalidInput("those lines are priced at zero: there is nothing to refund")
            else:
                take = amount if amount is not None else t.refundable
            if take > t.refundable:
                raise InvalidInput(
                    f"a refund of {money(take, cur)} is more than the {money(t.refundable, cur)} "
                    f"that can still be refunded on #{n} ({money(t.captured, cur)} captured, "
                    f"{money(t.refunded, cur)} refunded)"
                )
            source, left = _source(t)
            part = min(take, left)
            planned.append(
                _Plan(
                    Op.REFUND,
                    part,
                    source.method,
                    self._gateway_for(source.method, source.gateway_ref),
                    target=source.gateway_ref,
                    reason=reason.strip(),
                    lines=entries,
                    notify=notify and part == take,
                    rest=take - part,
                )
            )
            return planned[-1]

        planned: list[_Plan] = []
        first = await self._execute(ref, Action.REFUND, plan, expected_version=expected_version)
        rest = planned[-1].rest if planned and first.approved else 0
        if not rest:
            return first
        return await self._spread(first, rest, reason.strip(), notify)

    async def _spread(
        self, first: PaymentResult, rest: int, reason: str, notify: bool
    ) -> PaymentResult:
        """The rest of a refund larger than its first payment: one part per payment, newest
        first, until all of it went back or a part is not approved."""
        number = first.summary.number
        parts, last, why = [first.payment.amount], first, ""
        while rest:
            planned: list[_Plan] = []
            plan = self._next_part(rest, sum(parts), reason, notify, planned)
            try:
                last = await self._execute(number, Action.REFUND, plan, expected_version=None)
            except Refused as exc:
                why = str(exc)
                break
            if not last.approved:
                why = last.message
                break
            parts.append(last.payment.amount)
            rest = planned[-1].rest
        if rest and notify:  # the part that would have told the customer did not go
            await self._tell_refund(number, sum(parts))
        return _spread_result(first, last, parts, rest, why)

    def _next_part(
        self, want: int, done: int, reason: str, notify: bool, planned: list[_Plan]
    ) -> Planner:
        """A spread refund's next part: `want` left to go back, `done` gone already."""

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            self._retry_or_refuse(order, rows, set())
            t = tally(rows)
            if t.refundable < want:  # refunded by someone else meanwhile
                raise Refused(
                    f"only {money(t.refundable, order.currency)} of #{order.number} is left "
                    "to refund now"
                )
            source, left = _source(t)
            part = min(want, left)
            planned.append(
                _Plan(
                    Op.REFUND,
                    part,
                    source.method,
                    self._gateway_for(source.method, source.gateway_ref),
                    target=source.gateway_ref,
                    reason=reason,
                    notify=notify and part == want,
                    rest=want - part,
                    told=done + part if part == want else 0,
                )
            )
            return planned[-1]

        return plan

    async def _tell_refund(self, number: int, amount: int) -> None:
        """The e-mail for the parts of a spread refund that went through, when a later part
        did not (the last part would have carried it)."""
        async with self._uow(write=True) as uow:
            order = await uow.order(number, for_update=True)
            outbox.email_to_customer(
                uow,
                order,
                "refunded",
                payload={
                    "amount": amount,
                    "full": order.payment_status is PaymentStatus.REFUNDED,
                    "reason": "",
                },
            )
            await uow.commit()

    async def void(
        self, ref: str | int, *, reason: str = "", expected_version: int | None = None
    ) -> PaymentResult:
        """Cancel an open authorization, or a single charge nothing was refunded from (a
        gateway may decline once the charge has settled: refund then)."""
        _check_reason(reason, "reason")

        async def plan(uow: UnitOfWork, order: Order, rows: list[Payment]) -> _Plan:
            retry = self._retry_or_refuse(order, rows, {Op.VOID})
            if retry:
                return retry
            target, amount = _void_target(order, tally(rows))
            return _Plan(
                Op.VOID,
                amount,
                target.method,
                self._gateway_for(target.method, target.gateway_ref),
                target=target.gateway_ref,
                reason=reason.strip(),
            )

        return await self._execute(ref, Action.VOID, plan, expected_version=expected_version)

    async def accept_terms(
        self, ref: str | int, *, memo: str = "", expected_version: int | None = None
    ) -> OrderDetail:
        """A manager accepts payment later (terms, or COD: paid on delivery); the order may
        ship unpaid, and a payment hold is released."""
        self.roles.check(Action.ACCEPT_TERMS, self.operator)
        _check_reason(memo, "memo")
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            n = order.number
            if order.payment_method not in LATER_PAYMENT:
                raise Refused(
                    f"order #{n} pays by {order.payment_method.value}; only orders on terms or "
                    "COD can be accepted for later payment"
                )
            if order.status in CLOSED:
                raise Refused(f"order #{n} is {order.status.value}; there is nothing to accept")
            if order.terms_accepted:
                raise Refused(f"order #{n}'s payment terms are already accepted")
            if order.payment_status in PAID_ENOUGH:
                raise Refused(f"order #{n} is already paid; there are no terms to accept")
            order.terms_accepted = True
            uow.touch(order)
            text = memo.strip() or f"payment by {order.payment_method.value} accepted"
            released = await self._release_payment_hold(uow, order, f"{text} (terms accepted)")
            if released is None:
                uow.session.add(
                    StatusEvent(
                        order_id=order.id,
                        kind="memo",
                        from_status=order.status,
                        to_status=order.status,
                        actor=uow.actor,
                        at=uow.clock(),
                        memo=f"{text} (terms accepted)",
                    )
                )
            uow.audit("payment.accept_terms", "order", n, method=order.payment_method.value)
            await uow.commit()
        return await self.orders.show(n)

    # -- running one operation -------------------------------------------------------------

    async def _execute(
        self,
        ref: str | int,
        action: Action,
        planner: Planner,
        *,
        expected_version: int | None,
    ) -> PaymentResult:
        self.roles.check(action, self.operator)
        result: GatewayResult | None = None
        notes: list[str] = []
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True, expected_version=expected_version)
            number = order.number
            rows = await self._rows(uow, order)
            plan = await planner(uow, order, rows)
            problem = plan.gateway.problem
            if problem:
                raise GatewayNotConfigured(problem_for(problem, plan.op))
            row = plan.retry or self._pending_row(uow, order, plan)
            await uow.session.flush()
            row_id = row.id
            request = GatewayRequest(
                op=plan.op,
                amount=row.amount,
                currency=order.currency,
                order=number,
                idempotency_key=row.idempotency_key,
                target=plan.target,
                reason=plan.reason,
            )
            if not plan.gateway.remote:  # nothing leaves the process: one transaction
                result = await plan.gateway.perform(request)
                notes = await self._settle(uow, order, row, plan, result)
            await uow.commit()  # remote: the row exists, with its key, before anything is sent
        if result is None:
            result = await plan.gateway.perform(request)  # outside any transaction
            async with self._uow(write=True) as uow:
                order = await uow.order(number, for_update=True)
                fresh = await uow.session.get(Payment, row_id, populate_existing=True)
                if fresh is None:  # pragma: no cover - payment rows are never deleted
                    raise Refused(f"payment {row_id} of order #{number} disappeared")
                if fresh.state in UNRESOLVED:
                    notes = await self._settle(uow, order, fresh, plan, result)
                else:  # a concurrent retry of the same key settled it first
                    result = GatewayResult(Outcome(fresh.state), fresh.gateway_ref, fresh.reason)
                await uow.commit()
        released, more = await self._after(number, plan, result)
        notes = [*plan.notes, *notes, *more]
        return await self._result(number, row_id, plan, result, notes, released)

    def _pending_row(self, uow: UnitOfWork, order: Order, plan: _Plan) -> Payment:
        row = Payment(
            order_id=order.id,
            kind=plan.op.value,
            amount=plan.amount,
            state=PENDING,
            method=plan.method,
            gateway_ref="",
            idempotency_key=outbox.new_key(),
            reason=plan.reason,
            actor=uow.actor,
            created_at=uow.clock(),
            lines=plan.lines,
        )
        uow.session.add(row)
        return row

    async def _settle(
        self, uow: UnitOfWork, order: Order, row: Payment, plan: _Plan, result: GatewayResult
    ) -> list[str]:
        """Record the gateway's answer and everything that follows from it, at once."""
        own = _own_reason(row.reason)
        row.state = result.outcome.value
        if result.ref:
            row.gateway_ref = result.ref[:100]
        row.reason = (
            own
            if result.outcome is Outcome.APPROVED
            else (_with_gateway_reason(own, result.reason))
        )
        row.actor = uow.actor
        await uow.session.flush()
        rows = await self._rows(uow, order)
        t = tally(rows)
        status = derive_status(rows, order.total)
        order.payment_status = status
        uow.touch(order)
        notes: list[str] = []
        op = Op(row.kind)
        if result.outcome is Outcome.APPROVED and op is Op.REFUND:
            notes += await self._restock(uow, order, row)
            if plan.notify:
                outbox.email_to_customer(
                    uow,
                    order,
                    "refunded",
                    payload={
                        "amount": plan.told or row.amount,
                        "full": status is PaymentStatus.REFUNDED,
                        "reason": own,
                    },
                )
        flags = [
            f
            for f in order.flags or ()
            if not (f.startswith(REFUND_FLAG) and not t.refundable)
            and not (f.startswith(VOID_FLAG) and not t.authorized)
        ]
        if flags != list(order.flags or ()):
            order.flags = flags
        outbox.webhooks(
            uow,
            order,
            "order.payment",
            self.webhooks,
            payload={
                "kind": row.kind,
                "amount": row.amount,
                "currency": order.currency,
                "state": row.state,
                "method": row.method.value,
                "payment_status": status.value,
                "at": uow.clock().isoformat(),
                "actor": uow.actor,
            },
        )
        uow.audit(
            f"payment.{row.kind}",
            "order",
            order.number,
            payment=row.id,
            amount=row.amount,
            state=row.state,
            method=row.method.value,
            gateway=plan.gateway.name,
            key=row.idempotency_key,
            retry=plan.retry is not None,
            payment_status=status.value,
        )
        return notes

    async def _after(
        self, number: int, plan: _Plan, result: GatewayResult
    ) -> tuple[Status | None, list[str]]:
        """What a settled payment sets off, in its own transaction: the payment is recorded
        whatever happens here (a hold that cannot be released stays, and says why)."""
        money_in = plan.op in (Op.CHARGE, Op.CAPTURE)
        declined = result.outcome is Outcome.DECLINED and plan.op.value in ATTEMPTS
        if not ((result.outcome is Outcome.APPROVED and money_in) or declined):
            return None, []
        try:
            async with self._uow(write=True) as uow:
                order = await uow.order(number, for_update=True)
                released = None
                if declined and self.review is not None:
                    await self.review.reassess(uow, order)
                else:
                    released = await self._release_payment_hold(uow, order, "payment received")
                await uow.commit()
        except Refused as exc:
            return None, [f"the order stays on hold: {exc}"]
        notes: list[str] = []
        if not declined:
            for hook in self.after_paid:
                note = await hook(number)
                if note:
                    notes.append(note)
        return released, notes

    async def _release_payment_hold(
        self, uow: UnitOfWork, order: Order, memo: str
    ) -> Status | None:
        paid = order.payment_status in PAID_ENOUGH or order.terms_accepted
        if not (
            paid
            and order.status is Status.HELD
            and order.hold_reason is HoldReason.AWAITING_PAYMENT
        ):
            return None
        origin = order.held_from or Status.NEW
        await self.orders.apply_transition(uow, order, Request(origin), memo=memo)
        return origin

    async def _result(
        self,
        number: int,
        row_id: int,
        plan: _Plan,
        result: GatewayResult,
        notes: list[str],
        released: Status | None,
    ) -> PaymentResult:
        async with self._uow() as uow:
            order = await uow.order(number)
            rows = await self._rows(uow, order)
            view = payment_view(next(p for p in rows if p.id == row_id))
            summary = await self._summary(uow, order, rows)
        if released is not None:
            notes = [*notes, f"released from the payment hold back to {released.value}"]
        return PaymentResult(
            outcome=result.outcome.value,
            message=_message(number, view, result, summary, plan.gateway),
            payment=view,
            summary=summary,
            released_to=released,
            notes=tuple(notes),
        )

    # -- planning helpers -------------------------------------------------------------------

    def _gateway_for(self, method: PaymentMethod, ref: str) -> Gateway:
        """Money goes back the way it came: by hand if it came by hand."""
        if method in MANUAL_PAYMENT_METHODS or ref.startswith("manual-"):
            return self.manual
        return self.gateway

    def _retry_or_refuse(
        self, order: Order, rows: list[Payment], ops: set[Op], *, amount: int | None = None
    ) -> _Plan | None:
        """An unresolved row of the same kind is sent again (same key); any other unresolved
        row blocks this action until it is settled."""
        row = _unresolved(rows)
        if row is None:
            return None
        if Op(row.kind) in ops and (amount is None or amount == row.amount):
            return self._retry_plan(order, rows, row)
        cur, n = order.currency, order.number
        cmd = _COMMAND.get(Op(row.kind), row.kind)
        raise Refused(
            f"the {row.kind} of {money(row.amount, cur)} on #{n} is unknown (the gateway has "
            f"not answered): check the gateway for key {row.idempotency_key}, then run "
            f"`packline pay {cmd} {n}` to settle it with the same key before anything else"
        )

    def _retry_plan(self, order: Order, rows: list[Payment], row: Payment) -> _Plan:
        op = Op(row.kind)
        settled = [p for p in rows if p.id != row.id]
        t = tally(settled)
        target = ""
        if op is Op.CAPTURE and t.open_authorization is not None:
            target = t.open_authorization.gateway_ref
        elif op is Op.REFUND:
            found = refund_source(t)
            target = found[0].gateway_ref if found is not None else ""
        elif op is Op.VOID:
            target = _void_target(order, t)[0].gateway_ref
        return _Plan(
            op,
            row.amount,
            row.method,
            self._gateway_for(row.method, target),
            target=target,
            reason=_own_reason(row.reason),
            lines=list(row.lines or ()),
            retry=row,
        )

    def _due_or_refuse(self, order: Order, t: Tally[Payment], amount: int | None, verb: str) -> int:
        cur, n = order.currency, order.number
        if t.refunded:
            raise Refused(
                f"order #{n} has been refunded ({money(t.refunded, cur)}); it cannot be "
                f"{'recorded' if verb == 'record' else verb + 'd'} as paid again"
            )
        due = order.total - t.captured
        if due <= 0:
            raise Refused(
                f"order #{n} is already paid ({money(t.captured, cur)} of "
                f"{money(order.total, cur)})"
            )
        take = amount if amount is not None else due
        if take > due:
            raise InvalidInput(f"{money(take, cur)} is more than the {money(due, cur)} due on #{n}")
        return take

    async def _refund_lines(
        self,
        uow: UnitOfWork,
        order: Order,
        rows: list[Payment],
        wanted: dict[str, int],
        restock: bool,
    ) -> list[dict[str, Any]]:
        refunded, restocked = await self._line_history(uow, order, rows)
        entries: list[dict[str, Any]] = []
        n = order.number
        for sku, qty in wanted.items():
            matching = [ln for ln in order.lines if ln.sku == sku] or [
                ln for ln in order.lines if ln.sku.casefold() == sku.casefold()
            ]
            if not matching:
                skus = ", ".join(ln.sku for ln in order.lines[:8])
                raise InvalidInput(f"{sku} is not on order #{n} (its lines: {skus})")
            left = qty
            available = sum(max(ln.quantity - refunded.get(ln.id, 0), 0) for ln in matching)
            if qty > available:
                ordered = sum(ln.quantity for ln in matching)
                raise InvalidInput(
                    f"only {available} of {sku} can still be refunded on #{n} "
                    f"({ordered} ordered, {ordered - available} refunded already)"
                )
            for ln in matching:
                take = min(max(ln.quantity - refunded.get(ln.id, 0), 0), left)
                if not take:
                    continue
                left -= take
                warehouse_id, code = None, ""
                if restock:
                    can = self._restockable(ln, restocked)
                    if ln.fulfillment is not Fulfillment.STOCK or ln.product_id is None:
                        raise InvalidInput(
                            f"{ln.sku} ships from a vendor (drop ship): it never was in our "
                            "stock, so it cannot be restocked; refund it without restock"
                        )
                    if take > can:
                        raise InvalidInput(
                            f"only {can} of {ln.sku} shipped and not yet back on a shelf; "
                            "goods that never shipped are still in stock: refund them "
                            "without restock"
                        )
                    warehouse_id, code = await self._restock_warehouse(uow, ln)
                entries.append(
                    {
                        "sku": ln.sku,
                        "line_id": ln.id,
                        "quantity": take,
                        "amount": take * ln.unit_price,
                        "restock": restock,
                        "warehouse": code,
                        "warehouse_id": warehouse_id,
                    }
                )
                if not left:
                    break
        return entries

    async def _restock_warehouse(self, uow: UnitOfWork, line: OrderLine) -> tuple[int, str]:
        """The line's warehouse, else the highest-priority one stocking the product, else the
        highest-priority one there is."""
        s = uow.session
        if line.warehouse_id is not None:
            wh = await s.get(Warehouse, line.warehouse_id)
            if wh is not None:
                return wh.id, wh.code
        stocked = (
            await s.execute(
                select(Warehouse.id, Warehouse.code)
                .join(StockLevel, StockLevel.warehouse_id == Warehouse.id)
                .where(StockLevel.product_id == line.product_id)
                .order_by(Warehouse.priority, Warehouse.id)
                .limit(1)
            )
        ).first()
        if stocked is None:
            stocked = (
                await s.execute(
                    select(Warehouse.id, Warehouse.code)
                    .order_by(Warehouse.priority, Warehouse.id)
                    .limit(1)
                )
            ).first()
        if stocked is None:
            raise InvalidInput("there is no warehouse to put the goods back into")
        return int(stocked[0]), str(stocked[1])

    async def _restock(self, uow: UnitOfWork, order: Order, row: Payment) -> list[str]:
        notes = []
        touched: set[int] = set()
        for item in row.lines or ():
            warehouse_id = item.get("warehouse_id")
            if not item.get("restock") or warehouse_id is None:
                continue
            line = next((ln for ln in order.lines if ln.id == item.get("line_id")), None)
            if line is None or line.product_id is None:
                continue
            qty = int(item["quantity"])
            changed = await uow.session.execute(
                update(StockLevel)
                .where(
                    StockLevel.product_id == line.product_id,
                    StockLevel.warehouse_id == warehouse_id,
                )
                .values(on_hand=StockLevel.on_hand + qty)
            )
            if not getattr(changed, "rowcount", 0):
                uow.session.add(
                    StockLevel(product_id=line.product_id, warehouse_id=warehouse_id, on_hand=qty)
                )
            notes.append(f"put {qty} × {line.sku} back in stock at {item.get('warehouse')}")
            touched.add(line.product_id)
        if touched:
            await uow.session.flush()
            for listener in self.on_restocked:
                await listener(uow, order, touched)
        return notes

    # -- hooks into the order service ----------------------------------------------------

    async def _offer_refund(self, uow: UnitOfWork, order: Order, change: Change) -> None:
        """Canceling: note what is still held of the customer's money, so the refund is
        offered in the same step (`summary().next_step`, the flag, the CLI's hint)."""
        t = tally(await self._rows(uow, order))
        cur, n = order.currency, order.number
        flags = [f for f in order.flags or () if not f.startswith((REFUND_FLAG, VOID_FLAG))]
        if t.refundable:
            flags.append(
                f"{REFUND_FLAG} {money(t.refundable, cur)} paid; "
                f"refund with `packline pay refund {n}`"
            )
        if t.authorized:
            flags.append(
                f"{VOID_FLAG} {money(t.authorized, cur)}; void with `packline pay void {n}`"
            )
        if flags != list(order.flags or ()):
            order.flags = flags
        if t.refundable or t.authorized:
            uow.audit(
                "payment.refund_offered",
                "order",
                n,
                refundable=t.refundable,
                authorized=t.authorized,
            )

    async def _on_arrival(self, uow: UnitOfWork, orders: Sequence[Order]) -> None:
        """Orders paid by check, cash, COD or terms wait for their money on hold, unless the
        money is already in (an imported order paid on the storefront, a bank deposit made
        before it was sent) or a manager accepted the terms."""
        for order in orders:
            method = order.payment_method
            if (
                method not in MANUAL_PAYMENT_METHODS
                or order.status is not Status.NEW
                or order.payment_status in PAID_ENOUGH
                or order.terms_accepted
            ):
                continue
            n, due = order.number, money(order.total, order.currency)
            memo = (
                f"record the money with `packline pay record {n} --amount A "
                f"--method {method.value}`"
            )
            if method in LATER_PAYMENT:
                memo += f", or a manager accepts the terms (`packline pay accept-terms {n}`)"
            with acting_as(uow, PAYMENT_ACTOR):
                await self.orders.apply_transition(
                    uow,
                    order,
                    Request(
                        Status.HELD,
                        reason=HoldReason.AWAITING_PAYMENT,
                        note=f"waiting for {due} by {method.value}",
                    ),
                    memo=memo,
                )


# -- small pure helpers ------------------------------------------------------------------


def _spread_result(
    first: PaymentResult, last: PaymentResult, parts: list[int], rest: int, why: str
) -> PaymentResult:
    """One answer for a refund spread over several payments: the summary as it is now and
    what went back (and what did not); its `payment` is the first part's row (it carries
    the goods), or the part that did not go through."""
    cur, n = last.summary.currency, last.summary.number
    done = " + ".join(money(p, cur) for p in parts)
    status = last.summary.status.value
    if not rest:
        message = (
            f"refunded {money(sum(parts), cur)} on #{n} in {len(parts)} parts, one per "
            f"payment ({done}); payment is {status}"
        )
        return dataclasses.replace(
            last, payment=first.payment, message=message, notes=(*first.notes, *last.notes)
        )
    message = (
        f"refunded {money(sum(parts), cur)} on #{n} ({done}), but not the "
        f"{money(rest, cur)} still to go back to another payment: {why}"
    )
    outcome = last.outcome if not last.approved else "error"
    return dataclasses.replace(
        last,
        outcome=outcome,
        message=message,
        notes=(*first.notes, *(last.notes if last is not first else ())),
    )


def _check_amount(amount: int | None) -> None:
    if amount is None:
        return
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput("an amount is a whole number of cents")
    if amount <= 0:
        raise InvalidInput("an amount must be more than zero")
    if amount >= MAX_AMOUNT:
        raise InvalidInput("that amount is too large")


def _check_reason(text: str, what: str) -> None:
    if len(text) > MAX_REASON:
        raise InvalidInput(f"{what} is too long ({len(text)} characters; at most {MAX_REASON})")


def _refuse_closed(order: Order, verb: str) -> None:
    if order.status in CLOSED:
        raise Refused(f"order #{order.number} is {order.status.value}; it cannot be {verb}")


def _merge_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for sku, qty in lines:
        if qty < 1:
            raise InvalidInput(f"quantity for {sku} must be a whole number of 1 or more")
        merged[sku] = merged.get(sku, 0) + qty
    return merged


def _source(t: Tally[Payment]) -> tuple[Payment, int]:
    """The payment a refund (part) goes back to; the caller made sure money is left."""
    found = refund_source(t)
    if found is None:  # pragma: no cover - refundable > 0 was checked under the lock
        raise Refused("nothing is left to refund")
    return found


def _void_target(order: Order, t: Tally[Payment]) -> tuple[Payment, int]:
    n = order.number
    if t.open_authorization is not None:
        return t.open_authorization, t.authorized
    if len(t.captures) == 1 and not t.refunded:
        row = t.captures[0][0]
        return row, row.amount
    if not t.captures:
        raise Refused(f"order #{n} has no open authorization or charge to void")
    raise Refused(
        f"order #{n} has {'refunds' if t.refunded else 'several payments'}; "
        "a void cancels one untouched payment: refund instead"
    )


def _message(
    number: int, row: PaymentView, result: GatewayResult, summary: PaymentSummary, gateway: Gateway
) -> str:
    cur = summary.currency
    amount = money(row.amount, cur)
    op = Op(row.kind)
    what = f"{_VERB[op]} of {amount} on #{number}"
    by_hand = row.method in {m.value for m in MANUAL_PAYMENT_METHODS}
    if by_hand and op is Op.CHARGE:
        what = f"payment of {amount} by {row.method} on #{number}"
    if result.outcome is Outcome.APPROVED:
        done = {
            Op.CHARGE: f"charged {amount} to #{number}",
            Op.CAPTURE: f"captured {amount} on #{number}",
            Op.AUTHORIZE: f"authorized {amount} on #{number}",
            Op.VOID: f"voided {amount} on #{number}",
            Op.REFUND: f"refunded {amount} on #{number}",
        }[op]
        if by_hand and op is Op.CHARGE:
            done = f"recorded {amount} received by {row.method} for #{number}"
        elif gateway.name == "manual" and op is Op.REFUND:
            done += f" (recorded by hand: pay the customer back by {row.method} yourself)"
        elif gateway.name == "manual" and op in (Op.CHARGE, Op.CAPTURE):
            done += " (recorded by hand: take the payment on your card terminal)"
        elif gateway.name == "manual":
            done += " (recorded by hand)"
        ref = f" (gateway ref {row.gateway_ref})" if gateway.remote and row.gateway_ref else ""
        return f"{done}{ref}; payment is {summary.status.value}"
    reason = result.reason or "no reason given"
    if result.outcome is Outcome.DECLINED:
        tail = (
            ": contact the customer to update the payment method"
            if op in (Op.CHARGE, Op.AUTHORIZE, Op.CAPTURE)
            else ""
        )
        return f"declined: the gateway declined the {what}: {reason}{tail}"
    if result.outcome is Outcome.ERROR:
        return f"error: the {what} did not go through ({reason}); nothing moved, try again"
    cmd = _COMMAND.get(op, op.value)
    return (
        f"unknown, check the gateway: the {what} may or may not have happened ({reason}); "
        f"look for key {row.idempotency_key} at the gateway, then run `packline pay {cmd} "
        f"{number}` again: it resends the same key, so it cannot move the money twice"
    )
