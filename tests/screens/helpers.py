"""Waiting for the app the way an operator would: until what is expected is on screen."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from textual.app import App
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

from screens.widgets.lazy_table import LazyTable
from services.container import Services
from services.models import Order, Payment, Shipment, ShipmentLine
from services.orders import NewAddress, NewOrder
from services.statuses import PaymentStatus

ADDRESS = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="London",
    postal_code="N1 9GU",
    country="GB",
)


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], limit: float = 5.0) -> None:
    waited = 0.0
    while not predicate():
        if waited >= limit:
            raise AssertionError(f"timed out after {limit} s waiting for {predicate}")
        await pilot.pause(0.02)
        waited += 0.02


async def settle(pilot: Pilot[Any]) -> None:
    """No worker running and no page on its way."""
    app = pilot.app

    def idle() -> bool:
        busy = [w for w in app.workers if w.is_running]
        tables = list(app.screen.query(LazyTable))
        return not busy and not any(t.is_loading for t in tables)

    await wait_for(pilot, idle)
    await pilot.pause()


def screen_strips(app: App[Any]) -> list[Strip]:
    """The frame the terminal would show (the top screen composited over the others)."""
    return app.screen._compositor.render_strips()


def screen_text(app: App[Any]) -> str:
    return "\n".join(strip.text for strip in screen_strips(app))


def rendered(app: App[Any], widget_id: str, width: int = 300) -> str:
    """A section's whole content as text, whether or not it is scrolled into view."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(app.screen.query_one(f"#{widget_id}", Static).content)
    return console.export_text()


async def create_order(services: Services, name: str = "Ada Lovelace", **kw: Any) -> int:
    detail = await services.orders.create(
        NewOrder(
            customer_name=name,
            email=kw.pop("email", "ada@example.org"),
            shipping=kw.pop("shipping", ADDRESS),
            lines=kw.pop("lines", (("PL-10001", 2), ("PL-10003", 1))),
            **kw,
        )
    )
    return detail.number


async def pack_and_pay(services: Services, number: int) -> None:
    """Stand-in for the pack screen and the payment gateway (later issues): every stock
    line packed, the order paid, as those services will record it."""
    async with services.db.write_session() as s, s.begin():
        order = (
            await s.execute(
                select(Order).where(Order.number == number).options(selectinload(Order.lines))
            )
        ).scalar_one()
        for line in order.lines:
            line.picked = line.packed = line.quantity
        order.payment_status = PaymentStatus.PAID
        order.updated_at += timedelta(seconds=1)  # as every service marks what it changed
        order.updated_by = "packer"
        order.version += 1
        s.add(
            Payment(
                order_id=order.id,
                kind="charge",
                amount=order.total,
                state="approved",
                idempotency_key=f"test-{number}",
                actor="tester",
                created_at=order.updated_at,
            )
        )


async def ship_everything(services: Services, number: int, tracking: str) -> None:
    """Stand-in for the shipping service (a later issue): one shipment with every line."""
    async with services.db.write_session() as s, s.begin():
        order = (
            await s.execute(
                select(Order).where(Order.number == number).options(selectinload(Order.lines))
            )
        ).scalar_one()
        shipment = Shipment(
            order_id=order.id,
            carrier="ups",
            tracking=tracking,
            shipped_at=order.updated_at,
            expected_delivery=date(2026, 11, 25),
            created_by="tester",
        )
        s.add(shipment)
        await s.flush()
        for line in order.lines:
            s.add(
                ShipmentLine(shipment_id=shipment.id, order_line_id=line.id, quantity=line.quantity)
            )
            line.shipped, line.packed = line.quantity, 0
        order.updated_at += timedelta(seconds=1)
        order.updated_by = "shipper"
        order.version += 1
