"""A big file is read by a worker process (services/import_worker.py), a small one in a
thread. Both must store exactly the same rows and report exactly the same things: here
the fixtures go through both (the worker forced with process_min_bytes=0)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Literal

import pytest

from services.errors import InvalidInput
from services.import_formats import ImportReport
from tests.conftest import FixedClock
from tests.services.import_support import SHOPIFY, SHOPIFY_2016, SHOPIFY_LATER, by_ref, open_shop

NEVER = 1 << 62
_KEY = re.compile(r"^import-[0-9a-f]{32}$")


def _report(report: ImportReport) -> dict[str, Any]:
    out = report.to_json()
    out.pop("seconds")
    out.pop("file", None)
    return out


async def _run(
    url: str, clock: FixedClock, worker: bool, files: list[tuple[Path, str | None]]
) -> list[dict[str, Any]]:
    async with open_shop(
        url, clock, shop={"staff_email": "staff@example.org"}, webhooks=["http://127.0.0.1:9/"]
    ) as shop:
        shop.imports.process_min_bytes = 0 if worker else NEVER
        shop.imports.batch = 3  # several batches, a worker's read-ahead and mode changes
        return [
            _report(await shop.imports.import_file(f, "shopify", channel=ch)) for f, ch in files
        ]


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted; random keys (uuid idempotency keys) masked."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            if table == "audit_log":  # the seed's own row is stamped with the real time
                rows = [row for row in rows if row[3] != "seed"]
            masked = [
                tuple(
                    "KEY" if isinstance(v, str) and (_KEY.match(v) or len(v) == 32) else v
                    for v in row
                )
                for row in rows
            ]
            out[table] = sorted(masked, key=repr)
        return out
    finally:
        conn.close()


FILES: list[tuple[Path, str | None]] = [
    (SHOPIFY, None),
    (SHOPIFY, None),  # again: every order known (the worker sends checked orders)
    (SHOPIFY_LATER, None),  # the channel moved some on: they follow
    (SHOPIFY_2016, "old"),
    (SHOPIFY, "second"),
]


async def test_the_worker_stores_what_the_thread_stores(tmp_path: Path) -> None:
    thread_db, worker_db = tmp_path / "thread.sqlite", tmp_path / "worker.sqlite"
    thread = await _run(f"sqlite+aiosqlite:///{thread_db}", FixedClock(), False, FILES)
    worker = await _run(f"sqlite+aiosqlite:///{worker_db}", FixedClock(), True, FILES)
    assert worker == thread
    assert worker[0]["created"] and worker[0]["rejected"] and worker[2]["updated"]
    assert worker[1]["unchanged"] == len(worker[0]["created"])
    assert _tables(worker_db) == _tables(thread_db)


async def test_the_worker_on_both_databases(db_url: str, clock: FixedClock) -> None:
    """The worker's rows on SQLite and PostgreSQL: the same report as the thread's."""
    async with open_shop(db_url, clock) as shop:
        shop.imports.batch = 2
        shop.imports.process_min_bytes = NEVER
        thread = await shop.imports.import_file(SHOPIFY, "shopify", channel="thread")
        shop.imports.process_min_bytes = 0
        seen: list[tuple[int, int]] = []
        worker = await shop.imports.import_file(
            SHOPIFY, "shopify", channel="worker", progress=lambda d, t: seen.append((d, t))
        )
        again = await shop.imports.import_file(SHOPIFY, "shopify", channel="worker")
    size = SHOPIFY.stat().st_size
    assert seen[-1] == (size, size)
    assert [r for r, _ in worker.created] == [r for r, _ in thread.created]
    assert worker.rejected == thread.rejected and worker.rows == thread.rows
    assert [(n.ref, n.message) for n in worker.notices] == [
        (n.ref, n.message) for n in thread.notices
    ]
    assert again.unchanged == len(worker.created) and not again.created


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01binary", "holds binary data"),
        (b"Name,Email\n#1,a@b.c\n", "Lineitem quantity"),
    ],
)
async def test_a_file_the_worker_refuses_is_refused_the_same(
    tmp_path: Path, clock: FixedClock, content: bytes, message: str
) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_bytes(content)
    said: list[str] = []
    async with open_shop(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", clock) as shop:
        for threshold in (NEVER, 0):
            shop.imports.process_min_bytes = threshold
            with pytest.raises(InvalidInput) as refused:
                await shop.imports.import_file(bad, "shopify")
            said.append(str(refused.value))
    assert said[0] == said[1] and message in said[0]


async def test_checks_run_again_with_lines_count_one_version_each(
    db_url: str, clock: FixedClock
) -> None:
    """The arrival checks first run without the orders' lines; #1008 is held (COD), which
    reads them, so the batch's checks run again with them. The orders the first run
    scored are scored again, and get their one new version all the same."""
    async with open_shop(db_url, clock) as shop:
        await shop.imports.import_file(SHOPIFY, "shopify")
        got = {ref: await by_ref(shop, ref) for ref in ("#1001", "#1003", "#1008", "#1002")}
    assert {ref: (o.status.value, o.risk_score > 0, o.version) for ref, o in got.items()} == {
        "#1001": ("new", True, 2),
        "#1003": ("new", False, 1),  # a PO box by USPS, which delivers there: no risk
        "#1008": ("held", False, 2),
        "#1002": ("shipped", False, 1),
    }


async def test_no_worker_to_start_reads_in_a_thread(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python-here"))
    async with open_shop(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", clock) as shop:
        shop.imports.process_min_bytes = 0
        report = await shop.imports.import_file(SHOPIFY, "shopify")
    assert len(report.created) == 6 and len(report.rejected) == 3


def _workers() -> list[int]:
    """This process's import workers still running (Linux /proc)."""
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if parent == me and b"services.import_worker" in cmd and state != "Z":
            found.append(int(pid))
    return found


async def test_a_cancelled_import_ends_its_worker(tmp_path: Path, clock: FixedClock) -> None:
    big = tmp_path / "big.csv"
    lines = ["Name,Financial Status,Currency,Total,Lineitem quantity,Lineitem sku"]
    lines += [f"#{n},paid,USD,12.50,1,PL-10001" for n in range(1, 6_001)]
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    async with open_shop(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", clock) as shop:
        shop.imports.process_min_bytes = 0
        shop.imports.batch = 500
        first = asyncio.Event()
        task = asyncio.ensure_future(
            shop.imports.import_file(big, "shopify", progress=lambda d, t: first.set())
        )
        await asyncio.wait_for(first.wait(), 60)
        assert _workers()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _workers()
        report = await shop.imports.import_file(big, "shopify")  # the rest still goes in
    assert len(report.created) + report.unchanged == 6_000


def _generic_files(folder: Path, count: int) -> tuple[Path, Path]:
    """The same orders as JSON and as a generic CSV: every status, manual payments, a
    partial shipment, customers met again, and one broken order in the JSON."""
    orders: list[dict[str, Any]] = []
    rows = [
        "order,email,customer_name,payment_method,payment_status,status,"
        "ship_line1,ship_city,ship_postal_code,ship_country,sku,quantity,unit_price"
    ]
    for n in range(1, count + 1):
        status = ("new", "shipped", "canceled", "partially_shipped")[n % 4]
        method = ("card", "cod", "check", "card")[n % 4]
        paid = ("paid", "unpaid", "authorized", "paid")[n % 4]
        lines: list[dict[str, Any]] = [
            {"sku": f"PL-{10000 + (n * 7 + k) % 230}", "quantity": 1 + k, "unit_price": "3.50"}
            for k in range(1 + n % 3)
        ]
        if status == "partially_shipped":
            lines[0]["shipped"] = 1
            lines.append({"sku": "PL-10001", "quantity": 2})
        address = {"line1": f"{n} Road", "city": "Town", "postal_code": "02134", "country": "US"}
        orders.append(
            {
                "order": f"J{n}",
                "email": f"c{n % 7}@example.org",
                "customer_name": f"Cust {n}",
                "payment_method": method,
                "payment_status": paid,
                "status": status,
                "shipping_address": address,
                "lines": lines,
            }
        )
        for k, ln in enumerate(lines):
            head = [f"c{n % 7}@example.org", f"Cust {n}", method, paid]
            head += ["new" if status == "partially_shipped" else status, *address.values()]
            cells = [f"C{n}", *(head if k == 0 else [""] * len(head))]
            rows.append(
                ",".join([*cells, ln["sku"], str(ln["quantity"]), ln.get("unit_price", "")])
            )
    orders.append({"order": "BAD", "lines": [{"sku": "PL-10001", "quantity": "x"}]})
    (folder / "o.json").write_text(json.dumps(orders), encoding="utf-8")
    (folder / "o.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "o.json", folder / "o.csv"


async def test_json_and_generic_csv_through_the_worker(tmp_path: Path) -> None:
    json_file, csv_file = _generic_files(tmp_path, 60)
    files: list[tuple[Path, Literal["json", "csv"]]] = [
        (json_file, "json"),
        (csv_file, "csv"),
        (json_file, "json"),  # again: all known
    ]
    results = []
    for worker in (False, True):
        db = tmp_path / f"{worker}.sqlite"
        async with open_shop(f"sqlite+aiosqlite:///{db}", FixedClock()) as shop:
            shop.imports.process_min_bytes = 0 if worker else NEVER
            shop.imports.batch = 7
            reports = [_report(await shop.imports.import_file(f, fmt)) for f, fmt in files]
        results.append((reports, _tables(db)))
    assert results[1] == results[0]
    reports = results[0][0]
    assert [len(r["created"]) for r in reports] == [60, 60, 0] and reports[2]["unchanged"] == 60
    assert [r["order"] for r in reports[0]["rejected"]] == ["BAD"]
