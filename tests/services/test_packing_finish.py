"""Finishing a pack (validate, auto, split to backorder), resuming after a crash, and two
packers on one order, against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import pytest

from services.container import Services
from services.orders import OrderFilter
from services.packing import NotPackable, PackClaimed
from services.statuses import PaymentStatus, Status
from services.views import ScanOutcome
from tests.conftest import FixedClock
from tests.services.test_packing_support import (
    SERIAL_UPC,
    UPC_A,
    UPC_A_2,
    count_orders,
    journal,
    order_to_pack,
    other_services,
    packed,
    seed_shop,
)

OK, NO = ScanOutcome.ACCEPTED, ScanOutcome.REFUSED


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


async def test_validate_moves_a_packed_paid_order_to_ready_to_ship(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 1), ("PL-10003", 1), ("PL-10001", 1)))
    sid = (await shop.packing.start(number)).session_id
    early = await shop.packing.validate(number, session_id=sid)
    assert early.outcome is NO and early.message == f"nothing is packed on #{number} yet"
    await shop.packing.scan(number, UPC_A, session_id=sid)
    last = await shop.packing.scan(number, UPC_A_2, session_id=sid)
    assert last.outcome is OK and last.fully_packed  # the drop-ship line is not packed here
    assert last.progress.status is Status.PROCESSING  # validate mode: waits for the scan
    done = await shop.packing.scan(number, "PL:VALIDATE", session_id=sid)
    assert done.outcome is ScanOutcome.FINISHED, done.message
    assert done.message == f"#{number} is packed in 1 package and ready to ship"
    assert done.progress.status is Status.READY_TO_SHIP
    detail = await shop.orders.show(number)
    assert detail.status is Status.READY_TO_SHIP
    assert detail.history[-1].to_status is Status.READY_TO_SHIP
    assert detail.history[-1].actor == "tester"
    after = await shop.packing.scan(number, UPC_A, session_id=sid)
    assert after.outcome is NO and "is packed (ready_to_ship); this session ended" in after.message
    with pytest.raises(NotPackable, match="already packed"):
        await shop.packing.start(number)


async def test_validate_refuses_an_unpaid_order_and_keeps_the_session(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 1),), paid=False)
    sid = (await shop.packing.start(number)).session_id
    await shop.packing.scan(number, UPC_A, session_id=sid)
    refused = await shop.packing.validate(number, session_id=sid)
    assert refused.outcome is NO
    assert "payment is unpaid, not paid" in refused.message
    assert refused.progress.status is Status.PROCESSING
    from sqlalchemy import update

    from services.models import Order

    async with shop.db.write_session() as s:
        await s.execute(
            update(Order).where(Order.number == number).values(payment_status=PaymentStatus.PAID)
        )
        await s.commit()
    done = await shop.packing.validate(number, session_id=sid)
    assert done.outcome is ScanOutcome.FINISHED


async def test_auto_finish_on_the_last_scan(shop: Services, db_url: str, clock: FixedClock) -> None:
    number = await order_to_pack(shop, (("PL-10002", 2),))
    unpaid = await order_to_pack(shop, (("PL-10002", 1),), paid=False)
    async with other_services(db_url, clock, pack_finish="auto") as auto:
        sid = (await auto.packing.start(number)).session_id
        first = await auto.packing.scan(number, UPC_A, session_id=sid)
        assert first.outcome is OK
        last = await auto.packing.scan(number, UPC_A, session_id=sid)
        assert last.outcome is ScanOutcome.FINISHED and last.counted == 1
        assert last.message.startswith("PL-10002: 2 of 2 packed; #")
        assert last.progress.status is Status.READY_TO_SHIP
        # Unpaid: the unit counts, the status stays, the message says why.
        sid2 = (await auto.packing.start(unpaid)).session_id
        counted = await auto.packing.scan(unpaid, UPC_A, session_id=sid2)
        assert counted.outcome is OK and counted.counted == 1
        assert "payment is unpaid" in counted.message
        assert counted.progress.status is Status.PROCESSING
    assert await packed(shop, unpaid) == {"PL-10002": 1}


async def test_partial_pack_offers_a_backorder_split(shop: Services) -> None:
    number = await order_to_pack(
        shop, (("PL-10002", 3), ("PL-10003", 2), ("PL-10007", 1), ("PL-10001", 1))
    )
    before = await shop.orders.show(number)
    orders_before = await count_orders(shop)
    sid = (await shop.packing.start(number)).session_id
    await shop.packing.scan(number, "2*" + UPC_A, session_id=sid)
    await shop.packing.scan(number, "2*" + UPC_A_2, session_id=sid)
    offer = await shop.packing.validate(number, session_id=sid)
    assert offer.outcome is ScanOutcome.OFFER_BACKORDER, offer.message
    assert offer.backorder == (("PL-10002", 1), ("PL-10007", 1))
    assert "2 units not packed (PL-10002 ×1, PL-10007 ×1)" in offer.message
    assert offer.progress.status is Status.PROCESSING  # nothing changed until confirmed
    assert await count_orders(shop) == orders_before

    done = await shop.packing.split_backorder(number, session_id=sid)
    assert done.outcome is ScanOutcome.FINISHED, done.message
    child_number = done.backorder_number
    assert child_number is not None and child_number > number
    assert f"split off to backorder #{child_number}" in done.message
    assert done.progress.status is Status.READY_TO_SHIP

    original = await shop.orders.show(number)
    assert original.status is Status.READY_TO_SHIP
    assert [(ln.sku, ln.quantity, ln.packed) for ln in original.lines] == [
        ("PL-10002", 2, 2),
        ("PL-10003", 2, 2),
        ("PL-10007", 0, 0),
        ("PL-10001", 1, 0),  # drop-ship: ships from the vendor, stays
    ]
    child = await shop.orders.show(child_number)
    assert child.status is Status.BACKORDER
    assert [(ln.sku, ln.quantity, ln.packed) for ln in child.lines] == [
        ("PL-10002", 1, 0),
        ("PL-10007", 1, 0),
    ]
    assert child.row.payment_status is PaymentStatus.PAID
    assert child.row.customer == before.row.customer
    assert child.row.shipping_address == before.row.shipping_address
    # The money of the moved lines moves with them; nothing is lost or made up.
    assert original.subtotal + child.subtotal == before.subtotal
    assert original.row.total + child.row.total == before.row.total
    assert original.row.items + child.row.items == before.row.items
    assert any(f"moved to backorder #{child_number}" in h.memo for h in original.history)
    assert [h.to_status for h in child.history] == [Status.NEW, Status.BACKORDER]
    assert f"split from #{number}" in child.history[-1].memo
    # The backorder is found by search like any order.
    page = await shop.orders.page(OrderFilter(search="grace"))
    assert child_number in [r.number for r in page.rows]


async def test_a_crash_loses_nothing(shop: Services, db_url: str, clock: FixedClock) -> None:
    number = await order_to_pack(shop, (("PL-10002", 3), ("PL-10000", 1)))
    async with other_services(db_url, clock) as first_console:
        sid = (await first_console.packing.start(number)).session_id
        await first_console.packing.scan(number, UPC_A, session_id=sid)
        await first_console.packing.next_package(number, session_id=sid)
        await first_console.packing.scan(number, UPC_A, session_id=sid)
        pending = await first_console.packing.scan(number, SERIAL_UPC, session_id=sid)
        assert pending.outcome is ScanOutcome.NEEDS_SERIAL
        # ... and the console dies here: no finish, no abort, no leave.
    clock.advance(30)
    async with other_services(db_url, clock) as second_console:
        resumed = await second_console.packing.start(f"#{number}")
        assert resumed.resumed and resumed.session_id == sid
        assert resumed.progress.package_no == 2
        assert [(ln.sku, ln.packed) for ln in resumed.progress.lines] == [
            ("PL-10002", 2),
            ("PL-10000", 0),
        ]
        assert resumed.progress.pending_serial == "PL-10000"
        assert [p.units for p in resumed.packages] == [1, 1]
        serial = await second_console.packing.scan(number, "SN-42", session_id=sid)
        assert serial.outcome is OK and serial.serial == "SN-42" and serial.package_no == 2
        # Undo reaches back across the restart: it is the same session.
        undo = await second_console.packing.undo(number, session_id=sid)
        assert undo.counted == -1 and undo.line is not None and undo.line.sku == "PL-10000"
    assert await packed(shop, number) == {"PL-10002": 2, "PL-10000": 0}


async def test_two_packers_one_order(shop: Services, db_url: str, clock: FixedClock) -> None:
    number = await order_to_pack(shop, (("PL-10002", 3),))
    alice_session = await shop.packing.start(number)  # the fixture's operator: "tester"
    sid = alice_session.session_id
    async with other_services(db_url, clock, operator="bob") as bob:
        with pytest.raises(PackClaimed) as refused:
            await bob.packing.start(number)
        assert refused.value.holder == "tester"
        assert refused.value.until == alice_session.claimed_until
        assert str(refused.value) == (
            f"order #{number} is being packed by tester (claimed until 12:10:00 UTC, "
            "10 minutes after their last scan)"
        )
        # Every scan extends the claim.
        clock.advance(9 * 60)
        await shop.packing.scan(number, UPC_A, session_id=sid)
        clock.advance(9 * 60)
        with pytest.raises(PackClaimed, match="claimed until 12:19:00 UTC"):
            await bob.packing.start(number)
        # tester's console dies; after the claim expires bob takes over.
        clock.advance(60 + 1)
        bob_session = await bob.packing.start(number)
        assert bob_session.took_over_from == "tester" and not bob_session.resumed
        assert bob_session.progress.lines[0].packed == 1
        result = await bob.packing.scan(number, UPC_A, session_id=bob_session.session_id)
        assert result.outcome is OK and result.line is not None and result.line.packed == 2
        # tester's console comes back: its session is over, its scans count nowhere.
        late = await shop.packing.scan(number, UPC_A, session_id=sid)
        assert late.outcome is NO
        assert late.message == f"order #{number} is now being packed by bob; this session ended"
        with pytest.raises(PackClaimed, match="being packed by bob"):
            await shop.packing.start(number)
        # bob leaves the screen: the claim is released at once.
        await bob.packing.leave(number, session_id=bob_session.session_id)
    again = await shop.packing.start(number)
    assert again.took_over_from is None and again.progress.lines[0].packed == 2
    assert [r.actor for r in await journal(shop, number)] == ["tester", "bob", "tester"]


async def test_ready_to_ship_switched_off_still_finishes(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop, (("PL-10002", 1),))
    async with other_services(db_url, clock, statuses={"disabled": ["ready_to_ship"]}) as no_rts:
        sid = (await no_rts.packing.start(number)).session_id
        await no_rts.packing.scan(number, UPC_A, session_id=sid)
        done = await no_rts.packing.validate(number, session_id=sid)
        assert done.outcome is ScanOutcome.FINISHED
        assert "ready_to_ship is switched off" in done.message
        assert done.progress.status is Status.PROCESSING


async def test_stock_lines_are_packed_after_the_vendor_shipped_first(shop: Services) -> None:
    """A vendor's drop-ship line went out first (partially_shipped): the packer can still
    pack our stock line; finishing leaves the order partially_shipped, its shipment ships it."""
    from services import carriers
    from services.shipment_entry import NewShipment

    number = await order_to_pack(shop, (("PL-10002", 1), ("PL-10001", 1)))
    vendor = carriers.generate("ups", __import__("random").Random(5))
    await shop.shipping.ship(number, NewShipment(tracking=vendor, lines=(("PL-10001", 1),)))
    assert (await shop.orders.show(number)).status is Status.PARTIALLY_SHIPPED
    sid = (await shop.packing.start(number)).session_id
    await shop.packing.scan(number, UPC_A, session_id=sid)
    done = await shop.packing.scan(number, "PL:VALIDATE", session_id=sid)
    assert done.outcome is ScanOutcome.FINISHED, done.message
    assert "stays partially_shipped" in done.message
    assert (await packed(shop, number))["PL-10002"] == 1
    ours = carriers.generate("ups", __import__("random").Random(6))
    await shop.shipping.ship(number, NewShipment(tracking=ours))
    assert (await shop.orders.show(number)).status is Status.SHIPPED
