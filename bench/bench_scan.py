"""Scan -> persisted: how long one pack scan takes from the call to its committed
transaction (scan_events row, the line's packed count, the claim), as the pack screen calls
it. p50/p99 over 1,000 scans on SQLite, and on PostgreSQL when a server can be had.
Prints figures; asserts nothing. Goal: p99 <= 10 ms. The CPU figure (this process, all
threads) shows the cost when the machine is busy with other work and latency is not ours.

    .venv/bin/python bench/bench_scan.py [--scans 1000] [--lines 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text, update  # noqa: E402

from services.container import Services  # noqa: E402
from services.models import Order, Product, ProductBarcode  # noqa: E402
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.statuses import PaymentStatus, Status  # noqa: E402
from services.views import ScanOutcome  # noqa: E402


async def prepare(services: Services, units: int, lines: int = 5) -> tuple[int, list[str], str]:
    """One processing, paid order big enough for every scan, of `lines` stock products;
    their codes, and the code of a product not on it."""
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    async with services.db.read_session() as s:
        rows = (
            await s.execute(
                select(Product.sku, ProductBarcode.code)
                .join(ProductBarcode, ProductBarcode.product_id == Product.id)
                .where(
                    Product.serialized.is_(False),
                    Product.drop_ship.is_(False),
                    ProductBarcode.kind != "internal",
                )
                .order_by(Product.id)
                .limit(lines + 1)
            )
        ).all()
    *rows, (_, stranger) = rows
    per_line = units // len(rows) + 1
    detail = await services.orders.create(
        NewOrder(
            customer_name="Bench Mark",
            email="bench@example.org",
            shipping=NewAddress(name="Bench", line1="1 Way", city="Town", postal_code="1"),
            lines=tuple((sku, per_line) for sku, _ in rows),
        )
    )
    for sku, _ in rows:  # enough on the shelf, or processing would back-order the order
        await services.inventory.set_level(sku, "MAIN", per_line + 100)
    await services.orders.set_status(detail.number, Status.PROCESSING)
    async with services.db.write_session() as s:
        await s.execute(
            update(Order)
            .where(Order.number == detail.number)
            .values(payment_status=PaymentStatus.PAID)
        )
        await s.commit()
    return detail.number, [code for _, code in rows], stranger


async def floor(services: Services, runs: int = 1000) -> str:
    """The machine's floor: one trivial statement through the same engine."""
    samples = []
    async with services.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        for _ in range(runs):
            start = time.perf_counter()
            await conn.execute(text("SELECT 1"))
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return f"one SELECT 1: p50 {samples[runs // 2]:.2f} ms, p99 {samples[int(runs * 0.99)]:.2f} ms"


async def measure(url: str, label: str, scans: int, lines: int) -> None:
    services = await Services.open(load_settings(db=url, operator="bench"))
    try:
        number, codes, stranger = await prepare(services, scans + 50, lines)
        sid = (await services.packing.start(number)).session_id
        for i in range(20):  # warm-up: connections, statement caches
            await services.packing.scan(number, codes[i % len(codes)], session_id=sid)
        accepted: list[float] = []
        refused: list[float] = []
        cpu_start = time.process_time()  # all threads: aiosqlite's worker included
        for i in range(scans):
            # Every 20th scan is a code not on the order (the refusal path looks it up).
            code = stranger if i % 20 == 19 else codes[i % len(codes)]
            start = time.perf_counter()
            result = await services.packing.scan(number, code, session_id=sid)
            elapsed = (time.perf_counter() - start) * 1000
            ok = result.outcome is ScanOutcome.ACCEPTED
            (accepted if ok else refused).append(elapsed)
        cpu = (time.process_time() - cpu_start) * 1000 / scans
        all_ = sorted(accepted + refused)
        print(
            f"{label:<10} {len(all_)} scans, {lines} lines: p50 {statistics.median(all_):.2f} ms, "
            f"p90 {all_[int(len(all_) * 0.90) - 1]:.2f} ms, "
            f"p99 {all_[int(len(all_) * 0.99) - 1]:.2f} ms, max {all_[-1]:.2f} ms, "
            f"over 10 ms: {sum(1 for x in all_ if x > 10)}, "
            f"CPU {cpu:.2f} ms/scan in this process "
            f"(accepted p50 {statistics.median(accepted):.2f} ms; "
            f"refused p50 {statistics.median(refused):.2f} ms, n={len(refused)})"
        )
        print(f"{'':<10} for scale, {await floor(services)}")
    finally:
        await services.close()


def postgres_url() -> tuple[str | None, object]:
    try:
        from tests.pgcluster import postgres_url_or_skip_reason, start_cluster
    except ImportError:
        return None, None
    url, _reason = postgres_url_or_skip_reason()
    if url is not None:
        return url, None
    try:
        cluster = start_cluster()
    except Exception as exc:  # no server binaries here
        print(f"postgres   skipped: {exc}")
        return None, None
    return cluster.create_database("bench_scan"), cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=5, help="order lines (a scan reads all)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(
            measure(f"sqlite+aiosqlite:///{tmp}/bench.sqlite", "sqlite", args.scans, args.lines)
        )
    if args.no_postgres:
        return
    url, cluster = postgres_url()
    if url is None:
        return
    try:
        asyncio.run(measure(url, "postgres", args.scans, args.lines))
    finally:
        if cluster is not None:
            cluster.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
