"""Helpers for the purchasing tests: a shop with the seed catalogue, drop-ship orders, X12
856 ship notices as a vendor would send them, and an 850 read back into its parts. No tests.

Seed catalogue (seed=1) facts the tests rely on:
PL-10033 ACME only (e-mail) · PL-10031 GLOBEX default (e-mail), INITECH (EDI), ACME ·
PL-10017 NORTH only (EDI, ZZ/NORTHWIND01) · PL-10001 INITECH default (EDI, 01/123456789),
HOOLI (manual) · PL-10049 HOOLI only (manual) · PL-10002, PL-10003 from stock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from services import carriers
from services.container import Services
from services.edi_x12 import parse_x12
from services.models import Notification, Order, POLine, PurchaseOrder, Shipment, Vendor
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.settings import load_settings
from services.uow import Clock
from tests.services.stock_support import stock_up

ADDRESS = NewAddress(
    name="Grace Hopper",
    line1="7 Compiler Court",
    line2="Suite 2",
    city="Arlington",
    region="VA",
    postal_code="22201",
    country="US",
    company="Navy",
)
ACME_ONLY = "PL-10033"
GLOBEX_DEFAULT = "PL-10031"
NORTH_ONLY = "PL-10017"
INITECH_DEFAULT = "PL-10001"
HOOLI_ONLY = "PL-10049"
STOCK = "PL-10002"


async def open_shop(db_url: str, clock: Clock, tmp: Path, **more: Any) -> Services:
    settings = load_settings(
        db=db_url,
        operator="tester",
        edi_dir=str(tmp / "edi"),
        smtp_host="127.0.0.1",
        smtp_from="orders@shop.example",
        smtp_timeout=5.0,
        shop={"name": "Tinker & Sons", "address": "1 Market St", "reply_to": "help@shop.example"},
        **more,
    )
    services = await Services.open(settings, clock=clock)
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    await stock_up(services)
    return services


async def new_order(
    services: Services,
    lines: tuple[tuple[str, int], ...],
    *,
    name: str = "Grace Hopper",
    address: NewAddress = ADDRESS,
) -> int:
    detail = await services.orders.create(
        NewOrder(customer_name=name, email="grace@example.org", shipping=address, lines=lines)
    )
    return detail.number


async def set_vendor(services: Services, code: str, **values: Any) -> None:
    async with services.db.write_session() as s, s.begin():
        await s.execute(update(Vendor).where(Vendor.code == code).values(**values))


async def counts(services: Services) -> dict[str, int]:
    async with services.db.read_session() as s:
        return {
            m.__name__: int((await s.execute(select(func.count()).select_from(m))).scalar_one())
            for m in (PurchaseOrder, POLine, Shipment, Notification)
        }


async def order_status(services: Services, number: int) -> str:
    async with services.db.read_session() as s:
        return str(
            (await s.execute(select(Order.status).where(Order.number == number))).scalar_one()
        )


async def outbox(services: Services, event: str) -> list[Notification]:
    async with services.db.read_session() as s:
        return list(
            (
                await s.execute(
                    select(Notification)
                    .where(Notification.event == event)
                    .order_by(Notification.id)
                )
            ).scalars()
        )


def tracking(carrier: str = "ups", seed: int = 1) -> str:
    return carriers.generate(carrier, random.Random(seed))


def asn(
    shipments: list[tuple[str, str, list[tuple[str, int]]]],
    *,
    control: int = 5,
    scac: str = "UPSN",
    cartons: frozenset[int] = frozenset(),
) -> str:
    """An X12 856 with one ST per (PO, tracking, [(vendor SKU, quantity)]), counts right.
    The shipments numbered in `cartons` (from 1) carry their tracking as MAN*CP on a pack
    level instead of REF*CN on the shipment level."""
    body: list[str] = []
    for n, (po, number, items) in enumerate(shipments, start=1):
        carton = n in cartons
        st = [
            f"ST*856*{n:04d}",
            f"BSN*00*SN{n}*20261120*1200",
            "HL*1**S",
            f"TD5**2*{scac}",
            *([] if carton else [f"REF*CN*{number}"]),
            "DTM*011*20261120",
            "HL*2*1*O",
            f"PRF*{po}",
            *(["HL*3*2*P", f"MAN*CP*{number}"] if carton else []),
        ]
        first, parent = (4, 3) if carton else (3, 2)
        for i, (sku, qty) in enumerate(items, start=first):
            k = i - first + 1
            st += [f"HL*{i}*{parent}*I", f"LIN*{k}*VP*{sku}", f"SN1*{k}*{qty}*EA"]
        st.append(f"SE*{len(st) + 1}*{n:04d}")
        body += st
    return envelope("SH", body, len(shipments), control)


def envelope(group: str, body: list[str], transactions: int, control: int) -> str:
    """A vendor's interchange around `body`: ISA/GS ... GE/IEA with matching numbers."""
    isa = (
        "ISA*00*          *00*          *ZZ*NORTHWIND01    *ZZ*PACKLINE       "
        f"*261120*1200*U*00401*{control:09d}*0*P*>"
    )
    segments = [
        isa,
        f"GS*{group}*NORTHWIND01*PACKLINE*20261120*1200*{control}*X*004010",
        *body,
        f"GE*{transactions}*{control}",
        f"IEA*1*{control:09d}",
    ]
    return "".join(s + "~\n" for s in segments)


def acks(answers: list[tuple[str, str]], *, control: int = 9) -> str:
    """An X12 855 with one ST per (PO number, BAK02 type, e.g. AC or RJ), counts right."""
    body: list[str] = []
    for n, (po, kind) in enumerate(answers, start=1):
        st = [f"ST*855*{n:04d}", f"BAK*00*{kind}*{po}*20261120", "PO1*1*1*EA", "ACK*IA*1*EA"]
        st.append(f"SE*{len(st) + 1}*{n:04d}")
        body += st
    return envelope("PR", body, len(answers), control)


@dataclass
class Read850:
    """An 850 file taken apart: the raw ISA line and every segment as a list."""

    isa_line: str
    segments: list[list[str]]

    def tags(self, tag: str) -> list[list[str]]:
        return [s for s in self.segments if s[0] == tag]

    def one(self, tag: str) -> list[str]:
        found = self.tags(tag)
        assert len(found) == 1, (tag, found)
        return found[0]


def read_850(path: Path) -> Read850:
    text = path.read_text(encoding="ascii")
    return Read850(text.split("~", 1)[0], parse_x12(text).segments)
