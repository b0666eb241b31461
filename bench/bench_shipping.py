"""Shipping figures on a seeded SQLite file: ship (validate, write, status, outbox) and delete
a shipment, p50/p99; invoice, packing slip and label rendering per order; a bulk print of
100 packing slips to a folder; one auto-complete pass. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_shipping.py [--orders 20000] [--ships 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services import carriers  # noqa: E402
from services.container import Services  # noqa: E402
from services.orders import OrderFilter  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.shipping import NewShipment  # noqa: E402
from services.statuses import Status  # noqa: E402

ANCHOR = date(2026, 11, 20)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def line(name: str, samples: list[float]) -> str:
    return (
        f"  {name:<34} n={len(samples):<5} p50 {statistics.median(samples):7.2f} ms"
        f"   p99 {pct(samples, 0.99):7.2f} ms"
    )


async def each(items: list[Any], fn: Callable[[Any], Awaitable[object]]) -> list[float]:
    samples = []
    for item in items:
        start = time.perf_counter()
        await fn(item)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def ready_numbers(s: Services, wanted: int) -> list[int]:
    numbers: list[int] = []
    cursor = None
    while len(numbers) < wanted:
        page = await s.orders.page(
            OrderFilter(status=Status.READY_TO_SHIP), after=cursor, limit=500
        )
        numbers += [r.number for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return numbers[:wanted]


async def main(orders: int, ships: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite"
        s = await Services.open(load_settings(db=url, operator="bench", auto_complete_days=3))
        try:
            start = time.perf_counter()
            await seed_database(s.db, orders=orders, seed=42, anchor=ANCHOR)
            print(f"seeded {orders} orders in {time.perf_counter() - start:.1f} s (SQLite)")
            numbers = await ready_numbers(s, ships)
            rng = random.Random(7)
            trackings = {n: carriers.generate("ups", rng) for n in numbers}

            print("shipping")
            shipped = await each(
                numbers,
                lambda n: s.shipping.ship(
                    n, NewShipment(tracking=trackings[n], comment="on its way", notify=True)
                ),
            )
            print(line("ship (default lines, e-mail)", shipped))
            half = numbers[: len(numbers) // 2]
            deleted = await each(
                half, lambda n: s.shipping.delete_shipment(n, trackings[n], reason="bench")
            )
            print(line("delete shipment", deleted))
            checks = await each(numbers[:100], lambda n: s.shipping.check_tracking(trackings[n]))
            print(line("check_tracking (duplicate lookup)", checks))

            print("documents (one order per call)")
            sample = numbers[len(half) :][:100]
            for kind in ("invoice", "slip", "label"):
                print(line(kind, await each(sample, lambda n, k=kind: s.documents.render(k, [n]))))
            out = Path(tmp) / "print"
            start = time.perf_counter()
            docs = await s.documents.render("slip", sample)
            jobs = await s.printing.print(docs, printer=f"file:{out}")
            took = time.perf_counter() - start
            size = sum(j.size for j in jobs) / 1024
            print(
                f"  bulk: {len(jobs)} packing slips rendered and written in {took:.2f} s "
                f"({size:.0f} KiB)"
            )

            print("auto-complete (auto_complete_days=3)")
            start = time.perf_counter()
            report = await s.shipping.auto_complete(limit=100_000)
            took = time.perf_counter() - start
            print(
                f"  checked {report.checked}, completed {len(report.completed)}, skipped "
                f"{len(report.skipped)} in {took:.2f} s"
                + (
                    f" ({took / len(report.completed) * 1000:.1f} ms per order)"
                    if report.completed
                    else ""
                )
            )
        finally:
            await s.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--ships", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.ships))
