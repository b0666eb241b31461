"""Helpers for the import and export tests: the fixture files, a shop to import into, and
a snapshot of every table an import writes. No tests here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.container import Services
from services.models import (
    Address,
    AuditLog,
    Customer,
    Notification,
    Order,
    OrderLine,
    OrderSearchTerm,
    Payment,
    StatusEvent,
    StockLevel,
)
from services.seed import seed_database
from services.settings import load_settings
from tests.conftest import FixedClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"
SHOPIFY = FIXTURES / "shopify_orders.csv"
SHOPIFY_LATER = FIXTURES / "shopify_orders_later.csv"
SHOPIFY_2016 = FIXTURES / "shopify_2016.csv"


@asynccontextmanager
async def open_shop(
    db_url: str, clock: FixedClock, *, catalogue: bool = True, **settings: Any
) -> AsyncIterator[Services]:
    s = await Services.open(load_settings(db=db_url, operator="importer", **settings), clock=clock)
    try:
        if catalogue:
            await seed_database(s.db, orders=0, seed=1, anchor=date(2026, 11, 20))
        yield s
    finally:
        await s.close()


async def by_ref(s: Services, ref: str, channel: str = "shopify") -> Order:
    """The order (with lines, customer, addresses) imported as `ref` from `channel`."""
    async with s.db.read_session() as session:
        order = (
            await session.execute(
                select(Order)
                .where(Order.channel == channel, Order.channel_ref == ref)
                .options(
                    selectinload(Order.lines),
                    selectinload(Order.customer),
                    selectinload(Order.shipping_address),
                    selectinload(Order.billing_address),
                )
            )
        ).scalar_one()
        return order


async def has_ref(s: Services, ref: str, channel: str = "shopify") -> bool:
    async with s.db.read_session() as session:
        found = await session.execute(
            select(func.count())
            .select_from(Order)
            .where(Order.channel == channel, Order.channel_ref == ref)
        )
        return bool(found.scalar_one())


async def snapshot(s: Services) -> dict[str, Any]:
    """Row counts of everything an import writes, and every order's version and status."""
    out: dict[str, Any] = {}
    async with s.db.read_session() as session:
        for model in (
            Order,
            OrderLine,
            Customer,
            Address,
            StatusEvent,
            Payment,
            AuditLog,
            Notification,
            OrderSearchTerm,
        ):
            out[model.__tablename__] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
        out["versions"] = sorted(
            (n, v, st.value)
            for n, v, st in (
                await session.execute(select(Order.number, Order.version, Order.status))
            ).all()
        )
        out["stock"] = sorted(
            (p, w, oh, r)
            for p, w, oh, r in (
                await session.execute(
                    select(
                        StockLevel.product_id,
                        StockLevel.warehouse_id,
                        StockLevel.on_hand,
                        StockLevel.reserved,
                    )
                )
            ).all()
        )
    return out


async def history(s: Services, number: int) -> list[tuple[str | None, str | None, str, str]]:
    detail = await s.orders.show(number)
    return [
        (
            h.from_status.value if h.from_status else None,
            h.to_status.value if h.to_status else None,
            h.actor,
            h.memo,
        )
        for h in detail.history
        if h.kind == "status"
    ]


async def payments(s: Services, number: int) -> list[tuple[str, int, str]]:
    detail = await s.orders.show(number)
    return [(p.kind, p.amount, p.actor) for p in detail.payments]
