"""What an edit of an order asks for, and what it did: plain data (no SQLAlchemy), so the
edit screen can build one and show the other. The service is services/order_edits.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.views import OrderDetail


@dataclass(frozen=True)
class OrderEdit:
    """Changes to one order, applied together or not at all.

    add: (SKU, units) more of a product (a new line, or more on its line);
    set: (SKU, quantity) the line's new quantity (0 removes it);
    remove: SKUs whose lines go;
    customer_email: attach the customer account with this e-mail (made when there is
    none, named `customer_name`, else after the order's shipping name).
    """

    add: tuple[tuple[str, int], ...] = ()
    set: tuple[tuple[str, int], ...] = ()
    remove: tuple[str, ...] = ()
    customer_email: str | None = None
    customer_name: str | None = None
    memo: str = ""

    @property
    def empty(self) -> bool:
        return not (self.add or self.set or self.remove or self.customer_email)


@dataclass(frozen=True)
class EditResult:
    order: OrderDetail
    summary: str  # what changed, as the history memo says it
    stock: str = ""  # what the stock did about it ("" when nothing)

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary, "stock": self.stock or None, "order": self.order.to_json()}
