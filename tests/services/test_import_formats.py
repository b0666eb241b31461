"""The generic CSV and JSON import formats (documented in services/import_formats.py and
docs/imports.md), and the value rules every format shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services import import_formats as f
from services.errors import InvalidInput
from services.statuses import PaymentMethod, PaymentStatus, Status
from tests.conftest import FixedClock
from tests.services.import_support import by_ref, has_ref, open_shop, snapshot

GENERIC = (
    "order,channel,placed_at,email,customer_name,note,currency,payment_method,payment_status,"
    "refunded,status,shipping_total,tax_total,ship_name,ship_line1,ship_city,ship_postal_code,"
    "ship_country,bill_name,bill_line1,bill_city,bill_postal_code,bill_country,sku,quantity,"
    "unit_price,line_name,shipped\n"
    'W-1,web,2026-11-19T10:00:00Z,ann@example.org,Ann,"line one\nline two",EUR,card,paid,,new,'
    "4.50,1.00,Ann,1 Rue,Paris,'75001,FR,,,,,,PL-10002,2,10.00,,\n"
    "W-1,,,,,,,,,,,,,,,,,,,,,,,PL-10003,1,,Custom name,\n"
    "W-2,web,2026-11-19,bob@example.org,Bob,,USD,cod,unpaid,,shipped,0,0,Bob,2 Rd,Austin,"
    "78701,US,Bob B,PO Box 9,Austin,78701,US,PL-10002,1,12.00,,\n"
    "W-3,web,,c@example.org,Cy,,USD,card,partially_refunded,2.00,partially_shipped,0,0,Cy,"
    "3 St,Reno,89501,US,,,,,,PL-10002,2,5.00,,1\n"
    "W-4,web,,d@example.org,Di,,USD,card,paid,,returned,0,0,Di,4 St,Reno,89501,US,,,,,,"
    "PL-10002,1,5.00,,\n"
    "W-5,web,,e@example.org,Ed,,USD,card,paid,,new,0,0,Ed,5 St,Reno,89501,US,,,,,,"
    "PL-10002,1,5.00,,2\n"
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


async def test_the_generic_csv(db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", GENERIC)
    async with open_shop(db_url, clock) as shop:
        report = await shop.imports.import_file(path, "csv")
        assert [ref for ref, _ in report.created] == ["W-1", "W-2", "W-3"]
        assert [(r.ref, r.where, r.reason) for r in report.rejected] == [
            (
                "W-4",
                "line 7",
                "status 'returned' cannot be imported; use one of new, partially_shipped, "
                "shipped, canceled",
            ),
            ("W-5", "line 8", "line 8: PL-10002: 2 shipped of 1 ordered"),
        ]
        one = await by_ref(shop, "W-1", channel="web")
        catalogue = {r.sku: r for r in await shop.inventory.levels()}
        assert [(ln.sku, ln.quantity, ln.unit_price, ln.name) for ln in one.lines] == [
            ("PL-10002", 2, 1000, catalogue["PL-10002"].name),
            ("PL-10003", 1, (await _price(shop, "PL-10003")), "Custom name"),
        ]
        assert one.note == "line one\nline two" and one.currency == "EUR"
        assert one.shipping_address is not None and one.shipping_address.postal_code == "75001"
        assert one.billing_address_id == one.shipping_address_id  # no billing given
        assert one.subtotal == 2000 + await _price(shop, "PL-10003")
        assert one.total == one.subtotal + 450 + 100
        assert one.payment_status is PaymentStatus.PAID
        assert one.placed_at == datetime(2026, 11, 19, 10, tzinfo=UTC)

        two = await by_ref(shop, "W-2", channel="web")
        assert two.status is Status.SHIPPED and two.lines[0].shipped == 1
        assert two.payment_method is PaymentMethod.COD
        assert two.billing_address is not None and two.billing_address.line1 == "PO Box 9"

        three = await by_ref(shop, "W-3", channel="web")
        assert three.status is Status.PARTIALLY_SHIPPED and three.lines[0].shipped == 1
        assert three.payment_status is PaymentStatus.PARTIALLY_REFUNDED


async def _price(shop: object, sku: str) -> int:
    from sqlalchemy import select

    from services.models import Product

    async with shop.db.read_session() as s:  # type: ignore[attr-defined]
        return int((await s.execute(select(Product.price).where(Product.sku == sku))).scalar_one())


async def test_the_generic_csv_refuses_a_missing_column(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(tmp_path, "orders.csv", "order,sku,qty\nA,PL-10002,1\n")
    async with open_shop(db_url, clock) as shop:
        before = await snapshot(shop)
        with pytest.raises(InvalidInput, match=r"lacks the required column 'quantity' \(line 1\)"):
            await shop.imports.import_file(path, "csv")
        assert await snapshot(shop) == before


def order_json(ref: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order": ref,
        "email": f"{ref.lower()}@example.org",
        "customer_name": "Jo \x1b[31mRed",
        "payment_status": "paid",
        "shipping_total": "3.00",
        "tax_total": 0,
        "shipping_address": {
            "name": "Jo",
            "line1": "1 Way",
            "city": "Oslo",
            "postal_code": "0150",
            "country": "no",
        },
        "lines": [{"sku": "PL-10002", "quantity": 2, "unit_price": 12.5}],
    }
    base.update(over)
    return base


def json_starts(text: str) -> dict[int, tuple[int, int, int]]:
    """Independently of the reader: for the i-th order of an indent=2 file, its first and
    last line and the line of its first order line (found by their indentation)."""
    out: dict[int, tuple[int, int, int]] = {}
    i, first, first_line = 0, 0, 0
    for no, line in enumerate(text.splitlines(), start=1):
        if line.startswith("    ") and not line.startswith("     "):  # an order's own level
            if line.strip() in ("{", '"not an order",', '"not an order"'):
                i += 1
                first, first_line = no, 0
                if line.strip() != "{":
                    out[i] = (no, no, 0)
            elif line.strip() in ("}", "},"):
                out[i] = (first, no, first_line)
        elif line.startswith("        {") and not first_line:  # the first of its lines
            first_line = no
    return out


async def test_json(db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    data = {
        "orders": [
            order_json("J-1", note="<script>alert(1)</script>"),
            order_json("J-2", lines=[{"sku": "PL-10002", "quantity": 1.5}]),
            order_json("J-3", lines=[{"sku": "PL-10002", "quantity": "3", "unit_price": "1,50"}]),
            order_json("J-1"),
            "not an order",
            order_json("J-4", status="canceled", payment_status="refunded"),
            order_json("J-5", lines=[]),
        ]
    }
    text = json.dumps(data, indent=2)
    path = write(tmp_path, "orders.json", text)
    starts = json_starts(text)
    async with open_shop(db_url, clock) as shop:
        report = await shop.imports.import_file(path, "json", channel="api")
        assert [ref for ref, _ in report.created] == ["J-1", "J-4"]

        def spot(i: int) -> str:
            return f"lines {starts[i][0]}-{starts[i][1]} (order {i} in the file)"

        assert [(r.ref, r.where, r.reason) for r in report.rejected] == [
            (
                "J-2",
                spot(2),
                f"line {starts[2][2]}: quantity 1.5 of order line 1 is not a whole number",
            ),
            (
                "J-3",
                spot(3),
                f"line {starts[3][2]}: unit price '1,50' has a comma: write amounts with a dot "
                "as the decimal mark (12.50); a comma could be a decimal mark or a thousands "
                "separator",
            ),
            ("J-1", spot(4), "order J-1 appears twice in the file"),
            ("", f"line {starts[5][0]} (order 5 in the file)", "an order must be an object"),
            ("J-5", spot(7), "it has no lines"),
        ]
        assert text.splitlines()[starts[5][0] - 1].strip() == '"not an order",'
        one = await by_ref(shop, "J-1", channel="api")
        assert one.note == "<script>alert(1)</script>"
        assert one.customer is not None and one.customer.name == "Jo \x1b[31mRed"
        assert one.shipping_address is not None
        assert (one.shipping_address.country, one.shipping_address.postal_code) == ("NO", "0150")
        assert (one.lines[0].unit_price, one.total) == (1250, 2800)
        four = await by_ref(shop, "J-4", channel="api")
        assert (four.status, four.payment_status) == (Status.CANCELED, PaymentStatus.REFUNDED)
        assert not await has_ref(shop, "J-2", channel="api")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", r"orders.json is not JSON: Expecting property name .* at line 1"),
        (b'{"orders": 3}', r"expected a list of orders"),
        (b"\xff\xfe{}", r"is not UTF-8 text"),
    ],
)
async def test_json_that_is_not(
    db_url: str, clock: FixedClock, tmp_path: Path, content: bytes, message: str
) -> None:
    path = write(tmp_path, "orders.json", content)
    async with open_shop(db_url, clock, catalogue=False) as shop:
        with pytest.raises(InvalidInput, match=message):
            await shop.imports.import_file(path, "json")


# -- the value rules, pure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cents"),
    [("12.50", 1250), ("12.5", 1250), ("12", 1200), (".5", 50), ("0", 0), ("", 0), (7, 700)],
)
def test_amounts(raw: str | int, cents: int) -> None:
    assert f.amount(raw, "price") == cents


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("12,50", "has a comma"),
        ("1,250.00", "has a comma"),
        ("$12.50", "is not an amount"),
        ("12.505", "more than two decimal places"),
        ("-3.00", "is negative"),
        ("1e3", "is not an amount"),
    ],
)
def test_amounts_refused(raw: str, why: str) -> None:
    with pytest.raises(f.Bad, match=why):
        f.amount(raw, "price")


@pytest.mark.parametrize("raw", ["1.5", "2.0", "two", "", "-1", "1 000"])
def test_quantities_refused(raw: str) -> None:
    with pytest.raises(f.Bad):
        f.quantity(raw)


def test_dates() -> None:
    assert f.moment("2026-11-18 09:15:02 -0500", "at") == datetime(
        2026, 11, 18, 14, 15, 2, tzinfo=UTC
    )
    assert f.moment("2026-11-18T09:15:02Z", "at") == datetime(2026, 11, 18, 9, 15, 2, tzinfo=UTC)
    assert f.moment("2026-11-18", "at") == datetime(2026, 11, 18, tzinfo=UTC)
    assert f.moment("2026-11-18 09:15:02 UTC", "at") == datetime(2026, 11, 18, 9, 15, 2, tzinfo=UTC)
    assert f.moment("", "at") is None


def test_spreadsheet_apostrophes() -> None:
    assert f.zip_or_phone("'02134", "zip", "postal_code") == "02134"
    assert f.text("'=1+2", "note") == "=1+2"
    assert f.text("'tis the season", "note") == "'tis the season"  # not a guard: kept
    assert f.text("=1+2", "note") == "=1+2"


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        ("Cash on Delivery (COD)", PaymentMethod.COD),
        ("Bank Deposit", PaymentMethod.CHECK),
        ("Money Order", PaymentMethod.CHECK),
        ("Shopify Payments", PaymentMethod.CARD),
        ("paypal", PaymentMethod.CARD),
        ("cash", PaymentMethod.CASH),
        ("", PaymentMethod.CARD),
    ],
)
def test_payment_methods(raw: str, method: PaymentMethod) -> None:
    assert f.payment_method(raw) is method


@pytest.mark.parametrize(
    ("status", "refunded", "outstanding"),
    [
        ("", 0, None),
        ("pending", 0, None),
        ("authorized", 0, None),
        ("paid", 0, None),
        ("partially_paid", 0, 400),
        ("partially_refunded", 300, None),
        ("refunded", 0, None),
        ("refunded", 1000, None),
        ("voided", 0, None),
    ],
)
def test_payment_status_without_rows_matches_the_rows(
    status: str, refunded: int, outstanding: int | None
) -> None:
    from services.imports import _payment_rows, payment_status_of
    from services.payment_state import derive_status

    money = f.money_state(status, 1000, refunded, outstanding)
    assert payment_status_of(money, 1000) is derive_status(_payment_rows(money, 1000), 1000)
