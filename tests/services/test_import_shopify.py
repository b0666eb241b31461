"""Shopify's order export, imported into a real SQLite file and a real PostgreSQL server:
the fixtures in tests/fixtures/imports are written in Shopify's own column layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import InvalidInput
from services.import_formats import ImportReport
from services.statuses import HoldReason, PaymentStatus, Status
from tests.conftest import FixedClock
from tests.fixtures.imports.make_fixtures import HEADER, NOTE
from tests.services.import_support import (
    SHOPIFY,
    SHOPIFY_2016,
    SHOPIFY_LATER,
    by_ref,
    has_ref,
    history,
    open_shop,
    payments,
    snapshot,
)
from tests.services.stock_support import stock_up

S = Status


def created(report: ImportReport) -> dict[str, int]:
    return dict(report.created)


async def test_an_export_goes_in_order_by_order(db_url: str, clock: FixedClock) -> None:
    async with open_shop(db_url, clock) as shop:
        before = await snapshot(shop)
        seen: list[tuple[int, int]] = []
        report = await shop.imports.import_file(
            SHOPIFY, "shopify", progress=lambda done, total: seen.append((done, total))
        )
        assert list(created(report)) == ["#1001", "#1002", "#1003", "#1005", "#1006", "#1008"]
        assert [(r.ref, r.where, r.reason) for r in report.rejected] == [
            ("#1004", "lines 9-10", "line 10: Lineitem quantity '1.5' is not a whole number"),
            (
                "#1007",
                "line 14",
                "line 14: Lineitem price '12,50' has a comma: write amounts with a dot as the "
                "decimal mark (12.50); a comma could be a decimal mark or a thousands separator",
            ),
            (
                "#1009",
                "lines 17-18",
                "line 17 continues order #1009, but the order's first row (with its Financial "
                "Status, Total and addresses) is missing",
            ),
        ]
        assert report.rows == 15 and not report.ok and report.unchanged == 0
        size = SHOPIFY.stat().st_size
        assert seen and seen[-1] == (size, size)
        # Nothing of a refused order was written, not even its good first row.
        assert not await has_ref(shop, "#1004") and not await has_ref(shop, "#1009")

        ada = await by_ref(shop, "#1001")
        assert [(ln.sku, ln.quantity, ln.unit_price) for ln in ada.lines] == [
            ("PL-10002", 2, 1250),
            ("PL-10003", 1, 2450),
            ("PL-10004", 3, 1733),
        ]
        assert (ada.subtotal, ada.shipping_total, ada.tax_total, ada.total) == (
            10149,
            799,
            635,
            11583,
        )
        assert ada.note == NOTE  # quotes, line breaks, "=1+2", <b>, U+202E: exactly
        assert ada.shipping_address is not None and ada.billing_address is not None
        ship = ada.shipping_address
        assert (ship.line1, ship.line2, ship.city, ship.region, ship.postal_code) == (
            "12 Beacon Street",
            "Apt 4",
            "Boston",
            "MA",
            "02134",  # Shopify's apostrophe gone, the leading zero kept
        )
        assert ship.phone == "+1 617 555 0101"
        assert ada.shipping_address_id == ada.billing_address_id  # one row when the same
        assert ada.email == "ada@example.org" and ada.customer is not None
        assert ada.customer.name == "Ada Lovelace"
        assert (ada.status, ada.payment_status, ada.currency) == (S.NEW, PaymentStatus.PAID, "USD")
        assert ada.shipping_method == "Standard Shipping"
        number = created(report)["#1001"]
        assert await payments(shop, number) == [("charge", 11583, "channel:shopify")]
        assert await history(shop, number) == [
            (None, "new", "importer", "imported from shopify_orders.csv (lines 2-6)")
        ]

        zoe = await by_ref(shop, "#1002")
        assert zoe.customer is not None and zoe.customer.name == "Zoë Ågren-Łukasiewicz"
        assert zoe.shipping_address is not None
        assert (zoe.shipping_address.city, zoe.shipping_address.company) == (
            "千代田区",
            "株式会社テスト",
        )
        assert zoe.lines[0].name == "Tire Pressure Gauge ゲージ" and zoe.currency == "JPY"
        assert zoe.status is S.SHIPPED and zoe.lines[0].shipped == 1
        assert (await history(shop, zoe.number))[-1] == (
            "new",
            "shipped",
            "channel:shopify",
            "fulfilled on shopify",
        )

        box = await by_ref(shop, "#1003")
        assert box.shipping_address is not None and box.billing_address is not None
        assert box.shipping_address.line1 == "PO Box 123"
        assert box.shipping_address.postal_code == "02201"
        assert box.billing_address.line1 == "1 Compiler Road"
        assert box.payment_status is PaymentStatus.AUTHORIZED
        # A PO box, but by USPS Priority: the postal service delivers there (services.risk).
        assert not any("box" in r.lower() for r in box.risk_reasons)

        canceled = await by_ref(shop, "#1005")
        assert (canceled.status, canceled.payment_status) == (S.CANCELED, PaymentStatus.REFUNDED)

        partial = await by_ref(shop, "#1006")
        assert partial.status is S.PARTIALLY_SHIPPED
        assert [(ln.sku, ln.shipped) for ln in partial.lines] == [("PL-10002", 1), ("PL-10003", 0)]

        gift = await by_ref(shop, "#1008")
        assert [(ln.sku, ln.product_id is None) for ln in gift.lines] == [
            ("GIFT-CARD-50", True),
            ("PL-10002", False),
        ]
        assert gift.flags == ["unknown SKU 'GIFT-CARD-50' (line 15): imported without a product"]
        assert [n.message for n in report.notices if n.ref == "#1008"] == gift.flags
        # Paid by bank deposit, not yet: the same payment hold as a manual order.
        assert (gift.status, gift.hold_reason) == (S.HELD, HoldReason.AWAITING_PAYMENT)

        after = await snapshot(shop)
        assert after["stock"] == before["stock"]  # history and new orders: stock untouched
        assert after["orders"] == before["orders"] + 6


async def test_importing_the_same_file_again_changes_nothing(
    db_url: str, clock: FixedClock
) -> None:
    async with open_shop(db_url, clock) as shop:
        await shop.imports.import_file(SHOPIFY, "shopify")
        before = await snapshot(shop)
        clock.advance(3600)
        again = await shop.imports.import_file(SHOPIFY, "shopify")
        assert again.created == () and again.followed == () and again.unchanged == 6
        assert len(again.rejected) == 3 and again.notices == ()
        assert await snapshot(shop) == before


async def test_the_channel_moves_on_and_ours_follows(db_url: str, clock: FixedClock) -> None:
    async with open_shop(db_url, clock) as shop:
        await stock_up(shop)
        first = created(await shop.imports.import_file(SHOPIFY, "shopify"))
        ada = first["#1001"]
        await shop.orders.set_status(ada, S.PROCESSING)  # we reserved its stock meanwhile
        held = {a.sku: a for a in await shop.inventory.availability(ada)}
        assert held["PL-10002"].reserved == 2
        before = {r.sku: r for r in await shop.inventory.levels() if r.warehouse == "MAIN"}
        clock.advance(3600)

        report = await shop.imports.import_file(SHOPIFY_LATER, "shopify")
        assert list(created(report)) == ["#1011"]
        assert {f.ref: f.change for f in report.followed} == {
            "#1001": "fulfilled: now shipped",
            "#1003": "canceled",
            "#1006": "payment paid -> partially_refunded; fulfilled: now shipped",
        }
        assert report.unchanged == 3  # #1002, #1005 and #1008 did not change there

        assert (await shop.orders.show(ada)).status is S.SHIPPED
        assert (await history(shop, ada))[-1] == (
            "processing",
            "shipped",
            "channel:shopify",
            "fulfilled on shopify",
        )
        # The stock it held left with the goods.
        after = {r.sku: r for r in await shop.inventory.levels() if r.warehouse == "MAIN"}
        for sku, qty in (("PL-10002", 2), ("PL-10003", 1), ("PL-10004", 3)):
            assert after[sku].on_hand == before[sku].on_hand - qty
            assert after[sku].reserved == before[sku].reserved - qty

        box = first["#1003"]
        assert (await shop.orders.show(box)).status is S.CANCELED
        assert (await history(shop, box))[-1][1:] == (
            "canceled",
            "channel:shopify",
            "canceled on shopify",
        )

        lin = first["#1006"]
        detail = await shop.orders.show(lin)
        assert detail.status is S.SHIPPED
        assert detail.row.payment_status is PaymentStatus.PARTIALLY_REFUNDED
        # It had never been processing here: the walk went through the table.
        assert [h[:3] for h in (await history(shop, lin))[1:]] == [
            ("new", "partially_shipped", "channel:shopify"),
            ("partially_shipped", "shipped", "channel:shopify"),
        ]
        assert await payments(shop, lin) == [
            ("charge", 3700, "channel:shopify"),
            ("refund", 500, "channel:shopify"),
        ]
        settled = await snapshot(shop)
        again = await shop.imports.import_file(SHOPIFY_LATER, "shopify")
        assert again.followed == () and again.created == () and again.unchanged == 7
        assert await snapshot(shop) == settled


async def test_a_new_order_walks_the_table_to_shipped(db_url: str, clock: FixedClock) -> None:
    """Fulfilled on the storefront while still new here: new -> processing -> shipped, each
    step through the status machine, each recorded as the channel's."""
    async with open_shop(db_url, clock) as shop:
        ada = created(await shop.imports.import_file(SHOPIFY, "shopify"))["#1001"]
        await shop.imports.import_file(SHOPIFY_LATER, "shopify")
        assert [h[:3] for h in (await history(shop, ada))[1:]] == [
            ("new", "processing", "channel:shopify"),
            ("processing", "shipped", "channel:shopify"),
        ]


async def test_what_cannot_follow_is_left_and_reported(db_url: str, clock: FixedClock) -> None:
    async with open_shop(db_url, clock) as shop:
        ada = created(await shop.imports.import_file(SHOPIFY, "shopify"))["#1001"]
        await shop.orders.set_status(ada, S.CANCELED)  # canceled here, fulfilled there
        before = await snapshot(shop)
        report = await shop.imports.import_file(SHOPIFY_LATER, "shopify")
        [notice] = [n for n in report.notices if n.ref == "#1001"]
        assert notice.number == ada
        assert notice.message == "fulfilled on shopify, but here it is canceled; left as it is"
        assert (await shop.orders.show(ada)).status is S.CANCELED
        assert (await snapshot(shop))["versions"][0] == before["versions"][0]


async def test_unknown_skus_refused_when_the_shop_says_so(db_url: str, clock: FixedClock) -> None:
    async with open_shop(db_url, clock, import_unknown_sku="refuse") as shop:
        report = await shop.imports.import_file(SHOPIFY, "shopify")
        assert "#1008" not in created(report)
        [gift] = [r for r in report.rejected if r.ref == "#1008"]
        assert gift.where == "lines 15-16"
        assert gift.reason == ("unknown SKU 'GIFT-CARD-50' (line 15); the shop refuses such orders")
        assert not await has_ref(shop, "#1008")


async def test_an_older_header_is_read_by_its_names(db_url: str, clock: FixedClock) -> None:
    async with open_shop(db_url, clock) as shop:
        report = await shop.imports.import_file(SHOPIFY_2016, "shopify", channel="oldshop")
        assert report.ok and list(created(report)) == ["#501"]
        order = await by_ref(shop, "#501", channel="oldshop")
        assert order.shipping_address is not None
        assert (order.shipping_address.line1, order.shipping_address.postal_code) == (
            "1 Main St",
            "01970",
        )
        assert [(ln.sku, ln.quantity) for ln in order.lines] == [("PL-10002", 2)]
        assert order.total == 3000 and order.payment_status is PaymentStatus.PAID


# -- files that are not what they claim: refused whole, nothing written ------------------------


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "is not a Shopify order export file: it holds binary data",
        ),
        (
            b'{"orders": [{"order": "1"}]}\n',
            "not a Shopify order export file: line 1 has none of the required columns 'Name', "
            "'Lineitem quantity', 'Lineitem sku'",
        ),
        (
            b"Name,Email,Lineitem sku,Lineitem price\n#1,a@b.c,PL-10002,1.00\n",
            "the Shopify order export file lacks the required column 'Lineitem quantity' (line 1)",
        ),
        (
            "Name,Lineitem quantity,Lineitem sku,Billing City\n#1,1,PL-10002,Malm\xf6\n".encode(
                "latin-1"
            ),
            "is not UTF-8 text (line 2); export it again as CSV UTF-8",
        ),
        (b"", "is empty"),
    ],
)
async def test_files_that_are_not_an_export(
    db_url: str, clock: FixedClock, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    async with open_shop(db_url, clock) as shop:
        before = await snapshot(shop)
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
            await shop.imports.import_file(path, "shopify")
        assert await snapshot(shop) == before


async def test_bad_orders_among_good_ones(db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    def row(name: str, qty: str, sku: str = "PL-10002", **extra: str) -> list[str]:
        values = {
            "Name": name,
            "Financial Status": "paid",
            "Currency": "USD",
            "Total": "12.50",
            "Lineitem quantity": qty,
            "Lineitem price": "12.50",
            "Lineitem sku": sku,
            "Shipping City": "Boston",
            "Shipping Country": "US",
            **extra,
        }
        return [values.get(h, "") for h in HEADER]

    def more(name: str, qty: str) -> list[str]:
        return [
            {"Name": name, "Lineitem quantity": qty, "Lineitem sku": "PL-10003"}.get(h, "")
            for h in HEADER
        ]

    path = _csv(
        tmp_path / "mixed.csv",
        list(HEADER),
        [
            row("#1", "1"),
            row("#2", "two"),
            row("#3", "1", **{"Shipping City": "B" * 101}),
            row("#4", "1", **{"Shipping Country": "United States"}),
            row("#5", "1", **{"Created at": "yesterday"}),
            row("#6", "1", **{"Total": "12.505"}),
            row("#7", "1"),
            more("#7", "2"),
            row("#8", "1"),
            more("#8", "0"),
            row("#7", "1"),
            row("#9", "0"),
            row("", "1"),
        ],
    )
    async with open_shop(db_url, clock) as shop:
        report = await shop.imports.import_file(path, "shopify")
        assert list(created(report)) == ["#1", "#7", "#8"]
        assert [(r.ref, r.where, r.reason) for r in report.rejected] == [
            ("#2", "line 3", "line 3: Lineitem quantity 'two' is not a whole number"),
            ("#3", "line 4", "Shipping city is 101 characters long; at most 100 fit"),
            (
                "#4",
                "line 5",
                "Shipping country 'United States' is not a two-letter country code "
                "(US, GB, DE ...)",
            ),
            (
                "#5",
                "line 6",
                "Created at 'yesterday' is not a date and time (write 2026-11-20T14:05:00Z)",
            ),
            ("#6", "line 7", "Total '12.505' has more than two decimal places"),
            (
                "#7",
                "line 12",
                "order #7 appeared earlier in the file; the rows of one order must follow "
                "each other",
            ),
            ("#9", "line 13", "it has no lines"),
            ("", "line 14", "the row has no order Name"),
        ]
        seven = await by_ref(shop, "#7")
        assert [(ln.sku, ln.quantity) for ln in seven.lines] == [("PL-10002", 1), ("PL-10003", 2)]
        eight = await by_ref(shop, "#8")
        assert [(ln.sku, ln.quantity) for ln in eight.lines] == [("PL-10002", 1)]
        assert [n.message for n in report.notices if n.ref == "#8"] == [
            "line 11: PL-10003 has quantity 0; skipped"
        ]


async def test_a_file_that_breaks_midway_keeps_what_came_before(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 deep in a big file: every order before them is in, whole;
    the report says where reading stopped."""
    header = ",".join(HEADER) + "\n"
    blank = [""] * len(HEADER)

    def line(name: str) -> str:
        cells = dict(zip(HEADER, blank, strict=True))
        cells.update(
            {
                "Name": name,
                "Financial Status": "paid",
                "Total": "12.50",
                "Lineitem quantity": "1",
                "Lineitem sku": "PL-10002",
                "Lineitem price": "12.50",
            }
        )
        return ",".join(cells[h] for h in HEADER) + "\n"

    good = "".join(line(f"#{i}") for i in range(1, 700))
    path = tmp_path / "broken.csv"
    path.write_bytes((header + good).encode() + b"#700,\xff\xfe\n")
    async with open_shop(db_url, clock) as shop:
        shop.imports.batch = 200
        report = await shop.imports.import_file(path, "shopify")
        assert len(report.created) >= 600 and report.file_error
        assert "is not UTF-8 text after line" in report.file_error
        assert not report.ok
        last = report.created[-1][0]
        assert (await by_ref(shop, last)).lines[0].quantity == 1
