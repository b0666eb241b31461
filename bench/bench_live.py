"""Live updates: how long from another operator's commit to a console hearing of it, and what
the feed costs while nothing happens — SQLite (polled token) and PostgreSQL (NOTIFY).

A console's feed (`services.live.ChangeFeed`) subscribes in this process; a second,
independent `Services` (its own engine and connections: another console) adds memos at
random moments. Prints the delay commit -> report (p50, p99, max), the cost of one idle
check and of one check that finds a change, at the given number of orders.

    .venv/bin/python bench/bench_live.py [--orders 20000] [--changes 60] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.changes import Changes  # noqa: E402
from services.container import Services  # noqa: E402
from services.live import ChangeFeed  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402

ANCHOR = date(2026, 11, 20)


def pct(samples: list[float], p: int) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * p / 100) - 1))]


async def run(label: str, url: str, args: argparse.Namespace) -> None:
    console = await Services.open(load_settings(db=url, operator="console"))
    other = await Services.open(load_settings(db=url, operator="other"))
    try:
        started = time.perf_counter()
        await seed_database(console.db, orders=args.orders, seed=5, anchor=ANCHOR)
        seeded = time.perf_counter() - started
        print(f"\n== {label}: {args.orders:,} orders (seeded in {seeded:.1f} s)")
        numbers = [row.number for row in (await console.orders.page(limit=200)).rows]
        feed = ChangeFeed(console.db)
        await feed.baseline()
        idle = []
        for _ in range(200):
            t0 = time.perf_counter()
            await feed.changes()
            idle.append((time.perf_counter() - t0) * 1000)
        found = []
        for i in range(30):
            await other.orders.add_memo(random.choice(numbers), f"probe {i}")
            t0 = time.perf_counter()
            assert await feed.changes()
            found.append((time.perf_counter() - t0) * 1000)
        print(
            f"one check: idle {statistics.median(idle):.2f} ms (p99 {pct(idle, 99):.2f}); "
            f"finding a change {statistics.median(found):.2f} ms (p99 {pct(found, 99):.2f})"
        )
        live = ChangeFeed(console.db)
        heard: dict[int, float] = {}  # order number -> when its report arrived
        delays: list[float] = []
        writes: list[float] = []
        async with live.subscribe() as sub:

            async def listen() -> None:
                async for item in sub:
                    if isinstance(item, Changes):
                        for stamp in item.orders:
                            heard[stamp.number] = time.perf_counter()

            listener = asyncio.create_task(listen())
            for i in range(args.changes):
                await asyncio.sleep(random.uniform(0.05, 0.3))
                number = random.choice(numbers)
                heard.pop(number, None)
                t0 = time.perf_counter()
                await other.orders.add_memo(number, f"live {i}")
                writes.append((time.perf_counter() - t0) * 1000)
                deadline = time.perf_counter() + 10
                while number not in heard and time.perf_counter() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)  # a 1 ms tick: the error it adds is 1 ms
                # From the start of the write: an upper bound (the commit is inside it).
                delays.append((heard[number] - t0) * 1000)
            listener.cancel()
        how = "LISTEN/NOTIFY" if not console.db.is_sqlite else f"poll every {live.poll_seconds} s"
        print(
            f"write -> reported ({how}), from the start of the write: p50 "
            f"{statistics.median(delays):.1f} ms, p99 {pct(delays, 99):.1f} ms, max "
            f"{max(delays):.1f} ms over {len(delays)} changes (the write itself, memo + "
            f"re-read: p50 {statistics.median(writes):.1f} ms)"
        )
    finally:
        await other.close()
        await console.close()


async def main(args: argparse.Namespace) -> None:
    random.seed(1)
    if not args.no_sqlite:
        path = Path(tempfile.mkdtemp()) / "live.sqlite"
        await run("SQLite", f"sqlite+aiosqlite:///{path}", args)
    if not args.no_postgres:
        from tests.pgcluster import start_cluster

        cluster = start_cluster()
        try:
            await run("PostgreSQL", cluster.create_database("bench_live"), args)
        finally:
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    asyncio.run(main(parser.parse_args()))
