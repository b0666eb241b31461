"""CSV export in Shopify's layout, on SQLite and PostgreSQL: filters, keyset batches, cells
safe for spreadsheets, and the round trip: export -> import into an empty database keeps
the orders (names, customers, addresses, lines, totals, statuses where Shopify has them)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.container import Services
from services.models import Address, Order
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.shopify_csv import HEADER
from services.statuses import PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.import_support import SHOPIFY, open_shop

S = Status
EVIL_NOTE = '=HYPERLINK("http://x","y")\n+1 and -1\t@home'


async def all_orders(s: Services) -> list[Order]:
    async with s.db.read_session() as session:
        return list(
            (
                await session.execute(
                    select(Order)
                    .options(
                        selectinload(Order.lines),
                        selectinload(Order.customer),
                        selectinload(Order.shipping_address),
                        selectinload(Order.billing_address),
                    )
                    .order_by(Order.id)
                )
            ).scalars()
        )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == HEADER
        return [dict(zip(HEADER, row, strict=True)) for row in reader]


def address_of(a: Address | None) -> tuple[str, ...]:
    assert a is not None
    return (a.name, a.company, a.line1, a.line2, a.city, a.region, a.postal_code, a.country)


def expected_status(o: Order) -> set[Status]:
    if o.status is S.CANCELED:
        return {S.CANCELED}
    full = [ln for ln in o.lines if ln.shipped >= ln.quantity]
    if len(full) == len(o.lines):
        return {S.SHIPPED}
    if full:
        return {S.PARTIALLY_SHIPPED}
    return {S.NEW, S.HELD}  # what it was here is not in Shopify's vocabulary


EXPECTED_PAYMENT = {
    PaymentStatus.PAID: PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED: PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED: PaymentStatus.REFUNDED,
    PaymentStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    PaymentStatus.VOIDED: PaymentStatus.VOIDED,
    PaymentStatus.UNPAID: PaymentStatus.UNPAID,
    PaymentStatus.DECLINED: PaymentStatus.UNPAID,
}


async def test_export_then_import_into_an_empty_database_keeps_the_orders(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    out = tmp_path / "orders.csv"
    async with open_shop(db_url, clock) as shop:
        await seed_database(shop.db, orders=60, seed=5, anchor=date(2026, 11, 20))
        await shop.imports.import_file(SHOPIFY, "shopify")  # unicode, notes, PO box ...
        await shop.orders.create(
            NewOrder(
                customer_name="Eve",
                email="eve@example.org",
                shipping=NewAddress(name="-Eve", line1="@1 Way", city="+Town", postal_code="01234"),
                lines=(("PL-10002", 1),),
                note=EVIL_NOTE,
            )
        )
        shop.exports.batch = 7  # many keyset batches
        report = await shop.exports.export_csv(out)
        ours = await all_orders(shop)
    assert report.orders == len(ours)
    rows = read_csv(out)
    assert report.rows == len(rows) == sum(len(o.lines) for o in ours)
    evil = next(r for r in rows if r["Notes"].startswith("'="))
    assert evil["Notes"] == "'" + EVIL_NOTE  # a spreadsheet shows it, does not run it
    assert evil["Shipping Zip"] == "'01234" and evil["Shipping Address1"] == "'@1 Way"

    async with open_shop(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite'}", clock) as empty:
        back = await empty.imports.import_file(out, "shopify")
        assert back.rejected == () and back.file_error == ""
        assert len(back.created) == len(ours)
        theirs = {o.channel_ref: o for o in await all_orders(empty)}
    for o in ours:
        b = theirs[f"#{o.number}"]
        assert b.email == o.email
        assert b.customer is not None
        assert b.customer.name == (o.billing_address or o.shipping_address).name  # type: ignore[union-attr]
        assert address_of(b.shipping_address) == address_of(o.shipping_address)
        assert address_of(b.billing_address) == address_of(o.billing_address)
        assert [(ln.sku, ln.name, ln.quantity, ln.unit_price) for ln in b.lines] == [
            (ln.sku, ln.name, ln.quantity, ln.unit_price) for ln in o.lines
        ]
        assert (b.subtotal, b.shipping_total, b.tax_total, b.total, b.currency) == (
            o.subtotal,
            o.shipping_total,
            o.tax_total,
            o.total,
            o.currency,
        )
        assert b.note == o.note and b.shipping_method == o.shipping_method
        assert b.placed_at == o.placed_at.replace(microsecond=0)
        assert b.status in expected_status(o), (o.number, o.status, b.status)
        assert b.payment_status is EXPECTED_PAYMENT[o.payment_status], o.number
        assert b.payment_method is o.payment_method


async def test_filters_and_selection(db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with open_shop(db_url, clock) as shop:
        await seed_database(shop.db, orders=50, seed=6, anchor=date(2026, 11, 20))
        ours = await all_orders(shop)
        shipped = [o for o in ours if o.status is S.SHIPPED]
        report = await shop.exports.export_csv(tmp_path / "shipped.csv", status=S.SHIPPED)
        names = {r["Name"] for r in read_csv(tmp_path / "shipped.csv")}
        assert names == {f"#{o.number}" for o in shipped} and report.orders == len(shipped)

        since = datetime(2026, 11, 19, tzinfo=UTC)
        recent = [o for o in ours if o.placed_at >= since]
        report = await shop.exports.export_csv(tmp_path / "recent.csv", since=since)
        assert report.orders == len(recent) > 0
        rows = read_csv(tmp_path / "recent.csv")
        first_rows = [r for r in rows if r["Financial Status"]]
        assert [r["Name"] for r in first_rows] == [f"#{o.number}" for o in recent]

        picked = [ours[3].number, ours[1].number]
        report = await shop.exports.export_csv(
            tmp_path / "picked.csv", refs=[f"#{picked[0]}", picked[1]]
        )
        assert [r["Name"] for r in read_csv(tmp_path / "picked.csv") if r["Currency"]] == [
            f"#{ours[1].number}",
            f"#{ours[3].number}",
        ]
        empty = await shop.exports.export_csv(
            tmp_path / "none.csv", status=S.RETURNED, since=datetime(2030, 1, 1, tzinfo=UTC)
        )
        assert (empty.orders, empty.rows) == (0, 0)
        assert read_csv(tmp_path / "none.csv") == []
