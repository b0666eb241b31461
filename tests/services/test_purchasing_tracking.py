"""Tracking back from vendors: CSV and X12 856 imports create shipments through shipping
(status follows, customer e-mailed), bad rows are reported by line, nothing is
half-applied within a PO, and re-importing changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from services.container import Services
from services.errors import Refused
from services.models import OrderLine
from services.shipment_entry import NewShipment
from services.statuses import Status
from tests.conftest import FixedClock
from tests.services.test_purchasing_support import (
    ACME_ONLY,
    GLOBEX_DEFAULT,
    NORTH_ONLY,
    STOCK,
    acks,
    asn,
    counts,
    new_order,
    open_shop,
    order_status,
    outbox,
    tracking,
)


@pytest.fixture
async def shop(db_url: str, clock: FixedClock, tmp_path: Path) -> AsyncIterator[Services]:
    services = await open_shop(db_url, clock, tmp_path)
    try:
        yield services
    finally:
        await services.close()


async def _ordered(
    shop: Services, lines: tuple[tuple[str, int], ...]
) -> tuple[int, dict[str, str]]:
    """An order with its POs sent; vendor code -> PO number."""
    n = await new_order(shop, lines)
    result = await shop.purchasing.create(n, send=True)
    return n, {po.vendor_code: po.number for po in result.purchase_orders}


def _csv(*rows: str, header: str = "PO Number,Tracking Number,Carrier,SKU,Qty") -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


async def test_csv_ships_po_status_follows_customer_told_and_reimport_changes_nothing(
    shop: Services,
) -> None:
    n, pos = await _ordered(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1)))
    t1 = tracking("ups", 1)
    report = await shop.purchasing.import_data("acme.csv", _csv(f"{pos['ACME']},{t1},ups,,"))
    assert report.problems == ()
    (sh,) = report.shipments
    assert sh.new and sh.order_number == n and sh.lines == ((ACME_ONLY, 2),)
    assert await order_status(shop, n) == "partially_shipped"
    po = await shop.purchasing.get(pos["ACME"])
    assert po.status == "shipped" and po.tracking == (t1,)
    assert [r.recipient for r in await outbox(shop, "partially_shipped")] == ["grace@example.org"]
    # The second vendor's file, with its vendor SKU and a quantity: the order has shipped.
    t2 = tracking("fedex", 2)
    report = await shop.purchasing.import_data(
        "globex.csv", _csv(f"{pos['GLOBEX']},{t2},fedex,GLO-93279,1")
    )
    assert report.problems == () and report.created == 1
    assert await order_status(shop, n) == "shipped"
    assert len(await outbox(shop, "shipped")) == 1
    detail = await shop.orders.show(n)
    assert {s.tracking for s in detail.row.shipments} == {t1, t2}
    # Both files again: nothing new, nothing sent again.
    before = await counts(shop)
    again = await shop.purchasing.import_data("acme.csv", _csv(f"{pos['ACME']},{t1},ups,,"))
    again2 = await shop.purchasing.import_data(
        "globex.csv", _csv(f"{pos['GLOBEX']},{t2},fedex,GLO-93279,1")
    )
    assert again.problems == () and again.created == 0 and again.unchanged == 1
    assert again2.unchanged == 1
    assert await counts(shop) == before


async def test_bad_rows_reported_by_line_rest_applied_nothing_half_applied(
    shop: Services,
) -> None:
    n1, pos1 = await _ordered(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1)))
    n2, pos2 = await _ordered(shop, ((ACME_ONLY, 1),))
    good = tracking("ups", 3)
    data = _csv(
        f"{pos2['ACME']},{good},ups,ACM-69375,1",  # line 2: fine
        f"PO99999,{tracking('ups', 4)},ups,,",  # line 3: unknown PO
        f"{pos1['ACME']},{tracking('ups', 5)},ups,ACM-69375,1",  # line 4: fine, but its PO...
        f"{pos1['ACME']},{tracking('ups', 5)},ups,NOPE-1,1",  # line 5: unknown SKU
        f"{pos1['GLOBEX']},1Z999AA10123456785,ups,,",  # line 6: check digit wrong
        ",x,ups,,",  # line 7: no PO
    )
    report = await shop.purchasing.import_data("mixed.csv", data)
    assert [(s.po, s.tracking) for s in report.shipments] == [(pos2["ACME"], good)]
    by_line = {p.line: p.message for p in report.problems}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert by_line[3] == "unknown PO 'PO99999'"
    assert by_line[5].startswith("unknown SKU 'NOPE-1'")
    assert by_line[4] == "not applied: another row of this PO is wrong (mixed.csv line 5)"
    assert "fails the UPS check digit" in by_line[6]
    assert by_line[7] == "no PO number"
    assert str(report.problems[0]).startswith("mixed.csv line 3 (PO PO99999): unknown PO")
    assert await order_status(shop, n1) == "processing"  # nothing of its POs went in
    assert await order_status(shop, n2) == "shipped"


async def test_more_than_left_and_malformed_csv(shop: Services) -> None:
    _n, pos = await _ordered(shop, ((ACME_ONLY, 1),))
    report = await shop.purchasing.import_data(
        "x.csv", _csv(f"{pos['ACME']},{tracking('ups', 6)},ups,ACM-69375,5")
    )
    (problem,) = report.problems
    assert "5 units shipped but only 1 of 1 are left to ship" in problem.message
    report = await shop.purchasing.import_data("y.csv", b"order,number\n1,2\n")
    assert [p.message[:40] for p in report.problems] == ["the header has no po or tracking column "]
    report = await shop.purchasing.import_data(
        "z.csv", _csv(f"{pos['ACME']},{tracking('ups', 6)},ups,ACM-69375,two")
    )
    assert (
        report.problems[0].line == 2 and "'two' is not a whole number" in report.problems[0].message
    )
    assert report.shipments == ()


async def test_856_ship_notice_applies_and_reimport_is_idempotent(shop: Services) -> None:
    n, pos = await _ordered(shop, ((NORTH_ONLY, 2), (STOCK, 1)))
    number = tracking("ups", 7)
    text = asn([(pos["NORTH"], number, [("NOR-61544", 2)])])
    report = await shop.purchasing.import_data("north.856", text.encode())
    assert report.problems == ()
    (sh,) = report.shipments
    assert sh.new and sh.carrier == "ups" and sh.lines == ((NORTH_ONLY, 2),)
    # The stock line is still to pack: partially shipped.
    assert await order_status(shop, n) == "partially_shipped"
    again = await shop.purchasing.import_data("north.856", text.encode())
    assert again.created == 0 and again.unchanged == 1 and again.problems == ()


async def test_856_bad_transaction_reported_good_one_applied(shop: Services) -> None:
    _a, pos_a = await _ordered(shop, ((NORTH_ONLY, 1),))
    _b, pos_b = await _ordered(shop, ((NORTH_ONLY, 1),))
    text = asn(
        [
            (pos_a["NORTH"], tracking("ups", 8), [("NOR-61544", 1)]),
            (pos_b["NORTH"], tracking("ups", 9), [("NOR-61544", 1)]),
        ]
    )
    broken = text.replace("SE*12*0002", "SE*99*0002")
    report = await shop.purchasing.import_data("north.856", broken.encode())
    assert [s.po for s in report.shipments] == [pos_a["NORTH"]]
    (problem,) = report.problems
    assert "SE says 99 segments but the transaction has 12" in problem.message
    junk = await shop.purchasing.import_data("junk.edi", b"ISA*00*")
    assert junk.shipments == () and "ISA" in junk.problems[0].message


async def test_856_bad_notices_reported_by_segment_rest_applied(shop: Services) -> None:
    """One 856 for four POs: the good notice carries its tracking as MAN*CP on the carton;
    an unknown PO, an unknown SKU and a malformed tracking number are each reported with
    the number of their ST segment, their POs untouched; the good one ships and the
    customer is told."""
    good_n, good = await _ordered(shop, ((NORTH_ONLY, 2),))
    sku_n, sku = await _ordered(shop, ((NORTH_ONLY, 1),))
    bad_n, bad = await _ordered(shop, ((NORTH_ONLY, 1),))
    number = tracking("ups", 91)
    text = asn(
        [
            (good["NORTH"], number, [("NOR-61544", 2)]),
            ("PO99999", tracking("ups", 92), [("NOR-61544", 1)]),
            (sku["NORTH"], tracking("ups", 93), [("NOPE-7", 1)]),
            (bad["NORTH"], "1Z999AA10123456785", [("NOR-61544", 1)]),
        ],
        cartons=frozenset({1}),
    )
    assert f"MAN*CP*{number}~" in text and f"REF*CN*{number}" not in text
    st_at = [i for i, seg in enumerate(text.splitlines(), start=1) if seg.startswith("ST*")]
    before = await counts(shop)
    report = await shop.purchasing.import_data("north.856", text.encode())
    (sh,) = report.shipments
    assert (sh.po, sh.tracking, sh.carrier, sh.lines) == (
        good["NORTH"],
        number,
        "ups",
        ((NORTH_ONLY, 2),),
    )
    assert [(p.line, p.po) for p in report.problems] == [
        (st_at[1], "PO99999"),
        (st_at[2], sku["NORTH"]),
        (st_at[3], bad["NORTH"]),
    ]
    messages = [p.message for p in report.problems]
    assert messages[0] == "unknown PO 'PO99999'"
    assert messages[1].startswith("unknown SKU 'NOPE-7' (PO ")
    assert "fails the UPS check digit" in messages[2]
    where = f"north.856 line {st_at[1]} (PO PO99999)"
    assert str(report.problems[0]) == f"{where}: unknown PO 'PO99999'"
    after = await counts(shop)
    assert after["Shipment"] == before["Shipment"] + 1
    assert after["Notification"] == before["Notification"] + 1  # the customer's shipped e-mail
    assert await order_status(shop, good_n) == "shipped"
    assert [r.recipient for r in await outbox(shop, "shipped")] == ["grace@example.org"]
    assert (await shop.purchasing.get(good["NORTH"])).status == "shipped"
    for n, pos in ((sku_n, sku), (bad_n, bad)):
        assert await order_status(shop, n) == "processing"
        assert (await shop.purchasing.get(pos["NORTH"])).status == "sent"
    # A broken envelope is reported at its segment, too.
    broken = asn([(sku["NORTH"], tracking("ups", 94), [("NOR-61544", 1)])]).replace(
        "SE*12*0001", "SE*3*0001"
    )
    (problem,) = (await shop.purchasing.import_data("broken.856", broken.encode())).problems
    assert problem.line == 3 and "SE says 3 segments but the transaction has 12" in problem.message


async def test_855_acknowledges_sent_pos_reports_the_rest_and_reimport_changes_nothing(
    shop: Services,
) -> None:
    _a, a = await _ordered(shop, ((NORTH_ONLY, 1),))
    _b, b = await _ordered(shop, ((NORTH_ONLY, 1),))
    c_n = await new_order(shop, ((NORTH_ONLY, 1),))
    (c,) = (await shop.purchasing.create(c_n)).created  # a draft: never sent
    text = acks([(a["NORTH"], "AC"), (b["NORTH"], "RJ"), ("PO99999", "AK"), (c, "AK")])
    st_at = [i for i, seg in enumerate(text.splitlines(), start=1) if seg.startswith("ST*")]
    before = await counts(shop)
    report = await shop.purchasing.import_data("north.855", text.encode())
    assert [(x.po, x.kind, x.new) for x in report.acknowledged] == [(a["NORTH"], "AC", True)]
    assert report.shipments == ()
    assert [(p.line, p.po) for p in report.problems] == [
        (st_at[1], b["NORTH"]),
        (st_at[2], "PO99999"),
        (st_at[3], c),
    ]
    rejected, unknown, draft = (p.message for p in report.problems)
    assert rejected.startswith("the vendor rejected the PO (BAK RJ: rejected, no detail)")
    assert unknown == "no purchase order 'PO99999'"
    assert draft == f"PO {c} is draft; only a sent PO can be acknowledged"
    assert [(await shop.purchasing.get(n)).status for n in (a["NORTH"], b["NORTH"], c)] == [
        "acknowledged",
        "sent",
        "draft",
    ]
    assert await counts(shop) == before  # no shipment, no e-mail
    memo = f"PO {a['NORTH']} sent -> acknowledged: 855 AC in north.855"
    assert memo in [h.memo for h in (await shop.orders.show(_a)).history]
    again = await shop.purchasing.import_data("north.855", acks([(a["NORTH"], "AC")]).encode())
    assert again.problems == () and [x.new for x in again.acknowledged] == [False]
    # The vendor's 856 later ships the acknowledged PO as any other.
    number = tracking("ups", 95)
    shipped = await shop.purchasing.import_data(
        "north.856", asn([(a["NORTH"], number, [("NOR-61544", 1)])]).encode()
    )
    assert shipped.created == 1 and (await shop.purchasing.get(a["NORTH"])).status == "shipped"
    late = await shop.purchasing.import_data("late.855", acks([(a["NORTH"], "AK")]).encode())
    assert late.problems == () and [x.new for x in late.acknowledged] == [False]
    assert (await shop.purchasing.get(a["NORTH"])).status == "shipped"


async def test_import_dir_files_processed_and_failed(shop: Services, tmp_path: Path) -> None:
    _n, pos = await _ordered(shop, ((ACME_ONLY, 1),))
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_bytes(_csv(f"{pos['ACME']},{tracking('ups', 10)},ups,,"))
    (drop / "b.csv").write_bytes(_csv(f"PO42,{tracking('ups', 11)},ups,,"))
    report = await shop.purchasing.import_dir(drop)
    assert report.created == 1 and len(report.problems) == 1
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["a.csv"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == ["b.csv", "b.csv.errors.txt"]
    errors = (drop / "failed" / "b.csv.errors.txt").read_text()
    assert "b.csv line 2 (PO PO42): unknown PO 'PO42'" in errors
    assert not [p for p in drop.iterdir() if p.is_file()]


async def test_tracking_typed_in_moves_the_po_and_deleting_it_moves_it_back(
    shop: Services,
) -> None:
    n, pos = await _ordered(shop, ((ACME_ONLY, 1),))
    number = tracking("ups", 12)
    await shop.shipping.ship(n, NewShipment(tracking=number, notify=True))
    po = await shop.purchasing.get(pos["ACME"])
    assert po.status == "shipped" and po.tracking == (number,)
    await shop.shipping.delete_shipment(n, number, reason="wrong box")
    assert (await shop.purchasing.get(pos["ACME"])).status == "sent"


async def _history(shop: Services, n: int) -> list[tuple[str, str]]:
    """(from, to) of the status changes, oldest first."""
    detail = await shop.orders.show(n)
    rows = sorted(detail.history, key=lambda h: h.at)
    return [
        (str(h.from_status), str(h.to_status))
        for h in rows
        if h.kind == "status" and h.from_status and h.to_status
    ]


async def test_second_tracking_refused_leaves_nothing_of_the_first_then_both_go_in_once(
    shop: Services,
) -> None:
    """A PO's packages go in one transaction: the second number taken by another order
    (found only while applying) keeps the first out too; fixed, both go in with one
    e-mail naming both, and the same file again changes nothing."""
    n, pos = await _ordered(shop, ((ACME_ONLY, 2),))
    other, _ = await _ordered(shop, ((ACME_ONLY, 1),))
    t1, taken, t3 = tracking("ups", 21), tracking("ups", 22), tracking("ups", 23)
    await shop.shipping.ship(other, NewShipment(tracking=taken))
    before = await counts(shop)
    data = _csv(f"{pos['ACME']},{t1},ups,{ACME_ONLY},1", f"{pos['ACME']},{taken},ups,ACM-69375,1")
    report = await shop.purchasing.import_data("two.csv", data)
    assert report.shipments == ()
    assert [p.line for p in report.problems] == [2, 3]
    assert all(f"already used on order #{other}" in p.message for p in report.problems)
    assert await order_status(shop, n) == "processing"
    assert await counts(shop) == before  # no shipment, no e-mail, PO untouched
    assert (await shop.purchasing.get(pos["ACME"])).status == "sent"
    assert (await shop.orders.show(n)).lines[0].shipped == 0

    fixed = _csv(f"{pos['ACME']},{t1},ups,{ACME_ONLY},1", f"{pos['ACME']},{t3},ups,ACM-69375,1")
    report = await shop.purchasing.import_data("two.csv", fixed)
    assert report.problems == () and report.created == 2
    assert await order_status(shop, n) == "shipped"
    assert await _history(shop, n) == [("new", "processing"), ("processing", "shipped")]
    mails = [m for m in await outbox(shop, "shipped") if m.payload.get("tracking") in (t1, t3)]
    (mail,) = mails  # one e-mail for the PO's two packages
    assert [s["tracking"] for s in mail.payload["shipments"]] == [t1, t3]
    assert (await shop.purchasing.get(pos["ACME"])).status == "shipped"
    settled = await counts(shop)
    again = await shop.purchasing.import_data("two.csv", fixed)
    assert again.created == 0 and again.unchanged == 2 and again.problems == ()
    assert await counts(shop) == settled


async def test_ship_many_refusal_on_the_second_package_writes_nothing(shop: Services) -> None:
    n, _pos = await _ordered(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1)))
    before = await counts(shop)
    with pytest.raises(Refused, match="at most 0 can go"):
        await shop.shipping.ship_many(
            n,
            [
                NewShipment(tracking=tracking("ups", 31), lines=((ACME_ONLY, 2),), notify=True),
                NewShipment(tracking=tracking("ups", 32), lines=((ACME_ONLY, 1),), notify=True),
            ],
        )
    assert await counts(shop) == before and await order_status(shop, n) == "processing"
    with pytest.raises(Refused, match="named twice"):
        await shop.shipping.ship_many(
            n,
            [NewShipment(tracking=tracking("ups", 31)), NewShipment(tracking=tracking("ups", 31))],
        )
    records = await shop.shipping.ship_many(
        n,
        [
            NewShipment(tracking=tracking("ups", 31), lines=((ACME_ONLY, 2),), memo="box 1"),
            NewShipment(tracking=tracking("fedex", 33), lines=((GLOBEX_DEFAULT, 1),), memo="box 2"),
        ],
    )
    assert [r.lines for r in records] == [((ACME_ONLY, 2),), ((GLOBEX_DEFAULT, 1),)]
    assert await _history(shop, n) == [("new", "processing"), ("processing", "shipped")]
    assert any(h.memo == "box 1; box 2" for h in (await shop.orders.show(n)).history)


async def test_backordered_order_takes_the_vendor_shipment_and_waits_on_for_stock(
    shop: Services,
) -> None:
    """Our stock line is short (backorder) while the vendor ships its line: the shipment goes
    in, the customer hears partially shipped, the order waits on in backorder; when the stock
    is in it goes to processing, reserves it, and ships the rest."""
    n, pos = await _ordered(shop, ((ACME_ONLY, 1), (STOCK, 5000)))
    assert await order_status(shop, n) == "backorder"
    t1 = tracking("ups", 41)
    report = await shop.purchasing.import_data("acme.csv", _csv(f"{pos['ACME']},{t1},ups,,"))
    assert report.problems == () and report.created == 1
    assert await order_status(shop, n) == "backorder"
    assert await _history(shop, n) == [
        ("new", "processing"),
        ("processing", "backorder"),
        ("backorder", "partially_shipped"),
        ("partially_shipped", "backorder"),
    ]
    mail = [m for m in await outbox(shop, "partially_shipped") if m.payload["tracking"] == t1]
    assert len(mail) == 1
    assert [(ln["sku"], ln["quantity"]) for ln in mail[0].payload["lines_remaining"]] == [
        (STOCK, 5000)
    ]
    assert (await shop.purchasing.get(pos["ACME"])).status == "shipped"
    # Our own line does not ship while it waits; re-importing changes nothing.
    with pytest.raises(Refused, match="waiting for stock"):
        await shop.shipping.ship(n, NewShipment(tracking=tracking("ups", 42), lines=((STOCK, 1),)))
    again = await shop.purchasing.import_data("acme.csv", _csv(f"{pos['ACME']},{t1},ups,,"))
    assert again.created == 0 and again.unchanged == 1
    # The stock arrives: back to processing the usual way, the line is reserved and packable.
    await shop.inventory.set_level(STOCK, "MAIN", 6000)
    detail = await shop.orders.set_status(n, Status.PROCESSING, memo="stock in")
    assert detail.status is Status.PROCESSING
    (line,) = [ln for ln in detail.lines if ln.sku == STOCK]
    async with shop.db.read_session() as s:
        reserved = (
            await s.execute(select(OrderLine.reserved).where(OrderLine.id == line.id))
        ).scalar_one()
    assert (line.shipped, reserved) == (0, 5000)
    async with shop.db.write_session() as s, s.begin():  # packed, as the pack screen would
        await s.execute(update(OrderLine).where(OrderLine.id == line.id).values(packed=5000))
    await shop.shipping.ship(n, NewShipment(tracking=tracking("fedex", 43)))
    assert await order_status(shop, n) == "shipped"


async def test_vendor_shipment_deleted_while_backordered_stays_backordered(
    shop: Services,
) -> None:
    n, pos = await _ordered(shop, ((ACME_ONLY, 1), (STOCK, 5000)))
    t1 = tracking("ups", 44)
    await shop.purchasing.import_data("acme.csv", _csv(f"{pos['ACME']},{t1},ups,,"))
    await shop.shipping.delete_shipment(n, t1, reason="vendor sent the wrong number")
    assert await order_status(shop, n) == "backorder"
    assert (await shop.purchasing.get(pos["ACME"])).status == "sent"


async def test_one_partially_shipped_email_names_every_package_of_the_po(shop: Services) -> None:
    n, pos = await _ordered(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1)))
    t1, t2 = tracking("ups", 51), tracking("ups", 52)
    data = _csv(f"{pos['ACME']},{t1},ups,{ACME_ONLY},1", f"{pos['ACME']},{t2},ups,{ACME_ONLY},1")
    report = await shop.purchasing.import_data("acme.csv", data)
    assert report.created == 2 and await order_status(shop, n) == "partially_shipped"
    (mail,) = [m for m in await outbox(shop, "partially_shipped") if m.payload["tracking"] == t1]
    email = await shop.notifications.preview_event(n, "partially_shipped", mail.payload)
    for body in (email.text, email.html):
        assert t1 in body and t2 in body and "Package 2 of 2" in body
    assert email.text.index(t1) < email.text.index(t2) < email.text.index("Still to come")


async def test_same_file_imported_twice_at_once_goes_in_once(shop: Services) -> None:
    """Two imports of one file at the same moment (the drop-folder watcher and an operator):
    both check before either applies; the first puts the PO's packages in, the second finds
    them there and reports them unchanged, not as errors."""
    n, pos = await _ordered(shop, ((ACME_ONLY, 2),))
    t1, t2 = tracking("ups", 71), tracking("ups", 72)
    data = _csv(f"{pos['ACME']},{t1},ups,{ACME_ONLY},1", f"{pos['ACME']},{t2},ups,{ACME_ONLY},1")
    first, second = await asyncio.gather(
        shop.purchasing.import_data("a.csv", data), shop.purchasing.import_data("a.csv", data)
    )
    assert first.problems == () and second.problems == ()
    assert sorted((first.created, second.created)) == [0, 2]
    assert await order_status(shop, n) == "shipped"
    assert len([m for m in await outbox(shop, "shipped") if m.payload["tracking"] == t1]) == 1
