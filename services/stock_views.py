"""Plain views of stock, for the CLI and the screens (no SQLAlchemy here, so screens may
import it): levels per warehouse and bin, and what each order line can get where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StockRow:
    """One product in one warehouse: `available` is on hand less what orders hold."""

    sku: str
    name: str
    warehouse: str
    warehouse_name: str
    priority: int
    bin: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "warehouse": self.warehouse,
            "warehouse_name": self.warehouse_name,
            "priority": self.priority,
            "bin": self.bin,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
        }


@dataclass(frozen=True)
class WarehouseStock:
    """Available units of one product in one warehouse (its bin, where there is one)."""

    warehouse: str
    available: int
    bin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"warehouse": self.warehouse, "available": self.available, "bin": self.bin}


@dataclass(frozen=True)
class LineAvailability:
    """What one order line needs and where stock is: the order detail shows `text`
    ("3 in MAIN, 0 in EAST") next to the line, and `held` what is reserved for it."""

    line_id: int
    sku: str
    quantity: int
    shipped: int
    reserved: int  # units this line holds ...
    warehouse: str | None  # ... in this warehouse
    fulfillment: str
    stocks: tuple[WarehouseStock, ...]  # every warehouse, by priority

    @property
    def needed(self) -> int:
        """Units not shipped and not yet held for the line."""
        if self.fulfillment != "stock":
            return 0
        return max(self.quantity - self.shipped - self.reserved, 0)

    @property
    def text(self) -> str:
        if self.fulfillment != "stock":
            return "ships from the vendor"
        if not self.stocks:
            return "not stocked in any warehouse"
        return ", ".join(f"{s.available} in {s.warehouse}" for s in self.stocks)

    @property
    def held(self) -> str:
        return f"{self.reserved} reserved in {self.warehouse}" if self.reserved else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "shipped": self.shipped,
            "reserved": self.reserved,
            "warehouse": self.warehouse,
            "needed": self.needed,
            "fulfillment": self.fulfillment,
            "stocks": [s.to_json() for s in self.stocks],
            "text": self.text,
        }
