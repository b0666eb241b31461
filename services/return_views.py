"""What a return (RMA) looks like to a screen or the CLI: frozen views with `to_json()`,
and the plain requests a caller builds. The service is services/returns.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.display import RMA_PREFIX as RMA_PREFIX
from services.display import rma_name as rma_name
from services.views import OrderDetail, PaymentResult
from services.views import ReturnLineView as ReturnLineView
from services.views import ReturnView as ReturnView

REQUESTED = "requested"
RECEIVED = "received"
CANCELED = "canceled"
RESTOCK = "restock"
WRITE_OFF = "write_off"


@dataclass(frozen=True)
class Receipt:
    """Goods that came back for one line: `code` is its SKU or a barcode of its product
    (what a scanner reads). `restock`: None puts them back on the shelf when they are our
    stock (drop-ship goods never were: written off); True insists (refused for drop-ship
    goods); False writes them off."""

    code: str
    quantity: int = 1
    restock: bool | None = None


@dataclass(frozen=True)
class ReturnableLine:
    """A line of a shipped order and how much of it may still be asked back."""

    line_id: int
    sku: str
    name: str
    shipped: int
    in_returns: int  # asked back in open returns, or received in closed ones
    returnable: int
    unit_price: int

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "shipped": self.shipped,
            "in_returns": self.in_returns,
            "returnable": self.returnable,
            "unit_price": self.unit_price,
        }


@dataclass(frozen=True)
class ReturnResult:
    """A return after an action, the order as it is now, and what followed (a refund, an
    exchange order, notes for the operator such as a refund that could not be made)."""

    return_: ReturnView
    order: OrderDetail
    refund: PaymentResult | None = None
    exchange: OrderDetail | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "return": self.return_.to_json(),
            "order": {
                "number": self.order.number,
                "status": self.order.status.value,
                "payment_status": self.order.row.payment_status.value,
                "version": self.order.version,
            },
            "refund": (
                {
                    "outcome": self.refund.outcome,
                    "message": self.refund.message,
                    "amount": self.refund.payment.amount,
                }
                if self.refund is not None
                else None
            ),
            "exchange": self.exchange.to_json() if self.exchange is not None else None,
            "notes": list(self.notes),
        }
