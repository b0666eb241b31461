"""Realistic, deterministic demo data: same (orders, seed, anchor), same database.

Every order is consistent with the status machine: what is packed, shipped, paid,
held and purchased matches its status, and its history walks the table. Rows are
written with bulk Core inserts and ids assigned here, so 100k orders take seconds.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import multiprocessing
import queue as queue_module
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services import carriers, search
from services.barcodes import make_gtin
from services.bulk import insert_rows, prepare_rows, table_of, write_rows
from services.db import Database
from services.models import (
    Address,
    AuditLog,
    Counter,
    Customer,
    Notification,
    Order,
    OrderLine,
    OrderSearchTerm,
    Payment,
    POLine,
    Product,
    ProductBarcode,
    ProductVendor,
    PurchaseOrder,
    Shipment,
    ShipmentLine,
    StatusEvent,
    StockLevel,
    Vendor,
    Warehouse,
)
from services.risk import RiskAssessment, RiskFacts, RiskRules, assess
from services.statuses import (
    Fulfillment,
    HoldReason,
    NotificationState,
    PaymentMethod,
    PaymentStatus,
    POMethod,
    POStatus,
)
from services.statuses import Status as S
from services.workflow import TRANSITIONS

Progress = Callable[[int, int], None]
CHUNK = 5_000
INLINE_ORDERS = 10_000  # above this, generation runs in its own process
USUAL_TOTAL = 9_000
RISK_RULES = RiskRules()


@functools.lru_cache(maxsize=65_536)
def _assess(facts: RiskFacts) -> RiskAssessment:
    """Customers order again and again from one address: assess each combination once."""
    return assess(facts, RISK_RULES)


FIRST_ORDER_NUMBER = 1001

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "William",
    "Mia",
    "Benjamin",
    "Charlotte",
    "Lucas",
    "Amelia",
    "Henry",
    "Harper",
    "Alexander",
    "Evelyn",
    "Daniel",
    "Abigail",
    "Michael",
    "Emily",
    "Ethan",
    "Ella",
    "Jacob",
    "Scarlett",
    "Logan",
    "Grace",
    "Jackson",
    "Chloe",
    "Sebastian",
    "Lily",
    "Jack",
    "Aria",
    "Owen",
    "Zoë",
    "José",
    "Søren",
    "Anaïs",
    "Mateo",
    "Priya",
    "Wei",
    "Aiko",
    "Fatima",
    "Olumide",
    "Siobhan",
    "Björn",
    "Dana",
    "Kai",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "O'Brien",
    "Müller",
    "Kowalski",
    "Nakamura",
    "Okafor",
    "Dubois",
    "Van der Berg",
    "Ahmed",
    "Rossi",
    "Yamamoto",
    "Petrov",
]
MAIL = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "proton.me",
    "fastmail.com",
    "example.org",
)
STREETS = (
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Elm St",
    "Pine Rd",
    "Washington Blvd",
    "Lake View Dr",
    "Hillcrest Rd",
    "Sunset Blvd",
    "Box Elder Rd",
    "River Rd",
    "Park Ave",
    "Church St",
    "Mill Rd",
    "Highland Ave",
)
CITIES = (
    ("Springfield", "IL", "62701"),
    ("Portland", "OR", "97201"),
    ("Austin", "TX", "73301"),
    ("Madison", "WI", "53703"),
    ("Burlington", "VT", "05401"),
    ("Boise", "ID", "83702"),
    ("Asheville", "NC", "28801"),
    ("Tucson", "AZ", "85701"),
    ("Duluth", "MN", "55802"),
    ("Savannah", "GA", "31401"),
    ("Albany", "NY", "12207"),
    ("Fresno", "CA", "93721"),
)
ABROAD = (
    ("Toronto", "ON", "M5V 2T6", "CA"),
    ("London", "", "SW1A 1AA", "GB"),
    ("Berlin", "", "10115", "DE"),
    ("Melbourne", "VIC", "3000", "AU"),
)
ADJ = (
    "Classic",
    "Heavy-Duty",
    "Compact",
    "Premium",
    "Rugged",
    "Deluxe",
    "Ultra-Light",
    "Stainless",
    "Carbon",
    "Vintage",
    "Pro",
    "Eco",
)
NOUN = (
    ("Brake Pad Set", 4200, 1800),
    ("Oil Filter", 1299, 400),
    ("Spark Plug 4-Pack", 2499, 200),
    ("Wiper Blade", 1899, 300),
    ("LED Headlight Bulb", 3499, 150),
    ("Floor Mat Set", 5999, 2500),
    ("Air Filter", 1799, 350),
    ("Battery Charger", 8999, 1500),
    ("Tire Pressure Gauge", 1499, 120),
    ("Tow Strap", 2999, 900),
    ("Seat Cover", 4999, 1100),
    ("Roof Rack", 19999, 8000),
    ("Phone Mount", 2299, 180),
    ("Jump Starter", 11999, 1300),
    ("Ceramic Mug", 1599, 450),
    ("Trail Backpack", 8999, 1200),
    ("Water Bottle", 2499, 300),
    ("Headlamp", 3299, 150),
    ("Camp Stove", 7499, 1400),
    ("Dash Camera", 12999, 250),
)
COMMENTS = {
    S.PROCESSING: (
        "Thank you for your order! We're getting it ready.",
        "Thanks for shopping with us — your order is being prepared.",
    ),
    S.READY_TO_SHIP: ("Your order is packed and waiting for the carrier.",),
    S.SHIPPED: (
        "Your order is on its way and should arrive by {day}.",
        "Shipped today! Expected delivery: {day}.",
    ),
    S.COMPLETE: ("Thanks again for your order — enjoy!", "We hope you love it. Thank you!"),
    S.CANCELED: ("Your order was canceled and your payment returned.",),
    S.BACKORDER: ("One item is on back order; we'll ship as soon as it arrives.",),
}
MEMOS = (
    "deliver by {day}",
    "customer called about delivery date",
    "gift — no invoice in box",
    "check the artwork before printing",
    "VIP customer",
    "address confirmed by phone",
    "fragile: double box",
    "wants a call before shipping",
)
NOTES = (
    "Please leave at the back door.",
    "Gift wrap please!",
    "Engrave: 'For Sam'",
    "Can you ship before Friday?",
    "[b]Call me[/b] at 555-0100",
)


@dataclass
class _Ids:
    """Next primary key per table, so rows can reference each other before insert."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


@dataclass
class _Catalogue:
    products: list[dict[str, Any]]
    barcode: dict[int, str]
    vendors_of: dict[int, list[tuple[int, str, int, bool]]]  # pid -> (vendor, vsku, cost, default)
    vendor_names: dict[int, str]


@dataclass
class _Batch:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


TABLES: dict[str, Table] = {
    m.__tablename__: table_of(m)
    for m in (
        Customer,
        Address,
        Order,
        OrderLine,
        Payment,
        Shipment,
        ShipmentLine,
        PurchaseOrder,
        POLine,
        StatusEvent,
        Notification,
        OrderSearchTerm,
    )
}
INSERT_ORDER = (
    "customers",
    "addresses",
    "orders",
    "order_lines",
    "payments",
    "purchase_orders",
    "po_lines",
    "shipments",
    "shipment_lines",
    "status_events",
    "notifications",
    "order_search",
)


async def seed_database(
    db: Database,
    *,
    orders: int,
    seed: int = 42,
    anchor: date | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Add a catalogue (once) and `orders` orders; returns what was made and how long it took."""
    started = time.perf_counter()
    rng = random.Random(seed)
    day = anchor or datetime.now(UTC).date()
    now = datetime.combine(day, dtime(17, 0), tzinfo=UTC)
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            # The search index takes rows in term order, not insert order: keep it in memory.
            await conn.exec_driver_sql("PRAGMA cache_size = -262144")
        await conn.commit()
        ids = await _next_ids(conn)
        catalogue = await _catalogue(conn, rng, ids)
        await conn.commit()
        number = await _next_order_number(conn)
        plan = _Plan(
            orders=orders,
            rng_state=rng.getstate(),
            ids=dict(ids.next),
            catalogue=catalogue,
            number=number,
            now=now,
        )
        made = customers = 0
        async for tables, size, so_far in _chunk_source(plan):
            customers = so_far
            for table in INSERT_ORDER:
                # Converted here, not in the generator: that process is the busier one.
                rows = prepare_rows(TABLES[table], tables.get(table, []), sqlite=db.is_sqlite)
                await write_rows(conn, table, rows)
            made += size
            await conn.commit()
            if progress:
                progress(made, orders)
        number += orders
        await _set_counter(conn, "order_number", number - 1)
        await conn.execute(
            insert(AuditLog),
            [
                {
                    "at": datetime.now(UTC),
                    "actor": "seed",
                    "action": "seed",
                    "entity": "database",
                    "entity_id": None,
                    "detail": {"orders": orders, "seed": seed, "anchor": str(day)},
                }
            ],
        )
        if not db.is_sqlite:
            await _sync_sequences(conn)
        await conn.commit()
    return {
        "orders": orders,
        "products": len(catalogue.products),
        "customers": customers,
        "first_number": number - orders if orders else None,
        "last_number": number - 1 if orders else None,
        "seconds": round(time.perf_counter() - started, 2),
    }


@dataclass(frozen=True)
class _Plan:
    """Everything the order generator needs: picklable, so it can run in another process."""

    orders: int
    rng_state: tuple[Any, ...]
    ids: dict[str, int]
    catalogue: _Catalogue
    number: int
    now: datetime


Chunk = tuple[dict[str, list[dict[str, Any]]], int, int]  # rows by table, orders, customers


def _chunks(plan: _Plan) -> Iterator[Chunk]:
    """The orders, CHUNK at a time, as driver-ready rows. Deterministic for a plan."""
    rng = random.Random()
    rng.setstate(plan.rng_state)
    ids = _Ids(dict(plan.ids))
    number = plan.number
    customers: list[_Cust] = []
    made = 0
    statuses = list(S)
    while made < plan.orders:
        size = min(CHUNK, plan.orders - made)
        batch = _Batch()
        for i in range(size):
            if not customers or rng.random() < 0.35 or len(customers) < 20:
                customers.append(_customer(batch, rng, ids, plan.now))
            cust = customers[-1] if rng.random() < 0.7 else rng.choice(customers)
            # The first orders take every status once, so even a tiny demo shows them all.
            forced = statuses[made + i] if made + i < len(statuses) else None
            _order(batch, rng, ids, plan.catalogue, cust, number, plan.now, forced)
            number += 1
        made += size
        yield batch.rows, size, len(customers)


def _produce(plan: _Plan, queue: Any) -> None:
    """Child-process entry: generate while the parent writes."""
    try:
        for chunk in _chunks(plan):
            queue.put(chunk)
        queue.put(None)
    except BaseException as exc:  # the parent must hear about it, not wait forever
        queue.put(RuntimeError(f"seed generator failed: {exc!r}"))


async def _chunk_source(plan: _Plan) -> AsyncIterator[Chunk]:
    """Chunks inline for small seeds; from a generator process (a second core) for big ones."""
    if plan.orders <= INLINE_ORDERS:
        for chunk in _chunks(plan):
            yield chunk
        return
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue(maxsize=3)
    worker = ctx.Process(target=_produce, args=(plan, queue), daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = await asyncio.to_thread(queue.get, True, 1.0)
            except queue_module.Empty:
                if not worker.is_alive():  # died without a word (killed, out of memory)
                    raise RuntimeError(
                        f"seed generator process exited with code {worker.exitcode}"
                    ) from None
                continue
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join(timeout=5)


async def _next_ids(conn: AsyncConnection) -> _Ids:
    ids = _Ids()
    for name, table in {
        **TABLES,
        "products": table_of(Product),
        "vendors": table_of(Vendor),
        "warehouses": table_of(Warehouse),
        "stock_levels": table_of(StockLevel),
        "product_vendors": table_of(ProductVendor),
    }.items():
        if name == "order_search":
            continue
        current = (await conn.execute(select(func.max(table.c.id)))).scalar()
        ids.next[name] = int(current or 0) + 1
    return ids


async def _next_order_number(conn: AsyncConnection) -> int:
    counter = (
        await conn.execute(select(Counter.value).where(Counter.name == "order_number"))
    ).scalar()
    highest = (await conn.execute(select(func.max(Order.number)))).scalar()
    return max(int(counter or 0), int(highest or 0), FIRST_ORDER_NUMBER - 1) + 1


async def _set_counter(conn: AsyncConnection, name: str, value: int) -> None:
    exists = (await conn.execute(select(Counter.value).where(Counter.name == name))).scalar()
    if exists is None:
        await conn.execute(insert(Counter), [{"name": name, "value": value}])
    else:
        await conn.execute(update(Counter).where(Counter.name == name).values(value=value))


async def _sync_sequences(conn: AsyncConnection) -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the new rows."""
    for table in (
        "customers",
        "addresses",
        "orders",
        "order_lines",
        "payments",
        "shipments",
        "shipment_lines",
        "purchase_orders",
        "po_lines",
        "status_events",
        "notifications",
        "audit_log",
        "products",
        "vendors",
        "warehouses",
        "stock_levels",
        "product_vendors",
    ):
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
        )


async def _catalogue(conn: AsyncConnection, rng: random.Random, ids: _Ids) -> _Catalogue:
    """The shop's products, vendors and warehouses: made once, reused by later seeds."""
    existing = (
        await conn.execute(
            select(Product.id, Product.sku, Product.name, Product.price, Product.drop_ship)
        )
    ).all()
    if existing:
        known = [
            {"id": r[0], "sku": r[1], "name": r[2], "price": r[3], "drop_ship": r[4]}
            for r in existing
        ]
        codes = dict(
            (
                await conn.execute(
                    select(ProductBarcode.product_id, func.min(ProductBarcode.code))
                    .where(ProductBarcode.kind != "internal")
                    .group_by(ProductBarcode.product_id)
                )
            ).all()
        )
        vendors_of: dict[int, list[tuple[int, str, int, bool]]] = {}
        for pid, vid, vsku, cost, default in (
            await conn.execute(
                select(
                    ProductVendor.product_id,
                    ProductVendor.vendor_id,
                    ProductVendor.vendor_sku,
                    ProductVendor.cost,
                    ProductVendor.is_default,
                )
            )
        ).all():
            vendors_of.setdefault(pid, []).append((vid, vsku, cost, default))
        names = dict((await conn.execute(select(Vendor.id, Vendor.name))).all())
        return _Catalogue(known, codes, vendors_of, names)

    warehouses = [
        {"id": ids.take("warehouses"), "code": "MAIN", "name": "Main warehouse", "priority": 1},
        {"id": ids.take("warehouses"), "code": "EAST", "name": "East annex", "priority": 2},
    ]
    vendors: list[dict[str, Any]] = []
    for code, name, method, email, qual, edi in (
        ("ACME", "Acme Auto Supply", POMethod.EMAIL, "orders@acme-supply.example", "", ""),
        ("NORTH", "Northwind Parts", POMethod.EDI, "edi@northwind.example", "ZZ", "NORTHWIND01"),
        ("GLOBEX", "Globex Outdoor", POMethod.EMAIL, "po@globex.example", "", ""),
        ("INITECH", "Initech Distribution", POMethod.EDI, "", "01", "123456789"),
        ("HOOLI", "Hooli Gear", POMethod.MANUAL, "sales@hooli.example", "", ""),
        ("UMBRA", "Umbrella Goods", POMethod.EMAIL, "purchasing@umbrella.example", "", ""),
    ):
        vendors.append(
            {
                "id": ids.take("vendors"),
                "code": code,
                "name": name,
                "po_method": method,
                "email": email,
                "edi_qualifier": qual,
                "edi_id": edi,
                "lead_time_days": rng.randint(2, 7),
            }
        )
    products: list[dict[str, Any]] = []
    barcodes: list[dict[str, Any]] = []
    stock: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    barcode: dict[int, str] = {}
    vendors_of = {}
    seen_names: set[str] = set()
    for n in range(200):
        noun, base_price, weight = NOUN[n % len(NOUN)]
        name = f"{ADJ[(n // len(NOUN)) % len(ADJ)]} {noun}"
        if name in seen_names:
            name = f"{name} {n // (len(NOUN) * len(ADJ)) + 2}"
        seen_names.add(name)
        pid = ids.take("products")
        drop = rng.random() < 0.18
        price = int(base_price * rng.uniform(0.7, 1.6)) // 100 * 100 + 99
        products.append(
            {
                "id": pid,
                "sku": f"PL-{10000 + n}",
                "name": name,
                "price": price,
                "weight_grams": weight,
                "serialized": n % 23 == 0,
                "drop_ship": drop,
                "active": True,
            }
        )
        kind_roll = n % 10
        if kind_roll < 7:
            code, kind = make_gtin(f"0{614141:06d}{n:05d}"[1:]), "UPC-A"  # 11-digit body
        elif kind_roll < 9:
            code, kind = make_gtin(f"40{12345:05d}{n:05d}"), "EAN-13"  # 12-digit body
        else:
            code, kind = make_gtin(f"96{n:05d}"), "EAN-8"  # 7-digit body
        barcode[pid] = code
        barcodes.append({"code": code, "product_id": pid, "kind": kind})
        if n % 5 == 0:
            barcodes.append({"code": f"INT-{10000 + n}", "product_id": pid, "kind": "internal"})
        aisle, rack, shelf = "ABCDEFGH"[n % 8], 1 + (n // 8) % 12, 1 + n % 5
        if not drop:
            stock.append(
                {
                    "id": ids.take("stock_levels"),
                    "product_id": pid,
                    "warehouse_id": warehouses[0]["id"],
                    "bin": f"{aisle}-{rack:02d}-{shelf}",
                    "on_hand": rng.randint(0, 120),
                    "reserved": 0,
                }
            )
            if n % 2 == 0:
                stock.append(
                    {
                        "id": ids.take("stock_levels"),
                        "product_id": pid,
                        "warehouse_id": warehouses[1]["id"],
                        "bin": f"E{rack:02d}-{shelf}",
                        "on_hand": rng.randint(0, 40),
                        "reserved": 0,
                    }
                )
        if drop:
            chosen = rng.sample(vendors, rng.randint(1, 3))
            for k, v in enumerate(chosen):
                cost = int(price * rng.uniform(0.45, 0.7))
                vsku = f"{v['code'][:3]}-{rng.randint(10000, 99999)}"
                links.append(
                    {
                        "id": ids.take("product_vendors"),
                        "product_id": pid,
                        "vendor_id": v["id"],
                        "vendor_sku": vsku,
                        "cost": cost,
                        "is_default": k == 0,
                    }
                )
                vendors_of.setdefault(pid, []).append((v["id"], vsku, cost, k == 0))
    for table, rows in (
        (Warehouse, warehouses),
        (Vendor, vendors),
        (Product, products),
        (ProductBarcode, barcodes),
        (StockLevel, stock),
        (ProductVendor, links),
    ):
        await insert_rows(conn, table_of(table), rows)
    return _Catalogue(products, barcode, vendors_of, {v["id"]: v["name"] for v in vendors})


@dataclass(frozen=True)
class _Cust:
    id: int
    name: str
    email: str
    ship: dict[str, Any]
    bill: dict[str, Any]


def _address(
    batch: _Batch,
    rng: random.Random,
    ids: _Ids,
    customer_id: int,
    name: str,
    *,
    po_box: bool = False,
    abroad: bool = False,
) -> dict[str, Any]:
    aid = ids.take("addresses")
    if abroad:
        city, region, postal, country = rng.choice(ABROAD)
    else:
        city, region, postal = rng.choice(CITIES)
        country = "US"
    line1 = (
        rng.choice(("PO Box", "P.O. Box", "POB")) + f" {rng.randint(10, 9999)}"
        if po_box
        else f"{rng.randint(1, 9999)} {rng.choice(STREETS)}"
    )
    line2 = rng.choice(("", "", "", f"Apt {rng.randint(1, 40)}", "Suite 200"))
    row = {
        "id": aid,
        "customer_id": customer_id,
        "name": name,
        "company": "",
        "line1": line1,
        "line2": "" if po_box else line2,
        "city": city,
        "region": region,
        "postal_code": postal,
        "country": country,
        "phone": f"555-01{rng.randint(0, 99):02d}",
    }
    batch.add("addresses", row)
    return row


def _customer(batch: _Batch, rng: random.Random, ids: _Ids, now: datetime) -> _Cust:
    cid = ids.take("customers")
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}"
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    local = local.encode("ascii", "ignore").decode() or "customer"
    email = f"{local}{cid}@{rng.choice(MAIL)}"
    batch.add(
        "customers",
        {
            "id": cid,
            "name": name,
            "email": email,
            "phone": "",
            "note": "",
            "created_at": now - timedelta(days=rng.randint(0, 900)),
        },
    )
    po_box = rng.random() < 0.04
    abroad = rng.random() < 0.03
    ship = _address(batch, rng, ids, cid, name, po_box=po_box, abroad=abroad)
    bill = ship
    if rng.random() < 0.12:
        bill = _address(batch, rng, ids, cid, name, abroad=rng.random() < 0.3)
    return _Cust(cid, name, email, ship, bill)


# How the statuses mix by an order's age in days: recent orders are still in the works,
# old ones are mostly done. (age limit, ((status, weight), ...)), first match wins.
STATUS_MIX: tuple[tuple[float, tuple[tuple[S, int], ...]], ...] = (
    (
        2,
        (
            (S.NEW, 38),
            (S.PROCESSING, 22),
            (S.HELD, 8),
            (S.READY_TO_SHIP, 12),
            (S.BACKORDER, 5),
            (S.PARTIALLY_SHIPPED, 3),
            (S.SHIPPED, 10),
            (S.CANCELED, 2),
        ),
    ),
    (
        8,
        (
            (S.PROCESSING, 8),
            (S.READY_TO_SHIP, 6),
            (S.SHIPPED, 40),
            (S.COMPLETE, 30),
            (S.HELD, 3),
            (S.BACKORDER, 4),
            (S.CANCELED, 4),
            (S.PARTIALLY_SHIPPED, 3),
            (S.NEW, 2),
        ),
    ),
    (
        float("inf"),
        (
            (S.COMPLETE, 84),
            (S.CANCELED, 5),
            (S.RETURNED, 3),
            (S.RETURN_REQUESTED, 1),
            (S.SHIPPED, 6),
            (S.BACKORDER, 1),
        ),
    ),
)


def _pick_status(rng: random.Random, age_days: float) -> S:
    mix = next(table for limit, table in STATUS_MIX if age_days < limit)
    return rng.choices([s for s, _ in mix], weights=[w for _, w in mix])[0]


# The path each final status walks through the table (held: via its origin).
PATHS: dict[S, tuple[S, ...]] = {
    S.NEW: (S.NEW,),
    S.PROCESSING: (S.NEW, S.PROCESSING),
    S.BACKORDER: (S.NEW, S.PROCESSING, S.BACKORDER),
    S.READY_TO_SHIP: (S.NEW, S.PROCESSING, S.READY_TO_SHIP),
    S.PARTIALLY_SHIPPED: (S.NEW, S.PROCESSING, S.PARTIALLY_SHIPPED),
    S.SHIPPED: (S.NEW, S.PROCESSING, S.READY_TO_SHIP, S.SHIPPED),
    S.COMPLETE: (S.NEW, S.PROCESSING, S.READY_TO_SHIP, S.SHIPPED, S.COMPLETE),
    S.CANCELED: (S.NEW, S.CANCELED),
    S.RETURN_REQUESTED: (
        S.NEW,
        S.PROCESSING,
        S.READY_TO_SHIP,
        S.SHIPPED,
        S.COMPLETE,
        S.RETURN_REQUESTED,
    ),
    S.RETURNED: (
        S.NEW,
        S.PROCESSING,
        S.READY_TO_SHIP,
        S.SHIPPED,
        S.COMPLETE,
        S.RETURN_REQUESTED,
        S.RETURNED,
    ),
}
for _final, _path in PATHS.items():  # the seeder may only walk edges the table has
    for _a, _b in itertools.pairwise(_path):
        assert _b in TRANSITIONS[_a], (_a, _b)


def _order(
    batch: _Batch,
    rng: random.Random,
    ids: _Ids,
    cat: _Catalogue,
    cust: _Cust,
    number: int,
    now: datetime,
    forced: S | None,
) -> None:
    name, email = cust.name, cust.email
    age_days = min(rng.expovariate(1 / 60), 700) if forced is None else rng.uniform(0, 1.5)
    placed = now - timedelta(days=age_days, minutes=rng.randint(0, 600))
    final = forced or _pick_status(rng, age_days)
    held_from: S | None = None
    hold_reason: HoldReason | None = None
    if final is S.HELD:
        held_from = rng.choice((S.NEW, S.PROCESSING))
        hold_reason = rng.choice(list(HoldReason))
    path = PATHS[held_from or final] + ((S.HELD,) if final is S.HELD else ())
    oid = ids.take("orders")
    # Ready-to-ship orders come off our own shelves; drop-ship lines go through POs.
    stock_only = final in (S.READY_TO_SHIP,) or (final is S.HELD and rng.random() < 0.5)
    choices = [p for p in cat.products if not (stock_only and p["drop_ship"])]
    n_lines = rng.choices((1, 2, 3, 4), weights=(50, 28, 15, 7))[0]
    picked = rng.sample(choices, n_lines)
    lines: list[dict[str, Any]] = []
    subtotal = 0
    for pos, product in enumerate(picked):
        qty = rng.choices((1, 2, 3, 5), weights=(70, 20, 7, 3))[0]
        drop = bool(product["drop_ship"])
        line = {
            "id": ids.take("order_lines"),
            "order_id": oid,
            "position": pos,
            "product_id": product["id"],
            "sku": product["sku"],
            "name": product["name"],
            "quantity": qty,
            "unit_price": product["price"],
            "picked": 0,
            "packed": 0,
            "shipped": 0,
            "fulfillment": Fulfillment.DROP_SHIP if drop else Fulfillment.STOCK,
            "vendor_id": None,
        }
        subtotal += qty * product["price"]
        lines.append(line)
    shipping_total = 0 if subtotal > 7500 else 799
    tax = subtotal * 7 // 100
    total = subtotal + shipping_total + tax
    method = (
        PaymentMethod.CARD
        if rng.random() < 0.9
        else rng.choice((PaymentMethod.CHECK, PaymentMethod.TERMS, PaymentMethod.COD))
    )
    terms = method is PaymentMethod.TERMS and final not in (S.NEW,)
    shipped_at = placed + timedelta(hours=rng.randint(6, 60))
    # Packed / shipped quantities and shipments follow the status.
    all_shipped = final in (S.SHIPPED, S.COMPLETE, S.RETURN_REQUESTED, S.RETURNED)
    trackings: list[str] = []
    if all_shipped or final in (S.READY_TO_SHIP, S.PARTIALLY_SHIPPED):
        for ln in lines:
            if ln["fulfillment"] is Fulfillment.STOCK:
                ln["packed"] = ln["picked"] = ln["quantity"]
    if final is S.PARTIALLY_SHIPPED and len(lines) == 1:
        lines[0]["quantity"] = max(lines[0]["quantity"], 2)
        lines[0]["packed"] = lines[0]["picked"] = (
            lines[0]["quantity"] if lines[0]["fulfillment"] is Fulfillment.STOCK else 0
        )
    if all_shipped or final is S.PARTIALLY_SHIPPED:
        to_ship = [(ln, ln["quantity"]) for ln in lines]
        if final is S.PARTIALLY_SHIPPED:
            if len(lines) > 1:
                to_ship = [(ln, ln["quantity"]) for ln in lines[: len(lines) // 2]]
            else:
                to_ship = [(lines[0], lines[0]["quantity"] - 1)]
        by_source: dict[int | None, list[tuple[dict[str, Any], int]]] = {}
        for ln, qty in to_ship:
            vendor = None
            if ln["fulfillment"] is Fulfillment.DROP_SHIP:
                options = cat.vendors_of.get(ln["product_id"], [])
                choice = next((o for o in options if o[3]), options[0] if options else None)
                vendor = choice[0] if choice else None
                ln["vendor_id"] = vendor
            by_source.setdefault(vendor, []).append((ln, qty))
        for vendor, group in by_source.items():
            po_id = None
            if vendor is not None:
                po_id = ids.take("purchase_orders")
                batch.add(
                    "purchase_orders",
                    {
                        "id": po_id,
                        "number": f"PO-{number}-{vendor}",
                        "order_id": oid,
                        "vendor_id": vendor,
                        "status": POStatus.SHIPPED,
                        "created_at": placed + timedelta(hours=2),
                        "sent_at": placed + timedelta(hours=2),
                        "created_by": "seed",
                    },
                )
                for ln, _qty in group:
                    vsku, cost = next(
                        ((o[1], o[2]) for o in cat.vendors_of[ln["product_id"]] if o[0] == vendor),
                        ("?", 0),
                    )
                    batch.add(
                        "po_lines",
                        {
                            "id": ids.take("po_lines"),
                            "purchase_order_id": po_id,
                            "order_line_id": ln["id"],
                            "vendor_sku": vsku,
                            "quantity": ln["quantity"],
                            "unit_cost": cost,
                        },
                    )
            carrier = rng.choice(("ups", "fedex", "usps", "dhl"))
            tracking = carriers.generate(carrier, rng)
            trackings.append(tracking)
            sid = ids.take("shipments")
            batch.add(
                "shipments",
                {
                    "id": sid,
                    "order_id": oid,
                    "carrier": carrier,
                    "tracking": tracking,
                    "shipped_at": shipped_at,
                    "source": "vendor" if vendor else "shop",
                    "expected_delivery": (shipped_at + timedelta(days=rng.randint(2, 6))).date(),
                    "purchase_order_id": po_id,
                    "created_by": "seed",
                    "deleted_at": None,
                    "delete_reason": "",
                },
            )
            for ln, qty in group:
                ln["shipped"] = qty
                # `packed` counts what is packed and not yet shipped: shipping moves units on.
                ln["packed"] = max(ln["packed"] - qty, 0)
                batch.add(
                    "shipment_lines",
                    {
                        "id": ids.take("shipment_lines"),
                        "shipment_id": sid,
                        "order_line_id": ln["id"],
                        "quantity": qty,
                    },
                )
    for ln in lines:
        batch.add("order_lines", ln)
    # Payment status and its rows.
    pay = _payment(batch, rng, ids, oid, final, method, total, placed)
    # History: walk the path, with comments, memos and the e-mails they sent.
    at = placed
    last_memo = ""
    step_gap = max((now - placed) / (len(path) + 1), timedelta(minutes=5))
    day_name = (shipped_at + timedelta(days=4)).strftime("%A")
    batch.add(
        "status_events",
        {
            "id": ids.take("status_events"),
            "order_id": oid,
            "kind": "status",
            "from_status": None,
            "to_status": S.NEW,
            "reason": "",
            "actor": "storefront",
            "at": placed,
            "comment": "",
            "memo": "",
        },
    )
    for src, dst in itertools.pairwise(path):
        at = min(at + step_gap * rng.uniform(0.4, 1.0), now)
        notify = dst in COMMENTS and rng.random() < 0.8
        comment = rng.choice(COMMENTS[dst]).format(day=day_name) if notify else ""
        memo = rng.choice(MEMOS).format(day=day_name) if rng.random() < 0.25 else ""
        last_memo = memo or last_memo
        reason = hold_reason.value if dst is S.HELD and hold_reason else ""
        eid = ids.take("status_events")
        batch.add(
            "status_events",
            {
                "id": eid,
                "order_id": oid,
                "kind": "status",
                "from_status": src,
                "to_status": dst,
                "reason": reason,
                "actor": rng.choice(("maria", "dev", "sam", "lee")),
                "at": at,
                "comment": comment,
                "memo": memo,
            },
        )
        if notify:
            state = NotificationState.SENT if rng.random() < 0.97 else NotificationState.DEAD
            batch.add(
                "notifications",
                {
                    "id": ids.take("notifications"),
                    "order_id": oid,
                    "status_event_id": eid,
                    "event": dst.value if dst is not S.RETURNED else "return_received",
                    "channel": "email",
                    "recipient": email,
                    "payload": {"number": number, "comment": comment},
                    "state": state,
                    "attempts": 1 if state is NotificationState.SENT else 5,
                    "next_attempt_at": at,
                    "last_error": ""
                    if state is NotificationState.SENT
                    else "550 5.1.1 mailbox unavailable",
                    "idempotency_key": f"seed-{eid}",
                    "created_at": at,
                    "sent_at": at + timedelta(seconds=3)
                    if state is NotificationState.SENT
                    else None,
                },
            )
    hold_note = (
        "waiting for the customer to confirm the engraving text"
        if hold_reason is HoldReason.OTHER
        else ""
    )
    note = rng.choice(NOTES) if rng.random() < 0.06 else ""
    ship, bill = cust.ship, cust.bill
    risk = _assess(
        RiskFacts(
            shipping_lines=(ship["line1"], ship["line2"]),
            shipping_city=ship["city"],
            shipping_region=ship["region"],
            shipping_country=ship["country"],
            billing_country=bill["country"],
            # Below the high-value line the amount does not change the result: one cache key.
            total_cents=total if total > RISK_RULES.high_value_factor * USUAL_TOTAL else 0,
            usual_total_cents=USUAL_TOTAL,
            recent_orders_same_email=0,
            recent_orders_same_address=0,
            declined_attempts=1 if pay is PaymentStatus.DECLINED else 0,
            customer_note=note,
        ),
    )
    batch.add(
        "orders",
        {
            "id": oid,
            "number": number,
            "channel": rng.choice(("web", "web", "web", "phone")),
            "channel_ref": None,
            "customer_id": cust.id,
            "email": email,
            "status": final,
            "held_from": held_from,
            "hold_reason": hold_reason,
            "hold_note": hold_note,
            "payment_status": pay,
            "payment_method": method,
            "terms_accepted": terms,
            "currency": "USD",
            "subtotal": subtotal,
            "shipping_total": shipping_total,
            "tax_total": tax,
            "total": total,
            "item_count": sum(ln["quantity"] for ln in lines),
            "note": note,
            "shipping_method": rng.choice(("standard", "standard", "express")),
            "shipping_address_id": ship["id"],
            "billing_address_id": bill["id"],
            "warehouse_id": None,
            "risk_score": risk.score,
            "risk_reasons": list(risk.reasons),
            "last_memo": last_memo,
            "placed_at": placed,
            "updated_at": at,
            "updated_by": "seed",
            "version": 1,
        },
    )
    for term in search.terms_for(
        number, name=name, email=email, skus=[ln["sku"] for ln in lines], trackings=trackings
    ):
        batch.add("order_search", {"term": term, "order_id": oid})


def _payment(
    batch: _Batch,
    rng: random.Random,
    ids: _Ids,
    oid: int,
    final: S,
    method: PaymentMethod,
    total: int,
    placed: datetime,
) -> PaymentStatus:
    def row(kind: str, amount: int, state: str, reason: str = "") -> None:
        pid = ids.take("payments")
        batch.add(
            "payments",
            {
                "id": pid,
                "order_id": oid,
                "kind": kind,
                "amount": amount,
                "state": state,
                "method": method,
                "gateway_ref": f"ch_{pid:08d}",
                "idempotency_key": f"seed-pay-{pid}",
                "reason": reason,
                "actor": "seed",
                "created_at": placed + timedelta(minutes=1),
            },
        )

    manual = method is not PaymentMethod.CARD
    if final in (S.NEW, S.HELD):
        if manual or rng.random() < 0.3:
            if not manual and rng.random() < 0.3:
                row("charge", total, "declined", "card declined: insufficient funds")
                return PaymentStatus.DECLINED
            return PaymentStatus.UNPAID
        row("charge", total, "approved")
        return PaymentStatus.PAID
    if final is S.CANCELED:
        if rng.random() < 0.5:
            row("charge", total, "approved")
            row("refund", total, "approved", "order canceled")
            return PaymentStatus.REFUNDED
        return PaymentStatus.UNPAID
    if method is PaymentMethod.TERMS and final in (
        S.PROCESSING,
        S.BACKORDER,
        S.READY_TO_SHIP,
        S.PARTIALLY_SHIPPED,
        S.SHIPPED,
    ):
        return PaymentStatus.UNPAID  # terms accepted: the invoice is paid later
    row("charge", total, "approved")
    if final is S.RETURNED:
        row("refund", total, "approved", "goods returned")
        return PaymentStatus.REFUNDED
    if final is S.COMPLETE and rng.random() < 0.03:
        row("refund", total // 5, "approved", "partial refund: damaged box")
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PAID
