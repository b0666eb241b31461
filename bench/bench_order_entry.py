"""Order entry look-ups as the manual-order screen makes them while the operator types:
product search (SKU prefix, name words, an exact barcode) and customer search (name
words, e-mail prefix), at 1,000 and 100,000 seeded orders on SQLite.

    .venv/bin/python bench/bench_order_entry.py [--orders 100000] [--runs 20]

The catalogue is the seed's (200 products); customers come with the seeded orders.
Figures (median and worst of `runs` calls), not pass/fail; goal: each look-up well under
the 200 ms the screen waits after the last key, and flat from 1k to 100k.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from services.container import Services
from services.models import Customer, ProductBarcode
from services.seed import seed_database
from services.settings import load_settings


async def fill(services: Services, orders: int) -> None:
    """The seed's catalogue and `orders` orders (each with its customer and addresses)."""
    await seed_database(services.db, orders=orders, seed=1, anchor=date(2026, 11, 20))


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


async def one(orders: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'entry.sqlite'}"
        services = await Services.open(load_settings(db=url, operator="bench"))
        try:
            started = time.perf_counter()
            await fill(services, orders)
            seeded = time.perf_counter() - started
            async with services.db.read_session() as s:
                code = (await s.execute(select(ProductBarcode.code).limit(1))).scalar_one()
                some = (await s.execute(select(Customer.name, Customer.email).limit(1))).one()
            word, mail = some[0].split()[-1].lower(), some[1][:6]
            cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("product: SKU prefix 'PL-101'", lambda: services.entry.find_products("PL-101")),
                ("product: name word 'wiper'", lambda: services.entry.find_products("wiper")),
                ("product: exact barcode", lambda: services.entry.find_products(code)),
                (f"customer: name {word!r}", lambda: services.entry.find_customers(word)),
                (f"customer: e-mail {mail!r}", lambda: services.entry.find_customers(mail)),
                ("customer: no match 'qqqq'", lambda: services.entry.find_customers("qqqq")),
            ]
            print(
                f"\n{orders:,} orders (seeded in {seeded:.0f} s), 200 products (SQLite), "
                f"{runs} runs each"
            )
            for name, call in cases:
                median, worst = await timed(runs, call)
                print(f"  {name:<32} median {median:7.2f} ms   worst {worst:7.2f} ms")
        finally:
            await services.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for n in (1_000, args.orders):
        asyncio.run(one(n, args.runs))


if __name__ == "__main__":
    main()
