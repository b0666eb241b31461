"""Drop shipping: the PO plan, grouping and defaults, sending by e-mail (to a real SMTP
server) and by EDI (the 850 read back field by field), by-hand statuses and automation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from services.container import Services
from services.errors import Conflict, InvalidInput, NotFound
from services.models import Order, Product, ProductVendor, StockLevel
from services.orders import NewAddress
from services.purchasing import CannotOrder, CannotSend
from services.statuses import HoldReason, PaymentMethod, PaymentStatus, POMethod, POStatus, Status
from tests.conftest import FixedClock
from tests.services.test_notify_support import smtp_server
from tests.services.test_purchasing_support import (
    ACME_ONLY,
    ADDRESS,
    GLOBEX_DEFAULT,
    HOOLI_ONLY,
    INITECH_DEFAULT,
    NORTH_ONLY,
    STOCK,
    counts,
    new_order,
    open_shop,
    order_status,
    outbox,
    read_850,
    set_vendor,
    tracking,
)


@pytest.fixture
async def shop(db_url: str, clock: FixedClock, tmp_path: Path) -> AsyncIterator[Services]:
    services = await open_shop(db_url, clock, tmp_path)
    try:
        yield services
    finally:
        await services.close()


# -- plan & create ---------------------------------------------------------------------------


async def test_plan_preselects_default_vendor_and_shows_cost_and_margin(shop: Services) -> None:
    n = await new_order(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1), (STOCK, 1)))
    plan = await shop.purchasing.plan(n)
    assert plan.why_not is None
    lines = {ln.sku: ln for ln in plan.lines}
    assert lines[ACME_ONLY].selected == "ACME" and lines[ACME_ONLY].to_order == 2
    globex = lines[GLOBEX_DEFAULT]
    assert globex.selected == "GLOBEX"  # the default, though not the cheapest
    assert {c.code for c in globex.choices} == {"GLOBEX", "INITECH", "ACME"}
    for c in globex.choices:
        assert c.margin == globex.unit_price - c.cost
    stock = lines[STOCK]
    assert stock.fulfillment == "stock" and stock.to_order == 0 and not stock.choices
    assert not stock.orderable and stock.problem == ""


async def test_create_groups_lines_one_po_per_vendor(shop: Services) -> None:
    n = await new_order(shop, ((ACME_ONLY, 2), (GLOBEX_DEFAULT, 1), (STOCK, 1)))
    result = await shop.purchasing.create(n)
    assert result.created == ("PO10001", "PO10002")  # ACME, GLOBEX: vendor code order
    assert result.status == "processing"  # a new order moves on
    pos = {po.vendor_code: po for po in result.purchase_orders}
    assert set(pos) == {"ACME", "GLOBEX"}
    acme = pos["ACME"]
    assert acme.status == "draft" and acme.sent_at is None
    assert [(ln.sku, ln.vendor_sku, ln.quantity, ln.unit_cost) for ln in acme.lines] == [
        (ACME_ONLY, "ACM-69375", 2, 12405)
    ]
    assert [ln.vendor_sku for ln in pos["GLOBEX"].lines] == ["GLO-93279"]
    detail = await shop.orders.show(n)
    assert {p.number for p in detail.purchase_orders} == {"PO10001", "PO10002"}
    assert {ln.sku: ln.vendor for ln in detail.lines}[ACME_ONLY] == "Acme Auto Supply"
    assert "purchase orders created: PO10001 (ACME), PO10002 (GLOBEX)" in detail.history[-1].memo
    # Nothing is left to order: a second press is refused and writes nothing.
    before = await counts(shop)
    with pytest.raises(CannotOrder, match="nothing left to order"):
        await shop.purchasing.create(n)
    assert await counts(shop) == before


async def test_vendor_override_and_bad_overrides_write_nothing(shop: Services) -> None:
    n = await new_order(shop, ((ACME_ONLY, 1), (GLOBEX_DEFAULT, 1)))
    before = await counts(shop)
    with pytest.raises(InvalidInput, match="vendor 'NORTH' does not supply PL-10031"):
        await shop.purchasing.create(n, vendors={GLOBEX_DEFAULT: "NORTH"})
    with pytest.raises(InvalidInput, match="PL-99999 is not on order"):
        await shop.purchasing.create(n, vendors={"PL-99999": "ACME"})
    assert await counts(shop) == before
    assert await order_status(shop, n) == "new"
    result = await shop.purchasing.create(n, vendors={"pl-10031": "acme auto supply"})
    (po,) = result.purchase_orders
    assert po.vendor_code == "ACME"
    assert sorted(ln.vendor_sku for ln in po.lines) == ["ACM-22006", "ACM-69375"]


async def test_refusals_held_order_stock_only_and_unsourceable(shop: Services) -> None:
    held = await new_order(shop, ((ACME_ONLY, 1),))
    await shop.orders.set_status(held, Status.HELD, reason=HoldReason.AWAITING_CUSTOMER)
    with pytest.raises(CannotOrder, match=r"held \(awaiting_customer\); release the hold"):
        await shop.purchasing.create(held)
    stock = await new_order(shop, ((STOCK, 1),))
    assert "no drop-ship lines" in str((await shop.purchasing.plan(stock)).why_not)
    with pytest.raises(NotFound):
        await shop.purchasing.plan(99999)


# -- sending by e-mail -----------------------------------------------------------------------


async def test_create_and_send_by_email_reaches_a_real_smtp_server(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    with smtp_server() as (port, inbox):
        shop = await open_shop(db_url, clock, tmp_path, smtp_port=port)
        try:
            n = await new_order(
                shop,
                ((ACME_ONLY, 2),),
                name="<b>Grace</b> & Co",
                address=_address("<b>Grace</b> & Co"),
            )
            result = await shop.purchasing.create(n, send=True)
            (sent,) = result.sent
            assert sent.ok and sent.via == "email" and sent.detail == "orders@acme-supply.example"
            (po,) = result.purchase_orders
            assert po.status == "sent" and po.sent_at == clock.now
            rows = await outbox(shop, "po_vendor")
            assert [r.recipient for r in rows] == ["orders@acme-supply.example"]
            report = await shop.notifications.run_once()
            assert report.sent >= 1
            (mail,) = inbox.to("orders@acme-supply.example")
            assert po.number in str(mail.message["Subject"])
            text = mail.part("plain")
            assert f"PO number:   {po.number}" in text and f"Our order:   {n}" in text
            assert "ACM-69375" in text and "Quantity 2 x $124.05 = $248.10" in text
            assert "7 Compiler Court" in text and "<b>Grace</b> & Co" in text  # plain text
            assert "Arlington VA 22201" in text
            html = mail.part("html")
            assert "&lt;b&gt;Grace&lt;/b&gt; &amp; Co" in html and "<b>Grace" not in html
            for part in (po.number, "ACM-69375", "7 Compiler Court", "$248.10"):
                assert part in html
            # Delivered once: another pass sends nothing more.
            await shop.notifications.run_once()
            assert len(inbox.to("orders@acme-supply.example")) == 1
            # Re-sending is a deliberate second message, marked as such.
            again = await shop.purchasing.send(po.number)
            assert again.sent[0].ok
            await shop.notifications.run_once()
            second = inbox.to("orders@acme-supply.example")[1]
            assert str(second.message["Subject"]).startswith("Re-sent: ")
        finally:
            await shop.close()


def _address(name: str) -> NewAddress:
    return dataclasses.replace(ADDRESS, name=name)


async def test_vendor_without_email_leaves_po_draft(shop: Services) -> None:
    await set_vendor(shop, "ACME", email="")
    n = await new_order(shop, ((ACME_ONLY, 1), (GLOBEX_DEFAULT, 1)))
    result = await shop.purchasing.create(n, send=True)
    outcomes = {s.vendor: s for s in result.sent}
    assert outcomes["GLOBEX"].ok
    assert not outcomes["ACME"].ok
    assert outcomes["ACME"].detail == "vendor ACME takes POs by e-mail but has no e-mail address"
    statuses = {po.vendor_code: po.status for po in result.purchase_orders}
    assert statuses == {"ACME": "draft", "GLOBEX": "sent"}
    acme = next(po for po in result.purchase_orders if po.vendor_code == "ACME")
    with pytest.raises(CannotSend, match="stays draft: vendor ACME takes POs by e-mail"):
        await shop.purchasing.send(acme.number)
    assert (await shop.purchasing.get(acme.number)).status == "draft"
    assert [r.recipient for r in await outbox(shop, "po_vendor")] == ["po@globex.example"]


async def test_manual_vendor_is_marked_sent_by_hand(shop: Services) -> None:
    n = await new_order(shop, ((HOOLI_ONLY, 1),))
    result = await shop.purchasing.create(n, send=True)
    (out,) = result.sent
    assert not out.ok and "by hand (manual)" in out.detail
    (po,) = result.purchase_orders
    marked = await shop.purchasing.mark(po.number, POStatus.SENT, note="phoned Bob")
    assert marked.purchase_orders[0].status == "sent"
    with pytest.raises(CannotOrder, match="has lines without a shipment"):
        await shop.purchasing.mark(po.number, POStatus.SHIPPED)
    with pytest.raises(CannotOrder, match="is sent; it can go to"):
        await shop.purchasing.mark(po.number, POStatus.RECEIVED)


async def test_acknowledged_and_received_are_reached_by_hand(shop: Services) -> None:
    """Every status in the PO list can be reached: sent (by e-mail), acknowledged (what the
    vendor said, by hand), shipped (its tracking number), received (by hand), and nothing
    after received."""
    n = await new_order(shop, ((ACME_ONLY, 1),))
    (po,) = (await shop.purchasing.create(n)).purchase_orders
    assert po.status == "draft" and po.can_mark == ("sent", "canceled")
    (po,) = (await shop.purchasing.send(po.number)).purchase_orders
    assert po.status == "sent" and po.can_mark == ("acknowledged", "canceled")
    (po,) = (
        await shop.purchasing.mark(po.number, POStatus.ACKNOWLEDGED, note="Bob: ships Monday")
    ).purchase_orders
    assert po.status == "acknowledged" and po.can_mark == ("canceled",)
    assert [p.number for p in await shop.purchasing.find(status=POStatus.ACKNOWLEDGED)] == [
        po.number
    ]
    memo = f"PO {po.number} sent -> acknowledged: Bob: ships Monday"
    assert memo in [h.memo for h in (await shop.orders.show(n)).history]
    # An acknowledged PO still takes the vendor's tracking (and may be re-sent).
    assert (await shop.purchasing.send(po.number)).sent[0].ok
    number = tracking("ups", 61)
    report = await shop.purchasing.import_data(
        "acme.csv", f"po,tracking,carrier\n{po.number},{number},ups\n".encode()
    )
    assert report.problems == () and report.created == 1
    po = await shop.purchasing.get(po.number)
    assert po.status == "shipped" and po.can_mark == ("received",)
    with pytest.raises(CannotSend, match="is shipped; there is nothing to send"):
        await shop.purchasing.send(po.number)
    (po,) = (
        await shop.purchasing.mark(po.number, POStatus.RECEIVED, note="customer confirmed")
    ).purchase_orders
    assert po.status == "received" and po.can_mark == ()
    before = await counts(shop)
    with pytest.raises(CannotOrder, match="is received; it can go to nowhere"):
        await shop.purchasing.mark(po.number, POStatus.CANCELED)
    with pytest.raises(InvalidInput, match="note is too long"):
        await shop.purchasing.mark(po.number, POStatus.CANCELED, note="x" * 2001)
    assert await counts(shop) == before
    assert (await shop.purchasing.get(po.number)).status == "received"


async def test_cancel_frees_the_lines_and_tells_an_email_vendor(shop: Services) -> None:
    n = await new_order(shop, ((GLOBEX_DEFAULT, 1),))
    (po,) = (await shop.purchasing.create(n, send=True)).purchase_orders
    await shop.purchasing.mark(po.number, POStatus.CANCELED, note="customer changed their mind")
    (notice,) = await outbox(shop, "po_canceled")
    assert notice.recipient == "po@globex.example"
    assert notice.payload["po"]["reason"] == "customer changed their mind"
    plan = await shop.purchasing.plan(n)
    assert plan.why_not is None and plan.lines[0].to_order == 1
    again = await shop.purchasing.create(n, vendors={GLOBEX_DEFAULT: "ACME"})
    assert [p.status for p in again.purchase_orders] == ["canceled", "draft"]


# -- sending by EDI --------------------------------------------------------------------------


async def test_edi_850_read_back_field_by_field(shop: Services, tmp_path: Path) -> None:
    n = await new_order(shop, ((INITECH_DEFAULT, 3), (STOCK, 1)))
    result = await shop.purchasing.create(n, send=True)
    (out,) = result.sent
    assert out.ok and out.via == "edi"
    path = Path(out.detail)
    assert path.parent == tmp_path / "edi" and path.suffix == ".850"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    x = read_850(path)
    assert len(x.isa_line + "~") == 106  # fixed width, its terminator included
    isa = x.one("ISA")
    assert (isa[5], isa[6], isa[7], isa[8]) == (
        "ZZ",
        "PACKLINE".ljust(15),
        "01",
        "123456789".ljust(15),
    )
    assert isa[12] == "00401" and isa[13] == "000000001" and isa[15] == "P"
    assert x.one("IEA")[1:] == ["1", isa[13]]
    gs, ge = x.one("GS"), x.one("GE")
    assert gs[1] == "PO" and gs[8] == "004010" and ge[1:] == ["1", gs[6]]
    st, se = x.one("ST"), x.one("SE")
    assert st[1] == "850" and se[2] == st[2]
    start = next(i for i, s in enumerate(x.segments) if s[0] == "ST")
    end = next(i for i, s in enumerate(x.segments) if s[0] == "SE")
    assert int(se[1]) == end - start + 1
    beg = x.one("BEG")
    po_number = result.purchase_orders[0].number
    assert beg[1:4] == ["00", "DS", po_number]
    assert x.one("REF")[1:] == ["CO", str(n)]
    n1 = [s for s in x.tags("N1") if s[1] == "ST"]
    assert n1 == [["N1", "ST", "Grace Hopper"]]
    assert x.one("N3")[1:] == ["7 Compiler Court", "Suite 2"]
    assert x.one("N4")[1:] == ["Arlington", "VA", "22201", "US"]
    (po1,) = x.tags("PO1")  # the stock line is not on the PO
    assert po1[1:4] == ["1", "3", "EA"] and po1[4] == "6.39"
    upc = next(ln.barcode for ln in (await shop.orders.show(n)).lines if ln.sku == INITECH_DEFAULT)
    assert len(upc) == 12 and po1[6:10] == ["VP", "INI-10276", "UP", upc]
    assert x.one("CTT")[1] == str(len(x.tags("PO1")))


async def test_edi_control_numbers_increase_over_several_pos(shop: Services) -> None:
    seen = []
    for _ in range(3):
        n = await new_order(shop, ((NORTH_ONLY, 1), (INITECH_DEFAULT, 1)))
        result = await shop.purchasing.create(n, send=True)
        for out in result.sent:
            x = read_850(Path(out.detail))
            isa, gs, st = x.one("ISA"), x.one("GS"), x.one("ST")
            # Each envelope's trailers match its headers.
            assert x.one("IEA")[2] == isa[13] and x.one("GE")[2] == gs[6]
            assert x.one("SE")[2] == st[2] and int(x.one("SE")[1]) == len(x.segments) - 4
            seen.append((int(isa[13]), int(gs[6]), int(st[2])))
    assert len(seen) == 6
    for column in range(3):
        values = [s[column] for s in seen]
        assert values == sorted(values) and len(set(values)) == 6
    assert seen[0] == (1, 1, 1) and seen[-1] == (6, 6, 6)


async def test_edi_vendor_without_ids_stays_draft_and_writes_no_file(
    shop: Services, tmp_path: Path
) -> None:
    await set_vendor(shop, "NORTH", edi_id="")
    n = await new_order(shop, ((NORTH_ONLY, 1),))
    result = await shop.purchasing.create(n, send=True)
    (out,) = result.sent
    assert not out.ok and "has no EDI identifiers" in out.detail
    assert result.purchase_orders[0].status == "draft"
    assert not (tmp_path / "edi").exists() or not list((tmp_path / "edi").iterdir())


# -- automation ------------------------------------------------------------------------------


async def test_auto_send_when_paid(db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    shop = await open_shop(db_url, clock, tmp_path, purchasing={"auto_send": True})
    try:
        n = await new_order(shop, ((ACME_ONLY, 1), (STOCK, 1)))
        assert await shop.purchasing.auto_order(n) is None  # not paid yet
        total = (await shop.orders.show(n)).row.total
        paid = await shop.payments.record(n, total, PaymentMethod.CHECK, note="check #7")
        assert any(
            note.startswith("drop-ship POs created: PO10001; sent PO10001") for note in paid.notes
        )
        (po,) = (await shop.purchasing.plan(n)).purchase_orders
        assert po.status == "sent" and po.vendor_code == "ACME"
        assert await shop.purchasing.auto_order(n) is None  # nothing left: nothing happens
    finally:
        await shop.close()


async def test_no_auto_send_unless_switched_on(shop: Services) -> None:
    n = await new_order(shop, ((ACME_ONLY, 1),))
    async with shop.db.write_session() as s, s.begin():
        await s.execute(
            update(Order).where(Order.number == n).values(payment_status=PaymentStatus.PAID)
        )
    assert await shop.purchasing.auto_order(n) is None
    assert (await shop.purchasing.plan(n)).purchase_orders == ()


async def test_find_lists_by_status(shop: Services) -> None:
    a = await new_order(shop, ((ACME_ONLY, 1),))
    b = await new_order(shop, ((HOOLI_ONLY, 1),))
    await shop.purchasing.create(a, send=True)
    await shop.purchasing.create(b, send=True)
    assert [p.order_number for p in await shop.purchasing.find()] == [b, a]
    assert [p.vendor_code for p in await shop.purchasing.find(status=POStatus.DRAFT)] == ["HOOLI"]
    assert [p.vendor_code for p in await shop.purchasing.find(status=POStatus.SENT)] == ["ACME"]


async def test_vendors_listed_checked_and_fixed(shop: Services) -> None:
    vendors = {v.code: v for v in await shop.purchasing.vendors()}
    assert vendors["INITECH"].send_problem == "" and vendors["INITECH"].method == "edi"
    assert vendors["HOOLI"].send_problem.startswith("vendor HOOLI takes POs by hand")
    assert all(v.products > 0 for v in vendors.values())
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        await shop.purchasing.update_vendor("ACME", email="orders at acme")
    with pytest.raises(InvalidInput, match="EDI id 'A\\*B'"):
        await shop.purchasing.update_vendor("NORTH", edi_id="A*B")
    with pytest.raises(InvalidInput, match="EDI qualifier"):
        await shop.purchasing.update_vendor("NORTH", edi_qualifier="zzz")
    with pytest.raises(NotFound, match="no vendor 'NOBODY'"):
        await shop.purchasing.update_vendor("NOBODY", email="a@b.example")
    fixed = await shop.purchasing.update_vendor(
        "hooli gear", method=POMethod.EMAIL, lead_time_days=5
    )
    assert fixed.method == "email" and fixed.send_problem == "" and fixed.lead_time_days == 5
    n = await new_order(shop, ((HOOLI_ONLY, 1),))
    (out,) = (await shop.purchasing.create(n, send=True)).sent
    assert out.ok and out.detail == "sales@hooli.example"


async def test_edi_refusal_uses_no_control_number(shop: Services) -> None:
    async with shop.db.write_session() as s, s.begin():
        await s.execute(
            update(ProductVendor)
            .where(ProductVendor.vendor_sku == "NOR-61544")
            .values(vendor_sku="NOR*61544")
        )
    bad = await new_order(shop, ((NORTH_ONLY, 1),))
    (out,) = (await shop.purchasing.create(bad, send=True)).sent
    assert not out.ok and "contains characters X12 cannot carry" in out.detail
    good = await new_order(shop, ((INITECH_DEFAULT, 1),))
    (sent,) = (await shop.purchasing.create(good, send=True)).sent
    assert read_850(Path(sent.detail)).one("ISA")[13] == "000000001"


async def test_two_operators_create_at_once_make_one_set_of_pos(shop: Services) -> None:
    n = await new_order(shop, ((ACME_ONLY, 1), (GLOBEX_DEFAULT, 1)))
    results = await asyncio.gather(
        shop.purchasing.create(n), shop.purchasing.create(n), return_exceptions=True
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 1 and len(refused) == 1
    assert isinstance(refused[0], CannotOrder | Conflict)
    assert len((await shop.purchasing.plan(n)).purchase_orders) == 2


async def test_line_with_no_vendor_and_no_stock_is_named_not_ordered(shop: Services) -> None:
    async with shop.db.write_session() as s, s.begin():
        pid = select(Product.id).where(Product.sku == NORTH_ONLY).scalar_subquery()
        await s.execute(delete(ProductVendor).where(ProductVendor.product_id == pid))
        stock_pid = select(Product.id).where(Product.sku == STOCK).scalar_subquery()
        await s.execute(
            update(StockLevel).where(StockLevel.product_id == stock_pid).values(on_hand=0)
        )
    alone = await new_order(shop, ((NORTH_ONLY, 1),))
    plan = await shop.purchasing.plan(alone)
    assert plan.why_not == "PL-10017: no vendor and no stock; link a vendor to the product"
    with pytest.raises(CannotOrder, match="no vendor and no stock"):
        await shop.purchasing.create(alone)
    mixed = await new_order(shop, ((NORTH_ONLY, 1), (ACME_ONLY, 1), (STOCK, 1)))
    lines = {ln.sku: ln for ln in (await shop.purchasing.plan(mixed)).lines}
    assert lines[STOCK].problem == "PL-10002: no vendor and no stock; it cannot be sourced"
    result = await shop.purchasing.create(mixed)
    assert [po.vendor_code for po in result.purchase_orders] == ["ACME"]
    detail = await shop.orders.show(mixed)
    assert any("not ordered: PL-10017: no vendor and no stock" in h.memo for h in detail.history)
    assert detail.row.status.value == "backorder"  # processing found no stock for PL-10002
