"""Many operators at once: N processes doing status changes, memos and scans on the same
few orders, on SQLite and on PostgreSQL; then every change is checked against the database.

Each operator is a separate Python process with its own connections (as a console at its
own terminal is). It opens an order (reads its version), then asks for one change with that
version: a status change (processing <-> held), a memo, or a scan (claim, scan one unit,
release). Every call's outcome is logged by the process: applied, conflict (another
operator changed the order first: the message says who and when), claimed (someone else is
packing it), or refused. Afterwards the history, the memos and the scan journal in the
database must hold exactly what the processes say was applied — nothing lost, nothing
extra — and every conflict must have been reported to its operator. Prints figures:
throughput (applied changes per second) and latency (p50, p99) for both databases.

    .venv/bin/python bench/bench_operators.py [--operators 20] [--seconds 15] [--orders 12]
                                              [--no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from services.container import Services  # noqa: E402
from services.errors import Conflict, Refused  # noqa: E402
from services.models import (  # noqa: E402
    Order,
    OrderLine,
    PackSession,
    Product,
    ProductBarcode,
    ScanEvent,
    StatusEvent,
    StockLevel,
)
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.pack_errors import PackClaimed  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.statuses import HoldReason, PaymentStatus, Status  # noqa: E402
from services.views import ScanOutcome  # noqa: E402

ANCHOR = date(2026, 11, 20)
SKU = "PL-10002"  # a stock product of the seed-1 catalogue
UNITS = 100_000  # per order: scans never run out
ADDRESS = NewAddress(
    name="Bench Customer", line1="1 Load Street", city="Testville", postal_code="1"
)


# -- setup ----------------------------------------------------------------------------------


async def prepare(url: str, orders: int) -> tuple[list[int], str]:
    s = await Services.open(load_settings(db=url, operator="setup"))
    try:
        await seed_database(s.db, orders=0, seed=1, anchor=ANCHOR)
        async with s.db.write_session() as session, session.begin():
            await session.execute(update(StockLevel).values(on_hand=StockLevel.on_hand + 10**7))
        numbers = []
        for _ in range(orders):
            detail = await s.orders.create(
                NewOrder(
                    customer_name="Bench Customer",
                    email="bench@example.org",
                    shipping=ADDRESS,
                    lines=((SKU, UNITS),),
                )
            )
            await s.orders.set_status(detail.number, Status.PROCESSING)
            numbers.append(detail.number)
        async with s.db.write_session() as session, session.begin():
            await session.execute(
                update(Order)
                .where(Order.number.in_(numbers))
                .values(payment_status=PaymentStatus.PAID)
            )
        async with s.db.read_session() as session:
            code = (
                await session.execute(
                    select(ProductBarcode.code)
                    .join(Product, Product.id == ProductBarcode.product_id)
                    .where(Product.sku == SKU)
                    .limit(1)
                )
            ).scalar_one()
        return numbers, code
    finally:
        await s.close()


# -- one operator (a process of its own) ----------------------------------------------------


async def operate(args: argparse.Namespace) -> None:
    job = json.loads(args.job)
    rnd = random.Random(job["seed"])
    who = job["who"]
    s = await Services.open(load_settings(db=job["url"], operator=who))
    log: list[dict[str, Any]] = []
    try:
        await s.orders.counts()  # connections open before the clock starts
        wait_for_everyone(job["barrier"], who, job["parties"])
        started = time.time()
        end = time.monotonic() + job["seconds"]
        seq = 0
        while time.monotonic() < end:
            seq += 1
            number = rnd.choice(job["orders"])
            kind = rnd.choices(("status", "memo", "scan"), (4, 4, 2))[0]
            entry: dict[str, Any] = {"kind": kind, "order": number}
            try:
                if kind == "scan":
                    await scan_once(s, number, job["code"], entry)
                else:
                    seen = await s.orders.show(number)  # the operator has the order open
                    t0 = time.perf_counter()
                    try:
                        if kind == "memo":
                            text = f"{who} memo {seq}"
                            entry["text"] = text
                            await s.orders.add_memo(number, text, expected_version=seen.version)
                        else:
                            to = (
                                Status.HELD
                                if seen.status is Status.PROCESSING
                                else Status.PROCESSING
                            )
                            entry.update({"from": seen.status.value, "to": to.value})
                            await s.orders.set_status(
                                number,
                                to,
                                reason=HoldReason.OTHER if to is Status.HELD else None,
                                note="bench" if to is Status.HELD else "",
                                expected_version=seen.version,
                            )
                        entry["outcome"] = "applied"
                    finally:
                        entry["ms"] = (time.perf_counter() - t0) * 1000
            except Conflict as exc:
                entry["outcome"] = "conflict"
                entry["told"] = "was changed by" in str(exc) or "changed by" in str(exc)
            except PackClaimed:
                entry["outcome"] = "claimed"
            except Refused as exc:
                entry["outcome"] = "refused"
                entry["why"] = str(exc)[:120]
            log.append(entry)
        finished = time.time()
    finally:
        await s.close()
    print(json.dumps({"who": who, "started": started, "finished": finished, "log": log}))


def wait_for_everyone(barrier: str, who: str, parties: int) -> None:
    """A file per ready operator; all start together (blocking on purpose: nothing else
    should run in this process meanwhile)."""
    Path(f"{barrier}.{who}").touch()
    folder, prefix = Path(barrier).parent, Path(barrier).name + "."
    while sum(1 for f in os.listdir(folder) if f.startswith(prefix)) < parties:
        time.sleep(0.005)


async def scan_once(s: Services, number: int, code: str, entry: dict[str, Any]) -> None:
    session = await s.packing.start(number)  # PackClaimed when someone else is packing it
    try:
        t0 = time.perf_counter()
        result = await s.packing.scan(number, code, session_id=session.session_id)
        entry["ms"] = (time.perf_counter() - t0) * 1000
        entry["session"] = session.session_id
        accepted = result.outcome in (ScanOutcome.ACCEPTED, ScanOutcome.FINISHED)
        entry["outcome"] = "applied" if accepted else "refused"
        if not accepted:
            entry["why"] = result.message[:120]
    finally:
        await s.packing.leave(number, session_id=session.session_id)


# -- the run and the check ------------------------------------------------------------------


async def run_one(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    t_setup = time.perf_counter()
    numbers, code = await prepare(url, args.orders)
    setup_s = time.perf_counter() - t_setup
    barrier = Path(tempfile.mkdtemp()) / "go"
    procs = []
    for i in range(args.operators):
        job = {
            "url": url,
            "who": f"op{i:02d}",
            "seed": i,
            "barrier": str(barrier),
            "parties": args.operators,
            "seconds": args.seconds,
            "orders": numbers,
            "code": code,
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--worker",
                json.dumps(job),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    outs = await asyncio.gather(*(p.communicate() for p in procs))
    reports = []
    for (out, err), proc in zip(outs, procs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"an operator process failed:\n{err.decode()[-2000:]}")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return {"label": label, "setup_s": setup_s, **(await check(url, numbers, reports))}


async def check(url: str, numbers: list[int], reports: list[dict[str, Any]]) -> dict[str, Any]:
    entries = [dict(e, who=r["who"]) for r in reports for e in r["log"]]
    wall = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    said_memos = Counter(
        (e["order"], e["who"], e["text"])
        for e in entries
        if e["kind"] == "memo" and e["outcome"] == "applied"
    )
    said_moves = Counter(
        (e["order"], e["who"], e["from"], e["to"])
        for e in entries
        if e["kind"] == "status" and e["outcome"] == "applied"
    )
    said_scans = Counter(
        (e["order"], e["who"]) for e in entries if e["kind"] == "scan" and e["outcome"] == "applied"
    )
    s = await Services.open(load_settings(db=url, operator="checker"))
    try:
        async with s.db.read_session() as session:
            rows = (
                await session.execute(
                    select(Order.number, StatusEvent.kind, StatusEvent.actor, StatusEvent.memo)
                    .add_columns(StatusEvent.from_status, StatusEvent.to_status)
                    .join(Order, Order.id == StatusEvent.order_id)
                    .where(Order.number.in_(numbers), StatusEvent.actor.like("op%"))
                )
            ).all()
            db_memos = Counter((n, a, m) for n, k, a, m, _f, _t in rows if k == "memo")
            db_moves = Counter(
                (n, a, f.value, t.value) for n, k, a, _m, f, t in rows if k == "status"
            )
            scans = (
                await session.execute(
                    select(Order.number, PackSession.operator)
                    .select_from(ScanEvent)
                    .join(Order, Order.id == ScanEvent.order_id)
                    .join(PackSession, PackSession.id == ScanEvent.session_id)
                    .where(ScanEvent.accepted.is_(True), ScanEvent.quantity > 0)
                )
            ).all()
            db_scans = Counter((n, who) for n, who in scans)
            packed = dict(
                (
                    await session.execute(
                        select(Order.number, OrderLine.packed).join(
                            Order, Order.id == OrderLine.order_id
                        )
                    )
                ).all()
            )
            final = dict((await session.execute(select(Order.number, Order.status))).all())
            last_to = dict(
                (
                    await session.execute(
                        select(Order.number, StatusEvent.to_status)
                        .join(Order, Order.id == StatusEvent.order_id)
                        .where(StatusEvent.kind == "status", Order.number.in_(numbers))
                        .order_by(StatusEvent.id)
                    )
                ).all()
            )  # the last row per order wins
    finally:
        await s.close()
    lost = (
        sum((said_memos - db_memos).values())
        + sum((said_moves - db_moves).values())
        + sum((said_scans - db_scans).values())
    )
    extra = (
        sum((db_memos - said_memos).values())
        + sum((db_moves - said_moves).values())
        + sum((db_scans - said_scans).values())
    )
    packed_ok = all(
        packed[n] == sum(c for (o, _w), c in db_scans.items() if o == n) for n in numbers
    )
    outcomes = Counter(e["outcome"] for e in entries)
    conflicts = [e for e in entries if e["outcome"] == "conflict"]
    applied_ms = sorted(e["ms"] for e in entries if e["outcome"] == "applied" and "ms" in e)
    all_ms = sorted(e["ms"] for e in entries if "ms" in e)
    by_kind = {
        kind: sorted(
            e["ms"]
            for e in entries
            if e["kind"] == kind and e["outcome"] == "applied" and "ms" in e
        )
        for kind in ("status", "memo", "scan")
    }
    applied = outcomes["applied"]
    return {
        "operators": len(reports),
        "wall_s": wall,
        "attempts": len(entries),
        "outcomes": dict(outcomes),
        "applied_per_s": applied / wall if wall else 0.0,
        "p50_ms": pct(applied_ms, 50),
        "p99_ms": pct(applied_ms, 99),
        "p99_all_ms": pct(all_ms, 99),
        "p99_by_kind_ms": {k: pct(v, 99) for k, v in by_kind.items()},
        "applied_by_kind": {k: len(v) for k, v in by_kind.items()},
        "conflicts_told_who_and_when": sum(1 for e in conflicts if e.get("told")),
        "conflicts": len(conflicts),
        "refusals": Counter(
            e["why"].split(":")[0] if "cannot be packed" not in e["why"] else "not packable (held)"
            for e in entries
            if e["outcome"] == "refused"
        ).most_common(3),
        "lost": lost,
        "extra": extra,
        "packed_matches_journal": packed_ok,
        "final_status_matches_history": all(final[n] == last_to[n] for n in numbers),
    }


def pct(samples: list[float], p: int) -> float:
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, max(0, round(len(samples) * p / 100) - 1))]


def show(r: dict[str, Any]) -> None:
    o = r["outcomes"]
    print(f"\n== {r['label']}: {r['operators']} operator processes, {r['wall_s']:.1f} s ==")
    print(
        f"attempts {r['attempts']}: applied {o.get('applied', 0)}, conflict {o.get('conflict', 0)}"
        f", claimed {o.get('claimed', 0)}, refused {o.get('refused', 0)}"
    )
    print(f"applied by kind: {r['applied_by_kind']}; refusals: {r['refusals']}")
    print(f"throughput: {r['applied_per_s']:.1f} applied changes/s")
    print(
        f"latency of applied changes: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
        f"(all attempts p99 {r['p99_all_ms']:.1f} ms); p99 by kind "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in r["p99_by_kind_ms"].items())
    )
    print(
        f"check: lost {r['lost']}, extra {r['extra']}, conflicts told who/when "
        f"{r['conflicts_told_who_and_when']}/{r['conflicts']}, packed = journal "
        f"{r['packed_matches_journal']}, status = last history row "
        f"{r['final_status_matches_history']}"
    )


async def main(args: argparse.Namespace) -> None:
    results = []
    if not args.no_sqlite:
        path = Path(tempfile.mkdtemp()) / "operators.sqlite"
        results.append(await run_one("SQLite", f"sqlite+aiosqlite:///{path}", args))
        show(results[-1])
    if not args.no_postgres:
        from tests.pgcluster import start_cluster

        cluster = start_cluster()
        try:
            url = cluster.create_database("bench_operators")
            results.append(await run_one("PostgreSQL", url, args))
            show(results[-1])
        finally:
            cluster.stop()
    bad = [
        r["label"]
        for r in results
        if r["lost"]
        or r["extra"]
        or not r["packed_matches_journal"]
        or not r["final_status_matches_history"]
    ]
    print("\nnothing lost, nothing extra" if not bad else f"\nMISMATCH on {', '.join(bad)}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--orders", type=int, default=12)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        ns.job = ns.worker
        asyncio.run(operate(ns))
    else:
        asyncio.run(main(ns))
