"""Inventory: stock per warehouse and bin, reservations that follow the order, stock that
leaves with shipments, and the sales channels told every change.

The numbers, and what a caller may rely on:

- `stock_levels.on_hand` is what is on the shelf, `stock_levels.reserved` what of it is
  promised to orders not yet shipped; `on_hand - reserved` (available) never goes below 0.
- `order_lines.reserved` is what one line holds, in `order_lines.warehouse_id`. Reserving
  is idempotent: a line needs `quantity - shipped - reserved` more, so entering processing
  again (after a hold, a backorder or a deleted shipment) reserves only what is missing.
- Entering processing (the workflow's RESERVE_STOCK) assigns the order to the first
  warehouse, by `warehouses.priority`, that can ship all of it; else each line to the first
  that can ship that line; lines no warehouse can ship stay unreserved and the order goes
  on to backorder, the missing lines listed in the history memo (a `FollowUp` of the
  transition, so the history reads new -> processing -> backorder). The lines that did get
  stock keep it while the order waits.
- Shipping takes the units from on hand and from the line's reservation; deleting the
  shipment puts them back on hand, held for the line again (they are packed for it).
  Canceling (RELEASE_STOCK) gives every reservation back.
- Two orders racing for the last unit: the stock rows are locked (SELECT ... FOR UPDATE on
  PostgreSQL; SQLite's write transactions are serial) and every change is a conditional
  UPDATE (`on_hand - reserved >= qty`), so one gets it and the other goes to backorder.

After a change, each configured `stock_webhooks` URL gets an outbox row `stock.changed`
with the new quantities of the products touched, in the same transaction: the channels
hear about every change, and a receiver that is down gets it later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update

from services.bulk import table_of
from services.db import Database
from services.errors import InvalidInput, NotFound
from services.models import Notification, Order, OrderLine, Product, StockLevel, Warehouse
from services.orders import FollowUp, OrderService
from services.outbox import new_key
from services.statuses import Fulfillment, NotificationState, Status
from services.stock_views import LineAvailability, StockRow, WarehouseStock
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import Change, Effect, Request

STOCK = table_of(StockLevel)
MAX_QUANTITY = 10_000_000
STOCK_EVENT = "stock.changed"


@dataclass(frozen=True)
class Shortage:
    """A line no single warehouse can ship now, and what each warehouse has."""

    line_id: int
    sku: str
    needed: int
    stocks: tuple[WarehouseStock, ...]

    @property
    def text(self) -> str:
        where = ", ".join(f"{s.available} in {s.warehouse}" for s in self.stocks)
        return f"{self.sku} ×{self.needed} ({where or 'not stocked anywhere'})"


def shortage_memo(shortages: Sequence[Shortage]) -> str:
    return "not enough stock for " + "; ".join(s.text for s in shortages)


@dataclass(frozen=True)
class _Wh:
    id: int
    code: str
    priority: int


def _stocked(line: OrderLine) -> bool:
    return line.fulfillment is Fulfillment.STOCK and line.product_id is not None


class InventoryService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        *,
        operator: str,
        clock: Clock = utcnow,
        webhooks: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.orders = orders
        self.operator = operator
        self.clock = clock
        self.webhooks = webhooks
        orders.effects[Effect.RESERVE_STOCK] = self._on_processing
        orders.effects[Effect.RELEASE_STOCK] = self._on_cancel

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.operator)

    # -- what there is ------------------------------------------------------------------

    async def levels(self, sku: str | None = None) -> list[StockRow]:
        """Stock rows by SKU, then warehouse priority; `sku` narrows to one product."""
        stmt = (
            select(
                Product.sku,
                Product.name,
                Warehouse.code,
                Warehouse.name,
                Warehouse.priority,
                StockLevel.bin,
                StockLevel.on_hand,
                StockLevel.reserved,
            )
            .join(Product, Product.id == StockLevel.product_id)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .order_by(Product.sku, Warehouse.priority, Warehouse.id)
        )
        async with self._uow() as uow:
            if sku is not None:
                await self._product(uow, sku)  # NotFound for an unknown SKU
                stmt = stmt.where(Product.sku == sku.strip())
            rows = (await uow.session.execute(stmt)).all()
        return [StockRow(*row) for row in rows]

    async def availability(self, ref: str | int) -> tuple[LineAvailability, ...]:
        """Per line of the order: what it holds, and what every warehouse has available."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            return await self.availability_of(uow, order)

    async def availability_of(self, uow: UnitOfWork, order: Order) -> tuple[LineAvailability, ...]:
        warehouses = await self._warehouses(uow)
        codes = {w.id: w.code for w in warehouses}
        pids = {ln.product_id for ln in order.lines if ln.product_id is not None}
        levels = await self._read_levels(uow, pids)
        out = []
        for ln in order.lines:
            stocks: tuple[WarehouseStock, ...] = ()
            if ln.product_id is not None:
                stocks = tuple(
                    WarehouseStock(
                        w.code,
                        max(levels.get((ln.product_id, w.id), (0, 0, ""))[0], 0),
                        levels.get((ln.product_id, w.id), (0, 0, ""))[2],
                    )
                    for w in warehouses
                )
            out.append(
                LineAvailability(
                    line_id=ln.id,
                    sku=ln.sku,
                    quantity=ln.quantity,
                    shipped=ln.shipped,
                    reserved=ln.reserved,
                    warehouse=codes.get(ln.warehouse_id) if ln.warehouse_id else None,
                    fulfillment=ln.fulfillment.value,
                    stocks=stocks,
                )
            )
        return tuple(out)

    # -- counting -----------------------------------------------------------------------

    async def set_level(
        self, sku: str, warehouse: str, on_hand: int, *, bin: str | None = None, note: str = ""
    ) -> StockRow:
        """Set what is on the shelf (a count, a delivery booked in). Refused below what orders
        hold there: release or move those orders first. Creates the row on first use."""
        if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
            raise InvalidInput("a stock quantity is a whole number of 0 or more")
        if on_hand > MAX_QUANTITY:
            raise InvalidInput(f"{on_hand} units is more than a warehouse holds; a typo?")
        if bin is not None and len(bin) > 32:
            raise InvalidInput("a bin name has at most 32 characters")
        async with self._uow(write=True) as uow:
            product = await self._product(uow, sku)
            wh = await self._warehouse(uow, warehouse)
            found = await self._read_levels(uow, {product.id}, lock=True)
            current = found.get((product.id, wh.id))
            reserved = current[1] if current else 0
            before = current[0] + current[1] if current else 0
            if on_hand < reserved:
                raise InvalidInput(
                    f"{wh.code} holds {reserved} × {product.sku} for orders; on hand cannot go "
                    f"below {reserved} (cancel or move those orders first)"
                )
            if current is None:
                uow.session.add(
                    StockLevel(
                        product_id=product.id,
                        warehouse_id=wh.id,
                        bin=bin or "",
                        on_hand=on_hand,
                        reserved=0,
                    )
                )
                await uow.session.flush()
            else:
                values: dict[str, Any] = {"on_hand": on_hand}
                if bin is not None:
                    values["bin"] = bin
                await uow.session.execute(
                    update(STOCK)
                    .where(STOCK.c.product_id == product.id, STOCK.c.warehouse_id == wh.id)
                    .values(**values)
                )
            uow.audit(
                "stock.set",
                "product",
                product.id,
                sku=product.sku,
                warehouse=wh.code,
                on_hand_before=before,
                on_hand=on_hand,
                bin=bin,
                note=note,
            )
            await self.announce(uow, {product.id}, reason="count")
            await uow.commit()
        rows = await self.levels(product.sku)
        return next(r for r in rows if r.warehouse == wh.code)

    # -- reservations (inside another service's unit of work) ------------------------------

    async def reserve(self, uow: UnitOfWork, order: Order) -> list[Shortage]:
        """Hold stock for every unshipped unit of the order's stock lines; see the module
        docstring for the rule. Returns the lines no warehouse could ship (nothing held)."""
        lines = [ln for ln in order.lines if _stocked(ln)]
        touched = await self._trim(uow, lines)
        wanting = [ln for ln in lines if ln.quantity - ln.shipped - ln.reserved > 0]
        if not wanting:
            if touched:
                await self.announce(uow, touched, order=order, reason="reserve")
            return []
        warehouses = await self._warehouses(uow)
        pids = {ln.product_id for ln in wanting if ln.product_id is not None}
        levels = await self._read_levels(uow, pids, lock=True)
        avail: dict[tuple[int, int], int] = {k: v[0] for k, v in levels.items()}
        before = dict(avail)
        # A line holding stock, or packed or shipped from somewhere, stays in its warehouse.
        pinned = {
            ln.id: ln.warehouse_id
            for ln in lines
            if ln.warehouse_id is not None and (ln.reserved or ln.packed or ln.shipped)
        }
        plan = self._one_warehouse(wanting, lines, pinned, warehouses, avail)
        if plan is None:
            plan = self._by_line(wanting, pinned, warehouses, avail)
        shortages: list[Shortage] = []
        for ln in wanting:
            assert ln.product_id is not None
            need = ln.quantity - ln.shipped - ln.reserved
            wid = plan.get(ln.id)
            if wid is not None and await self._take(uow, ln.product_id, wid, need):
                ln.warehouse_id = wid
                ln.reserved += need
                touched.add(ln.product_id)
                continue
            shortages.append(
                Shortage(
                    line_id=ln.id,
                    sku=ln.sku,
                    needed=need,
                    stocks=tuple(
                        WarehouseStock(w.code, max(before.get((ln.product_id, w.id), 0), 0))
                        for w in warehouses
                    ),
                )
            )
        held = {ln.warehouse_id for ln in lines if ln.reserved > 0 or ln.shipped or ln.packed}
        order.warehouse_id = held.pop() if len(held) == 1 else None
        if touched:
            await self.announce(uow, touched, order=order, reason="reserve")
        uow.audit(
            "stock.reserve",
            "order",
            order.number,
            lines=[
                {"sku": ln.sku, "reserved": ln.reserved, "warehouse_id": ln.warehouse_id}
                for ln in lines
            ],
            short=[{"sku": s.sku, "quantity": s.needed} for s in shortages],
        )
        return shortages

    @staticmethod
    def _one_warehouse(
        wanting: list[OrderLine],
        lines: list[OrderLine],
        pinned: dict[int, int],
        warehouses: list[_Wh],
        avail: dict[tuple[int, int], int],
    ) -> dict[int, int] | None:
        """The first warehouse by priority that can ship everything still needed (and holds
        whatever the order already holds), as line id -> warehouse id."""
        need: dict[int, int] = defaultdict(int)
        for ln in wanting:
            assert ln.product_id is not None
            need[ln.product_id] += ln.quantity - ln.shipped - ln.reserved
        for w in warehouses:
            if any(wid != w.id for wid in pinned.values()):
                continue
            if all(avail.get((pid, w.id), 0) >= qty for pid, qty in need.items()):
                return {ln.id: w.id for ln in wanting}
        return None

    @staticmethod
    def _by_line(
        wanting: list[OrderLine],
        pinned: dict[int, int],
        warehouses: list[_Wh],
        avail: dict[tuple[int, int], int],
    ) -> dict[int, int]:
        """Each line from the first warehouse by priority that can ship it whole."""
        plan: dict[int, int] = {}
        for ln in sorted(wanting, key=lambda x: x.position):
            assert ln.product_id is not None
            need = ln.quantity - ln.shipped - ln.reserved
            own = pinned.get(ln.id)
            for wid in [own] if own is not None else [w.id for w in warehouses]:
                key = (ln.product_id, wid)
                if avail.get(key, 0) >= need:
                    plan[ln.id] = wid
                    avail[key] -= need
                    break
        return plan

    async def _take(self, uow: UnitOfWork, product_id: int, warehouse_id: int, qty: int) -> bool:
        """Reserve `qty` if it is available: the WHERE is the last word under concurrency."""
        result = await uow.session.execute(
            update(STOCK)
            .where(
                STOCK.c.product_id == product_id,
                STOCK.c.warehouse_id == warehouse_id,
                STOCK.c.on_hand - STOCK.c.reserved >= qty,
            )
            .values(reserved=STOCK.c.reserved + qty)
        )
        return bool(getattr(result, "rowcount", 0))

    async def _trim(self, uow: UnitOfWork, lines: Iterable[OrderLine]) -> set[int]:
        """Lines holding more than they still need (an edit lowered the quantity) give the
        rest back."""
        touched: set[int] = set()
        for ln in lines:
            extra = ln.reserved - max(ln.quantity - ln.shipped, 0)
            if extra > 0 and ln.product_id is not None and ln.warehouse_id is not None:
                await self._unreserve(uow, ln.product_id, ln.warehouse_id, extra)
                ln.reserved -= extra
                touched.add(ln.product_id)
        return touched

    async def _unreserve(self, uow: UnitOfWork, product_id: int, warehouse_id: int, n: int) -> None:
        await uow.session.execute(
            update(STOCK)
            .where(STOCK.c.product_id == product_id, STOCK.c.warehouse_id == warehouse_id)
            .values(reserved=case((STOCK.c.reserved > n, STOCK.c.reserved - n), else_=0))
        )

    async def release(
        self, uow: UnitOfWork, order: Order, lines: Iterable[OrderLine] | None = None
    ) -> None:
        """Give back what the lines (default: all of the order's) hold."""
        touched: set[int] = set()
        for ln in order.lines if lines is None else lines:
            if ln.reserved > 0 and ln.product_id is not None and ln.warehouse_id is not None:
                await self._unreserve(uow, ln.product_id, ln.warehouse_id, ln.reserved)
                touched.add(ln.product_id)
                ln.reserved = 0
        if touched:
            await self.announce(uow, touched, order=order, reason="release")

    # -- the goods leave and come back (services/shipping.py calls these) -------------------

    async def consume(
        self,
        uow: UnitOfWork,
        order: Order,
        moves: Sequence[tuple[OrderLine, int]],
        *,
        unreserved: bool = True,
    ) -> None:
        """Units shipped: off the shelf and out of the line's reservation. Units shipped that
        the line did not hold (an order from before reservations) come off the shelf of the
        line's warehouse, else of the first by priority that has them, as far as there are
        any (`unreserved=False`: only what was held, e.g. a channel's own fulfillment)."""
        touched: set[int] = set()
        short: list[dict[str, Any]] = []
        for ln, qty in moves:
            if qty <= 0 or not _stocked(ln):
                continue
            assert ln.product_id is not None
            held = min(qty, ln.reserved)
            if held and ln.warehouse_id is not None:
                await uow.session.execute(
                    update(STOCK)
                    .where(
                        STOCK.c.product_id == ln.product_id,
                        STOCK.c.warehouse_id == ln.warehouse_id,
                    )
                    .values(
                        on_hand=case((STOCK.c.on_hand > held, STOCK.c.on_hand - held), else_=0),
                        reserved=case((STOCK.c.reserved > held, STOCK.c.reserved - held), else_=0),
                    )
                )
                ln.reserved -= held
                touched.add(ln.product_id)
            rest = qty - held
            if rest <= 0 or not unreserved:
                continue
            wid, took = await self._take_off_shelf(uow, ln, rest)
            if wid is not None:
                ln.warehouse_id = ln.warehouse_id or wid
                touched.add(ln.product_id)
            if took < rest:
                short.append({"sku": ln.sku, "shipped": rest, "on_shelf": took})
        if short:
            uow.audit("stock.short", "order", order.number, lines=short)
        if touched:
            await self.announce(uow, touched, order=order, reason="shipped")

    async def _take_off_shelf(
        self, uow: UnitOfWork, ln: OrderLine, qty: int
    ) -> tuple[int | None, int]:
        assert ln.product_id is not None
        levels = await self._read_levels(uow, {ln.product_id}, lock=True)
        warehouses = await self._warehouses(uow)
        order_of = [w.id for w in warehouses]
        if ln.warehouse_id is not None:
            order_of = [ln.warehouse_id]
        else:
            order_of.sort(
                key=lambda wid: levels.get((ln.product_id or 0, wid), (0, 0, ""))[0] < qty
            )
        for wid in order_of:
            free = levels.get((ln.product_id, wid), (0, 0, ""))[0]
            take = min(qty, max(free, 0))
            if take <= 0:
                continue
            await uow.session.execute(
                update(STOCK)
                .where(
                    STOCK.c.product_id == ln.product_id,
                    STOCK.c.warehouse_id == wid,
                    STOCK.c.on_hand - STOCK.c.reserved >= take,
                )
                .values(on_hand=STOCK.c.on_hand - take)
            )
            return wid, take
        return (order_of[0] if order_of else None), 0

    async def unconsume(
        self, uow: UnitOfWork, order: Order, moves: Sequence[tuple[OrderLine, int]]
    ) -> None:
        """A shipment deleted: its units are back on the shelf, held for their line (they are
        packed for it), in the warehouse they left from."""
        touched: set[int] = set()
        for ln, qty in moves:
            if qty <= 0 or not _stocked(ln):
                continue
            assert ln.product_id is not None
            wid = ln.warehouse_id or await self._home(uow, ln.product_id)
            if wid is None:
                continue
            result = await uow.session.execute(
                update(STOCK)
                .where(STOCK.c.product_id == ln.product_id, STOCK.c.warehouse_id == wid)
                .values(on_hand=STOCK.c.on_hand + qty, reserved=STOCK.c.reserved + qty)
            )
            if not getattr(result, "rowcount", 0):
                uow.session.add(
                    StockLevel(
                        product_id=ln.product_id, warehouse_id=wid, on_hand=qty, reserved=qty
                    )
                )
                await uow.session.flush()
            ln.warehouse_id = wid
            ln.reserved += qty
            touched.add(ln.product_id)
        if touched:
            await self.announce(uow, touched, order=order, reason="shipment_deleted")

    async def _home(self, uow: UnitOfWork, product_id: int) -> int | None:
        """Where goods of a product go back to: the first warehouse by priority stocking it,
        else the first warehouse there is."""
        row = (
            await uow.session.execute(
                select(Warehouse.id)
                .join(StockLevel, StockLevel.warehouse_id == Warehouse.id)
                .where(StockLevel.product_id == product_id)
                .order_by(Warehouse.priority, Warehouse.id)
                .limit(1)
            )
        ).scalar()
        if row is None:
            row = (
                await uow.session.execute(
                    select(Warehouse.id).order_by(Warehouse.priority, Warehouse.id).limit(1)
                )
            ).scalar()
        return int(row) if row is not None else None

    # -- the workflow's effects ---------------------------------------------------------

    async def _on_processing(
        self, uow: UnitOfWork, order: Order, change: Change
    ) -> FollowUp | None:
        shortages = await self.reserve(uow, order)
        if not shortages or Status.BACKORDER in self.orders.workflow.disabled:
            return None
        return FollowUp(Request(Status.BACKORDER), memo=shortage_memo(shortages))

    async def _on_cancel(self, uow: UnitOfWork, order: Order, change: Change) -> None:
        await self.release(uow, order)

    # -- telling the channels -----------------------------------------------------------

    async def restocked(self, uow: UnitOfWork, order: Order, product_ids: set[int]) -> None:
        """Goods a refund put back on a shelf (PaymentService.on_restocked): the channels
        hear the new quantities, in the refund's transaction."""
        await self.announce(uow, product_ids, order=order, reason="refund restock")

    async def announce(
        self,
        uow: UnitOfWork,
        product_ids: set[int],
        *,
        order: Order | None = None,
        reason: str,
    ) -> list[Notification]:
        """One `stock.changed` outbox row per configured URL with the products' quantities
        as they are now in this transaction."""
        if not self.webhooks or not product_ids:
            return []
        rows = (
            await uow.session.execute(
                select(
                    Product.id,
                    Product.sku,
                    Warehouse.code,
                    StockLevel.on_hand,
                    StockLevel.reserved,
                )
                .join(StockLevel, StockLevel.product_id == Product.id)
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
                .where(Product.id.in_(product_ids))
                .order_by(Product.sku, Warehouse.priority, Warehouse.id)
            )
        ).all()
        items: dict[str, dict[str, Any]] = {}
        for _pid, sku, code, on_hand, reserved in rows:
            item = items.setdefault(sku, {"sku": sku, "available": 0, "warehouses": []})
            free = max(on_hand - reserved, 0)
            item["available"] += free
            item["warehouses"].append(
                {"warehouse": code, "on_hand": on_hand, "reserved": reserved, "available": free}
            )
        now = uow.clock()
        payload = {
            "event": STOCK_EVENT,
            "reason": reason,
            "number": order.number if order is not None else None,
            "at": now.isoformat(),
            "items": list(items.values()),
        }
        out = [
            Notification(
                order_id=order.id if order is not None else None,
                event=STOCK_EVENT,
                channel="webhook",
                recipient=url,
                payload=payload,
                state=NotificationState.QUEUED,
                next_attempt_at=now,
                idempotency_key=new_key(),
                created_at=now,
            )
            for url in self.webhooks
        ]
        uow.session.add_all(out)
        return out

    # -- lookups ------------------------------------------------------------------------

    async def _warehouses(self, uow: UnitOfWork) -> list[_Wh]:
        rows = await uow.session.execute(
            select(Warehouse.id, Warehouse.code, Warehouse.priority).order_by(
                Warehouse.priority, Warehouse.id
            )
        )
        return [_Wh(int(i), str(c), int(p)) for i, c, p in rows.all()]

    async def _read_levels(
        self, uow: UnitOfWork, product_ids: set[int], *, lock: bool = False
    ) -> dict[tuple[int, int], tuple[int, int, str]]:
        """(product, warehouse) -> (available, reserved, bin); rows locked when asked (in id
        order, so two orders lock the same rows in the same order)."""
        if not product_ids:
            return {}
        stmt = (
            select(
                STOCK.c.product_id,
                STOCK.c.warehouse_id,
                STOCK.c.on_hand,
                STOCK.c.reserved,
                STOCK.c.bin,
            )
            .where(STOCK.c.product_id.in_(sorted(product_ids)))
            .order_by(STOCK.c.id)
        )
        if lock and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        rows = (await uow.session.execute(stmt)).all()
        return {(int(p), int(w)): (int(oh) - int(r), int(r), str(b)) for p, w, oh, r, b in rows}

    async def _product(self, uow: UnitOfWork, sku: str) -> Product:
        found = (
            await uow.session.execute(select(Product).where(Product.sku == sku.strip()))
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no product with SKU {sku.strip()[:64]!r}")
        return found

    async def _warehouse(self, uow: UnitOfWork, code: str) -> Warehouse:
        wanted = code.strip().upper()
        found = (
            await uow.session.execute(select(Warehouse).where(func.upper(Warehouse.code) == wanted))
        ).scalar_one_or_none()
        if found is None:
            known = ", ".join(w.code for w in await self._warehouses(uow)) or "none"
            raise NotFound(f"no warehouse {code.strip()[:32]!r} (warehouses: {known})")
        return found
