"""Canonical names: what the CLI, JSON and database use. Labels are configurable elsewhere."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class Status(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    HELD = "held"
    BACKORDER = "backorder"
    READY_TO_SHIP = "ready_to_ship"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    COMPLETE = "complete"
    CANCELED = "canceled"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"

    @property
    def label(self) -> str:
        return DEFAULT_LABELS[self]


DEFAULT_LABELS: dict[Status, str] = {
    Status.NEW: "New",
    Status.PROCESSING: "Processing",
    Status.HELD: "Held",
    Status.BACKORDER: "Backorder",
    Status.READY_TO_SHIP: "Ready to Ship",
    Status.PARTIALLY_SHIPPED: "Partially Shipped",
    Status.SHIPPED: "Shipped",
    Status.COMPLETE: "Complete",
    Status.CANCELED: "Canceled",
    Status.RETURN_REQUESTED: "Return Requested",
    Status.RETURNED: "Returned",
}


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    AUTHORIZED = "authorized"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DECLINED = "declined"
    VOIDED = "voided"


class HoldReason(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    HIGH_RISK = "high_risk"
    INCORRECT_ADDRESS = "incorrect_address"
    OUT_OF_STOCK = "out_of_stock"
    AWAITING_CUSTOMER = "awaiting_customer"
    OTHER = "other"


class PaymentMethod(StrEnum):
    """How the customer pays; manual methods are recorded by staff, not a gateway."""

    CARD = "card"
    CHECK = "check"
    CASH = "cash"
    COD = "cod"
    TERMS = "terms"


MANUAL_PAYMENT_METHODS = frozenset(
    {PaymentMethod.CHECK, PaymentMethod.CASH, PaymentMethod.COD, PaymentMethod.TERMS}
)


class NotificationState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


class Fulfillment(StrEnum):
    STOCK = "stock"
    DROP_SHIP = "drop_ship"


class POMethod(StrEnum):
    EMAIL = "email"
    EDI = "edi"
    MANUAL = "manual"


class POStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELED = "canceled"


# A purchase order's own status machine, beside the order's: where a PO may go, in the
# order the statuses are declared (messages list them so, the same in every process).
# Sending has its service method, shipped follows the vendor's tracking, the rest may be
# set by hand.
PO_TRANSITIONS: dict[POStatus, tuple[POStatus, ...]] = {
    POStatus.DRAFT: (POStatus.SENT, POStatus.CANCELED),
    POStatus.SENT: (POStatus.ACKNOWLEDGED, POStatus.SHIPPED, POStatus.CANCELED),
    POStatus.ACKNOWLEDGED: (POStatus.SHIPPED, POStatus.CANCELED),
    POStatus.SHIPPED: (POStatus.RECEIVED,),
    POStatus.RECEIVED: (),
    POStatus.CANCELED: (),
}


E = TypeVar("E", bound=StrEnum)


def parse_enum(kind: type[E], value: str, what: str) -> E:
    """Turn user text into an enum member, or raise ValueError listing the choices."""
    try:
        return kind(value.strip().lower())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ValueError(f"unknown {what} {value!r}; choose one of: {choices}") from None
