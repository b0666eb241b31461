"""Helpers for the shipping, documents and printing tests: orders brought to where they can
ship, valid tracking numbers, a snapshot of everything a refusal must leave alone, and a
tracking service on 127.0.0.1. No tests here."""

from __future__ import annotations

import http.server
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services import carriers
from services.container import Services
from services.models import (
    AuditLog,
    Notification,
    Order,
    OrderSearchTerm,
    Shipment,
    ShipmentLine,
    StatusEvent,
)
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.statuses import Fulfillment, PaymentStatus, Status
from tests.services.stock_support import stock_up

ADDRESS = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="London",
    postal_code="N1 9GU",
    country="GB",
)
STOCK_A = "PL-10002"  # Classic Spark Plug 4-Pack, stock
STOCK_B = "PL-10003"  # Classic Wiper Blade, stock
DROP = "PL-10001"  # Classic Oil Filter, drop-ship

UPS_EXAMPLE = "1Z999AA10123456784"  # UPS's own published example


def tracking(carrier: str = "ups", seed: int = 1) -> str:
    """A valid tracking number (check digit right), different for each seed."""
    return carriers.generate(carrier, random.Random(seed))


def off_by_one(number: str) -> str:
    """The same number with its check digit changed (a typo the check digit catches)."""
    last = number[-1]
    return number[:-1] + str((int(last) + 1) % 10)


async def seed_catalogue(services: Services) -> None:
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    await stock_up(services)  # processing reserves stock; these tests are not about stock


async def new_order(
    services: Services,
    lines: tuple[tuple[str, int], ...] = ((STOCK_A, 2), (STOCK_B, 1)),
    *,
    name: str = "Ada Lovelace",
    email: str = "ada@example.org",
    address: NewAddress = ADDRESS,
    note: str = "",
) -> int:
    detail = await services.orders.create(
        NewOrder(
            customer_name=name,
            email=email,
            shipping=address,
            lines=lines,
            note=note,
            shipping_total=799,
            tax_total=350,
        )
    )
    return detail.number


async def prepare(
    services: Services,
    number: int,
    *,
    packed: dict[str, int] | None = None,
    paid: bool = True,
    status: Status = Status.READY_TO_SHIP,
) -> None:
    """processing, packed (every stock line, or `packed` SKU -> quantity), paid, `status`.

    Packing is the pick & pack service's job; here the counts are written directly."""
    await services.orders.set_status(number, Status.PROCESSING)
    async with services.db.write_session() as s, s.begin():
        order = (
            await s.execute(
                select(Order).where(Order.number == number).options(selectinload(Order.lines))
            )
        ).scalar_one()
        for ln in order.lines:
            if ln.fulfillment is not Fulfillment.STOCK:
                continue
            qty = ln.quantity if packed is None else packed.get(ln.sku, 0)
            ln.packed = ln.picked = qty
        if paid:
            order.payment_status = PaymentStatus.PAID
    if status is not Status.PROCESSING:
        await services.orders.set_status(number, status)


async def ready_order(services: Services, **kw: Any) -> int:
    number = await new_order(services, **kw)
    await prepare(services, number)
    return number


async def snapshot(services: Services) -> dict[str, Any]:
    """Everything a shipping action writes, so a refusal can be shown to write nothing."""
    async with services.db.read_session() as s:
        counts = {
            m.__name__: int((await s.execute(select(func.count()).select_from(m))).scalar_one())
            for m in (
                Shipment,
                ShipmentLine,
                StatusEvent,
                Notification,
                AuditLog,
                OrderSearchTerm,
            )
        }
        orders = (
            await s.execute(select(Order).options(selectinload(Order.lines)).order_by(Order.number))
        ).scalars()
        state = [
            (
                o.number,
                o.status,
                o.version,
                o.last_memo,
                [(ln.sku, ln.picked, ln.packed, ln.shipped) for ln in o.lines],
            )
            for o in orders
        ]
        deleted = (
            await s.execute(select(Shipment.id, Shipment.deleted_at, Shipment.delete_reason))
        ).all()
    return {"counts": counts, "orders": state, "shipments": sorted(deleted)}


async def outbox_rows(services: Services, number: int) -> list[Notification]:
    async with services.db.read_session() as s:
        return list(
            (
                await s.execute(
                    select(Notification)
                    .join(Order, Order.id == Notification.order_id)
                    .where(Order.number == number)
                    .order_by(Notification.id)
                )
            ).scalars()
        )


async def audit_rows(services: Services, action: str) -> list[AuditLog]:
    async with services.db.read_session() as s:
        return list(
            (
                await s.execute(
                    select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
                )
            ).scalars()
        )


@dataclass
class TrackingServer:
    """Plays a carrier tracking service: `answers` maps a tracking number to (HTTP status,
    JSON body); unknown numbers get 404. Requests are kept with their headers."""

    port: int = 0
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/track"


@contextmanager
def tracking_server(answers: dict[str, tuple[int, Any]] | None = None) -> Iterator[TrackingServer]:
    state = TrackingServer(answers=dict(answers or {}))
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                state.requests.append((self.path, dict(self.headers.items())))
                number = self.path.rstrip("/").rsplit("/", 1)[-1]
                code, body = state.answers.get(number, (404, {"error": "unknown"}))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
