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

Speed: a big file is read, checked and built into rows by a worker process while this
one writes (services/import_worker.py; a small one in a thread); the rows come column by
column (services/import_rows.py) and this process adds what needs the database (ids drawn
up front, order numbers, customers by e-mail, the number's search term, its own time),
in batches of `BATCH` orders per transaction. On SQLite a batch's look-up and its writes
are one trip each to the driver's thread (executemany over lazy zips); on PostgreSQL the
rows go by COPY. A batch the database refuses is retried one order per transaction, so
only the order at fault is reported. The arrival checks get the batch's new orders
without their lines unless a check needs them (see `_arrive`). Figures:
bench/bench_imports.py (the database's own share, the "floor", is most of what is left
here: ~6.5 rows stored per CSV row, with their indexes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidRequestError
from sqlalchemy.orm import raiseload, selectinload

from services import bulk
from services.db import Database
from services.errors import InvalidInput, Refused
from services.import_formats import (
    Followed,
    ImportReport,
    Notice,
    Progress,
    Rejected,
)
from services.import_rows import (
    CHANNEL_WORDS,
    DROP_SHIP,
    EMPTY_LIST,
    NEW,
    STOCK,
    UNKNOWN_FLAG,
    Facts,
    PaymentRow,
    Product,
    Ready,
    Rows,
    as_json,
    build_rows,
    channel_actor,
    datetimes,
    follow_facts,
    payment_rows,
    payment_status_of,
)
from services.import_worker import (
    PROCESS_MIN_BYTES,
    Batch,
    Plan,
    ProcessSource,
    ThreadSource,
    open_source,
)
from services.inventory import InventoryService
from services.models import Customer, Order, OrderLine, Payment, StatusEvent
from services.models import Product as ProductRow
from services.orders import FIRST_ORDER_NUMBER, OrderService, facts_of
from services.outbox import new_key
from services.payment_state import derive_status
from services.review import acting_as
from services.settings import Settings
from services.statuses import NotificationState, Status
from services.uow import Clock, UnitOfWork, utcnow
from services.workflow import OrderFacts, Request, Workflow

Format = Literal["shopify", "csv", "json"]
FORMATS: tuple[Format, ...] = ("shopify", "csv", "json")
BATCH = 1000
S = Status
_CANCELED = str(S.CANCELED)
_SHIPPING = (str(S.SHIPPED), str(S.PARTIALLY_SHIPPED))
__all__ = [
    "BATCH",
    "CHANNEL_WORDS",
    "FORMATS",
    "UNKNOWN_FLAG",
    "ImportService",
    "channel_actor",
    "detect_format",
    "path_to",
    "payment_status_of",
]
# The names tests/services/test_import_formats.py knows them by.
_payment_rows = payment_rows
_PaymentRow = PaymentRow


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


class _NoPath(Exception):
    """A known order cannot follow its channel; the savepoint is rolled back."""


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
        # Files from this size on are read in a worker process (import_worker.py).
        self.process_min_bytes = PROCESS_MIN_BYTES

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
        size = (await asyncio.to_thread(file.stat)).st_size
        plan = Plan(
            path=str(file),
            fmt=fmt,
            channel=name,
            catalogue=await self._catalogue(),
            unknown_sku=self.unknown_sku,
            source=file.name,
            operator=self.orders.operator,
            sqlite=self.db.is_sqlite,
            batch=self.batch,
        )
        # The file is read, checked and built into rows one or two batches ahead of the
        # writes: by a worker process for a big file, else in a thread (import_worker.py).
        # Progress is reported from here, between batches.
        source = await open_source(plan, worker=size >= self.process_min_bytes)
        total = _Outcome()
        known_customers: dict[str, int] = {}  # made or found by e-mail, batches committed
        want_rows = True  # else (orders already imported) their keys and facts only
        try:
            while (batch := await source.next(want_rows)) is not None:
                total.rejected += batch.refused
                outcome, had_known = await self._batch(batch, source, plan, known_customers)
                total.add(outcome)
                want_rows = not had_known
                if progress is not None and source.progress:
                    progress(*source.progress)
        finally:
            await source.close()
        if progress is not None:
            progress(size, size)
        count = (
            source.rows
            if source.rows is not None
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
            file_error=source.error,
        )

    # -- checking -----------------------------------------------------------------------

    async def _catalogue(self) -> dict[str, Product]:
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(
                    ProductRow.sku,
                    ProductRow.id,
                    ProductRow.name,
                    ProductRow.price,
                    ProductRow.drop_ship,
                )
            )
            return {
                sku: Product(pid, name, price, DROP_SHIP if drop else STOCK)
                for sku, pid, name, price, drop in rows
            }

    # -- one batch ----------------------------------------------------------------------

    async def _batch(
        self,
        batch: Batch,
        source: ThreadSource | ProcessSource,
        plan: Plan,
        known_customers: dict[str, int],
    ) -> tuple[_Outcome, bool]:
        """Write one batch; (what it did, whether it held orders already imported)."""
        try:
            return await self._write(batch, source, plan, known_customers)
        except (IntegrityError, DBAPIError) as exc:
            ready = await source.ready_of(batch)
            outcome = _Outcome()
            if len(ready) <= 1:
                for r in ready:
                    outcome.rejected.append(
                        Rejected(r.src.ref, r.src.where, f"the database refused it: {_first(exc)}")
                    )
                return outcome, False
            had_known = False
            for r in ready:  # one per transaction: only the order at fault is refused
                one = Batch(batch.seq, [], [r.key], [follow_facts(r)], None, [r])
                try:
                    done, known = await self._write(one, source, plan, known_customers)
                    outcome.add(done)
                    had_known = had_known or known
                except (IntegrityError, DBAPIError) as fault:
                    outcome.rejected.append(
                        Rejected(
                            r.src.ref, r.src.where, f"the database refused it: {_first(fault)}"
                        )
                    )
            return outcome, had_known

    async def _write(
        self,
        batch: Batch,
        source: ThreadSource | ProcessSource,
        plan: Plan,
        known_customers: dict[str, int],
    ) -> tuple[_Outcome, bool]:
        out = _Outcome()
        keys = batch.keys
        if not keys:
            return out, False
        async with self._uow(write=True) as uow:
            known = await self._known(uow, keys)
            follow: list[int] = []  # known orders that moved on there
            ready: list[Ready] = []
            facts = batch.facts
            if known and facts is None:
                ready = await source.ready_of(batch)
                facts = [follow_facts(r) for r in ready]
            for i, key in enumerate(keys):
                k = known.get(key)
                if k is None:
                    continue
                assert facts is not None
                f = facts[i]
                if self._money_todo(f, k.channel_money) or self._status_todo(f, k):
                    follow.append(i)
                else:
                    out.unchanged += 1
            rows = batch.rows
            if known or rows is None:
                if not ready and (follow or len(keys) > len(known)):
                    ready = await source.ready_of(batch)
                fresh = [r for r in ready if r.key not in known]
                rows = build_rows(
                    fresh, source=plan.source, operator=plan.operator, sqlite=plan.sqlite
                )
            customers: dict[str, int] = {}
            numbers = await self._insert(uow, rows, known_customers, customers) if rows.n else []
            for ref, number in zip(rows.ref, numbers, strict=True):
                out.created.append((ref, number))
            out.notices += [
                Notice(rows.ref[i], rows.where[i], message, numbers[i])
                for i, message in rows.notices
            ]
            arrivals = [n for n, status in zip(numbers, rows.status, strict=True) if status == NEW]
            await self._arrive(uow, arrivals, out)
            for i in follow:
                r = ready[i]
                await self._follow(uow, r, known[r.key], out)
            await uow.commit()
        known_customers.update(customers)
        return out, bool(known)

    # -- new orders: the bulk path ------------------------------------------------------

    async def _insert(
        self,
        uow: UnitOfWork,
        rows: Rows,
        committed: dict[str, int],
        customers: dict[str, int],
    ) -> list[int]:
        """Write new orders' rows with the driver's bulk path; returns their numbers.

        What the rows leave to the writer is added here: ids and numbers (drawn now, in
        the write transaction), customers (found by e-mail, else made: `customers` gets
        the e-mails this batch resolved), the number's search term, the transaction's
        time, and the staff notice and webhooks of new orders. `committed`: customers of
        this import's committed batches, by e-mail (no need to look them up again)."""
        s = uow.session
        conn = await s.connection()
        sqlite = conn.dialect.name == "sqlite"
        now = uow.clock()
        emails = {e for e in rows.email if e and e not in committed}
        if sqlite:
            # One trip to the driver's thread for all of it (numbers, ids, customers, every
            # table): on a busy machine each trip waits for that thread to be scheduled.
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            written: list[int] = await driver._execute(  # aiosqlite's way to run work there
                self._write_sqlite,
                driver._conn,
                rows,
                emails,
                committed,
                customers,
                now,
                uow.actor,
            )
            return written
        numbers = await self._numbers(uow, rows.n)
        n = rows.n
        order_ids = await _ids(conn, "orders", n)
        address_ids = await _ids(conn, "addresses", len(rows.address_of))
        customers.update(await self._customers(uow, emails))
        new_ids = await _ids(conn, "customers", n)
        tables = self._tables(
            rows,
            order_ids,
            numbers,
            address_ids,
            new_ids,
            committed,
            customers,
            now,
            uow.actor,
            sqlite=False,
        )
        for table, columns, values in tables:  # iterators: no lists of rows in this thread
            await bulk.insert_values(conn, table, columns, values)
        return numbers

    def _write_sqlite(
        self,
        db: sqlite3.Connection,
        rows: Rows,
        emails: set[str],
        committed: dict[str, int],
        customers: dict[str, int],
        now: datetime,
        operator: str,
    ) -> list[int]:
        """`_insert` on SQLite, in the driver's thread: numbers as `_numbers` draws them,
        ids past the highest (safe: the write transaction holds the database's only write
        lock), customers by e-mail, every table by executemany. Returns the numbers."""

        def after(table: str, column: str = "id") -> int:
            return int(db.execute(f'SELECT max({column}) FROM "{table}"').fetchone()[0] or 0) + 1

        n = rows.n
        start = max(after("orders", "number"), FIRST_ORDER_NUMBER)
        drawn = db.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'order_number' RETURNING value"
        ).fetchone()
        if drawn is None:
            db.execute("INSERT INTO counters (name, value) VALUES ('order_number', ?)", (start,))
            number = start
        else:
            number = int(drawn[0])
        if n > 1:
            db.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'order_number'", (n - 1,)
            )
        numbers = list(range(number, number + n))
        first = after("orders")
        order_ids = list(range(first, first + n))
        first = after("addresses")
        address_ids = list(range(first, first + len(rows.address_of)))
        ordered = sorted(emails)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            found = db.execute(
                f"SELECT email, min(id) FROM customers WHERE email IN ({marks}) GROUP BY email",
                chunk,
            )
            customers.update({e: int(c) for e, c in found})
        first = after("customers")
        new_ids = list(range(first, first + n))
        tables = self._tables(
            rows,
            order_ids,
            numbers,
            address_ids,
            new_ids,
            committed,
            customers,
            now,
            operator,
            sqlite=True,
        )
        for table, columns, values in tables:
            marks = ", ".join("?" for _ in columns)
            quoted = ", ".join(f'"{c}"' for c in columns)
            db.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)
        return numbers

    def _tables(
        self,
        rows: Rows,
        order_ids: list[int],
        numbers: list[int],
        address_ids: list[int],
        new_ids: list[int],
        committed: dict[str, int],
        customers: dict[str, int],
        now: datetime,
        operator: str,
        *,
        sqlite: bool,
    ) -> list[tuple[str, list[str], Iterable[tuple[Any, ...]]]]:
        """Every table's rows for `_insert`: the batch's columns with ids, numbers and
        customers (the first one made for an e-mail, as create; else a new one) added."""
        at = datetimes(sqlite)(now)
        no = 0 if sqlite else False
        n = rows.n
        emails = rows.email
        fresh_ids = iter(new_ids)
        new_customers: list[tuple[Any, ...]] = []
        customer_of: list[int] = []
        for i, email in enumerate(emails):
            cid = (customers.get(email) or committed.get(email)) if email else None
            if cid is None:
                cid = next(fresh_ids)
                new_customers.append((cid, rows.customer_name[i], email, rows.phone[i], "", at))
                if email:
                    customers[email] = cid
            customer_of.append(cid)
        number_terms: list[str] = []
        number_term_of: list[int] = []
        digit_terms = rows.digit_terms
        for i, number in enumerate(numbers):
            term = str(number)
            if not (digit_terms and term in digit_terms.get(i, ())):
                number_terms.append(term)
                number_term_of.append(order_ids[i])
        at_all = [at] * n
        # Rows as lazy zips: the driver's thread makes each tuple as it writes it.
        tables: list[tuple[str, list[str], Iterable[tuple[Any, ...]]]] = [
            ("customers", ["id", "name", "email", "phone", "note", "created_at"], new_customers),
            (
                "addresses",
                [
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
                ],
                zip(
                    address_ids,
                    [customer_of[i] for i in rows.address_of],
                    *rows.address,
                    strict=True,
                ),
            ),
            (
                "orders",
                [
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
                ],
                zip(
                    order_ids,
                    numbers,
                    rows.channel,
                    rows.ref,
                    customer_of,
                    emails,
                    rows.status,
                    repeat(None),
                    repeat(None),
                    repeat(""),
                    rows.payment_status,
                    rows.payment_method,
                    repeat(no),
                    rows.currency,
                    rows.subtotal,
                    rows.shipping_total,
                    rows.tax_total,
                    rows.total,
                    rows.units,
                    rows.note,
                    rows.shipping_method,
                    [address_ids[a] for a in rows.ship_at],
                    [address_ids[a] for a in rows.bill_at],
                    repeat(None),
                    repeat(0),
                    repeat(EMPTY_LIST),
                    rows.flags,
                    repeat(""),
                    [at if p is None else p for p in rows.placed],
                    at_all,
                    repeat(operator),
                    repeat(1),
                ),
            ),
            (
                "order_lines",
                [
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
                ],
                zip(
                    map(order_ids.__getitem__, rows.line_of),
                    rows.line_pos,
                    rows.line_product,
                    rows.line_sku,
                    rows.line_name,
                    rows.line_qty,
                    rows.line_price,
                    rows.line_shipped,
                    repeat(0),
                    rows.line_shipped,
                    repeat(0),
                    repeat(0),
                    repeat(None),
                    rows.line_kind,
                    repeat(None),
                ),
            ),
            (
                "status_events",
                [
                    "order_id",
                    "kind",
                    "from_status",
                    "to_status",
                    "reason",
                    "actor",
                    "at",
                    "comment",
                    "memo",
                ],
                zip(
                    map(order_ids.__getitem__, rows.event_of),
                    repeat("status"),
                    rows.event_from,
                    rows.event_to,
                    repeat(""),
                    rows.event_actor,
                    repeat(at),
                    repeat(""),
                    rows.event_memo,
                ),
            ),
            (
                "order_search",
                ["term", "order_id"],
                zip(
                    rows.term + number_terms,
                    [order_ids[i] for i in rows.term_of] + number_term_of,
                    strict=True,
                ),
            ),
            (
                "payments",
                [
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
                ],
                zip(
                    map(order_ids.__getitem__, rows.pay_of),
                    rows.pay_kind,
                    rows.pay_amount,
                    rows.pay_state,
                    rows.pay_method,
                    rows.pay_gateway,
                    rows.pay_key,
                    rows.pay_reason,
                    rows.pay_actor,
                    [at if p is None else p for p in rows.pay_at],
                    repeat(EMPTY_LIST),
                ),
            ),
            (
                "audit_log",
                ["at", "actor", "action", "entity", "entity_id", "detail"],
                zip(
                    at_all,
                    repeat(operator),
                    repeat("order.import"),
                    repeat("order"),
                    numbers,
                    rows.audit,
                ),
            ),
            (
                "notifications",
                [
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
                ],
                self._notifications(rows, order_ids, numbers, now, at),
            ),
        ]
        return tables

    def _notifications(
        self, rows: Rows, order_ids: list[int], numbers: list[int], now: Any, at: Any
    ) -> list[tuple[Any, ...]]:
        """The shop told of orders it has to work (staff), and the webhooks of new orders."""
        staff = self.orders.staff_email
        webhooks = self.orders.webhooks
        out: list[tuple[Any, ...]] = []
        if not staff and not webhooks:
            return out
        queued = NotificationState.QUEUED.value
        for i, oid in enumerate(order_ids):
            number = numbers[i]
            if staff and rows.status[i] == NEW:
                out.append(
                    (
                        oid,
                        None,
                        "new_order_staff",
                        "email",
                        staff,
                        as_json({"number": number}),
                        queued,
                        0,
                        at,
                        "",
                        new_key(),
                        at,
                        None,
                    )
                )
            for url in webhooks:
                payload = {
                    "event": "order.created",
                    "number": number,
                    "at": now.isoformat(),
                    "channel": rows.channel[i],
                    "channel_ref": rows.ref[i],
                }
                out.append(
                    (
                        oid,
                        None,
                        "order.created",
                        "webhook",
                        url,
                        as_json(payload),
                        queued,
                        0,
                        at,
                        "",
                        new_key(),
                        at,
                        None,
                    )
                )
        return out

    async def _customers(self, uow: UnitOfWork, emails: set[str]) -> dict[str, int]:
        """Existing customers by e-mail (the first one made for an address, as create)."""
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(emails), 500):
            rows = await uow.session.execute(
                select(Customer.email, func.min(Customer.id))
                .where(Customer.email.in_(chunk))
                .group_by(Customer.email)
            )
            found.update({e: int(i) for e, i in rows.all()})
        return found

    async def _numbers(self, uow: UnitOfWork, n: int) -> list[int]:
        """`n` order numbers from the gap-free counter, in one step (UnitOfWork.next_number
        and n - 1 more; _write_sqlite does the same in SQL)."""
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
        per savepoint, so that order is left as imported, reported, and the others checked.

        The orders are first given without their lines (loading them is most of the cost,
        and a check that only scores an order never reads them); a check that does (a
        status change: a hold) finds them not loaded, and the batch's checks are undone
        and run again with the lines."""
        if not numbers or not self.orders.arrival_hooks:
            return
        for chunk in _chunks(numbers, 500):
            try:
                async with _savepoint(uow):
                    loaded = await self._arrivals(uow, chunk, lines=False)
                    for hook in self.orders.arrival_hooks:
                        await hook(uow, loaded)
                continue
            except (Refused, InvalidRequestError):
                pass
            try:
                async with _savepoint(uow):
                    loaded = await self._arrivals(uow, chunk)
                    for hook in self.orders.arrival_hooks:
                        await hook(uow, loaded)
                continue
            except Refused:
                pass
            for order in await self._arrivals(uow, chunk):
                ref, number = order.channel_ref or "", order.number  # expired by a rollback
                try:
                    async with _savepoint(uow):
                        for hook in self.orders.arrival_hooks:
                            await hook(uow, [order])
                except Refused as exc:
                    out.notices.append(Notice(ref, "", f"arrival check: {exc}", number))

    @staticmethod
    async def _arrivals(
        uow: UnitOfWork, numbers: Sequence[int], *, lines: bool = True
    ) -> list[Order]:
        """The new orders as the hooks take them (state read afresh, since a rolled-back
        savepoint leaves the session's copies stale); without lines, reading them raises."""
        load = selectinload(Order.lines) if lines else raiseload(Order.lines)
        return list(
            (
                await uow.session.execute(
                    select(Order)
                    .where(Order.number.in_(numbers))
                    .options(load)
                    .order_by(Order.number)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )

    # -- known orders: follow the channel -------------------------------------------------

    async def _known(
        self, uow: UnitOfWork, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], _Known]:
        refs: dict[str, list[str]] = defaultdict(list)
        for channel, order_ref in keys:
            refs[channel].append(order_ref)
        out: dict[tuple[str, str], _Known] = {}
        s = uow.session
        if self.db.is_sqlite:  # one trip to the driver's thread (see _insert)
            raw = await (await s.connection()).get_raw_connection()
            driver: Any = raw.driver_connection
            for channel, ref, oid, number, status in await driver._execute(
                _known_sqlite, driver._conn, refs
            ):
                out[(channel, str(ref))] = _Known(int(oid), int(number), Status(status), 0, {})
        else:
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
    def _money_todo(want: Facts, have: dict[str, int]) -> list[PaymentRow]:
        """Payment rows the channel has that we do not yet (it only adds, never takes back)."""
        todo: list[PaymentRow] = []
        if want.captured > have.get("charge", 0):
            todo.append(PaymentRow("charge", want.captured - have.get("charge", 0)))
        if want.authorized > have.get("authorize", 0) and not want.captured:
            todo.append(PaymentRow("authorize", want.authorized - have.get("authorize", 0)))
        if want.refunded > have.get("refund", 0):
            todo.append(PaymentRow("refund", want.refunded - have.get("refund", 0)))
        if want.voided and not have.get("void"):
            if not have.get("authorize"):
                todo.append(PaymentRow("authorize", want.total))
            todo.append(PaymentRow("void", want.total))
        return todo

    @staticmethod
    def _status_todo(f: Facts, k: _Known) -> bool:
        if f.status == _CANCELED:
            return k.status is not S.CANCELED
        if f.status in _SHIPPING:
            return f.shipped > k.shipped
        return False

    async def _follow(self, uow: UnitOfWork, r: Ready, k: _Known, out: _Outcome) -> None:
        facts = follow_facts(r)
        money = self._money_todo(facts, k.channel_money)
        status = self._status_todo(facts, k)
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
        self, uow: UnitOfWork, order: Order, r: Ready, todo: list[PaymentRow], k: _Known
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

    async def _follow_status(self, uow: UnitOfWork, order: Order, r: Ready) -> str:
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


def _known_sqlite(db: sqlite3.Connection, refs: dict[str, list[str]]) -> list[tuple[Any, ...]]:
    """ImportService._known's look-up on SQLite, in the driver's thread."""
    out: list[tuple[Any, ...]] = []
    for channel, names in refs.items():
        for chunk in _chunks(names, 500):
            marks = ", ".join("?" for _ in chunk)
            out += [
                (channel, *row)
                for row in db.execute(
                    "SELECT channel_ref, id, number, status FROM orders "
                    f"WHERE channel = ? AND channel_ref IN ({marks})",
                    (channel, *chunk),
                )
            ]
    return out


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


@contextlib.asynccontextmanager
async def _savepoint(uow: UnitOfWork) -> AsyncIterator[None]:
    """A savepoint whose rollback also forgets which orders it touched (UnitOfWork counts
    one new version per order per unit of work: an order touched again after the rollback
    must get its version again)."""
    touched = set(uow._touched)
    try:
        async with uow.session.begin_nested():
            yield
    except BaseException:
        uow._touched = touched
        raise


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _position(r: Rejected) -> int:
    """Where in the file: the first number of "lines 12-14" / "order 3 in the file"."""
    found = re.search(r"\d+", r.where)
    return int(found.group()) if found else 0


def _first(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0][:200] if detail else type(exc).__name__
