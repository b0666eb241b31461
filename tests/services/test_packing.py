"""Packing scans on a real SQLite file and a real PostgreSQL server: what counts, what is
refused (and then changes nothing), quantities, serials, undo and packages."""

from __future__ import annotations

import pytest

from services.barcodes import GS
from services.container import Services
from services.errors import InvalidInput, NotFound
from services.packing import NotPackable, SessionMismatch
from services.statuses import Status
from services.views import ScanOutcome
from tests.conftest import FixedClock
from tests.services.test_packing_support import (
    DROP_UPC,
    EAN_8,
    EAN_13,
    INTERNAL,
    NOT_ON_ORDER,
    SERIAL_UPC,
    SERIAL_UPC_2,
    UPC_A,
    UPC_A_2,
    journal,
    order_to_pack,
    packed,
    seed_shop,
)

OK, NO = ScanOutcome.ACCEPTED, ScanOutcome.REFUSED


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


async def test_a_gtin_counts_whatever_length_it_is_scanned_at(shop: Services) -> None:
    number = await order_to_pack(
        shop, (("PL-10002", 3), ("PL-10007", 2), ("PL-10009", 2), ("PL-10005", 2))
    )
    session = await shop.packing.start(number)
    assert not session.resumed and session.operator == "tester"
    sid = session.session_id
    assert [ln.sku for ln in session.progress.lines] == [
        "PL-10002",
        "PL-10007",
        "PL-10009",
        "PL-10005",
    ]
    assert session.progress.lines[0].bin == "C-01-3" and session.progress.lines[0].barcode == UPC_A
    # UPC-A as printed, as EAN-13 (leading 0) and as GTIN-14: one product.
    for code in (UPC_A, "0" + UPC_A, "00" + UPC_A):
        result = await shop.packing.scan(number, code, session_id=sid)
        assert result.outcome is OK, result.message
    assert result.line is not None and (result.line.packed, result.line.ordered) == (3, 3)
    assert result.message.startswith("PL-10002: 3 of 3 packed")
    for code in (EAN_13, "0" + EAN_13, EAN_8, "000000" + EAN_8, INTERNAL, "PL-10005"):
        result = await shop.packing.scan(number, code + "\r", session_id=sid)
        assert result.outcome is OK, (code, result.message)
    assert result.fully_packed and result.progress.units_packed == 9
    assert "scan validate" in result.message
    assert await packed(shop, number) == {
        "PL-10002": 3,
        "PL-10007": 2,
        "PL-10009": 2,
        "PL-10005": 2,
    }
    rows = await journal(shop, number)
    assert len(rows) == 9 and all(r.accepted and r.quantity == 1 for r in rows)
    assert rows[-1].code == "PL-10005"  # the Enter is not part of the code
    assert all(r.session_id == sid and r.actor == "tester" and r.package_no == 1 for r in rows)
    data = result.to_json()
    assert data["outcome"] == "accepted" and data["fully_packed"] is True
    assert {k: data["line"][k] for k in ("sku", "packed", "ordered")} == {
        "sku": "PL-10005",
        "packed": 2,
        "ordered": 2,
    }
    assert len(data["progress"]["lines"]) == 4


REFUSALS = [
    # (what is scanned, words the message must contain)
    (NOT_ON_ORDER, [f"{NOT_ON_ORDER} is not on order #", "it is PL-10004"]),
    ("0012345678905", ["0012345678905 is not on order #", "no product has this code"]),
    ("614141000028", ["614141000028: check digit should be 9, not 8"]),
    ("40123450000A8", ["40123450000A8 is not on order #"]),  # letters in an EAN
    ("9" * 200, ["200 characters long"]),
    ("6141\x1b[2J41000029", ["<ESC>", "control characters"]),
    ("614141\x00000029", ["<NUL>"]),
    ("", ["empty scan"]),
    ("PL:EXPLODE", ["not a Packline command"]),
    ("0*" + UPC_A, ["quantity must be a whole number"]),
    (DROP_UPC, ["PL-10001 ships from the vendor"]),
    ("]C1" + "01" + "00" + UPC_A + "17" + "240131", ["expired on 2024-01-31"]),
    ("]C1" + "00" + "106141411234567897", ["SSCC names a shipping container"]),
    (UPC_A_2, ["all 1 of PL-10003 are already packed"]),
    ("3*" + UPC_A, ["3 is more than the 1 of PL-10002 still to pack (1 of 2 packed)"]),
    ("#99999", ["no order #99999"]),
    (SERIAL_UPC_2 + "\t", ["<TAB>"]),
]


async def test_every_refusal_says_why_and_changes_nothing(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 2), ("PL-10003", 1), ("PL-10001", 1)))
    sid = (await shop.packing.start(number)).session_id
    for code in (UPC_A, UPC_A_2):
        assert (await shop.packing.scan(number, code, session_id=sid)).outcome is OK
    before = await packed(shop, number)
    assert before == {"PL-10002": 1, "PL-10003": 1, "PL-10001": 0}
    for raw, words in REFUSALS:
        result = await shop.packing.scan(number, raw, session_id=sid)
        assert result.outcome is NO, (raw, result.message)
        for word in words:
            assert word in result.message, (raw, result.message)
        assert result.counted == 0
        assert "\x1b" not in result.message and "\x00" not in result.message
        assert "\x1b" not in result.code
        assert await packed(shop, number) == before, raw
    rows = await journal(shop, number)
    refused = [r for r in rows if not r.accepted]
    assert len(refused) == len(REFUSALS)  # every scan saved, refused ones with their reason
    assert all(r.message for r in refused)
    assert refused[5].code == "6141\x1b[2J41000029"  # stored exactly
    assert refused[6].code == "614141<NUL>000029"  # except what the column cannot hold
    assert len(refused[4].code) == 200


async def test_quantity_prefix_in_the_scan_or_on_its_own(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 10), ("PL-10003", 1)))
    sid = (await shop.packing.start(number)).session_id
    result = await shop.packing.scan(number, "4*" + UPC_A, session_id=sid)
    assert (result.outcome, result.counted, result.line and result.line.packed) == (OK, 4, 4)
    assert result.message.startswith("+4 PL-10002: 4 of 10 packed")
    result = await shop.packing.scan(number, "5*", session_id=sid)
    assert result.outcome is OK and result.progress.pending_quantity == 5
    assert "next product scanned counts 5" in result.message
    # A refused scan keeps the pending quantity; a second quantity is refused.
    refused = await shop.packing.scan(number, NOT_ON_ORDER, session_id=sid)
    assert refused.outcome is NO and refused.progress.pending_quantity == 5
    refused = await shop.packing.scan(number, "2*" + UPC_A, session_id=sid)
    assert refused.outcome is NO and "quantity given twice" in refused.message
    result = await shop.packing.scan(number, UPC_A, session_id=sid)
    assert result.counted == 5 and result.progress.pending_quantity is None
    assert (await packed(shop, number))["PL-10002"] == 9
    # GS1 count (AI 30) packs multiples too.
    gs1 = "]C1" + "01" + "00" + UPC_A + "30" + "1"
    result = await shop.packing.scan(number, gs1, session_id=sid)
    assert result.outcome is OK and result.counted == 1
    assert (await packed(shop, number))["PL-10002"] == 10


async def test_serial_in_the_same_gs1_scan(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10000", 3),))
    sid = (await shop.packing.start(number)).session_id
    gs1 = f"]C101{SERIAL_UPC.zfill(14)}21SN-0001{GS}10LOT7"
    result = await shop.packing.scan(number, gs1, session_id=sid)
    assert result.outcome is OK, result.message
    assert result.serial == "SN-0001" and "serial SN-0001" in result.message
    assert (await journal(shop, number))[-1].serial == "SN-0001"
    again = await shop.packing.scan(number, gs1, session_id=sid)
    assert again.outcome is NO
    assert again.message == "serial SN-0001 of PL-10000 is already packed on this order"
    # Two at once cannot each carry a serial.
    many = await shop.packing.scan(number, "2*" + SERIAL_UPC, session_id=sid)
    assert many.outcome is NO and "serialised" in many.message
    assert (await packed(shop, number))["PL-10000"] == 1


async def test_serial_as_the_next_scan_and_a_duplicate_on_another_order(shop: Services) -> None:
    first = await order_to_pack(shop, (("PL-10000", 1), ("PL-10002", 1)))
    sid = (await shop.packing.start(first)).session_id
    result = await shop.packing.scan(first, SERIAL_UPC, session_id=sid)
    assert result.outcome is ScanOutcome.NEEDS_SERIAL and result.counted == 0
    assert result.progress.pending_serial == "PL-10000"
    assert "scan its serial number" in result.message
    # While the serial is awaited: product codes, other commands and slips are refused.
    for raw, words in (
        (UPC_A, "is a product barcode"),
        (SERIAL_UPC, "is a product barcode"),
        ("PL:NEXT", "scan the serial number of PL-10000 first"),
        ("PL:VALIDATE", "scan the serial number of PL-10000 first"),
        ("5*", "scan the serial number of PL-10000 first"),
        ("SN\x07BEL", "control characters"),
    ):
        refused = await shop.packing.scan(first, raw, session_id=sid)
        assert refused.outcome is NO and words in refused.message, (raw, refused.message)
        assert refused.progress.pending_serial == "PL-10000"
    result = await shop.packing.scan(first, "ABC 123/X", session_id=sid)
    assert result.outcome is OK and result.serial == "ABC 123/X" and result.counted == 1
    assert result.progress.pending_serial is None
    assert await packed(shop, first) == {"PL-10000": 1, "PL-10002": 0}

    second = await order_to_pack(shop, (("PL-10000", 1),))
    sid2 = (await shop.packing.start(second)).session_id
    assert (await shop.packing.scan(second, SERIAL_UPC, session_id=sid2)).outcome is (
        ScanOutcome.NEEDS_SERIAL
    )
    dup = await shop.packing.scan(second, "ABC 123/X", session_id=sid2)
    assert dup.outcome is NO
    assert dup.message == f"serial ABC 123/X of PL-10000 is already packed on order #{first}"
    assert dup.progress.pending_serial == "PL-10000"  # still waiting for a good one
    # Undoing the first packing of the serial frees it.
    assert (await packed(shop, second)) == {"PL-10000": 0}
    undone = await shop.packing.undo(first, session_id=sid)
    assert undone.outcome is OK and undone.counted == -1 and "ABC 123/X" in undone.message
    ok = await shop.packing.scan(second, "ABC 123/X", session_id=sid2)
    assert ok.outcome is OK and ok.serial == "ABC 123/X"


async def test_undo_compensates_and_keeps_history(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 5), ("PL-10003", 1)))
    sid = (await shop.packing.start(number)).session_id
    await shop.packing.scan(number, "3*" + UPC_A, session_id=sid)
    await shop.packing.scan(number, UPC_A_2, session_id=sid)
    await shop.packing.scan(number, NOT_ON_ORDER, session_id=sid)  # refused: not undoable
    result = await shop.packing.undo(number, session_id=sid)
    assert result.outcome is OK and result.counted == -1 and result.line is not None
    assert result.line.sku == "PL-10003" and "undone: 1 × PL-10003" in result.message
    result = await shop.packing.scan(number, "PL:UNDO", session_id=sid)
    assert result.counted == -3 and result.line is not None and result.line.packed == 0
    nothing = await shop.packing.undo(number, session_id=sid)
    assert nothing.outcome is NO and nothing.message == "nothing to undo in this session"
    assert await packed(shop, number) == {"PL-10002": 0, "PL-10003": 0}
    rows = await journal(shop, number)
    assert [(r.accepted, r.quantity) for r in rows] == [
        (True, 3),
        (True, 1),
        (False, 1),
        (True, -1),
        (True, -3),
        (False, 0),
    ]
    # Undo of a pending quantity prefix cancels it.
    await shop.packing.scan(number, "2*", session_id=sid)
    cancel = await shop.packing.undo(number, session_id=sid)
    assert cancel.outcome is OK and cancel.progress.pending_quantity is None
    assert (await shop.packing.scan(number, UPC_A, session_id=sid)).counted == 1


async def test_packages_and_weights(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 3), ("PL-10003", 1)))
    session = await shop.packing.start(number)
    sid = session.session_id
    assert [p.number for p in session.packages] == [1]
    empty = await shop.packing.scan(number, "PL:NEXT", session_id=sid)
    assert empty.outcome is NO and "package 1 is still empty" in empty.message
    await shop.packing.scan(number, "2*" + UPC_A, session_id=sid)
    result = await shop.packing.next_package(number, session_id=sid)
    assert result.outcome is OK and result.package_no == 2 and "package 2 started" in result.message
    await shop.packing.scan(number, UPC_A, session_id=sid)
    await shop.packing.scan(number, UPC_A_2, session_id=sid)
    heavy = await shop.packing.set_package_weight(number, 2, 1250)
    assert heavy.weight_grams == 1250 and heavy.units == 2
    packages = await shop.packing.packages(f"#{number}")
    assert [(p.number, p.items, p.weight_grams) for p in packages] == [
        (1, (("PL-10002", 2),), None),
        (2, (("PL-10002", 1), ("PL-10003", 1)), 1250),
    ]
    assert packages[1].to_json()["items"] == [
        {"sku": "PL-10002", "quantity": 1},
        {"sku": "PL-10003", "quantity": 1},
    ]
    # Undo takes a unit out of the package it went into.
    await shop.packing.undo(number, session_id=sid)
    packages = await shop.packing.packages(number)
    assert packages[1].items == (("PL-10002", 1),)
    for bad in (0, -5, 10**9):
        with pytest.raises(InvalidInput, match="whole number of grams"):
            await shop.packing.set_package_weight(number, 1, bad)
    with pytest.raises(NotFound, match="has no package 3 \\(it has packages 1 to 2\\)"):
        await shop.packing.set_package_weight(number, 3, 100)


async def test_only_processing_orders_with_stock_lines_are_packed(shop: Services) -> None:
    new = await order_to_pack(shop, status=Status.NEW)
    with pytest.raises(NotPackable, match="is new: move it to processing first"):
        await shop.packing.start(new)
    drop_only = await order_to_pack(shop, (("PL-10001", 1),))
    with pytest.raises(NotPackable, match="every line ships from a vendor"):
        await shop.packing.start(drop_only)
    with pytest.raises(NotFound):
        await shop.packing.start(999999)
    number = await order_to_pack(shop)
    sid = (await shop.packing.start(number)).session_id
    # Held while being packed: scans are refused, nothing counts.
    from services.statuses import HoldReason

    await shop.orders.set_status(number, Status.HELD, reason=HoldReason.INCORRECT_ADDRESS)
    result = await shop.packing.scan(number, UPC_A, session_id=sid)
    assert result.outcome is NO and "it is on hold" in result.message
    assert await packed(shop, number) == {"PL-10002": 0, "PL-10003": 0}
    # A session id of another order is a mistake of the caller, not a scan.
    other = await order_to_pack(shop)
    with pytest.raises(SessionMismatch):
        await shop.packing.scan(other, UPC_A, session_id=sid)


async def test_slips_open_other_orders(shop: Services) -> None:
    number = await order_to_pack(shop)
    other = await order_to_pack(shop)
    sid = (await shop.packing.start(number)).session_id
    result = await shop.packing.scan(number, f"PL:ORDER:{other}", session_id=sid)
    assert result.outcome is ScanOutcome.OPEN_ORDER and result.open_order == other
    assert result.message == f"open order #{other}"
    same = await shop.packing.scan(number, f"#{number}", session_id=sid)
    assert same.outcome is OK and same.open_order is None
    assert await packed(shop, number) == {"PL-10002": 0, "PL-10003": 0}


async def test_abort_keeps_what_was_packed_and_frees_the_order(
    shop: Services, clock: FixedClock
) -> None:
    number = await order_to_pack(shop)
    sid = (await shop.packing.start(number)).session_id
    await shop.packing.scan(number, UPC_A, session_id=sid)
    result = await shop.packing.scan(number, "pl:abort", session_id=sid)
    assert result.outcome is ScanOutcome.ABORTED
    assert "1 of 3 units stay packed" in result.message
    after = await shop.packing.scan(number, UPC_A, session_id=sid)
    assert after.outcome is NO and "has ended" in after.message
    assert await packed(shop, number) == {"PL-10002": 1, "PL-10003": 0}
    again = await shop.packing.start(number)
    assert again.session_id != sid and not again.resumed
    assert again.progress.lines[0].packed == 1
    assert (await shop.packing.undo(number, session_id=again.session_id)).outcome is NO
