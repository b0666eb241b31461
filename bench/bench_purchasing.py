"""Drop-shipping figures on SQLite: PO plan latency, create + send (e-mail and EDI) per
order, a vendor CSV of N tracking rows imported (shipments through the shipping service,
customer e-mails queued) and the same file re-imported (idempotent), an 856 with N ship
notices. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_purchasing.py [--orders 300]
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

from services import carriers  # noqa: E402
from services.container import Services  # noqa: E402
from services.orders import NewAddress, NewOrder  # noqa: E402
from services.seed import seed_database  # noqa: E402
from services.settings import load_settings  # noqa: E402

ADDRESS = NewAddress(
    name="Grace Hopper",
    line1="7 Compiler Court",
    city="Arlington",
    postal_code="22201",
    region="VA",
    country="US",
)
EMAIL_SKU = "PL-10033"  # ACME, e-mail (seed 1)
EDI_SKU = "PL-10017"  # NORTH, EDI (seed 1)


def ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(int(len(samples) * 0.95) - 1, 0)]
    return f"median {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms"


def asn(notices: list[tuple[str, str]]) -> str:
    body: list[str] = []
    for n, (po, number) in enumerate(notices, start=1):
        st = [
            f"ST*856*{n:04d}",
            f"BSN*00*SN{n}*20261120*1200",
            "HL*1**S",
            "TD5**2*UPSN",
            f"REF*CN*{number}",
            "HL*2*1*O",
            f"PRF*{po}",
        ]
        st.append(f"SE*{len(st) + 1}*{n:04d}")
        body += st
    isa = (
        "ISA*00*          *00*          *ZZ*NORTHWIND01    *ZZ*PACKLINE       "
        "*261120*1200*U*00401*000000009*0*P*>"
    )
    segs = [
        isa,
        "GS*SH*NORTHWIND01*PACKLINE*20261120*1200*9*X*004010",
        *body,
        f"GE*{len(notices)}*9",
        "IEA*1*000000009",
    ]
    return "".join(s + "~\n" for s in segs)


async def main(orders: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-po-"))
    settings = load_settings(
        db=f"sqlite+aiosqlite:///{tmp / 'shop.sqlite'}", operator="bench", edi_dir=str(tmp / "edi")
    )
    s = await Services.open(settings)
    try:
        await seed_database(s.db, orders=0, seed=1, anchor=date(2026, 11, 20))
        rng = random.Random(5)
        email_orders: list[int] = []
        edi_orders: list[int] = []
        for i in range(orders):
            sku = EMAIL_SKU if i % 2 == 0 else EDI_SKU
            detail = await s.orders.create(
                NewOrder(
                    customer_name=f"Customer {i}",
                    email=f"c{i}@example.org",
                    shipping=ADDRESS,
                    lines=((sku, 1 + i % 3),),
                )
            )
            (email_orders if sku == EMAIL_SKU else edi_orders).append(detail.number)

        plan_ms = []
        for n in email_orders[:50]:
            start = time.perf_counter()
            await s.purchasing.plan(n)
            plan_ms.append((time.perf_counter() - start) * 1000)
        print(f"plan (PO screen open), {len(plan_ms)} orders: {ms(plan_ms)}")

        results = {}
        for name, numbers in (("e-mail", email_orders), ("EDI 850", edi_orders)):
            samples = []
            for n in numbers:
                start = time.perf_counter()
                r = await s.purchasing.create(n, send=True)
                samples.append((time.perf_counter() - start) * 1000)
                results[n] = r.purchase_orders[0].number
            print(f"create + send by {name}, {len(samples)} orders (1 PO each): {ms(samples)}")
        files = list((tmp / "edi").iterdir())
        print(
            f"  EDI files written: {len(files)}, no temp file left: "
            f"{not any(f.name.startswith('.') for f in files)}"
        )

        rows = ["po,tracking,carrier"]
        for n in email_orders:
            rows.append(f"{results[n]},{carriers.generate('ups', rng)},ups")
        data = ("\n".join(rows) + "\n").encode()
        start = time.perf_counter()
        report = await s.purchasing.import_data("bench.csv", data)
        took = time.perf_counter() - start
        print(
            f"CSV import, {len(rows) - 1} rows: {took:.2f} s "
            f"({took * 1000 / max(len(rows) - 1, 1):.1f} ms per shipment), created "
            f"{report.created}, problems {len(report.problems)}"
        )
        start = time.perf_counter()
        again = await s.purchasing.import_data("bench.csv", data)
        took2 = time.perf_counter() - start
        print(
            f"CSV re-import (idempotent): {took2:.2f} s, created {again.created}, "
            f"unchanged {again.unchanged}"
        )

        notices = [(results[n], carriers.generate("ups", rng)) for n in edi_orders]
        text = asn(notices).encode()
        start = time.perf_counter()
        report = await s.purchasing.import_data("bench.856", text)
        took = time.perf_counter() - start
        print(
            f"856 import, {len(notices)} ship notices ({len(text) // 1024} KiB): {took:.2f} s, "
            f"created {report.created}, problems {len(report.problems)}"
        )
    finally:
        await s.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300)
    asyncio.run(main(parser.parse_args().orders))
