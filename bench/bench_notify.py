"""Notification figures: queueing e-mails in a bulk status change, and delivering them to a
local SMTP server over one reused connection. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_notify.py [--orders 1000] [--no-postgres]

Queueing: N orders set to processing with notify=True through OrderService.set_status,
one transaction per order, as the console's bulk action does (the e-mail is only an
outbox row written in that transaction). Delivery: `NotificationService.run_once` against
aiosmtpd on 127.0.0.1 (a handler that counts and keeps nothing), rendering each e-mail
from the order as it is, then marking each row sent.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from services.container import Services  # noqa: E402
from services.models import Notification  # noqa: E402
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402
from services.statuses import NotificationState, Status  # noqa: E402

ADDRESS = NewAddress(name="Ada", line1="12 Analytical Way", city="Leeds", postal_code="N1")


class Counting:
    """An aiosmtpd handler that only counts (parsing would compete with the worker)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def count_sent(services: Services) -> int:
    async with services.db.read_session() as s:
        return int(
            (
                await s.execute(
                    select(func.count())
                    .select_from(Notification)
                    .where(
                        Notification.channel == "email",
                        Notification.state == NotificationState.SENT,
                    )
                )
            ).scalar_one()
        )


async def run(label: str, url: str, orders: int, batch: int, baseline: int) -> None:
    port = free_port()
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings = load_settings(
        db=url,
        operator="bench",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="orders@shop.example",
        notify_batch_size=batch,
    )
    services = await Services.open(settings)
    try:
        await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
        start = time.perf_counter()
        numbers = []
        for i in range(orders + baseline):
            detail = await services.orders.create(
                NewOrder(
                    customer_name=f"Customer {i}",
                    email=f"c{i}@example.org",
                    shipping=ADDRESS,
                    lines=(("PL-10001", 1), ("PL-10003", 2)),
                )
            )
            numbers.append(detail.number)
        created = time.perf_counter() - start

        plain = numbers[orders:]
        start = time.perf_counter()
        for number in plain:
            await services.orders.set_status(number, Status.PROCESSING, comment="We are on it.")
        without = (time.perf_counter() - start) / max(len(plain), 1)

        start = time.perf_counter()
        for number in numbers[:orders]:
            await services.orders.set_status(
                number, Status.PROCESSING, comment="We are on it.", notify=True
            )
        queued = time.perf_counter() - start
        print(
            f"[{label}] {orders + baseline} orders created in {created:.1f} s (setup, not a figure)"
        )
        if plain:
            print(
                f"[{label}] baseline: set_status without e-mail {without * 1000:.2f} ms per "
                f"order ({len(plain)} orders)"
            )
        print(
            f"[{label}] queue {orders} e-mails in a bulk change (set_status x{orders}, "
            f"one transaction each): {queued:.2f} s, {queued / orders * 1000:.2f} ms per order"
        )

        start = time.perf_counter()
        report = await services.notifications.run_once()
        took = time.perf_counter() - start
        sent = await count_sent(services)
        print(
            f"[{label}] deliver {report.sent} e-mails to local aiosmtpd (batch {batch}, one "
            f"connection per batch): {took:.2f} s = {report.sent / took:.0f} messages/s "
            f"(server counted {handler.count}, rows sent {sent}, failed {report.failed})"
        )
    finally:
        await services.close()
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--baseline", type=int, default=200, help="orders changed without e-mail, to compare"
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite'}"
        asyncio.run(run("sqlite", url, args.orders, args.batch, args.baseline))
    if not args.no_postgres:
        from tests.pgcluster import start_cluster

        cluster = start_cluster()
        try:
            url = cluster.create_database("bench_notify")
            asyncio.run(run("postgres", url, args.orders, args.batch, args.baseline))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
