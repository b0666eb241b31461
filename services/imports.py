"""Orders in from files: Shopify's order export, a generic CSV and JSON (the formats are
described in services/import_formats.py, services/shopify_csv.py and docs/imports.md).

What a caller may rely on:

- Each order goes in whole or not at all. Every check of `OrderService.create` (lines,
  quantities, SKUs, text lengths) runs before anything is written; an order that fails is
  reported with its file lines and the reason, and the others go in.
- Idempotent: orders are matched by channel + order name (`orders.channel` /
  `channel_ref`, unique), so importing the same file again changes nothing.
- A known order whose channel status moved on follows it through the status machine
  (`OrderService.apply_transition`, actor `channel:<name>`): canceled on the storefront ->
  canceled here (its stock released); fulfilled there -> its lines count as shipped (the
  stock it held leaves with them) and the order walks the table to shipped or
  partially_shipped. Money taken or refunded there is recorded as payment rows by the same
  actor, and our payment status derived from them as for any order. What cannot follow
  (a canceled order fulfilled there, a high-risk hold) is left as it is and reported.
- A SKU not in the catalogue: per `import_unknown_sku`, the line is imported without a
  product and the order flagged (`orders.flags`), or the whole order refused.
- New orders arriving as `new` meet the same arrival checks as any (risk review, payment
  holds: `OrderService.arrival_hooks`); orders already fulfilled or canceled on the channel
  are history and come in as they are, without touching stock.

Speed: orders are written in batches of `BATCH` per transaction with the driver's bulk
path (services/bulk.py), ids drawn up front, every row built once as a driver-ready tuple;
a batch the database refuses is retried one order per transaction, so only the order at
fault is reported. Figures: bench/bench_imports.py (the database's own share, the "floor",
is most of it: ~6.5 rows stored per CSV row, with their indexes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from services import search
from services.bulk import write_rows
from services.db import Database
from services.errors import InvalidInput, Refused
from services.import_formats import (
    Bad,
    Followed,
    ImportedOrder,
    ImportReport,
    MoneyState,
    Notice,
    Progress,
    Rejected,
    money_state,
    read_generic_csv,
    read_json,
)
from services.inventory import InventoryService
from services.models import (
    Customer,
    Order,
    OrderLine,
    Payment,
    Product,
    StatusEvent,
)
from services.orders import FIRST_ORDER_NUMBER, OrderService, facts_of
from services.outbox import new_key
from services.payment_state import derive_status
from services.review import acting_as
from services.settings import Settings
from services.shopify_csv import read as read_shopify
from services.statuses import Fulfillment, NotificationState, PaymentStatus, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import OrderFacts, Request, Workflow

Format = Literal["shopify", "csv", "json"]
FORMATS: tuple[Format, ...] = ("shopify", "csv", "json")
BATCH = 1000
UNKNOWN_FLAG = "unknown SKU"
S = Status
# Enum values as plain strings, read once: a member's `.value` is a Python-level property,
# and a big import reads a dozen of them an order.
_STOCK, _DROP_SHIP = str(Fulfillment.STOCK), str(Fulfillment.DROP_SHIP)
# What the channel calls each status it can move an order to, for the history memo.
CHANNEL_WORDS = {
    S.CANCELED: "canceled",
    S.SHIPPED: "fulfilled",
    S.PARTIALLY_SHIPPED: "partially fulfilled",
}


@dataclass(frozen=True)
class _Product:
    id: int
    name: str
    price: int
    fulfillment: str  # of its lines: a Fulfillment value


class _Line(NamedTuple):
    product_id: int | None
    sku: str
    name: str
    quantity: int
    unit_price: int
    shipped: int
    fulfillment: str  # a Fulfillment value


@dataclass
class _Ready:
    """An order checked against the catalogue, with everything needed to write it."""

    src: ImportedOrder
    lines: list[_Line]
    subtotal: int
    total: int
    money: MoneyState
    payment_status: PaymentStatus
    flags: list[str]
    notices: list[str]
    units: int  # of all lines

    @property
    def key(self) -> tuple[str, str]:
        return (self.src.channel, self.src.ref)


@dataclass
class _Known:
    id: int
    number: int
    status: Status
    shipped: int
    channel_money: dict[str, int]


@dataclass
class _Outcome:
    """What one batch did; merged into the report once its transaction commits."""

    created: list[tuple[str, int]] = field(default_factory=list)
    followed: list[Followed] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def add(self, other: _Outcome) -> None:
        self.created += other.created
        self.followed += other.followed
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.notices += other.notices


class _Relay:
    """The reader's progress, kept for the event loop to pass on (the reader runs in a
    worker thread; a screen's callback must not)."""

    def __init__(self) -> None:
        self.seen: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self.seen = (done, total)


class _NoPath(Exception):
    """A known order cannot follow its channel; the savepoint is rolled back."""


def channel_actor(channel: str) -> str:
    return f"channel:{channel}"[:100]


def detect_format(path: Path) -> Format:
    """What a dropped file is: `.json` is JSON; a CSV with Shopify's `Lineitem quantity`
    column is a Shopify export; any other CSV the generic format."""
    if path.suffix.casefold() == ".json":
        return "json"
    try:
        with path.open("rb") as f:
            head = f.readline(64 * 1024).decode("utf-8-sig", errors="replace").casefold()
    except OSError:
        return "csv"
    return "shopify" if "lineitem quantity" in head or "line item quantity" in head else "csv"


def path_to(workflow: Workflow, facts: OrderFacts, target: Status) -> list[Status] | None:
    """The shortest walk through the status table from the order's status to `target`,
    every step allowed by its guards (the facts as they are), never through held or
    canceled. None: there is no such walk."""
    start = facts.status
    came_from: dict[Status, Status | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here is target:
            break
        at = facts if here is start else dataclasses.replace(facts, status=here, held_from=None)
        for step in workflow.targets(here):
            if step in came_from or (step in (S.HELD, S.CANCELED) and step is not target):
                continue
            if workflow.why_not(at, Request(step)) is None:
                came_from[step] = here
                queue.append(step)
    if target not in came_from or target is start:
        return None
    walk: list[Status] = []
    node: Status | None = target
    while node is not None and node is not start:
        walk.append(node)
        node = came_from[node]
    return walk[::-1]


@dataclass
class _PaymentRow:
    kind: str
    amount: int
    state: str = "approved"


def _payment_rows(money: MoneyState, total: int) -> list[_PaymentRow]:
    rows = []
    if money.captured:
        rows.append(_PaymentRow("charge", money.captured))
    if money.authorized:
        rows.append(_PaymentRow("authorize", money.authorized))
    if money.refunded:
        rows.append(_PaymentRow("refund", money.refunded))
    if money.voided:
        rows += [_PaymentRow("authorize", total), _PaymentRow("void", total)]
    return rows


def payment_status_of(money: MoneyState, total: int) -> PaymentStatus:
    """What `derive_status` makes of `_payment_rows(money, total)`, without the rows
    (tests/services/test_import_formats.py checks the two agree)."""
    if money.captured or money.refunded:
        if money.refunded >= money.captured:
            return PaymentStatus.REFUNDED
        if money.refunded:
            return PaymentStatus.PARTIALLY_REFUNDED
        if money.captured >= total:
            return PaymentStatus.PAID
    if money.authorized:
        return PaymentStatus.AUTHORIZED
    if money.voided:
        return PaymentStatus.VOIDED
    return PaymentStatus.UNPAID


def _key(channel: str, ref: str, kind: str, amount: int, seq: int) -> str:
    raw = f"{channel}\x00{ref}\x00{kind}\x00{amount}\x00{seq}".encode()
    return "import-" + hashlib.sha1(raw).hexdigest()


class ImportService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        inventory: InventoryService,
        settings: Settings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.inventory = inventory
        self.unknown_sku = settings.import_unknown_sku
        self.clock = clock
        self.batch = BATCH

    def _uow(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, clock=self.clock, actor=self.orders.operator)

    # -- the one action -----------------------------------------------------------------

    async def import_file(
        self,
        path: str | Path,
        fmt: Format,
        *,
        channel: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import one file (see the module docstring). A file that is not of the format
        (not text, not CSV, a required column missing) is refused before anything is
        written (InvalidInput); problems with single orders are in the report."""
        started = time.perf_counter()
        file = Path(path)
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown import format {fmt!r}; use shopify, csv or json")
        if not await asyncio.to_thread(file.is_file):
            raise InvalidInput(f"no file {file}")
        name = (channel or "").strip() or ("shopify" if fmt == "shopify" else fmt)
        if len(name) > 32:
            raise InvalidInput("a channel name has at most 32 characters")
        rows_read: Any = None
        items: Iterable[ImportedOrder | Rejected]
        relay = _Relay()
        if fmt == "shopify":
            rows_read, items = await asyncio.to_thread(read_shopify, file, name, relay)
        elif fmt == "csv":
            rows_read, items = await asyncio.to_thread(read_generic_csv, file, name, relay)
        else:
            items = await asyncio.to_thread(read_json, file, name)
        catalogue = await self._catalogue()
        total = _Outcome()
        source = file.name
        # The file is read and checked in a worker thread, one batch ahead of the writes
        # (SQLite and asyncpg do their part without Python's lock, so the two overlap);
        # progress is reported from here, between batches, never from that thread.
        chunks = _chunked(items, self.batch)
        ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
        try:
            while (chunk := await ahead) is not None:
                ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
                batch: list[ImportedOrder] = []
                for entry in chunk:
                    if isinstance(entry, Rejected):
                        total.rejected.append(entry)
                    else:
                        batch.append(entry)
                if batch:
                    total.add(await self._batch(batch, catalogue, source))
                if progress is not None and relay.seen:
                    progress(*relay.seen)
        finally:
            with contextlib.suppress(Exception):
                await ahead
            if rows_read is not None:
                await asyncio.to_thread(rows_read.close)
        if progress is not None:
            size = (await asyncio.to_thread(file.stat)).st_size
            progress(size, size)
        count = (
            rows_read.rows
            if rows_read is not None
            else len(total.created) + len(total.followed) + total.unchanged + len(total.rejected)
        )
        return ImportReport(
            file=str(file),
            format=fmt,
            channel=name,
            rows=count,
            created=tuple(total.created),
            followed=tuple(total.followed),
            unchanged=total.unchanged,
            rejected=tuple(sorted(total.rejected, key=_position)),
            notices=tuple(total.notices),
            seconds=time.perf_counter() - started,
            file_error=rows_read.error if rows_read is not None else "",
        )

    # -- checking -----------------------------------------------------------------------

    async def _catalogue(self) -> dict[str, _Product]:
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(Product.sku, Product.id, Product.name, Product.price, Product.drop_ship)
            )
            return {
                sku: _Product(pid, name, price, _DROP_SHIP if drop else _STOCK)
                for sku, pid, name, price, drop in rows
            }

    def _ready(self, imp: ImportedOrder, catalogue: dict[str, _Product]) -> _Ready:
        """The order against the catalogue and the shop's rules; raises Bad."""
        lines: list[_Line] = []
        flags: list[str] = []
        units = 0
        for ln in imp.lines:
            product = catalogue.get(ln.sku)
            units += ln.quantity
            if product is not None:
                price = product.price if ln.unit_price is None else ln.unit_price
                name = ln.name or product.name
                lines.append(
                    _Line(
                        product.id,
                        ln.sku,
                        name,
                        ln.quantity,
                        price,
                        ln.shipped,
                        product.fulfillment,
                    )
                )
                continue
            where = f" (line {ln.line_no})" if ln.line_no else ""
            shown = repr(ln.sku) if ln.sku else "(none)"
            if self.unknown_sku == "refuse":
                raise Bad(f"unknown SKU {shown}{where}; the shop refuses such orders")
            flags.append(f"{UNKNOWN_FLAG} {shown}{where}: imported without a product")
            price = 0 if ln.unit_price is None else ln.unit_price
            lines.append(
                _Line(None, ln.sku, ln.name or ln.sku, ln.quantity, price, ln.shipped, _STOCK)
            )
        if len(lines) > 500:
            raise Bad(f"it has {len(lines)} lines; at most 500")
        subtotal = imp.subtotal
        if subtotal is None:
            subtotal = sum(ln.quantity * ln.unit_price for ln in lines)
        total = imp.total
        if total is None:
            total = subtotal + imp.shipping_total + imp.tax_total
        money = money_state(imp.financial, total, imp.refunded, imp.outstanding)
        return _Ready(
            src=imp,
            lines=lines,
            subtotal=subtotal,
            total=total,
            money=money,
            payment_status=payment_status_of(money, total),
            flags=flags,
            notices=list(imp.warnings) + flags,
            units=units,
        )

    # -- one batch ----------------------------------------------------------------------

    async def _batch(
        self, batch: list[ImportedOrder], catalogue: dict[str, _Product], source: str
    ) -> _Outcome:
        checked = _Outcome()
        ready: list[_Ready] = []
        for imp in batch:
            try:
                ready.append(self._ready(imp, catalogue))
            except Bad as exc:
                checked.rejected.append(Rejected(imp.ref, imp.where, str(exc)))
        try:
            outcome = await self._write(ready, source)
        except (IntegrityError, DBAPIError) as exc:
            if len(ready) <= 1:
                for r in ready:
                    checked.rejected.append(
                        Rejected(r.src.ref, r.src.where, f"the database refused it: {_first(exc)}")
                    )
                return checked
            outcome = _Outcome()
            for r in ready:  # one per transaction: only the order at fault is refused
                try:
                    outcome.add(await self._write([r], source))
                except (IntegrityError, DBAPIError) as one:
                    outcome.rejected.append(
                        Rejected(r.src.ref, r.src.where, f"the database refused it: {_first(one)}")
                    )
        checked.add(outcome)
        return checked

    async def _write(self, ready: list[_Ready], source: str) -> _Outcome:
        out = _Outcome()
        if not ready:
            return out
        async with self._uow(write=True) as uow:
            known = await self._known(uow, ready)
            fresh = [r for r in ready if r.key not in known]
            created = await self._insert(uow, fresh, source) if fresh else []
            for r, number in zip(fresh, created, strict=True):
                out.created.append((r.src.ref, number))
                out.notices += [Notice(r.src.ref, r.src.where, n, number) for n in r.notices]
            arrivals = [n for r, n in zip(fresh, created, strict=True) if r.src.status is S.NEW]
            await self._arrive(uow, arrivals, out)
            for r in ready:
                if r.key in known:
                    await self._follow(uow, r, known[r.key], out)
            await uow.commit()
        return out

    # -- new orders: the bulk path ------------------------------------------------------

    async def _insert(self, uow: UnitOfWork, fresh: list[_Ready], source: str) -> list[int]:
        """Write new orders with the driver's bulk path; returns their numbers.

        Rows are built as driver-ready tuples (services/bulk.py's conversions, done once
        per value rather than per row: most values repeat within a batch)."""
        s = uow.session
        conn = await s.connection()
        sqlite = conn.dialect.name == "sqlite"
        dt = _datetimes(sqlite)
        flag = (lambda b: int(b)) if sqlite else (lambda b: b)
        now = uow.clock()
        at = dt(now)
        operator = uow.actor
        customers = await self._customers(uow, fresh)
        n = len(fresh)
        order_ids = await _ids(conn, "orders", n)
        numbers = await self._numbers(uow, n)
        address_ids = iter(await _ids(conn, "addresses", 2 * n))
        customer_ids = iter(await _ids(conn, "customers", n))
        t: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _COLUMNS}
        add_customer, add_address, add_order = (
            t["customers"].append,
            t["addresses"].append,
            t["orders"].append,
        )
        lines_out, events, search_terms = t["order_lines"], t["status_events"], t["order_search"]
        add_payment, add_audit = t["payments"].append, t["audit_log"].append
        empty_list = _json([])
        no = flag(False)
        staff = self.orders.staff_email
        source_json = _quote(source)
        memo_head = f"imported from {source} ("
        by_channel: dict[str, _ChannelWords] = {}
        for i, r in enumerate(fresh):
            imp = r.src
            channel = imp.channel
            words = by_channel.get(channel)
            if words is None:
                words = by_channel[channel] = _ChannelWords(channel)
            email = imp.email.strip()
            cid = customers.get(email) if email else None
            if cid is None:
                cid = next(customer_ids)
                add_customer((cid, imp.customer_name, email, imp.phone, "", at))
                if email:
                    customers[email] = cid
            ship_id = next(address_ids)
            add_address((ship_id, cid, *imp.shipping))
            bill_id = ship_id
            if imp.billing is not None and imp.billing != imp.shipping:
                bill_id = next(address_ids)
                add_address((bill_id, cid, *imp.billing))
            oid, number = order_ids[i], numbers[i]
            placed = imp.placed_at or now
            status = str(imp.status)
            method = str(imp.payment_method)
            add_order(
                (
                    oid,
                    number,
                    channel,
                    imp.ref,
                    cid,
                    email,
                    status,
                    None,
                    None,
                    "",
                    str(r.payment_status),
                    method,
                    no,
                    imp.currency or "USD",
                    r.subtotal,
                    imp.shipping_total,
                    imp.tax_total,
                    r.total,
                    r.units,
                    imp.note,
                    imp.shipping_method or "standard",
                    ship_id,
                    bill_id,
                    None,
                    0,
                    empty_list,
                    _json(r.flags) if r.flags else empty_list,
                    "",
                    dt(placed),
                    at,
                    operator,
                    1,
                )
            )
            lines_out += [
                (
                    oid,
                    pos,
                    ln.product_id,
                    ln.sku,
                    ln.name,
                    ln.quantity,
                    ln.unit_price,
                    ln.shipped,
                    0,
                    ln.shipped,
                    0,
                    0,
                    None,
                    ln.fulfillment,
                    None,
                )
                for pos, ln in enumerate(r.lines)
            ]
            events.append(
                (oid, "status", None, _NEW, "", operator, at, "", f"{memo_head}{imp.where})")
            )
            if imp.status is not S.NEW:
                events.append(
                    (oid, "status", _NEW, status, "", words.actor, at, "", words.memo[imp.status])
                )
            terms = search.terms_for(
                number,
                name=imp.customer_name,
                email=email,
                skus=[ln.sku for ln in r.lines],
                extra=[imp.ref],  # a query's leading "#" is dropped: "#1001" finds "1001"
            )
            search_terms += zip(terms, repeat(oid))
            paid_at = dt(imp.paid_at or placed)
            gateway = (imp.payment_ref or channel)[:100]
            for seq, p in enumerate(_payment_rows(r.money, r.total)):
                add_payment(
                    (
                        oid,
                        p.kind,
                        p.amount,
                        p.state,
                        method,
                        gateway,
                        _key(channel, imp.ref, p.kind, p.amount, seq),
                        words.reason[p.kind],
                        words.actor,
                        paid_at,
                        empty_list,
                    )
                )
            # _json of {"channel", "ref", "file", "where", "status", "lines"}, key by key
            detail = (
                f'{{"channel":{words.quoted},"ref":{_quote(imp.ref)},"file":{source_json},'
                f'"where":{_quote(imp.where)},"status":"{status}","lines":{len(r.lines)}}}'
            )
            add_audit((at, operator, "order.import", "order", number, detail))
            if staff and imp.status is S.NEW:  # the shop is told of orders it has to work
                t["notifications"].append(
                    (
                        oid,
                        None,
                        "new_order_staff",
                        "email",
                        staff,
                        _json({"number": number}),
                        NotificationState.QUEUED.value,
                        0,
                        at,
                        "",
                        new_key(),
                        at,
                        None,
                    )
                )
            for url in self.orders.webhooks:
                payload = {
                    "event": "order.created",
                    "number": number,
                    "at": now.isoformat(),
                    "channel": channel,
                    "channel_ref": imp.ref,
                }
                t["notifications"].append(
                    (
                        oid,
                        None,
                        "order.created",
                        "webhook",
                        url,
                        _json(payload),
                        NotificationState.QUEUED.value,
                        0,
                        at,
                        "",
                        new_key(),
                        at,
                        None,
                    )
                )
        for table, columns in _COLUMNS.items():
            await write_rows(conn, table, (list(columns), t[table]))
        return numbers

    async def _customers(self, uow: UnitOfWork, fresh: list[_Ready]) -> dict[str, int]:
        """Existing customers by e-mail (the first one made for an address, as create)."""
        emails = sorted({r.src.email.strip() for r in fresh if r.src.email.strip()})
        found: dict[str, int] = {}
        for chunk in _chunks(emails, 500):
            rows = await uow.session.execute(
                select(Customer.email, func.min(Customer.id))
                .where(Customer.email.in_(chunk))
                .group_by(Customer.email)
            )
            found.update({e: int(i) for e, i in rows.all()})
        return found

    async def _numbers(self, uow: UnitOfWork, n: int) -> list[int]:
        """`n` order numbers from the gap-free counter, in one step."""
        highest = (await uow.session.execute(select(func.max(Order.number)))).scalar()
        first = await uow.next_number(
            "order_number", max(int(highest or 0) + 1, FIRST_ORDER_NUMBER)
        )
        if n > 1:
            await uow.session.execute(
                text("UPDATE counters SET value = value + :n WHERE name = 'order_number'"),
                {"n": n - 1},
            )
        return list(range(first, first + n))

    async def _arrive(self, uow: UnitOfWork, numbers: list[int], out: _Outcome) -> None:
        """The checks every new order meets (risk review, payment holds), given the whole
        batch at once (a hook gathers its facts for all of them in a few queries). If a
        check refuses one of them, the batch's checks are undone and run again one order
        per savepoint, so that order is left as imported, reported, and the others checked."""
        if not numbers or not self.orders.arrival_hooks:
            return
        s = uow.session
        for chunk in _chunks(numbers, 500):
            try:
                async with s.begin_nested():
                    loaded = await self._arrivals(uow, chunk)
                    for hook in self.orders.arrival_hooks:
                        await hook(uow, loaded)
                continue
            except Refused:
                pass
            for order in await self._arrivals(uow, chunk):
                ref, number = order.channel_ref or "", order.number  # expired by a rollback
                try:
                    async with s.begin_nested():
                        for hook in self.orders.arrival_hooks:
                            await hook(uow, [order])
                except Refused as exc:
                    out.notices.append(Notice(ref, "", f"arrival check: {exc}", number))

    @staticmethod
    async def _arrivals(uow: UnitOfWork, numbers: Sequence[int]) -> list[Order]:
        """The new orders as the hooks take them (lines loaded; state read afresh, since a
        rolled-back savepoint leaves the session's copies stale)."""
        return list(
            (
                await uow.session.execute(
                    select(Order)
                    .where(Order.number.in_(numbers))
                    .options(selectinload(Order.lines))
                    .order_by(Order.number)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )

    # -- known orders: follow the channel -------------------------------------------------

    async def _known(self, uow: UnitOfWork, ready: list[_Ready]) -> dict[tuple[str, str], _Known]:
        refs: dict[str, list[str]] = defaultdict(list)
        for r in ready:
            refs[r.src.channel].append(r.src.ref)
        out: dict[tuple[str, str], _Known] = {}
        s = uow.session
        for channel, names in refs.items():  # one channel a file, as a rule
            for chunk in _chunks(names, 500):
                rows = await s.execute(
                    select(Order.channel_ref, Order.id, Order.number, Order.status).where(
                        Order.channel == channel, Order.channel_ref.in_(chunk)
                    )
                )
                for ref, oid, number, status in rows.all():
                    out[(channel, str(ref))] = _Known(int(oid), int(number), status, 0, {})
        if not out:
            return out
        by_id = {k.id: k for k in out.values()}
        ids = list(by_id)
        for chunk in _chunks(ids, 500):
            shipped = await s.execute(
                select(OrderLine.order_id, func.sum(OrderLine.shipped))
                .where(OrderLine.order_id.in_(chunk))
                .group_by(OrderLine.order_id)
            )
            for oid, units in shipped.all():
                by_id[oid].shipped = int(units or 0)
            money = await s.execute(
                select(Payment.order_id, Payment.kind, func.sum(Payment.amount))
                .where(
                    Payment.order_id.in_(chunk),
                    Payment.actor.like("channel:%"),
                    Payment.state == "approved",
                )
                .group_by(Payment.order_id, Payment.kind)
            )
            for oid, kind, amount in money.all():
                by_id[oid].channel_money[kind] = int(amount or 0)
        return out

    @staticmethod
    def _money_todo(r: _Ready, have: dict[str, int]) -> list[_PaymentRow]:
        """Payment rows the channel has that we do not yet (it only adds, never takes back)."""
        want = r.money
        todo: list[_PaymentRow] = []
        if want.captured > have.get("charge", 0):
            todo.append(_PaymentRow("charge", want.captured - have.get("charge", 0)))
        if want.authorized > have.get("authorize", 0) and not want.captured:
            todo.append(_PaymentRow("authorize", want.authorized - have.get("authorize", 0)))
        if want.refunded > have.get("refund", 0):
            todo.append(_PaymentRow("refund", want.refunded - have.get("refund", 0)))
        if want.voided and not have.get("void"):
            if not have.get("authorize"):
                todo.append(_PaymentRow("authorize", r.total))
            todo.append(_PaymentRow("void", r.total))
        return todo

    def _status_todo(self, r: _Ready, k: _Known) -> bool:
        target = r.src.status
        if target is S.CANCELED:
            return k.status is not S.CANCELED
        if target in (S.SHIPPED, S.PARTIALLY_SHIPPED):
            return sum(ln.shipped for ln in r.lines) > k.shipped
        return False

    async def _follow(self, uow: UnitOfWork, r: _Ready, k: _Known, out: _Outcome) -> None:
        money = self._money_todo(r, k.channel_money)
        status = self._status_todo(r, k)
        if not money and not status:
            out.unchanged += 1
            return
        imp = r.src
        try:
            async with uow.session.begin_nested():
                order = await uow.order(k.number, for_update=True)
                changes: list[str] = []
                with acting_as(uow, channel_actor(imp.channel)):
                    if money:
                        changes.append(await self._follow_money(uow, order, r, money, k))
                    if status:
                        changes.append(await self._follow_status(uow, order, r))
                await uow.session.flush()
        except (_NoPath, Refused) as exc:
            out.notices.append(Notice(imp.ref, imp.where, str(exc), k.number))
            out.unchanged += 1
            return
        out.followed.append(Followed(imp.ref, k.number, "; ".join(changes)))

    async def _follow_money(
        self, uow: UnitOfWork, order: Order, r: _Ready, todo: list[_PaymentRow], k: _Known
    ) -> str:
        imp = r.src
        now = uow.clock()
        s = uow.session
        for p in todo:
            s.add(
                Payment(
                    order_id=order.id,
                    kind=p.kind,
                    amount=p.amount,
                    state=p.state,
                    method=order.payment_method,
                    gateway_ref=(imp.payment_ref or imp.channel)[:100],
                    idempotency_key="import-" + new_key(),
                    reason=f"{p.kind} on {imp.channel}",
                    actor=uow.actor,
                    created_at=now,
                    lines=[],
                )
            )
        await s.flush()
        rows = (
            await s.execute(
                select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
            )
        ).scalars()
        before = order.payment_status
        order.payment_status = derive_status(list(rows), order.total)
        uow.touch(order)
        uow.audit(
            "payment.channel",
            "order",
            order.number,
            rows=[{"kind": p.kind, "amount": p.amount} for p in todo],
            before=before.value,
            after=order.payment_status.value,
        )
        return f"payment {before.value} -> {order.payment_status.value}"

    async def _follow_status(self, uow: UnitOfWork, order: Order, r: _Ready) -> str:
        imp = r.src
        target = imp.status
        word = CHANNEL_WORDS.get(target, target.value)
        memo = f"{word} on {imp.channel}"
        if target is S.CANCELED:
            why = self.orders.workflow.why_not(facts_of(order), Request(S.CANCELED))
            if why:
                raise _NoPath(f"{memo}, but here {why}; left as it is")
            await self.orders.apply_transition(uow, order, Request(S.CANCELED), memo=memo)
            return "canceled"
        if order.status in (S.CANCELED, S.COMPLETE, S.RETURN_REQUESTED, S.RETURNED):
            raise _NoPath(f"{memo}, but here it is {order.status.value}; left as it is")
        moves: list[tuple[OrderLine, int]] = []
        left: dict[str, int] = defaultdict(int)  # units of each SKU shipped on the channel
        for line in r.lines:
            left[line.sku] += line.shipped
        for ln in order.lines:
            units = min(ln.quantity, left[ln.sku])
            left[ln.sku] -= units
            more = units - ln.shipped
            if more > 0:
                ln.shipped += more
                ln.packed = max(ln.packed - more, 0)
                ln.picked = max(ln.picked, ln.shipped)
                moves.append((ln, more))
        if not moves:
            raise _NoPath(f"{memo}, but its lines do not match ours; left as it is")
        everything = all(ln.shipped >= ln.quantity for ln in order.lines)
        goal = S.SHIPPED if everything else S.PARTIALLY_SHIPPED
        await self.inventory.consume(uow, order, moves, unreserved=False)
        walk = [] if order.status is goal else path_to(self.orders.workflow, facts_of(order), goal)
        if walk is None:
            raise _NoPath(
                f"{memo}, but #{order.number} cannot go from {order.status.value} to "
                f"{goal.value} here; left as it is"
            )
        for step in walk:
            await self.orders.apply_transition(uow, order, Request(step), memo=memo)
            if order.status is not step:
                raise _NoPath(
                    f"{memo}, but #{order.number} went to {order.status.value} on the "
                    "way; left as it was"
                )
        uow.audit(
            "order.channel_fulfilled",
            "order",
            order.number,
            lines=[{"sku": ln.sku, "quantity": q} for ln, q in moves],
            channel=imp.channel,
        )
        if not walk:  # already there (a second partial fulfillment): history says what came
            uow.session.add(
                StatusEvent(
                    order_id=order.id,
                    kind="shipment",
                    from_status=order.status,
                    to_status=order.status,
                    actor=uow.actor,
                    at=uow.clock(),
                    memo=memo,
                )
            )
            uow.touch(order)
        return f"{word}: now {order.status.value}"


# -- small helpers ---------------------------------------------------------------------------


# Columns of the tuples _insert builds, table by table, in the order they are written.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "email", "phone", "note", "created_at"),
    "addresses": (
        "id",
        "customer_id",
        "name",
        "company",
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "country",
        "phone",
    ),
    "orders": (
        "id",
        "number",
        "channel",
        "channel_ref",
        "customer_id",
        "email",
        "status",
        "held_from",
        "hold_reason",
        "hold_note",
        "payment_status",
        "payment_method",
        "terms_accepted",
        "currency",
        "subtotal",
        "shipping_total",
        "tax_total",
        "total",
        "item_count",
        "note",
        "shipping_method",
        "shipping_address_id",
        "billing_address_id",
        "warehouse_id",
        "risk_score",
        "risk_reasons",
        "flags",
        "last_memo",
        "placed_at",
        "updated_at",
        "updated_by",
        "version",
    ),
    "order_lines": (
        "order_id",
        "position",
        "product_id",
        "sku",
        "name",
        "quantity",
        "unit_price",
        "picked",
        "packed",
        "shipped",
        "returned",
        "reserved",
        "warehouse_id",
        "fulfillment",
        "vendor_id",
    ),
    "status_events": (
        "order_id",
        "kind",
        "from_status",
        "to_status",
        "reason",
        "actor",
        "at",
        "comment",
        "memo",
    ),
    "order_search": ("term", "order_id"),
    "payments": (
        "order_id",
        "kind",
        "amount",
        "state",
        "method",
        "gateway_ref",
        "idempotency_key",
        "reason",
        "actor",
        "created_at",
        "lines",
    ),
    "audit_log": ("at", "actor", "action", "entity", "entity_id", "detail"),
    "notifications": (
        "order_id",
        "status_event_id",
        "event",
        "channel",
        "recipient",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "idempotency_key",
        "created_at",
        "sent_at",
    ),
}


# One encoder for every row: json.dumps with options builds a new one per call.
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_quote = encode_basestring  # a str as _json writes it (quoted, escaped)
_NEW = str(S.NEW)


class _ChannelWords:
    """What the rows of a channel's orders say, made once per channel."""

    def __init__(self, channel: str) -> None:
        self.actor = channel_actor(channel)
        self.quoted = _quote(channel)
        self.memo = {s: f"{CHANNEL_WORDS.get(s, s.value)} on {channel}" for s in Status}
        self.reason = {k: f"{k} on {channel}" for k in ("charge", "authorize", "refund", "void")}


def _datetimes(sqlite: bool) -> Callable[[datetime], Any]:
    """Aware UTC datetimes as the driver takes them, the way services/bulk.py stores them
    (SQLite: SQLAlchemy's text format; PostgreSQL: naive UTC)."""

    @functools.lru_cache(maxsize=8192)
    def convert(value: datetime) -> Any:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(sep=" ", timespec="microseconds") if sqlite else naive

    return convert


async def _ids(conn: Any, table: str, n: int) -> list[int]:
    """`n` primary keys for `table`, drawn before the rows are written (they reference
    each other). PostgreSQL: from the table's sequence; SQLite: past the highest, which is
    safe because a write transaction there holds the database's only write lock."""
    if n <= 0:
        return []
    if conn.dialect.name == "sqlite":
        highest = (await conn.execute(text(f'SELECT max(id) FROM "{table}"'))).scalar()
        start = int(highest or 0) + 1
        return list(range(start, start + n))
    rows = await conn.execute(
        text(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"
        ),
        {"n": n},
    )
    return [int(v) for v in rows.scalars()]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _chunked(
    items: Iterable[ImportedOrder | Rejected], size: int
) -> Iterator[list[ImportedOrder | Rejected]]:
    """Batches of `size` orders (rejections ride along), read lazily from the file."""
    out: list[ImportedOrder | Rejected] = []
    orders = 0
    for item in items:
        out.append(item)
        if isinstance(item, ImportedOrder):
            orders += 1
            if orders >= size:
                yield out
                out, orders = [], 0
    if out:
        yield out


def _position(r: Rejected) -> int:
    """Where in the file: the first number of "lines 12-14" / "order 3 in the file"."""
    found = re.search(r"\d+", r.where)
    return int(found.group()) if found else 0


def _first(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0][:200] if detail else type(exc).__name__
