"""Scanning at the bench, measured end to end; prints figures.

1. In the app (headless, the real PackScreen on a seeded SQLite file): 1,000 scans, one
   at a time as a scanner types them (every key of a code and its Enter handed to the
   driver at once). Per scan, from the Enter key event: until the service has saved it
   (its transaction committed) and until the frame showing the result is drawn. Then the
   journal is read back through another connection: all saved, in order.
2. Through a real pty: `packline pack REF` in tmux, scans typed with `tmux send-keys` at
   50 scans/s (each code and its Enter in one call), then the journal is compared with
   what was sent: scans lost, and scans out of order. Goal: 0 and 0.

    .venv/bin/python bench/bench_scan_pty.py [--scans 1000] [--pty-scans 500] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.app import PacklineApp  # noqa: E402
from screens.pack import PackScreen  # noqa: E402
from services.container import Services  # noqa: E402
from services.db import Database  # noqa: E402
from services.models import Order, ScanEvent, StockLevel  # noqa: E402
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.statuses import PaymentStatus, Status  # noqa: E402
from tests.screens.burst import burst  # noqa: E402

# Seed 7: stock products, not serialised.
PRODUCTS = {"PL-10144": "614141001446", "PL-10151": "614141001514"}
PACKLINE = Path(sys.executable).parent / "packline"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def make_shop(path: Path, units: int) -> tuple[str, int, list[str]]:
    """A seeded SQLite file with one processing, paid order of `units` units; the codes of
    its units in a shuffled order (to tell reordering from loss)."""
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    await db.upgrade()
    await seed_database(db, orders=0, seed=7, anchor=date(2026, 11, 20))
    await db.dispose()
    services = await Services.open(load_settings(db=url, operator="bench"))
    try:
        async with services.db.write_session() as s, s.begin():
            await s.execute(update(StockLevel).values(on_hand=StockLevel.on_hand + 10 * units))
        half = units // 2
        detail = await services.orders.create(
            NewOrder(
                customer_name="Bench Packer",
                email="bench@example.org",
                shipping=NewAddress(
                    name="Bench", line1="1 Bench St", city="Leeds", postal_code="LS1 1AA"
                ),
                lines=(("PL-10144", half), ("PL-10151", units - half)),
            )
        )
        await services.orders.set_status(detail.number, Status.PROCESSING)
        async with services.db.write_session() as s, s.begin():
            await s.execute(
                update(Order)
                .where(Order.number == detail.number)
                .values(payment_status=PaymentStatus.PAID)
            )
    finally:
        await services.close()
    codes = [PRODUCTS["PL-10144"]] * half + [PRODUCTS["PL-10151"]] * (units - half)
    random.Random(5).shuffle(codes)
    return url, detail.number, codes


async def journal(url: str, number: int) -> list[str]:
    db = Database(url)
    try:
        async with db.read_session() as s:
            rows = await s.execute(
                select(ScanEvent.code)
                .join(Order, Order.id == ScanEvent.order_id)
                .where(Order.number == number, ScanEvent.accepted.is_(True))
                .order_by(ScanEvent.id)
            )
            return [code for (code,) in rows.all()]
    finally:
        await db.dispose()


async def in_app(scans: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, number, codes = await make_shop(Path(tmp) / "shop.sqlite", scans)
        services = await Services.open(load_settings(db=url, operator="bench"))
        app = PacklineApp(services, pack=str(number))
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                while not (isinstance(app.screen, PackScreen) and app.screen.session):
                    await pilot.pause(0.01)
                screen = app.screen
                assert isinstance(screen, PackScreen)
                started = time.perf_counter()
                for i, code in enumerate(codes, 1):
                    burst(app, code + "\n")
                    while len(screen.latencies) < i:  # noqa: ASYNC110 (the screen's own count)
                        await asyncio.sleep(0.001)
                elapsed = time.perf_counter() - started
                saved = [s * 1000 for s, _ in screen.latencies]
                drawn = [d * 1000 for _, d in screen.latencies]
        finally:
            await services.close()
        stored = await journal(url, number)
    print(f"in the app, {scans} scans one after another on SQLite ({elapsed:.1f} s):")
    frame = [d - s for s, d in zip(saved, drawn, strict=True)]
    for name, values in (
        ("Enter -> saved", saved),
        ("Enter -> screen updated", drawn),
        ("saved -> screen updated", frame),  # Textual draws at most 60 frames/s: <= 16.7 ms
    ):
        print(
            f"  {name:<24} p50 {statistics.median(values):6.2f} ms  "
            f"p90 {pct(values, 90):6.2f} ms  p99 {pct(values, 99):6.2f} ms  "
            f"max {max(values):6.2f} ms  over 10 ms: {sum(v > 10 for v in values)}"
        )
    print(f"  journal: {len(stored)} of {scans} saved, in order: {stored == codes}")


def tmux(*args: str, env: dict[str, str]) -> str:
    tmux_exe = shutil.which("tmux")
    assert tmux_exe is not None
    return subprocess.run(
        [tmux_exe, *args], capture_output=True, text=True, env=env, timeout=30, check=False
    ).stdout


def through_pty(scans: int, rate: float) -> None:
    if shutil.which("tmux") is None:
        print("through a pty: skipped (tmux is not installed)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.sqlite"
        url, number, codes = asyncio.run(make_shop(path, scans))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
        env.update(TERM="xterm-256color", TZ="UTC", HOME=tmp, PACKLINE_OPERATOR="bench")
        name = f"bench-scan-{uuid.uuid4().hex[:8]}"
        command = shlex.join([str(PACKLINE), "--db", str(path), "pack", str(number)])
        tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command, env=env)
        try:
            deadline = time.monotonic() + 30
            while "scan ›" not in tmux("capture-pane", "-p", "-t", name, env=env):
                if time.monotonic() > deadline:
                    raise SystemExit("the pack screen did not open")
                time.sleep(0.05)
            step = 1 / rate
            started = time.perf_counter()
            for i, code in enumerate(codes):
                tmux("send-keys", "-t", name, "-l", code + "\r", env=env)
                pause = started + (i + 1) * step - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            sent_in = time.perf_counter() - started
            deadline = time.monotonic() + 60
            done = f"{scans}/{scans} units"
            while done not in tmux("capture-pane", "-p", "-t", name, env=env):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            tmux("kill-session", "-t", name, env=env)
        stored = asyncio.run(journal(url, number))
    lost = len(codes) - len(stored)
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(codes, stored, strict=False)) if a != b), None
    )
    print(
        f"through a real pty (tmux send-keys), {scans} scans at {scans / sent_in:.0f} scans/s: "
        f"lost {lost}, out of order {0 if first_diff is None else 'from scan ' + str(first_diff)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--pty-scans", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(in_app(args.scans))
    through_pty(args.pty_scans, args.rate)


if __name__ == "__main__":
    main()
