"""Console figures: start-up to the first painted queue, and the queue's work at 1k vs 1M.

    .venv/bin/python bench/bench_console.py [--runs 7] [--skip-1m]

1. Start-up: `packline --db FILE` spawned in a pty (80×24), timed from the spawn to the
   first frame that shows the queue's header and its newest order; the same for a bare
   Textual app (an App with one Static) spawned the same way in the same run.
   Goal: packline ≤ 1.3× the bare app.
2. The queue at 1,000 and 1,000,000 orders: the service calls it makes (first page,
   counts, change token, page down, page up, search) and the lazy table's redraw of a
   120×40 screen. Goal: flat, each ≤ 50 ms.

Databases are cached in bench/out/ (gitignored); the 1M one takes a while to seed
(`packline --db bench/out/orders-1000000.sqlite seed --orders 1000000 --anchor 2026-11-20`).
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
PACKLINE = BIN / "packline"
ANCHOR = "2026-11-20"
SIZES = (1_000, 1_000_000)

BARE_APP = """
from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("bare app ready")


Bare().run()
"""


# -- databases ----------------------------------------------------------------------------


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
    env.update(
        TERM="xterm-256color",
        TZ="UTC",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        PACKLINE_OPERATOR="bench",
    )
    return env


def database(orders: int, env: dict[str, str]) -> Path:
    path = OUT / f"orders-{orders}.sqlite"
    if not path.exists():
        print(f"seeding {orders:,} orders into {path} (once; cached)…", file=sys.stderr)
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(PACKLINE), "--db", str(path), "seed", "--orders", str(orders), "--anchor", ANCHOR],
            env=env,
            check=True,
        )
    return path


def newest_number(db: Path, env: dict[str, str]) -> int:
    out = subprocess.run(
        [str(PACKLINE), "--db", str(db), "orders", "list", "--limit", "1", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(json.loads(out)[0]["number"])


# -- start-up in a pty --------------------------------------------------------------------


def time_to_paint(argv: list[str], markers: list[bytes], env: dict[str, str]) -> float:
    """Seconds from spawn until every marker has been written to the terminal."""
    return times_to_paint(argv, markers, env)[-1]


def times_to_paint(argv: list[str], markers: list[bytes], env: dict[str, str]) -> list[float]:
    """Seconds from spawn until each marker (in order) has been written to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    found: list[float] = []
    try:
        while True:
            if time.perf_counter() - started > 30:
                raise TimeoutError(f"{argv[0]} never painted {markers}: {seen[-400:]!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"{argv} exited: {seen[-400:]!r}") from None
            seen += chunk
            while len(found) < len(markers) and all(m in seen for m in markers[: len(found) + 1]):
                found.append(time.perf_counter() - started)
            if len(found) == len(markers):
                return found
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def startup(runs: int, env: dict[str, str], db: Path) -> None:
    number = newest_number(db, env)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE_APP)
        bare_argv = [sys.executable, str(bare)]
        packline_argv = [str(PACKLINE), "--db", str(db)]
        # One of each first, not timed: the OS file cache and .pyc files are warm after.
        time_to_paint(bare_argv, [b"bare app ready"], env)
        time_to_paint(packline_argv, [b"Customer", str(number).encode()], env)
        bare_times, frame_times, packline_times = [], [], []
        for _ in range(runs):
            bare_times.append(time_to_paint(bare_argv, [b"bare app ready"], env))
            # The queue's frame (tabs, columns, keys) comes first, its rows when the
            # services have loaded (console/launch.py): both times, from one run.
            frame, rows = times_to_paint(packline_argv, [b"Customer", str(number).encode()], env)
            frame_times.append(frame)
            packline_times.append(rows)
    b = statistics.median(bare_times)
    f, p = statistics.median(frame_times), statistics.median(packline_times)
    print(f"\nStart-up to first paint, 80×24 pty, median of {runs} (min):")
    for label, median, runs_ in (
        ("bare Textual app (one Static)  ", b, bare_times),
        ("packline, the queue painted    ", f, frame_times),
        ("packline, the queue's rows in  ", p, packline_times),
    ):
        print(f"  {label}  {median * 1000:7.0f} ms  (min {min(runs_) * 1000:.0f})")
    print(f"  ratio, queue painted              {f / b:7.2f}×   (goal ≤ 1.3×)")
    print(f"  ratio, rows in                    {p / b:7.2f}×")


def import_costs(env: dict[str, str]) -> None:
    """Where start-up goes before the first frame: import times of the big pieces."""
    code = "import console.cli, console.app"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative: dict[str, int] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative[parts[2].strip()] = int(parts[1])
    print("\nImport times on the console path, cumulative ms (python -X importtime):")
    for module in (
        "click",
        "pydantic",
        "services.settings",
        "sqlalchemy",
        "alembic",
        "services.db",
        "services.orders",
        "services.container",
        "console.cli",
        "textual.app",
        "screens.queue",
        "console.app",
    ):
        if module in cumulative:
            print(f"  {module:<20}{cumulative[module] / 1000:8.0f}")


# -- the queue's work ---------------------------------------------------------------------


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median seconds over `repeat` calls (after one untimed call), and the last result."""
    result = await fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def queue_figures(db: Path, repeat: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from services.container import Services
    from services.order_query import OrderFilter
    from services.settings import load_settings
    from services.statuses import Status

    services = await Services.open(load_settings(db=str(db), operator="bench"))
    orders = services.orders
    figures: dict[str, float] = {}
    try:
        figures["first page (100 rows)"], first = await timed(
            lambda: orders.page(OrderFilter(), limit=100), repeat
        )
        figures["counts per status"], _ = await timed(orders.counts, max(repeat // 3, 1))
        figures["change token (poll)"], _ = await timed(orders.last_change, repeat)
        # page down through five pages, then back up: different rows every call
        cursors = [first.next_cursor]
        down: list[float] = []
        for _ in range(5):
            start = time.perf_counter()
            page = await orders.page(OrderFilter(), after=cursors[-1], limit=100)
            down.append(time.perf_counter() - start)
            cursors.append(page.next_cursor)
        figures["page down (next 100)"] = statistics.median(down)
        up: list[float] = []
        for cursor in reversed(cursors[1:]):
            start = time.perf_counter()
            await orders.page(OrderFilter(), before=cursor, limit=100)
            up.append(time.perf_counter() - start)
        figures["page up (previous 100)"] = statistics.median(up)
        figures["tab: New, first page"], _ = await timed(
            lambda: orders.page(OrderFilter(status=Status.NEW), limit=100), repeat
        )
        figures["tab: Complete by total"], _ = await timed(
            lambda: orders.page(OrderFilter(status=Status.COMPLETE, sort="total"), limit=100),
            repeat,
        )
        by_status = OrderFilter(sort="status")
        figures["sort by status, first page"], status_page = await timed(
            lambda: orders.page(by_status, limit=100), repeat
        )
        figures["sort by status, page down"], _ = await timed(
            lambda: orders.page(by_status, after=status_page.next_cursor, limit=100), repeat
        )
        row = first.rows[0]
        detail = await orders.show(row.number)
        last_name = row.customer.name.split()[-1]
        domain = row.customer.email.partition("@")[2] or "example.com"
        searches = {
            "search: order number": f"#{row.number}",
            "search: last name": last_name,
            "search: e-mail domain": domain,
            "search: SKU": detail.lines[0].sku if detail.lines else "PL-10001",
            "search: two words": f"{row.customer.name.split()[0]} {last_name}",
        }
        for label, query in searches.items():
            figures[label], _ = await timed(
                lambda q=query: orders.page(OrderFilter(search=q), limit=100), repeat
            )
        figures["order detail (show)"], _ = await timed(lambda: orders.show(row.number), repeat)
        figures["table redraw, 120×40"] = await table_redraw(services, repeat)
    finally:
        await services.close()
    return figures


async def table_redraw(services: Any, repeat: int) -> float:
    """The lazy table drawing a full 120×40 screen from a fresh page (no line cache)."""
    from console.app import PacklineApp
    from screens.widgets.lazy_table import LazyTable

    app = PacklineApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        table = None
        for _ in range(500):
            await pilot.pause(0.01)
            tables = list(app.screen.query(LazyTable))
            if tables and tables[0].rows and not tables[0].is_loading:
                table = tables[0]
                break
        assert table is not None, "the queue never showed rows"
        height = table.scrollable_content_region.height
        times = []
        for _ in range(repeat):
            table._lines.clear()
            start = time.perf_counter()
            for y in range(height):
                table.render_line(y)
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def queue(env: dict[str, str], repeat: int, sizes: tuple[int, ...]) -> None:
    results = {n: asyncio.run(queue_figures(database(n, env), repeat)) for n in sizes}
    header = "".join(f"{n:>14,}" for n in sizes)
    print(f"\nThe queue's work, median ms (orders:{header})")
    for label in results[sizes[0]]:
        cells = "".join(f"{results[n][label] * 1000:14.1f}" for n in sizes)
        print(f"  {label:<28}{cells}")
    print("  goal: flat from 1k to 1M, each ≤ 50 ms (counts run only when something changed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="start-up runs of each program")
    parser.add_argument("--repeat", type=int, default=9, help="repeats per queue figure")
    parser.add_argument("--skip-1m", action="store_true", help="only the 1k database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = env_for(Path(home))
        startup(args.runs, env, database(SIZES[0], env))
        import_costs(env)
        queue(env, args.repeat, SIZES[:1] if args.skip_1m else SIZES)


if __name__ == "__main__":
    main()
