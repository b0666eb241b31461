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
- the order's shipping method (the postal service delivers to PO boxes);
- the customer's note on the order, and the names of its lines that may ask for
  customization (engraving, artwork ...: a database pre-filter on `CUSTOMIZATION_STEMS`,
  so an order's plain lines are not fetched).

New orders are reviewed as they arrive, one (`OrderService.create`) or a whole import batch
at a time: the facts of a batch come from a handful of queries (the orders placed in the
batch's time span and the usual-value sample before it, the declined attempts of all of
them), counted in Python with the same rules as for one order. Where a batch's span holds
too many orders to fetch at once, its orders are looked up one by one.

An order at or over the hold threshold when it arrives goes `held` (reason `high_risk`,
actor "risk review"). Re-reviewing later updates the score only: holding an order a
packer is working on is a person's call. Releasing a high-risk hold needs the manager
role and a memo saying why (checked on every status change, whoever makes it).
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from sqlalchemy import ColumnElement, func, or_, select

from services.db import Database
from services.errors import InvalidInput
from services.models import Address, Order, OrderLine, Payment
from services.orders import OrderService, address_view
from services.risk import CUSTOMIZATION_STEMS, RiskAssessment, RiskFacts, RiskRules, assess
from services.roles import Action, Roles
from services.statuses import HoldReason, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.views import ReviewView
from services.workflow import Change, Request

RISK_ACTOR = "risk review"
# A burst bigger than this in one window is counted up to here (the reason says "N orders").
VELOCITY_ROW_LIMIT = 5_000
# A batch whose time span (plus the velocity window) holds more orders than this is
# reviewed order by order instead of from one fetch.
BATCH_ROW_LIMIT = 20_000
# What an address key leaves out: anything but letters and digits (`\w` is str.isalnum()
# plus the underscore).
_NOT_ALNUM = re.compile(r"[\W_]+")


@contextmanager
def acting_as(uow: UnitOfWork, actor: str) -> Iterator[None]:
    """History and audit rows written inside name `actor` (an automatic step, not a person)."""
    previous = uow.actor
    uow.actor = actor
    try:
        yield
    finally:
        uow.actor = previous


def _may_be_customized() -> ColumnElement[bool]:
    """Lines whose name may ask for customization (risk.customization decides)."""
    return or_(*(OrderLine.name.ilike(f"%{stem}%") for stem in CUSTOMIZATION_STEMS))


def _email_key(email: str | None) -> str:
    return (email or "").strip().casefold()


def _ship_key(ship: AddressFacts | None) -> str:
    return _address_key(ship.line1, ship.line2, ship.postal_code, ship.country) if ship else ""


def _chunks(items: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _address_key(line1: str, line2: str, postal_code: str, country: str) -> str:
    """Two spellings of one address compare equal: letters and digits only, case-folded."""

    def squash(text: str) -> str:
        return _NOT_ALNUM.sub("", text.casefold())

    street = squash(line1)
    if not street:
        return ""
    return "|".join((street, squash(line2), squash(postal_code), squash(country)))


class _Placed(NamedTuple):
    """One order as the batch facts need it (from one range query; a named tuple, since
    a big import's batches make tens of thousands)."""

    placed_at: datetime
    id: int
    total: int
    email: str
    address: str


class AddressFacts(Protocol):
    """What the rules read of an address (an ORM Address, or an `_Addr` of a batch)."""

    @property
    def line1(self) -> str: ...
    @property
    def line2(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def postal_code(self) -> str: ...
    @property
    def country(self) -> str: ...


@dataclass(frozen=True)
class _Addr:
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str


class _Span:
    """The orders placed in a batch's time span, for its usual values and velocity counts."""

    def __init__(self, rows: list[_Placed], window: timedelta, sample: int) -> None:
        rows.sort(key=lambda r: (r.placed_at, r.id))
        self.at = [r.placed_at for r in rows]
        self.ids = [r.id for r in rows]
        self.totals = [r.total for r in rows]
        self.window = window
        self.sample = sample
        by_email: dict[str, list[datetime]] = defaultdict(list)
        by_address: dict[str, list[datetime]] = defaultdict(list)
        for r in rows:  # in placed order, so each list is sorted
            if r.email:
                by_email[r.email].append(r.placed_at)
            if r.address:
                by_address[r.address].append(r.placed_at)
        self.by_email = by_email
        self.by_address = by_address

    def usual(self, order: Order) -> list[int]:
        """Totals of the `sample` latest orders placed up to this one (it left out)."""
        end = bisect.bisect_right(self.at, order.placed_at)
        start = max(end - self.sample - 1, 0)
        picked = self.totals[start:end]
        if order.id in self.ids[start:end]:
            del picked[self.ids[start:end].index(order.id)]
        return picked[-self.sample :]

    def count(self, index: dict[str, list[datetime]], key: str, placed: datetime) -> int:
        if not key:
            return 0
        times = index.get(key, [])
        return bisect.bisect_right(times, placed) - bisect.bisect_right(times, placed - self.window)


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
        self.batch_row_limit = BATCH_ROW_LIMIT  # a batch's span beyond this: order by order
        orders.arrival_hooks.append(self._on_arrival)
        orders.transition_checks.append(self._check_release)
        orders.risk_high_at = rules.hold_threshold  # the queue's "high" flag follows the shop

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
        self, uow: UnitOfWork, order: Order, ship: AddressFacts | None
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
        email = _email_key(order.email)
        key = _ship_key(ship)
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

    async def custom_lines(self, uow: UnitOfWork, order_ids: Sequence[int]) -> dict[int, list[str]]:
        """Names of the orders' lines that may ask for customization, by order id."""
        found: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks(list(order_ids)):
            rows = await uow.session.execute(
                select(OrderLine.order_id, OrderLine.name).where(
                    OrderLine.order_id.in_(chunk), _may_be_customized()
                )
            )
            for oid, name in rows.all():
                found[int(oid)].append(name)
        return found

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
        names = (await self.custom_lines(uow, [order.id])).get(order.id, [])
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
            line_names=tuple(names),
            shipping_method=order.shipping_method,
        )
        return facts, ship, bill

    async def _gather_many(self, uow: UnitOfWork, orders: Sequence[Order]) -> list[RiskFacts]:
        """The facts of many orders at once (see the module docstring); same as `_gather`."""
        if len(orders) == 1:
            return [(await self._gather(uow, orders[0]))[0]]
        s = uow.session
        ids = {a for o in orders for a in (o.shipping_address_id, o.billing_address_id) if a}
        addresses: dict[int, _Addr] = {}
        for chunk in _chunks(sorted(ids)):
            found = await s.execute(
                select(
                    Address.id,
                    Address.line1,
                    Address.line2,
                    Address.city,
                    Address.region,
                    Address.postal_code,
                    Address.country,
                ).where(Address.id.in_(chunk))
            )
            addresses.update({int(row[0]): _Addr(*row[1:]) for row in found.all()})
        declined: dict[int, int] = {}
        for chunk in _chunks([o.id for o in orders]):
            rows = await s.execute(
                select(Payment.order_id, func.count())
                .where(
                    Payment.order_id.in_(chunk),
                    Payment.state == "declined",
                    Payment.kind.in_(("charge", "authorize", "capture")),
                )
                .group_by(Payment.order_id)
            )
            declined.update({int(oid): int(n) for oid, n in rows.all()})
        custom = await self.custom_lines(uow, [o.id for o in orders])
        ships = {o.id: addresses.get(o.shipping_address_id or 0) for o in orders}
        span = await self._span(uow, orders, {_ship_key(a) for a in ships.values()} - {""})
        out: list[RiskFacts] = []
        for order in orders:
            ship = ships[order.id]
            bill = addresses.get(order.billing_address_id or 0)
            if span is None:
                usual = await self.usual_total(uow, order)
                by_email, by_address = await self.velocity(uow, order, ship)
            else:
                totals = span.usual(order)
                usual = (
                    int(statistics.median_low(totals))
                    if len(totals) >= self.usual_min_orders
                    else None
                )
                by_email = span.count(span.by_email, _email_key(order.email), order.placed_at)
                by_address = span.count(span.by_address, _ship_key(ship), order.placed_at)
            names = tuple(custom.get(order.id, ()))
            out.append(self._facts(order, ship, bill, usual, by_email, by_address, declined, names))
        return out

    async def _span(
        self, uow: UnitOfWork, orders: Sequence[Order], wanted: set[str]
    ) -> _Span | None:
        """Every order placed from the velocity window before the batch's first order to its
        last, and the usual-value sample before that; None when there are too many. Address
        keys are made only for rows that may be one of `wanted` (same postal code)."""
        first = min(o.placed_at for o in orders)
        last = max(o.placed_at for o in orders)
        window = timedelta(hours=self.rules.velocity_window_hours)
        cols = (
            Order.placed_at,
            Order.id,
            Order.total,
            Order.email,
            Address.line1,
            Address.line2,
            Address.postal_code,
            Address.country,
        )
        s = uow.session
        inside = (
            await s.execute(
                select(*cols)
                .outerjoin(Address, Address.id == Order.shipping_address_id)
                .where(Order.placed_at > first - window, Order.placed_at <= last)
                .limit(self.batch_row_limit + 1)
            )
        ).all()
        if len(inside) > self.batch_row_limit:
            return None
        before = (
            await s.execute(
                select(*cols)
                .outerjoin(Address, Address.id == Order.shipping_address_id)
                .where(Order.placed_at <= first - window)
                .order_by(Order.placed_at.desc(), Order.id.desc())
                .limit(self.usual_sample)
            )
        ).all()
        # A key's third part is its postal code: rows with another one cannot match.
        postals = {key.split("|")[2] for key in wanted}
        squashed: dict[str, str] = {}
        rows: list[_Placed] = []
        for placed, oid, total, email, line1, line2, postal, country in (*inside, *before):
            key = ""
            raw = postal or ""
            code = squashed.get(raw)
            if code is None:
                code = squashed[raw] = _NOT_ALNUM.sub("", raw.casefold())
            if code in postals:
                key = _address_key(line1 or "", line2 or "", raw, country or "")
            rows.append(_Placed(placed, int(oid), int(total), _email_key(email), key))
        return _Span(rows, window, self.usual_sample)

    def _facts(
        self,
        order: Order,
        ship: AddressFacts | None,
        bill: AddressFacts | None,
        usual: int | None,
        by_email: int,
        by_address: int,
        declined: dict[int, int],
        line_names: tuple[str, ...] = (),
    ) -> RiskFacts:
        return RiskFacts(
            shipping_lines=tuple(x for x in ((ship.line1, ship.line2) if ship else ()) if x),
            shipping_city=ship.city if ship else "",
            shipping_region=ship.region if ship else "",
            shipping_country=ship.country if ship else "",
            billing_country=bill.country if bill else None,
            total_cents=order.total,
            usual_total_cents=usual,
            recent_orders_same_email=by_email,
            recent_orders_same_address=by_address,
            declined_attempts=declined.get(order.id, 0),
            customer_note=order.note,
            line_names=line_names,
            shipping_method=order.shipping_method,
        )

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

    async def _on_arrival(self, uow: UnitOfWork, orders: Sequence[Order]) -> None:
        for order, facts in zip(orders, await self._gather_many(uow, orders), strict=True):
            result = assess(facts, self.rules)
            self._store(uow, order, result)
            if result.score < self.rules.hold_threshold or order.status is not Status.NEW:
                continue
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
