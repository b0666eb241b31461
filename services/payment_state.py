"""An order's payment status, derived from its payment rows: pure, no I/O.

Rows are replayed in the order they were written; only approved rows move money, and a
declined charge or authorization is remembered as the last failure:

    captured >= total, nothing refunded     paid
    0 < refunded < captured                 partially_refunded
    refunded >= captured > 0                refunded
    an open authorization                   authorized
    0 < captured < total, nothing refunded  unpaid (a balance is due)
    last word a void                        voided
    last word a declined attempt            declined
    nothing                                 unpaid

A capture takes what it names and releases the rest of its authorization. A void cancels
the open authorization, or else the latest standing charge. Refunds are allocated to the
newest charge first, which is also where the payment service sends them (the newest
payment is the one most surely still inside its gateway's refund window);
`refund_source` names that payment.

A partial capture stays `unpaid` on purpose: the ready-to-ship guard reads the payment
status, and an order must not ship with a balance due unless terms were accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from services.gateways import Op, Outcome
from services.statuses import PaymentStatus

PENDING = "pending"  # written before a gateway call; unresolved until the answer is in
UNRESOLVED = frozenset({PENDING, Outcome.UNKNOWN.value})
ATTEMPTS = frozenset({Op.CHARGE.value, Op.AUTHORIZE.value, Op.CAPTURE.value})


class PaymentRow(Protocol):
    """What derivation reads from a payment row (the ORM row fits; so does a frozen test
    row: read-only members)."""

    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def state(self) -> str: ...


# Unbounded on purpose: mypy checks a bound on `Tally[Payment]` before it has applied the
# ORM's Mapped descriptors and then caches the (wrong) "not a PaymentRow" answer.
R = TypeVar("R")


@dataclass(frozen=True)
class Tally(Generic[R]):
    """Approved money movements of one order, replayed in order."""

    captured: int = 0  # charged or captured, less voided charges
    refunded: int = 0
    authorized: int = 0  # the open authorization, if any
    open_authorization: R | None = None
    # Charges still standing, oldest first, with what is left to refund on each (refunds
    # take from the end: the newest payment first).
    captures: tuple[tuple[R, int], ...] = ()
    last_failure: str | None = None  # "declined" | "voided" | None

    @property
    def refundable(self) -> int:
        return max(self.captured - self.refunded, 0)


def tally(rows: Iterable[R]) -> Tally[R]:
    captured = refunded = authorized = 0
    auth: R | None = None
    slots: list[list[Any]] = []  # [row, remaining]
    last_failure: str | None = None
    for item in rows:
        row = cast(PaymentRow, item)
        if row.state == Outcome.DECLINED.value and row.kind in ATTEMPTS:
            last_failure = "declined"
            continue
        if row.state != Outcome.APPROVED.value:
            continue  # error, unknown, pending: the money did not (knowingly) move
        amount = max(int(row.amount), 0)
        if row.kind == Op.AUTHORIZE.value:
            auth, authorized, last_failure = item, authorized + amount, None
        elif row.kind == Op.CAPTURE.value:
            # A capture takes what it names; the rest of the authorization is released.
            captured += amount
            slots.append([item, amount])
            auth, authorized, last_failure = None, 0, None
        elif row.kind == Op.CHARGE.value:
            captured += amount
            slots.append([item, amount])
            last_failure = None
        elif row.kind == Op.REFUND.value:
            refunded += amount
            left = amount
            for slot in reversed(slots):  # refunds go back to the newest payment first
                take = min(slot[1], left)
                slot[1] -= take
                left -= take
                if not left:
                    break
        elif row.kind == Op.VOID.value:
            if authorized > 0:
                auth, authorized = None, 0
            elif slots:
                voided = slots.pop()
                captured = max(captured - int(cast(PaymentRow, voided[0]).amount), 0)
            last_failure = "voided"
    return Tally(
        captured=captured,
        refunded=refunded,
        authorized=authorized,
        open_authorization=auth,
        captures=tuple((slot[0], slot[1]) for slot in slots),
        last_failure=last_failure,
    )


def refund_source(t: Tally[R]) -> tuple[R, int] | None:
    """The payment the next refund goes back to (the newest with money left on it) and how
    much is left on it; None when nothing is left to refund."""
    return next(((row, left) for row, left in reversed(t.captures) if left > 0), None)


def derive_status(rows: Iterable[PaymentRow], total: int) -> PaymentStatus:
    """The order's payment status from its payment rows (see the table in the module doc)."""
    t = tally(rows)
    if t.captured > 0 or t.refunded > 0:
        if t.refunded >= t.captured:
            return PaymentStatus.REFUNDED
        if t.refunded > 0:
            return PaymentStatus.PARTIALLY_REFUNDED
        if t.captured >= total:
            return PaymentStatus.PAID
    if t.authorized > 0:
        return PaymentStatus.AUTHORIZED
    if t.last_failure == "voided":
        return PaymentStatus.VOIDED
    if t.last_failure == "declined":
        return PaymentStatus.DECLINED
    return PaymentStatus.UNPAID
