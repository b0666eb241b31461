"""Foundation figures: seed time, queue page and search at 1k vs 100k orders, one status
change with its outbox rows on SQLite and PostgreSQL. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_orders.py [--big 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.container import Services  # noqa: E402
from services.db import Database  # noqa: E402
from services.orders import OrderFilter  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.statuses import Status  # noqa: E402

OUT = ROOT / "bench" / "out"
ANCHOR = date(2026, 11, 20)


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    """Median and p95 in milliseconds (after one warm-up call)."""
    await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def seeded(url: str, orders: int, *, fresh: bool) -> tuple[Database, float | None]:
    db = Database(url)
    await db.upgrade()
    seconds = None
    async with db.read_session() as s:
        from sqlalchemy import func, select

        from services.models import Order

        have = (await s.execute(select(func.count(Order.id)))).scalar_one()
    if fresh or have != orders:
        report = await seed_database(db, orders=orders, seed=42, anchor=ANCHOR)
        seconds = float(report["seconds"])
    return db, seconds


def sqlite_url(name: str) -> str:
    return f"sqlite+aiosqlite:///{OUT / name}"


async def queue_figures(url: str) -> dict[str, tuple[float, float]]:
    services = Services.build(load_settings(db=url, operator="bench"))
    o = services.orders
    first = (await o.page(OrderFilter(), limit=50)).rows
    sample = await o.show(first[10].number)
    sku = sample.lines[0].sku
    name = sample.row.customer.name.split()[-1]
    email = sample.row.customer.email
    queries = {
        "list --limit 50": lambda: o.page(OrderFilter(), limit=50),
        "list page 2 (cursor)": None,
        "list --status processing": lambda: o.page(OrderFilter(status=Status.PROCESSING), limit=50),
        "search order number": lambda: o.page(OrderFilter(search=f"#{sample.number}"), limit=50),
        "search last name": lambda: o.page(OrderFilter(search=name), limit=50),
        "search e-mail": lambda: o.page(OrderFilter(search=email), limit=50),
        "search SKU": lambda: o.page(OrderFilter(search=sku), limit=50),
        "search no match": lambda: o.page(OrderFilter(search="zzzznotthere"), limit=50),
        "counts per status": o.counts,
    }
    cursor = (await o.page(OrderFilter(), limit=50)).next_cursor
    queries["list page 2 (cursor)"] = lambda: o.page(OrderFilter(), limit=50, after=cursor)
    out = {}
    for label, fn in queries.items():
        assert fn is not None
        out[label] = await timed(fn, 30)
    await services.close()
    return out


async def status_change_figure(url: str) -> tuple[float, float]:
    """new → processing with a comment, a memo and an e-mail: state, history, audit, outbox."""
    services = Services.build(load_settings(db=url, operator="bench"))
    page = await services.orders.page(OrderFilter(status=Status.NEW), limit=200)
    numbers = iter([r.number for r in page.rows])

    async def change() -> None:
        await services.orders.set_status(
            next(numbers), Status.PROCESSING, comment="Thank you!", memo="bench", notify=True
        )

    result = await timed(change, min(60, len(page.rows) - 1))
    await services.close()
    return result


def cli_ms(url: str, *args: str, runs: int = 5) -> float:
    exe = str(ROOT / ".venv" / "bin" / "packline")
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "--db", url, *args], capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def table(
    title: str,
    small: dict[str, tuple[float, float]],
    big: dict[str, tuple[float, float]],
    n_small: int,
    n_big: int,
) -> None:
    print(f"\n{title}  (median / p95 ms)")
    print(f"  {'query':<34} {f'{n_small:,} orders':>18} {f'{n_big:,} orders':>20}")
    for label in small:
        a, b = small[label], big[label]
        print(f"  {label:<34} {a[0]:8.2f} / {a[1]:6.2f} {b[0]:10.2f} / {b[1]:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--reseed", action="store_true", help="always reseed the big database")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {cores} cores, Python {sys.version.split()[0]}")
    if args.reseed:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{OUT / 'seed-big.sqlite'}{suffix}").unlink(missing_ok=True)
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    big_url, small_url = sqlite_url("seed-big.sqlite"), sqlite_url("seed-small.sqlite")
    big_db, big_seconds = await seeded(big_url, args.big, fresh=args.reseed)
    small_db, _ = await seeded(small_url, args.small, fresh=False)
    if big_seconds is not None:
        print(
            f"\nseed {args.big:,} orders (SQLite): {big_seconds:.1f} s "
            f"({args.big / big_seconds:,.0f} orders/s)  [goal < 60 s]"
        )
    else:
        print(
            f"\nseed: reused bench/out/seed-big.sqlite (--reseed to time a fresh seed of "
            f"{args.big:,})"
        )

    small = await queue_figures(small_url)
    big = await queue_figures(big_url)
    table("queue queries, service call (SQLite)", small, big, args.small, args.big)
    print(
        "\n  whole CLI process, `orders list --limit 50` (median ms): "
        f"{cli_ms(small_url, 'orders', 'list', '--limit', '50'):.0f} at {args.small:,}, "
        f"{cli_ms(big_url, 'orders', 'list', '--limit', '50'):.0f} at {args.big:,}"
    )
    print(
        "  whole CLI process, `orders list --search smith` (median ms): "
        f"{cli_ms(small_url, 'orders', 'list', '--search', 'smith'):.0f} at {args.small:,}, "
        f"{cli_ms(big_url, 'orders', 'list', '--search', 'smith'):.0f} at {args.big:,}"
    )

    change_sqlite = await status_change_figure(big_url)
    print("\none status change with its outbox rows (new → processing, comment, memo, e-mail):")
    print(
        f"  SQLite     median {change_sqlite[0]:.2f} ms, p95 {change_sqlite[1]:.2f} ms "
        f"(at {args.big:,} orders)"
    )
    await big_db.dispose()
    await small_db.dispose()

    if not args.no_postgres:
        from tests.pgcluster import start_cluster

        cluster = start_cluster()
        try:
            url = cluster.create_database("bench")
            db, seconds = await seeded(url, 20_000, fresh=True)
            await db.dispose()
            change_pg = await status_change_figure(url)
            print(
                f"  PostgreSQL median {change_pg[0]:.2f} ms, p95 {change_pg[1]:.2f} ms "
                f"(at 20,000 orders; throwaway local cluster, fsync off)"
            )
            print(f"\nseed 20,000 orders (PostgreSQL, COPY): {seconds:.1f} s")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
