"""Payments and review figures: what the risk review adds to taking in an order, one review,
one charge and one refund, at 1k and at --big orders (SQLite). Prints figures; asserts
nothing.

    .venv/bin/python bench/bench_payments.py [--big 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.container import Services  # noqa: E402
from services.db import Database  # noqa: E402
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.payment_state import derive_status  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402

OUT = ROOT / "bench" / "out"
ANCHOR = date(2026, 11, 20)
HOME = NewAddress(name="Bench", line1="1 Bench St", city="Springfield", postal_code="62701")


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    """Median and p95 in milliseconds (after one warm-up call)."""
    await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(int(len(samples) * 0.95) - 1, 0)]


async def figures(orders: int) -> dict[str, tuple[float, float]]:
    path = OUT / f"payments-{orders}.sqlite"
    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    await db.upgrade()
    await seed_database(db, orders=orders, seed=42, anchor=ANCHOR)
    await db.dispose()

    s = await Services.open(load_settings(db=url, operator="bench", payment_gateway="manual"))
    counter = iter(range(10**6))

    def new_order() -> NewOrder:
        return NewOrder(
            customer_name="Bench",
            email=f"bench{next(counter)}@example.org",
            shipping=HOME,
            lines=(("PL-10002", 1), ("PL-10003", 1)),
        )

    out: dict[str, tuple[float, float]] = {}
    out["create (with review + payment hooks)"] = await timed(
        lambda: s.orders.create(new_order()), 40
    )
    hooks = list(s.orders.arrival_hooks)
    s.orders.arrival_hooks.clear()
    out["create (hooks off, for comparison)"] = await timed(
        lambda: s.orders.create(new_order()), 40
    )
    s.orders.arrival_hooks.extend(hooks)

    numbers = [(await s.orders.create(new_order())).number for _ in range(41)]
    out["review (re-assess one order)"] = await timed(lambda: s.review.review(numbers[0]), 40)
    to_charge = iter(numbers)
    out["charge (manual gateway)"] = await timed(lambda: s.payments.charge(next(to_charge)), 40)
    to_refund = iter(numbers)
    out["refund by line (manual gateway)"] = await timed(
        lambda: s.payments.refund(next(to_refund), lines=[("PL-10002", 1)]), 40
    )
    out["payment summary"] = await timed(lambda: s.payments.summary(numbers[0]), 40)
    await s.close()
    return out


def derive_figure() -> float:
    """Microseconds to derive a status from a 10-row history (pure)."""

    class Row:
        def __init__(self, kind: str, amount: int, state: str = "approved") -> None:
            self.kind, self.amount, self.state = kind, amount, state

    rows = [Row("charge", 100, "declined"), Row("charge", 5000)] + [Row("refund", 100)] * 8
    start = time.perf_counter()
    for _ in range(10_000):
        derive_status(rows, 5000)
    return (time.perf_counter() - start) / 10_000 * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=100_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [1_000, args.big]
    results = {n: await figures(n) for n in sizes}
    print(f"{'SQLite, ms (median / p95)':<40}" + "".join(f"{n:>20,}" for n in sizes))
    for label in results[sizes[0]]:
        cells = "".join(
            f"{results[n][label][0]:>11.1f} / {results[n][label][1]:>6.1f}" for n in sizes
        )
        print(f"{label:<40}{cells}")
    print(f"derive_status, 10-row history: {derive_figure():.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
