"""Orders per status from the trigger-kept deltas: always what a GROUP BY would say,
whoever writes the orders (the services, raw SQL as a bulk load or psql would)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import delete, func, insert, select, update

from services import status_counts
from services.container import Services
from services.models import Order, OrderStatusCount
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.statuses import Status


async def counted_the_slow_way(services: Services) -> dict[Status, int]:
    async with services.db.read_session() as s:
        rows = (await s.execute(select(Order.status, func.count()).group_by(Order.status))).all()
    found = {status: int(n) for status, n in rows}
    return {s: found.get(s, 0) for s in Status}


async def delta_rows(services: Services) -> int:
    async with services.db.read_session() as s:
        return int((await s.execute(select(func.count()).select_from(OrderStatusCount))).scalar())


async def test_counts_follow_every_kind_of_write(services: Services) -> None:
    await seed_database(services.db, orders=60, seed=3, anchor=date(2026, 11, 20))
    assert await services.orders.counts() == await counted_the_slow_way(services)
    assert sum((await services.orders.counts()).values()) == 60

    new = [(await services.orders.create(_order(i))).number for i in range(5)]
    await services.orders.set_status(new[0], Status.PROCESSING)
    await services.orders.set_status(new[1], Status.CANCELED)
    await services.orders.add_memo(new[2], "a memo changes no count")
    async with services.db.write_session() as s:  # behind the services' back
        await s.execute(update(Order).where(Order.number == new[3]).values(status=Status.HELD))
        await s.execute(
            update(Order).where(Order.number == new[4]).values(status=Status.NEW)  # same
        )
        stray = datetime(2026, 11, 20, tzinfo=UTC)
        await s.execute(  # an order loaded by hand, then removed again, and one that stays
            insert(Order),
            [
                {"number": 990_001, "status": Status.HELD, "placed_at": stray, "updated_at": stray},
                {"number": 990_002, "status": Status.NEW, "placed_at": stray, "updated_at": stray},
            ],
        )
        await s.execute(delete(Order).where(Order.number == 990_001))
        await s.commit()
    counts = await services.orders.counts()
    assert counts == await counted_the_slow_way(services)
    assert sum(counts.values()) == 66


async def test_a_rolled_back_change_counts_nothing(services: Services) -> None:
    await seed_database(services.db, orders=10, seed=3, anchor=date(2026, 11, 20))
    before = await services.orders.counts()
    async with services.db.write_session() as s:
        await s.execute(update(Order).values(status=Status.CANCELED))
        await s.rollback()
    assert await services.orders.counts() == before


async def test_the_deltas_are_folded_and_the_counts_stay(services: Services) -> None:
    await seed_database(services.db, orders=20, seed=3, anchor=date(2026, 11, 20))
    async with services.db.write_session() as s:  # many changes: many delta rows
        for _ in range(status_counts.FOLD_AT // 40 + 1):
            await s.execute(update(Order).values(status=Status.HELD))
            await s.execute(update(Order).values(status=Status.NEW))
        await s.commit()
    assert await delta_rows(services) > status_counts.FOLD_AT
    first = await services.orders.counts()  # answers, then folds
    assert first == await counted_the_slow_way(services)
    assert await delta_rows(services) <= len(Status)
    assert await services.orders.counts() == first


def _order(i: int) -> NewOrder:
    return NewOrder(
        customer_name=f"Count {i}",
        email=f"count{i}@example.org",
        shipping=NewAddress(name="C", line1="1 Way", city="Town", postal_code="1"),
        lines=(("PL-10000", 1),),
    )
