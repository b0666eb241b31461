"""Orders per status, from the delta rows the database's triggers append.

A sum over a small table instead of a GROUP BY over every order: the same few
milliseconds at a million orders as at a hundred (see services/migrations/
order_triggers.py for why the rows are appended, not updated). When the rows pile up
past FOLD_AT, a write transaction folds them into one row per status; readers meanwhile
still get the right sums, and on PostgreSQL two folds at once each re-insert only what
their own DELETE took.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from services.models import OrderStatusCount
from services.statuses import Status
from services.uow import UnitOfWork

FOLD_AT = 500


async def read(uow: UnitOfWork) -> tuple[dict[Status, int], int]:
    """The counts (every status, zero where none) and how many delta rows made them."""
    rows = await uow.session.execute(
        select(OrderStatusCount.status, func.sum(OrderStatusCount.n), func.count()).group_by(
            OrderStatusCount.status
        )
    )
    found: dict[Status, int] = {}
    deltas = 0
    for status, total, n in rows.all():
        found[status] = int(total or 0)
        deltas += int(n)
    return {s: found.get(s, 0) for s in Status}, deltas


async def fold(uow: UnitOfWork) -> None:
    """Replace the delta rows by one row per status (inside the caller's write UoW)."""
    taken = await uow.session.execute(
        delete(OrderStatusCount).returning(OrderStatusCount.status, OrderStatusCount.n)
    )
    sums: dict[Status, int] = {}
    for status, n in taken.all():
        sums[status] = sums.get(status, 0) + int(n)
    rows = [{"status": s, "n": n} for s, n in sums.items() if n]
    if rows:
        await uow.session.execute(insert(OrderStatusCount), rows)
