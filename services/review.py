"""Order review: gather the facts the risk rules need from the database, keep the score on
the order, hold risky orders as they arrive, and guard the release of such a hold.

The rules themselves are pure (services/risk.py). This module decides where each fact
comes from:

- addresses: the order's shipping and billing address rows (billing country only when the
  order has a billing address);
- the shop's usual order value: the median total of the `usual_sample` most recent orders
  placed before this one (None while there are fewer than `usual_min_orders`);
- velocity: orders placed in the rules' window up to this order (this one included) with
  the same e-mail (case-insensitive) or the same shipping address (line 1, line 2, postal
  code and country, compared on letters and digits only);
- declined attempts: this order's declined charge / authorization rows;
- the customer's note on the order.

An order at or over the hold threshold when it arrives goes `held` (reason `high_risk`,
actor "risk review"). Re-reviewing later updates the score only: holding an order a
packer is working on is a person's call. Releasing a high-risk hold needs the manager
role and a memo saying why (checked on every status change, whoever makes it).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, select

from services.db import Database
from services.errors import InvalidInput
from services.models import Address, Order, Payment
from services.orders import OrderService, address_view
from services.risk import RiskAssessment, RiskFacts, RiskRules, assess
from services.roles import Action, Roles
from services.statuses import HoldReason, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.views import ReviewView
from services.workflow import Change, Request

RISK_ACTOR = "risk review"
# A burst bigger than this in one window is counted up to here (the reason says "N orders").
VELOCITY_ROW_LIMIT = 5_000


@contextmanager
def acting_as(uow: UnitOfWork, actor: str) -> Iterator[None]:
    """History and audit rows written inside name `actor` (an automatic step, not a person)."""
    previous = uow.actor
    uow.actor = actor
    try:
        yield
    finally:
        uow.actor = previous


def _address_key(line1: str, line2: str, postal_code: str, country: str) -> str:
    """Two spellings of one address compare equal: letters and digits only, case-folded."""

    def squash(text: str) -> str:
        return "".join(c for c in text.casefold() if c.isalnum())

    street = squash(line1)
    if not street:
        return ""
    return "|".join((street, squash(line2), squash(postal_code), squash(country)))


class ReviewService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        *,
        rules: RiskRules,
        roles: Roles,
        operator: str,
        clock: Clock = utcnow,
        usual_sample: int = 200,
        usual_min_orders: int = 10,
    ) -> None:
        self.db = db
        self.orders = orders
        self.rules = rules
        self.roles = roles
        self.operator = operator
        self.clock = clock
        self.usual_sample = usual_sample
        self.usual_min_orders = usual_min_orders
        orders.arrival_hooks.append(self._on_arrival)
        orders.transition_checks.append(self._check_release)

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.operator)

    # -- the facts ----------------------------------------------------------------------

    async def usual_total(self, uow: UnitOfWork, order: Order) -> int | None:
        """Median total of the most recent orders placed before this one."""
        stmt = (
            select(Order.total)
            .where(Order.placed_at <= order.placed_at, Order.id != order.id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(self.usual_sample)
        )
        totals = list((await uow.session.execute(stmt)).scalars())
        if len(totals) < self.usual_min_orders:
            return None
        return int(statistics.median_low(totals))

    async def velocity(
        self, uow: UnitOfWork, order: Order, ship: Address | None
    ) -> tuple[int, int]:
        """(orders from this e-mail, orders to this address) in the window up to this order."""
        since = order.placed_at - timedelta(hours=self.rules.velocity_window_hours)
        stmt = (
            select(
                Order.id,
                Order.email,
                Address.line1,
                Address.line2,
                Address.postal_code,
                Address.country,
            )
            .outerjoin(Address, Address.id == Order.shipping_address_id)
            .where(Order.placed_at > since, Order.placed_at <= order.placed_at)
            .limit(VELOCITY_ROW_LIMIT)
        )
        email = order.email.strip().casefold()
        key = _address_key(ship.line1, ship.line2, ship.postal_code, ship.country) if ship else ""
        by_email = by_address = 0
        seen_self = False
        for oid, other_email, line1, line2, postal, country in (
            await uow.session.execute(stmt)
        ).all():
            seen_self = seen_self or oid == order.id
            if email and (other_email or "").strip().casefold() == email:
                by_email += 1
            if key and _address_key(line1 or "", line2 or "", postal or "", country or "") == key:
                by_address += 1
        if not seen_self:  # beyond the row limit: this order still counts
            by_email += 1 if email else 0
            by_address += 1 if key else 0
        return by_email, by_address

    async def declined_attempts(self, uow: UnitOfWork, order: Order) -> int:
        stmt = select(func.count()).where(
            Payment.order_id == order.id,
            Payment.state == "declined",
            Payment.kind.in_(("charge", "authorize", "capture")),
        )
        return int((await uow.session.execute(stmt)).scalar_one())

    async def _addresses(
        self, uow: UnitOfWork, order: Order
    ) -> tuple[Address | None, Address | None]:
        # session.get: the identity map answers for rows of this transaction (a new order's
        # addresses) without a lazy load, which async sessions cannot do.
        ship = (
            await uow.session.get(Address, order.shipping_address_id)
            if order.shipping_address_id
            else None
        )
        bill = (
            await uow.session.get(Address, order.billing_address_id)
            if order.billing_address_id
            else None
        )
        return ship, bill

    async def _gather(
        self, uow: UnitOfWork, order: Order
    ) -> tuple[RiskFacts, Address | None, Address | None]:
        ship, bill = await self._addresses(uow, order)
        usual = await self.usual_total(uow, order)
        by_email, by_address = await self.velocity(uow, order, ship)
        declined = await self.declined_attempts(uow, order)
        facts = RiskFacts(
            shipping_lines=tuple(x for x in ((ship.line1, ship.line2) if ship else ()) if x),
            shipping_city=ship.city if ship else "",
            shipping_region=ship.region if ship else "",
            shipping_country=ship.country if ship else "",
            billing_country=bill.country if bill else None,
            total_cents=order.total,
            usual_total_cents=usual,
            recent_orders_same_email=by_email,
            recent_orders_same_address=by_address,
            declined_attempts=declined,
            customer_note=order.note,
        )
        return facts, ship, bill

    async def reassess(self, uow: UnitOfWork, order: Order) -> RiskAssessment:
        """Score the order now and keep the score on it (the row changes only if it moved)."""
        facts, _, _ = await self._gather(uow, order)
        result = assess(facts, self.rules)
        self._store(uow, order, result)
        return result

    def _store(self, uow: UnitOfWork, order: Order, result: RiskAssessment) -> None:
        reasons = list(result.reasons)
        if order.risk_score != result.score or list(order.risk_reasons or ()) != reasons:
            order.risk_score = result.score
            order.risk_reasons = reasons
            uow.touch(order)

    # -- one action ---------------------------------------------------------------------

    async def review(self, ref: str | int) -> ReviewView:
        """Re-assess one order (`packline review REF`): score, reasons and what to read."""
        self.roles.check(Action.REVIEW, self.operator)
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True)
            previous = order.risk_score
            facts, ship, bill = await self._gather(uow, order)
            result = assess(facts, self.rules)
            self._store(uow, order, result)
            if result.score != previous:
                uow.audit(
                    "order.review", "order", order.number, score=result.score, previous=previous
                )
            view = ReviewView(
                number=order.number,
                status=order.status,
                hold_reason=order.hold_reason,
                score=result.score,
                reasons=result.reasons,
                hold_threshold=self.rules.hold_threshold,
                previous_score=previous,
                email=order.email,
                total=order.total,
                currency=order.currency,
                shipping_address=address_view(ship),
                billing_address=address_view(bill),
                note=order.note,
                usual_total=facts.usual_total_cents,
                recent_same_email=facts.recent_orders_same_email,
                recent_same_address=facts.recent_orders_same_address,
                window_hours=self.rules.velocity_window_hours,
                declined_attempts=facts.declined_attempts,
            )
            await uow.commit()
        return view

    # -- hooks into the order service ----------------------------------------------------

    async def _on_arrival(self, uow: UnitOfWork, order: Order) -> None:
        result = await self.reassess(uow, order)
        if result.score < self.rules.hold_threshold or order.status is not Status.NEW:
            return
        with acting_as(uow, RISK_ACTOR):
            await self.orders.apply_transition(
                uow,
                order,
                Request(
                    Status.HELD,
                    reason=HoldReason.HIGH_RISK,
                    note=f"risk score {result.score} (hold at {self.rules.hold_threshold})",
                ),
                memo="; ".join(result.reasons),
            )

    async def _check_release(
        self, uow: UnitOfWork, order: Order, change: Change, memo: str
    ) -> None:
        """Leaving a high-risk hold for anything but canceled: a manager, with a reason."""
        if (
            change.from_status is not Status.HELD
            or order.hold_reason is not HoldReason.HIGH_RISK
            or change.to_status is Status.CANCELED
        ):
            return
        self.roles.check(Action.RELEASE_RISK_HOLD, uow.actor)
        if not memo.strip():
            raise InvalidInput(
                f"releasing #{order.number} from a high-risk hold needs a recorded reason: "
                'say why in a memo (--memo "...")'
            )
