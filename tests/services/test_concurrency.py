"""Several processes on one database: exactly one of two racing edits wins, and no write is
lost when many operators write at once. Processes, not coroutines: separate connections,
separate Python interpreters, as operators at separate terminals are."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services.container import Services
from services.models import StatusEvent
from services.orders import OrderFilter
from services.seed import seed_database
from services.statuses import Status

WORKER = textwrap.dedent("""
    import asyncio, json, os, sys, time
    from services.container import Services
    from services.errors import Conflict, Refused
    from services.settings import load_settings
    from services.statuses import Status

    url, barrier, who, job = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])

    async def main():
        s = await Services.open(load_settings(db=url, operator=who))
        try:
            seen = await s.orders.show(job["order"])
            open(f"{barrier}.{who}", "w").close()          # ready
            while len([f for f in os.listdir(os.path.dirname(barrier))
                       if f.startswith(os.path.basename(barrier) + ".")]) < job["parties"]:
                time.sleep(0.001)                         # everyone go at once
            results = []
            for i in range(job.get("memos", 0)):
                await s.orders.add_memo(job["order"], f"{who} memo {i}")
                results.append("memo")
            if "to" in job:
                try:
                    await s.orders.set_status(job["order"], Status(job["to"]),
                                              expected_version=seen.version)
                    results.append("won")
                except Conflict as exc:
                    results.append("conflict: " + str(exc))
                except Refused as exc:
                    results.append("refused: " + str(exc))
            print(json.dumps(results))
        finally:
            await s.close()

    asyncio.run(main())
""")


def run_workers(url: str, tmp_path: Path, jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    barrier = tmp_path / "go"
    procs = {
        who: subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                url,
                str(barrier),
                who,
                json.dumps({**job, "parties": len(jobs)}),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, job in jobs.items()
    }
    out = {}
    for who, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out[who] = json.loads(stdout.strip().splitlines()[-1])
    return out


async def a_new_order(services: Services) -> int:
    page = await services.orders.page(OrderFilter(status=Status.NEW), limit=1)
    return page.rows[0].number


async def test_two_processes_one_order_exactly_one_wins(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    await seed_database(services.db, orders=20, seed=11, anchor=date(2026, 11, 20))
    number = await a_new_order(services)
    before = await services.orders.show(number)
    results = run_workers(
        db_url,
        tmp_path,
        {
            "alice": {"order": number, "to": "processing"},
            "bob": {"order": number, "to": "canceled"},
        },
    )
    outcomes = sorted(r[0].split(":")[0] for r in results.values())
    assert outcomes == ["conflict", "won"], results
    winner = next(who for who, r in results.items() if r == ["won"])
    loser_message = next(r[0] for r in results.values() if r != ["won"])
    assert f"order #{number} was changed by {winner}" in loser_message
    after = await services.orders.show(number)
    expected = Status.PROCESSING if winner == "alice" else Status.CANCELED
    assert after.status is expected
    assert after.version == before.version + 1
    changes = [h for h in after.history if h.kind == "status" and h.from_status is Status.NEW]
    assert len(changes) == 1 and changes[0].actor == winner


async def test_many_writers_lose_nothing(services: Services, db_url: str, tmp_path: Path) -> None:
    await seed_database(services.db, orders=20, seed=12, anchor=date(2026, 11, 20))
    number = await a_new_order(services)
    writers = {f"op{i}": {"order": number, "memos": 15} for i in range(6)}
    results = run_workers(db_url, tmp_path, writers)
    assert all(r == ["memo"] * 15 for r in results.values()), results
    detail = await services.orders.show(number)
    memos = [h.memo for h in detail.history if h.kind == "memo"]
    assert sorted(memos) == sorted(f"op{i} memo {j}" for i in range(6) for j in range(15))
    async with services.db.read_session() as s:
        total = (
            await s.execute(
                select(func.count()).select_from(StatusEvent).where(StatusEvent.kind == "memo")
            )
        ).scalar_one()
    assert total == 90
    assert detail.version == 1 + 90  # every memo bumped the version exactly once
