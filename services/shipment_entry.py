"""What an operator enters for a shipment, and the refusals particular to shipping.

Kept apart from services/shipping.py (which needs the database) so the tracking screen can
build a `NewShipment` and catch `DuplicateTracking` without importing SQLAlchemy, which the
layering contract forbids in screens/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.errors import Refused


class CannotShip(Refused):
    """The order, its lines or the quantities asked for do not allow this shipment."""


class DuplicateTracking(Refused):
    """The tracking number is already on another order's shipment; `other_orders` says which.

    The screen asks the operator and calls again with `confirm_duplicate=True`.
    """

    def __init__(self, message: str, other_orders: tuple[int, ...]) -> None:
        super().__init__(message)
        self.other_orders = other_orders


@dataclass(frozen=True)
class NewShipment:
    """What the operator entered. `lines` names (SKU, quantity); empty means everything
    that is ready: packed and not yet shipped, and drop-ship lines not yet shipped."""

    tracking: str
    carrier: str | None = None
    lines: tuple[tuple[str, int], ...] = ()
    ship_date: date | None = None
    expected_delivery: date | None = None
    comment: str = ""  # to the customer: history and the e-mail
    memo: str = ""  # staff only
    notify: bool = False  # "Save + Send Email"
    confirm_duplicate: bool = False


__all__ = ["CannotShip", "DuplicateTracking", "NewShipment"]
