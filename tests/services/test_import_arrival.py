"""New orders from a file meet the arrival checks (risk review, payment holds) a whole batch
at a time: the scores and holds must be exactly what one order at a time gives, a paid
order by hand is not held for its money, and a check that refuses one order leaves that
order as imported, reported, while the others are still checked."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.errors import Refused
from services.models import Notification, Order
from services.shopify_csv import HEADER
from services.statuses import HoldReason, PaymentMethod, Status
from services.uow import UnitOfWork
from tests.conftest import FixedClock
from tests.services.import_support import by_ref, open_shop

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def order_rows(
    name: str,
    *,
    email: str,
    at: datetime,
    price: str = "20.00",
    qty: int = 1,
    line1: str = "12 Main Street",
    ship_country: str = "US",
    bill_country: str = "US",
    financial: str = "paid",
    fulfilled: bool = False,
    method: str = "Shopify Payments",
    note: str = "",
) -> list[dict[str, str]]:
    total = f"{float(price) * qty + 5:.2f}"
    row = {
        "Name": name,
        "Email": email,
        "Created at": at.strftime("%Y-%m-%d %H:%M:%S %z"),
        "Lineitem quantity": str(qty),
        "Lineitem name": "Widget",
        "Lineitem price": price,
        "Lineitem sku": "PL-10001",
        "Lineitem requires shipping": "true",
        "Lineitem fulfillment status": "fulfilled" if fulfilled else "pending",
        "Financial Status": financial,
        "Fulfillment Status": "fulfilled" if fulfilled else "unfulfilled",
        "Currency": "USD",
        "Subtotal": f"{float(price) * qty:.2f}",
        "Shipping": "5.00",
        "Taxes": "0.00",
        "Total": total,
        "Shipping Method": "Standard",
        "Payment Method": method,
        "Notes": note,
    }
    if financial == "paid":
        row["Paid at"] = row["Created at"]
    for word, country, street in (
        ("Billing", bill_country, "12 Main Street"),
        ("Shipping", ship_country, line1),
    ):
        row.update(
            {
                f"{word} Name": "Pat Doe",
                f"{word} Address1": street,
                f"{word} City": "Springfield",
                f"{word} Zip": "01101",
                f"{word} Province": "MA",
                f"{word} Country": country,
            }
        )
    return [row]


def write(path: Path, orders: list[list[dict[str, str]]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        for rows in orders:
            w.writerows(rows)
    return path


def shop_file(tmp_path: Path) -> Path:
    """A history of fulfilled orders (the usual value), then new ones that trip each rule."""
    orders: list[list[dict[str, str]]] = []
    for i in range(14):  # history: $25 orders, fulfilled, from many people
        orders.append(
            order_rows(
                f"#H{i}",
                email=f"h{i}@example.org",
                at=START + timedelta(hours=i),
                fulfilled=True,
                line1=f"{i} Elm Road",
            )
        )
    later = START + timedelta(days=1)
    for i in range(5):  # one e-mail, five orders in a few hours: velocity from the 4th on
        orders.append(
            order_rows(
                f"#V{i}",
                email="Busy@Example.org " if i % 2 else "busy@example.org",
                at=later + timedelta(minutes=30 * i),
                line1=f"{100 + i} Oak Road",
            )
        )
    orders.append(
        order_rows(
            "#BIG",
            email="big@example.org",
            at=later + timedelta(hours=4),
            price="90.00",
            qty=3,
            line1="7 Pine Road",
        )
    )  # 3x the usual
    orders.append(
        order_rows(
            "#RISKY",
            email="risky@example.org",
            at=later + timedelta(hours=5),
            line1="PO Box 12",
            bill_country="CA",
            note="gift wrap please",
        )
    )  # 40+30+10: held
    orders.append(
        order_rows(
            "#CODPAID",
            email="c1@example.org",
            at=later + timedelta(hours=6),
            method="Cash on Delivery (COD)",
            line1="1 Birch Road",
        )
    )
    orders.append(
        order_rows(
            "#CODDUE",
            email="c2@example.org",
            at=later + timedelta(hours=7),
            method="Cash on Delivery (COD)",
            financial="pending",
            line1="2 Birch Road",
        )
    )
    orders.append(
        order_rows(
            "#DEPOSIT",
            email="c3@example.org",
            at=later + timedelta(hours=8),
            method="Bank Deposit",
            line1="3 Birch Road",
        )
    )
    return write(tmp_path / "orders.csv", orders)


async def test_batch_review_scores_as_one_order_at_a_time(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    source = shop_file(tmp_path)
    async with open_shop(db_url, clock, shop={"staff_email": "staff@shop.example"}) as s:
        s.imports.batch = 7  # several batches, and orders of one batch counting each other
        report = await s.imports.import_file(source, "shopify")
        assert not report.rejected and len(report.created) == 24
        scores: dict[str, tuple[int, tuple[str, ...]]] = {}
        for ref, _number in report.created:
            order = await by_ref(s, ref)
            scores[ref] = (order.risk_score, tuple(order.risk_reasons or ()))
        # Re-reviewing each order on its own (the one-order path) changes nothing.
        for ref, number in report.created:
            again = await s.review.review(number)
            assert (again.score, again.reasons) == scores[ref], ref
        assert all(scores[f"#H{i}"][0] == 0 for i in range(14))
        assert [scores[f"#V{i}"][0] for i in range(5)] == [0, 0, 0, 20, 20]
        assert "4 orders from this e-mail" in scores["#V3"][1][0]
        assert scores["#BIG"][0] == 25 and "usual order value" in scores["#BIG"][1][0]
        assert scores["#RISKY"][0] == 80

        risky = await by_ref(s, "#RISKY")
        assert (risky.status, risky.hold_reason) == (Status.HELD, HoldReason.HIGH_RISK)
        due = await by_ref(s, "#CODDUE")
        assert (due.payment_method, due.status, due.hold_reason) == (
            PaymentMethod.COD,
            Status.HELD,
            HoldReason.AWAITING_PAYMENT,
        )
        # Paid on the storefront already (COD collected, a bank deposit): nothing to wait for.
        for ref, method in (("#CODPAID", PaymentMethod.COD), ("#DEPOSIT", PaymentMethod.CHECK)):
            paid = await by_ref(s, ref)
            assert (paid.payment_method, paid.status) == (method, Status.NEW), ref
        big = await by_ref(s, "#BIG")
        assert big.status is Status.NEW  # 25 points: flagged for review, not held
        detail = await s.orders.show(big.number)
        assert detail.row.risk_flag == "review"

        # The staff hear of the orders to work (new ones), not of the imported history.
        async with s.db.read_session() as session:
            told = set(
                (
                    await session.execute(
                        select(Order.channel_ref)
                        .join(Notification, Notification.order_id == Order.id)
                        .where(
                            Notification.event == "new_order_staff",
                            Notification.recipient == "staff@shop.example",
                        )
                    )
                ).scalars()
            )
        assert told == {f"#V{i}" for i in range(5)} | {
            "#BIG",
            "#RISKY",
            "#CODPAID",
            "#CODDUE",
            "#DEPOSIT",
        }

        # Importing the same file again checks nothing twice.
        again_report = await s.imports.import_file(source, "shopify")
        assert again_report.unchanged == 24 and not again_report.created


async def test_a_span_too_big_to_fetch_is_reviewed_order_by_order(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    """Past the row limit a batch's facts come from one-order queries: same scores."""
    source = shop_file(tmp_path)
    async with open_shop(db_url, clock) as s:
        s.review.batch_row_limit = 3
        report = await s.imports.import_file(source, "shopify")
        assert len(report.created) == 24
        scores = {ref: (await by_ref(s, ref)).risk_score for ref, _ in report.created}
    assert [scores[f"#V{i}"] for i in range(5)] == [0, 0, 0, 20, 20]
    assert (scores["#BIG"], scores["#RISKY"]) == (25, 80)
    assert all(scores[f"#H{i}"] == 0 for i in range(14))


async def test_a_refused_check_leaves_that_order_as_imported_and_checks_the_others(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    """A check registered by another capability refuses one order of the batch: that order
    is left as imported (its risk hold undone too), reported; the others are checked."""
    source = shop_file(tmp_path)

    async def refuse_risky(uow: UnitOfWork, orders: Sequence[Order]) -> None:
        for order in orders:
            if order.channel_ref == "#RISKY":
                raise Refused(f"#{order.number} needs a person to look first")

    async with open_shop(db_url, clock) as s:
        s.orders.arrival_hooks.append(refuse_risky)
        report = await s.imports.import_file(source, "shopify")
        assert len(report.created) == 24
        refused = [n for n in report.notices if "arrival check" in n.message]
        assert [(n.ref, n.message) for n in refused] == [
            ("#RISKY", f"arrival check: #{refused[0].number} needs a person to look first")
        ]
        risky = await by_ref(s, "#RISKY")
        assert (risky.status, risky.risk_score, risky.version) == (Status.NEW, 0, 1)
        due = await by_ref(s, "#CODDUE")  # same batch: still held for its money
        assert (due.status, due.hold_reason) == (Status.HELD, HoldReason.AWAITING_PAYMENT)
        assert (await by_ref(s, "#V3")).risk_score == 20
        assert (await by_ref(s, "#BIG")).risk_score == 25
        history = (await s.orders.show(risky.number)).history
        assert [h.to_status for h in history] == [Status.NEW]


async def test_queue_flag_follows_the_shops_hold_threshold(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    source = shop_file(tmp_path)
    async with open_shop(db_url, clock, risk={"hold_threshold": 20}) as s:
        await s.imports.import_file(source, "shopify")
        v3 = await by_ref(s, "#V3")
        assert (v3.status, v3.hold_reason) == (Status.HELD, HoldReason.HIGH_RISK)
        page = await s.orders.page()
        flags = {row.number: row.risk_flag for row in page.rows}
        assert flags[v3.number] == "high"  # 20 points: high in this shop, not at 60
        shown = (await s.orders.show(v3.number)).row.to_json()["risk"]
        assert (shown["score"], shown["flag"]) == (20, "high")
