"""Stock for tests that are not about stock: since entering processing reserves stock (and
an order short of it goes to backorder), tests that move many orders along put plenty on
the shelf first. No tests here."""

from __future__ import annotations

from sqlalchemy import select, update

from services.container import Services
from services.models import StockLevel, Warehouse


async def stock_up(services: Services, units: int = 1000, warehouse: str = "MAIN") -> None:
    """Add `units` on hand to every stock row of `warehouse`."""
    wid = select(Warehouse.id).where(Warehouse.code == warehouse).scalar_subquery()
    async with services.db.write_session() as s, s.begin():
        await s.execute(
            update(StockLevel)
            .where(StockLevel.warehouse_id == wid)
            .values(on_hand=StockLevel.on_hand + units)
        )
