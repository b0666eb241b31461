"""Demo data: deterministic, whichever way it is generated."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from services import seed as seed_module
from services.db import Database
from services.models import Order, OrderLine, Shipment, StatusEvent


async def snapshot(url: str, **kwargs: object) -> list[tuple[object, ...]]:
    db = Database(url)
    try:
        await db.upgrade()
        await seed_module.seed_database(db, orders=120, seed=5, anchor=date(2026, 11, 20))
        async with db.read_session() as s:
            orders = (
                await s.execute(
                    select(
                        Order.number,
                        Order.status,
                        Order.total,
                        Order.placed_at,
                        Order.email,
                        Order.payment_status,
                        Order.risk_score,
                        Order.last_memo,
                    ).order_by(Order.id)
                )
            ).all()
            lines = (
                await s.execute(
                    select(OrderLine.sku, OrderLine.quantity, OrderLine.packed, OrderLine.shipped)
                )
            ).all()
            ships = (await s.execute(select(Shipment.tracking, Shipment.carrier))).all()
            events = (
                await s.execute(select(StatusEvent.to_status, StatusEvent.at, StatusEvent.memo))
            ).all()
        return [tuple(r) for r in [*orders, *lines, *ships, *events]]
    finally:
        await db.dispose()


async def test_same_seed_same_data_inline_or_in_a_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = await snapshot(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite'}")
    monkeypatch.setattr(seed_module, "INLINE_ORDERS", 0)  # force the generator process
    monkeypatch.setattr(seed_module, "CHUNK", 50)
    in_process = await snapshot(f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite'}")
    assert inline == in_process
    assert len(inline) > 120
