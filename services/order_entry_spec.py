"""What the manual-order and order-edit screens hand the services and get back: plain data
(no SQLAlchemy, so screens may import it). The service is services/order_entry.py.

`edit_preview` is the one place new totals of an edit are worked out before saving, the
same way services/order_edits.py works them out when it saves (subtotal from the lines
less the discount the order came with, plus shipping and tax).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.display import money
from services.errors import InvalidInput
from services.order_edit_spec import OrderEdit
from services.statuses import Status
from services.views import OrderDetail

SHIPPING_METHODS = ("standard", "express", "overnight", "pickup", "freight")
# Orders the edit service refuses (services/order_edits.EDITABLE is the rest; a test keeps
# the two apart and complete): the edit screen says so on opening, not on saving.
NOT_EDITABLE = frozenset(
    {Status.SHIPPED, Status.COMPLETE, Status.CANCELED, Status.RETURN_REQUESTED, Status.RETURNED}
)


class DraftInvalid(InvalidInput):
    """A typed-in order with fields to fix; `errors` maps a field key to what is wrong
    (keys: customer_name, email, ship.name, ship.line1, ship.city, ship.postal_code,
    ship.country, bill.*, lines, line:<SKU>, shipping_total, payment_method, note)."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first[0]}: {first[1]}{more}")
        self.errors = errors


@dataclass(frozen=True)
class DraftAddress:
    name: str = ""
    line1: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = "US"
    region: str = ""
    line2: str = ""
    company: str = ""
    phone: str = ""


@dataclass(frozen=True)
class OrderDraft:
    """An order as typed in by hand; amounts as the operator typed them."""

    customer_name: str
    email: str
    shipping: DraftAddress
    lines: tuple[tuple[str, int], ...]
    billing: DraftAddress | None = None
    shipping_method: str = "standard"
    shipping_total: str = ""  # "7.99", "$7.99"; blank = free
    payment_method: str = "card"
    note: str = ""
    notify: bool = False


@dataclass(frozen=True)
class StockAt:
    warehouse: str
    available: int


@dataclass(frozen=True)
class ProductChoice:
    sku: str
    name: str
    price: int
    barcode: str
    drop_ship: bool
    active: bool
    stock: tuple[StockAt, ...]

    @property
    def available(self) -> int:
        return sum(s.available for s in self.stock)

    @property
    def stock_text(self) -> str:
        """ "3 in MAIN, 0 in EAST"; drop-ship products ship from their vendor."""
        if self.drop_ship:
            return "ships from the vendor"
        if not self.stock:
            return "not stocked anywhere"
        return ", ".join(f"{s.available} in {s.warehouse}" for s in self.stock)

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "price": self.price,
            "barcode": self.barcode,
            "drop_ship": self.drop_ship,
            "active": self.active,
            "stock": [{"warehouse": s.warehouse, "available": s.available} for s in self.stock],
        }


@dataclass(frozen=True)
class CustomerChoice:
    id: int
    name: str
    email: str
    phone: str
    orders: int
    address: DraftAddress | None  # where their latest order went


@dataclass(frozen=True)
class EditRow:
    """One line as the edit screen holds it: `original` is the quantity on the order as
    loaded (0 for a product added on the screen)."""

    sku: str
    name: str
    unit_price: int
    quantity: int
    original: int
    done: int = 0  # packed + shipped: the quantity cannot go below it

    @property
    def changed(self) -> bool:
        return self.quantity != self.original


@dataclass(frozen=True)
class EditPreview:
    subtotal: int
    total: int
    items: int
    old_total: int
    currency: str

    @property
    def difference(self) -> int:
        return self.total - self.old_total

    def text(self) -> str:
        diff = self.difference
        sign = "+" if diff > 0 else ""
        change = f" ({sign}{money(diff, self.currency)})" if diff else " (no change)"
        items = f"{self.items} item{'s' if self.items != 1 else ''}"
        return (
            f"{items} · subtotal {money(self.subtotal, self.currency)} · "
            f"total {money(self.total, self.currency)}{change}"
        )


def rows_of(detail: OrderDetail) -> list[EditRow]:
    """The order's lines as editable rows (lines already at 0 left out)."""
    return [
        EditRow(
            sku=ln.sku,
            name=ln.name,
            unit_price=ln.unit_price,
            quantity=ln.quantity,
            original=ln.quantity,
            done=ln.packed + ln.shipped,
        )
        for ln in detail.lines
        if ln.quantity > 0
    ]


def edit_preview(detail: OrderDetail, rows: Sequence[EditRow]) -> EditPreview:
    """The order's totals if `rows` were saved (see the module docstring)."""
    old_lines = sum(ln.quantity * ln.unit_price for ln in detail.lines)
    discount = max(old_lines - detail.subtotal, 0)
    lines_total = sum(r.quantity * r.unit_price for r in rows)
    subtotal = max(lines_total - discount, 0)
    return EditPreview(
        subtotal=subtotal,
        total=subtotal + detail.shipping_total + detail.tax_total,
        items=sum(r.quantity for r in rows),
        old_total=detail.row.total,
        currency=detail.row.currency,
    )


def edit_of(
    rows: Sequence[EditRow],
    *,
    customer_email: str | None = None,
    customer_name: str | None = None,
    memo: str = "",
) -> OrderEdit:
    """What to ask services/order_edits.py for: new quantities of lines that changed (0
    removes), products added on the screen, the customer account."""
    set_: list[tuple[str, int]] = []
    add: list[tuple[str, int]] = []
    for r in rows:
        if not r.changed:
            continue
        if r.original == 0:
            if r.quantity > 0:
                add.append((r.sku, r.quantity))
        else:
            set_.append((r.sku, r.quantity))
    return OrderEdit(
        add=tuple(add),
        set=tuple(set_),
        customer_email=customer_email,
        customer_name=customer_name,
        memo=memo,
    )


def rebase(mine: Sequence[EditRow], fresh: Sequence[EditRow]) -> tuple[list[EditRow], list[str]]:
    """After someone else saved the order: the operator's changes laid over the order as it
    is now (their quantities win where they changed a line), and the lines where both
    changed something, for the operator to check before saving again."""
    by_sku = {r.sku: r for r in fresh}
    out: list[EditRow] = []
    clashes: list[str] = []
    seen: set[str] = set()
    for r in mine:
        now = by_sku.get(r.sku)
        seen.add(r.sku)
        if now is None:  # gone meanwhile, or added here
            if r.original == 0 or r.changed:
                out.append(EditRow(r.sku, r.name, r.unit_price, r.quantity, 0, 0))
                if r.original:
                    clashes.append(f"{r.sku} was removed meanwhile; you set it to {r.quantity}")
            continue
        if r.changed:
            if now.quantity != r.original:
                clashes.append(
                    f"{r.sku}: {r.original} → {now.quantity} meanwhile; you set {r.quantity}"
                )
            out.append(EditRow(r.sku, now.name, now.unit_price, r.quantity, now.quantity, now.done))
        else:
            out.append(now)
    out += [r for r in fresh if r.sku not in seen]
    return out, clashes
