"""Two processes racing for the last unit, on SQLite and PostgreSQL: one order gets it, the
other goes to backorder, and stock never goes below zero. Separate interpreters with their
own connections, as two operators at two terminals are."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

from services.container import Services
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.statuses import Status

WORKER = textwrap.dedent("""
    import asyncio, json, os, sys, time
    from services.container import Services
    from services.settings import load_settings
    from services.statuses import Status

    url, barrier, who, number = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    async def main():
        s = await Services.open(load_settings(db=url, operator=who))
        try:
            await s.orders.show(number)                    # connected and warm
            open(f"{barrier}.{who}", "w").close()
            folder, stem = os.path.dirname(barrier), os.path.basename(barrier) + "."
            while len([f for f in os.listdir(folder) if f.startswith(stem)]) < 2:
                time.sleep(0.001)
            detail = await s.orders.set_status(number, Status.PROCESSING)
            print(json.dumps(detail.status.value))
        finally:
            await s.close()

    asyncio.run(main())
""")

SKU = "PL-10002"


def race(url: str, barrier: Path, numbers: list[int]) -> list[str]:
    """Each order moved to processing by its own process, at once; their new statuses."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(barrier), who, str(number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, number in zip(("alice", "bob"), numbers, strict=True)
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(str(json.loads(out.strip().splitlines()[-1])))
    return outcomes


async def test_two_orders_race_for_the_last_unit(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    await services.inventory.set_level(SKU, "MAIN", 1)
    await services.inventory.set_level(SKU, "EAST", 0)
    address = NewAddress(name="A", line1="1 Way", city="Town", postal_code="1")
    numbers = [
        (
            await services.orders.create(
                NewOrder(customer_name=who, email="", shipping=address, lines=((SKU, 1),))
            )
        ).number
        for who in ("alice", "bob")
    ]
    outcomes = race(db_url, tmp_path / "go", numbers)
    assert sorted(outcomes) == ["backorder", "processing"], outcomes
    [level] = [r for r in await services.inventory.levels(SKU) if r.warehouse == "MAIN"]
    assert (level.on_hand, level.reserved, level.available) == (1, 1, 0)
    winner = numbers[outcomes.index("processing")]
    loser = numbers[outcomes.index("backorder")]
    won = {a.sku: a for a in await services.inventory.availability(winner)}
    lost = {a.sku: a for a in await services.inventory.availability(loser)}
    assert (won[SKU].reserved, won[SKU].warehouse) == (1, "MAIN")
    assert (lost[SKU].reserved, lost[SKU].needed) == (0, 1)
    history = (await services.orders.show(loser)).history
    assert history[-1].to_status is Status.BACKORDER
    assert history[-1].memo == f"not enough stock for {SKU} ×1 (0 in MAIN, 0 in EAST)"
