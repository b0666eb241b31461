"""Pick lists: where each unit of one or more orders sits, in the order a picker walks past it.

A line is picked from the warehouse that holds its stock: the line's own (set when stock is
reserved for it), else the order's, each only if it has a bin for the product; else the
highest-priority warehouse (lowest `priority` number) that has the product on hand, else
any warehouse with a bin for it. Within a
warehouse, bins sort naturally ("A-2" before "A-10") so the list is one walk down the
aisles. A batch list adds up one SKU in one bin across orders and says how many each order
takes, so a picker visits every bin once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.barcodes import printable
from services.db import Database
from services.errors import InvalidInput, NotFound, Refused
from services.models import Order, OrderLine, ProductBarcode, StockLevel, Warehouse
from services.orders import facts_of
from services.statuses import Fulfillment
from services.uow import Clock, UnitOfWork, parse_ref, utcnow
from services.views import PickList, PickRow
from services.workflow import pack_refusal

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates" / "picking"
MAX_ORDERS = 500  # one batch is one cart; more than this is a mistake, not a batch


class NothingToPick(Refused):
    """Every order named is packed already, or not in a status that is picked."""


@dataclass(frozen=True)
class Location:
    warehouse: str  # code; "" when no warehouse knows the product
    bin: str
    priority: int  # of the warehouse; sorts the walk (unknown warehouses last)


NOWHERE = Location("", "", 1 << 30)


def bin_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Natural order for bins: "A-2-1" < "A-10-1"; an empty bin sorts after every bin."""
    if not text:
        return ((2, 0, ""),)
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", text)
        if part
    )


def walk_key(loc: Location, sku: str) -> tuple[Any, ...]:
    return (loc.priority, loc.warehouse, bin_key(loc.bin), sku)


async def locate(
    session: AsyncSession, orders: Iterable[Order], lines: Iterable[OrderLine]
) -> dict[int, Location]:
    """Where each line is picked from, by line id (see the module docstring for the rule)."""
    lines = [ln for ln in lines if ln.product_id is not None]
    if not lines:
        return {}
    order_wh = {o.id: o.warehouse_id for o in orders}
    pids = {ln.product_id for ln in lines}
    warehouses = {
        w.id: w for w in (await session.execute(select(Warehouse))).scalars()
    }  # a handful of rows
    # per product: warehouse id -> (bin, on hand)
    stock: dict[int, dict[int, tuple[str, int]]] = {}
    for pid, wid, bin_, on_hand in (
        await session.execute(
            select(
                StockLevel.product_id, StockLevel.warehouse_id, StockLevel.bin, StockLevel.on_hand
            ).where(StockLevel.product_id.in_(pids))
        )
    ).all():
        stock.setdefault(pid, {})[wid] = (bin_, on_hand)
    out: dict[int, Location] = {}
    for ln in lines:
        assert ln.product_id is not None
        levels = stock.get(ln.product_id, {})
        chosen = next(
            (w for w in (ln.warehouse_id, order_wh.get(ln.order_id)) if w in levels), None
        )
        if chosen is None and levels:
            # Highest priority first among warehouses with stock on hand, then any with a bin.
            chosen = min(
                levels,
                key=lambda wid: (
                    levels[wid][1] <= 0,
                    warehouses[wid].priority if wid in warehouses else 1 << 30,
                    warehouses[wid].code if wid in warehouses else "",
                ),
            )
        if chosen is None or chosen not in warehouses:
            out[ln.id] = NOWHERE
            continue
        wh = warehouses[chosen]
        out[ln.id] = Location(wh.code, levels[chosen][0], wh.priority)
    return out


async def first_barcodes(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, str]:
    """Each product's first GTIN (an internal code only when it has none), as orders show."""
    pids = set(product_ids)
    if not pids:
        return {}
    out: dict[int, str] = {}
    for pid, code in (
        await session.execute(
            select(ProductBarcode.product_id, ProductBarcode.code)
            .where(ProductBarcode.product_id.in_(pids))
            .order_by(
                ProductBarcode.product_id, ProductBarcode.kind == "internal", ProductBarcode.code
            )
        )
    ).all():
        out.setdefault(pid, code)
    return out


def remaining(line: OrderLine) -> int:
    """Units of a stock line still to pick: neither packed nor shipped yet."""
    if line.fulfillment is not Fulfillment.STOCK:
        return 0
    return max(line.quantity - line.packed - line.shipped, 0)


class PickService:
    def __init__(
        self, db: Database, *, operator: str, shop_name: str = "", clock: Clock = utcnow
    ) -> None:
        self.db = db
        self.operator = operator
        self.shop_name = shop_name
        self.clock = clock

    async def pick_list(self, refs: Sequence[str | int]) -> PickList:
        """What to pick for these orders, in walking order; one order or a batch.

        Orders that cannot be packed now (not processing, or nothing left) are listed under
        `skipped` with the reason; when nothing at all is left to pick, NothingToPick.
        """
        numbers = list(dict.fromkeys(parse_ref(r) for r in refs))
        if not numbers:
            raise InvalidInput("name at least one order")
        if len(numbers) > MAX_ORDERS:
            raise InvalidInput(f"at most {MAX_ORDERS} orders in one pick list ({len(numbers)})")
        async with UnitOfWork(self.db, write=False, clock=self.clock, actor=self.operator) as uow:
            s = uow.session
            found = {
                o.number: o
                for o in (
                    await s.execute(
                        select(Order)
                        .where(Order.number.in_(numbers))
                        .options(selectinload(Order.lines))
                    )
                ).scalars()
            }
            missing = [n for n in numbers if n not in found]
            if missing:
                raise NotFound("no order " + ", ".join(f"#{n}" for n in missing))
            orders = [found[n] for n in numbers]
            skipped: list[tuple[int, str]] = []
            wanted: list[OrderLine] = []
            for order in orders:
                problem = pack_refusal(facts_of(order))
                todo = [ln for ln in order.lines if remaining(ln) > 0]
                if problem is None and not todo:
                    problem = f"order #{order.number}: everything is packed"
                if problem is not None:
                    skipped.append((order.number, problem))
                    continue
                wanted.extend(todo)
            if not wanted:
                raise NothingToPick("nothing to pick: " + "; ".join(why for _, why in skipped))
            where = await locate(s, orders, wanted)
            barcodes = await first_barcodes(
                s, (ln.product_id for ln in wanted if ln.product_id is not None)
            )
            number_of = {o.id: o.number for o in orders}
            # One stop per (warehouse, bin, SKU): how many each order takes from it.
            stops: dict[tuple[str, str, str], tuple[Location, OrderLine, dict[int, int]]] = {}
            for ln in wanted:
                loc = where.get(ln.id, NOWHERE)
                _, _, per_order = stops.setdefault((loc.warehouse, loc.bin, ln.sku), (loc, ln, {}))
                number = number_of[ln.order_id]
                per_order[number] = per_order.get(number, 0) + remaining(ln)
            rows = [
                PickRow(
                    warehouse=loc.warehouse,
                    bin=loc.bin,
                    sku=ln.sku,
                    name=ln.name,
                    barcode=barcodes.get(ln.product_id, "") if ln.product_id else "",
                    quantity=sum(per_order.values()),
                    orders=tuple(per_order.items()),
                )
                for loc, ln, per_order in sorted(
                    stops.values(), key=lambda stop: walk_key(stop[0], stop[1].sku)
                )
            ]
            picked = tuple(o.number for o in orders if o.number not in dict(skipped))
        # (The rows above are built inside the transaction: its rollback expires the orders.)
        return PickList(
            orders=picked,
            rows=tuple(rows),
            skipped=tuple(skipped),
            created_at=self.clock(),
            created_by=self.operator,
        )

    def render_text(self, pick_list: PickList) -> str:
        """Plain text for a terminal or a line printer; control characters made visible."""
        return _environment().get_template("pick_list.txt").render(**self._context(pick_list))

    def render_html(self, pick_list: PickList) -> str:
        """A printable page (autoescaped: product names are data, never markup)."""
        return _environment().get_template("pick_list.html").render(**self._context(pick_list))

    def _context(self, pick_list: PickList) -> dict[str, Any]:
        return {"shop": self.shop_name, "pick": pick_list}


def _cell(value: object, width: int = 0) -> str:
    """A text-table cell: printable, cut to `width` with an ellipsis, padded to it."""
    text = printable(str(value))
    if width <= 0:
        return text
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


@cache
def _environment() -> Environment:
    # Imported here: a CLI command that prints no pick list does not pay for jinja2.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = _cell
    return env
