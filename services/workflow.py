"""The order status machine: one declarative table, pure Python, no I/O.

Everything that knows which status may follow which reads it from here: the order
service, the status dialog (what to offer), `packline states` and the diagram.
A transition is allowed when it is in TRANSITIONS and every guard that applies
returns None; a guard returns the reason, written for the operator, when not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.errors import Refused
from services.statuses import DEFAULT_LABELS, Fulfillment, HoldReason, PaymentStatus, Status

S = Status

# Where an order may go from each status. HELD lists every status a hold can be
# released to; the release guard narrows that to the one it was held from.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.PROCESSING, S.HELD, S.BACKORDER, S.CANCELED}),
    S.PROCESSING: frozenset(
        {S.READY_TO_SHIP, S.PARTIALLY_SHIPPED, S.SHIPPED, S.HELD, S.BACKORDER, S.CANCELED}
    ),
    S.HELD: frozenset(
        {S.NEW, S.PROCESSING, S.BACKORDER, S.READY_TO_SHIP, S.PARTIALLY_SHIPPED, S.CANCELED}
    ),
    # -> partially_shipped: a drop-ship vendor ships its lines while our stock lines wait
    # for stock (services/shipping.py then puts the order straight back in backorder, in the
    # same transaction, so it returns to processing the usual way when the stock is in).
    S.BACKORDER: frozenset({S.PROCESSING, S.PARTIALLY_SHIPPED, S.HELD, S.CANCELED}),
    S.READY_TO_SHIP: frozenset({S.SHIPPED, S.PARTIALLY_SHIPPED, S.PROCESSING, S.HELD, S.CANCELED}),
    # -> ready_to_ship / processing: only when a shipment entered by mistake is deleted and
    # nothing is left shipped (see _back_before_shipping); shipped -> partially_shipped is
    # the same undo while other shipments remain.
    S.PARTIALLY_SHIPPED: frozenset(
        {S.SHIPPED, S.BACKORDER, S.HELD, S.RETURN_REQUESTED, S.READY_TO_SHIP, S.PROCESSING}
    ),
    S.SHIPPED: frozenset(
        {S.COMPLETE, S.PARTIALLY_SHIPPED, S.RETURN_REQUESTED, S.READY_TO_SHIP, S.PROCESSING}
    ),
    S.COMPLETE: frozenset({S.RETURN_REQUESTED}),
    S.CANCELED: frozenset(),
    S.RETURN_REQUESTED: frozenset({S.RETURNED, S.COMPLETE, S.SHIPPED}),
    # -> return_requested: a second return on an order whose first return came back (the
    # customer keeps two of three items, then sends one more); services/returns.py.
    S.RETURNED: frozenset({S.RETURN_REQUESTED}),
}

# Statuses every shop keeps: the lifecycle cannot be expressed without them.
REQUIRED: frozenset[Status] = frozenset({S.NEW, S.PROCESSING, S.HELD, S.SHIPPED, S.CANCELED})

PAID_ENOUGH = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED})


class Effect(StrEnum):
    """Side effects a transition asks for; the services carry them out in the same transaction."""

    RESERVE_STOCK = "reserve_stock"
    RELEASE_STOCK = "release_stock"
    OFFER_REFUND = "offer_refund"
    START_RETURN = "start_return"


# Entering a status triggers these (history and notifications are always written).
EFFECTS: dict[Status, tuple[Effect, ...]] = {
    S.PROCESSING: (Effect.RESERVE_STOCK,),
    S.CANCELED: (Effect.RELEASE_STOCK, Effect.OFFER_REFUND),
    S.RETURN_REQUESTED: (Effect.START_RETURN,),
}

# The customer e-mail event sent for a status when the operator chooses to notify.
NOTIFY_EVENT: dict[Status, str] = {
    S.PROCESSING: "processing",
    S.READY_TO_SHIP: "ready_to_ship",
    S.PARTIALLY_SHIPPED: "partially_shipped",
    S.SHIPPED: "shipped",
    S.COMPLETE: "complete",
    S.CANCELED: "canceled",
    S.BACKORDER: "backorder",
    S.HELD: "held",
    S.RETURN_REQUESTED: "return_requested",
    S.RETURNED: "return_received",
}


@dataclass(frozen=True)
class LineFacts:
    sku: str
    quantity: int
    packed: int = 0
    shipped: int = 0
    fulfillment: Fulfillment = Fulfillment.STOCK


@dataclass(frozen=True)
class OrderFacts:
    """What the guards may look at: plain data taken from an order, so guards stay pure."""

    number: int
    status: Status
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    terms_accepted: bool = False
    held_from: Status | None = None
    lines: tuple[LineFacts, ...] = ()

    @property
    def payment_ok(self) -> bool:
        return self.payment_status in PAID_ENOUGH or self.terms_accepted

    @property
    def unpacked(self) -> list[str]:
        return [
            ln.sku
            for ln in self.lines
            if ln.fulfillment is Fulfillment.STOCK and ln.packed + ln.shipped < ln.quantity
        ]

    @property
    def unshipped(self) -> list[str]:
        return [ln.sku for ln in self.lines if ln.shipped < ln.quantity]

    @property
    def any_shipped(self) -> bool:
        return any(ln.shipped > 0 for ln in self.lines)


@dataclass(frozen=True)
class Request:
    to: Status
    reason: HoldReason | None = None
    note: str = ""


Guard = Callable[[OrderFacts, Request], str | None]


def _skus(skus: list[str], limit: int = 3) -> str:
    shown = ", ".join(skus[:limit])
    return shown + (f" and {len(skus) - limit} more" if len(skus) > limit else "")


def _needs_hold_reason(o: OrderFacts, r: Request) -> str | None:
    if r.reason is None:
        reasons = ", ".join(h.value for h in HoldReason)
        return f"a hold needs a reason ({reasons})"
    if r.reason is HoldReason.OTHER and not r.note.strip():
        return "a hold with reason 'other' needs a note saying why"
    return None


def _packed_and_paid(o: OrderFacts, r: Request) -> str | None:
    if not o.lines:
        return "it has no lines"
    if o.unpacked:
        return f"not everything is packed ({_skus(o.unpacked)})"
    if not o.payment_ok:
        return f"payment is {o.payment_status.value}, not paid (and no terms accepted)"
    return None


def _some_shipped(o: OrderFacts, r: Request) -> str | None:
    if not o.any_shipped:
        return "nothing has shipped yet"
    if not o.unshipped:
        return "every line has shipped (that is shipped, not partially shipped)"
    return None


def _all_shipped(o: OrderFacts, r: Request) -> str | None:
    if not o.lines:
        return "it has no lines"
    if o.unshipped:
        return f"not every line has a shipment with tracking ({_skus(o.unshipped)})"
    return None


def _shipped_and_paid(o: OrderFacts, r: Request) -> str | None:
    return _all_shipped(o, r) or (
        None if o.payment_ok else f"payment is {o.payment_status.value}, not paid"
    )


def _nothing_shipped(o: OrderFacts, r: Request) -> str | None:
    return "part of it has already shipped" if o.any_shipped else None


def _release_to_origin(o: OrderFacts, r: Request) -> str | None:
    if r.to is S.CANCELED:
        return None
    origin = o.held_from or S.NEW
    if r.to is not origin:
        return f"a hold is released to the status it was held from ({origin.value})"
    return None


def _back_before_shipping(o: OrderFacts, r: Request) -> str | None:
    """Shipped goods cannot be un-shipped by a status change: deleting the shipment (with a
    reason, in services/shipping.py) puts the lines back, and only then may the order return
    to the status it had before shipping."""
    if r.to in (S.READY_TO_SHIP, S.PROCESSING) and o.any_shipped:
        return "it still has shipments; delete the shipment entered by mistake instead"
    return None


def _vendor_ships_while_waiting(o: OrderFacts, r: Request) -> str | None:
    """Backorder -> partially_shipped is a vendor's shipment taken while stock lines wait;
    with no stock line left waiting the order is not back-ordered any more."""
    if r.to is not S.PARTIALLY_SHIPPED:
        return None
    if not any(ln.fulfillment is Fulfillment.STOCK and ln.shipped < ln.quantity for ln in o.lines):
        return "no stock line is waiting any more; move it to processing"
    return None


# Guards on the status being entered, and on the status being left.
TARGET_GUARDS: dict[Status, Guard] = {
    S.HELD: _needs_hold_reason,
    S.READY_TO_SHIP: _packed_and_paid,
    S.PARTIALLY_SHIPPED: _some_shipped,
    S.SHIPPED: _all_shipped,
    S.COMPLETE: _shipped_and_paid,
    S.CANCELED: _nothing_shipped,
    S.RETURN_REQUESTED: lambda o, r: None if o.any_shipped else "nothing has shipped yet",
}
SOURCE_GUARDS: dict[Status, Guard] = {
    S.HELD: _release_to_origin,
    S.SHIPPED: _back_before_shipping,
    S.PARTIALLY_SHIPPED: _back_before_shipping,
    S.BACKORDER: _vendor_ships_while_waiting,
}


# Packing (services/packing.py) opens orders in these statuses only. Not new: it has not
# been accepted yet and its stock is not reserved (RESERVE_STOCK runs on entering
# processing). Not held: the hold (payment, risk, address) is exactly what packing must not
# bypass. Not backorder: it waits for stock; it goes back to processing when stock is in.
# partially_shipped: a vendor shipped its lines first; our own stock lines still need packing
# (finishing them leaves the order partially_shipped: the next shipment makes it shipped).
PACKABLE: frozenset[Status] = frozenset({S.PROCESSING, S.PARTIALLY_SHIPPED})

_NOT_PACKABLE: dict[Status, str] = {
    S.NEW: "it is new: move it to processing first (that reserves its stock)",
    S.HELD: "it is on hold: release the hold before packing",
    S.BACKORDER: "it is waiting for stock (backorder): move it to processing when it is in",
    S.READY_TO_SHIP: "it is already packed (ready_to_ship)",
}


def pack_refusal(o: OrderFacts) -> str | None:
    """Why the order cannot be packed now (None = it can): its status, or nothing to pack."""
    if o.status not in PACKABLE:
        why = _NOT_PACKABLE.get(o.status, f"it is {o.status.value}: there is nothing to pack")
        return f"order #{o.number} cannot be packed: {why}"
    if not any(ln.fulfillment is Fulfillment.STOCK for ln in o.lines):
        return f"order #{o.number} has nothing to pack: every line ships from a vendor"
    return None


class IllegalTransition(Refused):
    """The table or a guard refuses this change."""


@dataclass(frozen=True)
class Change:
    """An allowed transition and what it sets off."""

    number: int
    from_status: Status
    to_status: Status
    reason: HoldReason | None
    note: str
    held_from: Status | None  # what to store on the order after the change
    effects: tuple[Effect, ...]
    notify_event: str | None


def _join_or(items: list[str]) -> str:
    if not items:
        return "nowhere"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


@dataclass(frozen=True)
class Workflow:
    """The table as one shop uses it: some statuses switched off, labels renamed."""

    disabled: frozenset[Status] = frozenset()
    labels: Mapping[Status, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))

    @classmethod
    def from_config(
        cls, disabled: Iterable[str] = (), labels: Mapping[str, str] | None = None
    ) -> Workflow:
        off = frozenset(Status(s) for s in disabled)
        if off & REQUIRED:
            names = ", ".join(sorted(s.value for s in off & REQUIRED))
            raise ValueError(f"these statuses cannot be switched off: {names}")
        merged = dict(DEFAULT_LABELS)
        for key, label in (labels or {}).items():
            merged[Status(key)] = label
        return cls(disabled=off, labels=merged)

    @property
    def statuses(self) -> list[Status]:
        return [s for s in Status if s not in self.disabled]

    def targets(self, src: Status) -> list[Status]:
        """Statuses in the table from `src`, in canonical order (guards not applied)."""
        allowed = TRANSITIONS[src] - self.disabled
        return [s for s in Status if s in allowed]

    def why_not(self, order: OrderFacts, request: Request) -> str | None:
        """None if allowed; otherwise the operator-facing reason."""
        src, dst = order.status, request.to
        if dst in self.disabled:
            return f"status {dst.value} is switched off in this shop's configuration"
        if dst not in TRANSITIONS[src]:
            return self._not_in_table(order)
        for guard in (SOURCE_GUARDS.get(src), TARGET_GUARDS.get(dst)):
            if guard is not None:
                problem = guard(order, request)
                if problem:
                    return f"order #{order.number} cannot go to {dst.value}: {problem}"
        return None

    def _not_in_table(self, order: OrderFacts) -> str:
        offered = self.targets(order.status)
        if order.status is S.HELD:
            origin = order.held_from or S.NEW
            offered = [s for s in offered if s in (origin, S.CANCELED)]
        names = _join_or([s.value for s in offered])
        if not offered:
            return f"order #{order.number} is {order.status.value}; it cannot change status"
        return f"order #{order.number} is {order.status.value}; it can go to {names}"

    def available(self, order: OrderFacts) -> dict[Status, str | None]:
        """Every status reachable in the table from here, with why not (None = allowed now)."""
        out: dict[Status, str | None] = {}
        for dst in self.targets(order.status):
            reason = HoldReason.OTHER if dst is S.HELD else None
            problem = self.why_not(order, Request(dst, reason=reason, note="x"))
            out[dst] = problem
        return out

    def transition(self, order: OrderFacts, request: Request) -> Change:
        problem = self.why_not(order, request)
        if problem:
            raise IllegalTransition(problem)
        src, dst = order.status, request.to
        held_from = src if dst is S.HELD else None
        return Change(
            number=order.number,
            from_status=src,
            to_status=dst,
            reason=request.reason if dst is S.HELD else None,
            note=request.note if dst is S.HELD else "",
            held_from=held_from,
            effects=EFFECTS.get(dst, ()),
            notify_event=NOTIFY_EVENT.get(dst),
        )

    # -- rendering ---------------------------------------------------------------------

    def table_text(self) -> str:
        width = max(len(s.value) for s in Status)
        rows = []
        for src in self.statuses:
            dsts = ", ".join(s.value for s in self.targets(src)) or "(final)"
            rows.append(f"{src.value:<{width}}  -> {dsts}")
        return "\n".join(rows)

    def guard_text(self) -> list[tuple[str, str]]:
        doc = {
            "held": "needs a hold reason (and a note for 'other')",
            "ready_to_ship": "every stock line packed; payment paid or terms accepted",
            "partially_shipped": "some lines shipped, not all",
            "shipped": "every line has a shipment with tracking",
            "complete": "every line shipped; payment paid or terms accepted",
            "canceled": "nothing shipped yet",
            "return_requested": "something has shipped",
            "from backorder to partially_shipped": (
                "a vendor's shipment while a stock line still waits for stock"
            ),
            "from held": "a hold is released to the status it was held from (or canceled)",
            "from (partially_) shipped": (
                "back to ready_to_ship or processing only once no shipment is left "
                "(a shipment deleted as a mistake)"
            ),
        }
        return list(doc.items())

    def mermaid(self) -> str:
        lines = ["stateDiagram-v2", "    [*] --> new"]
        for src in self.statuses:
            for dst in self.targets(src):
                lines.append(f"    {src.value} --> {dst.value}")
            if not self.targets(src):
                lines.append(f"    {src.value} --> [*]")
        return "\n".join(lines)
