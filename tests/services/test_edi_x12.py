"""X12 850 rendering is checked by parsing the file back; 856 reading against vendor-style files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.edi_x12 import (
    Envelope,
    Party,
    POAcknowledgment,
    POLine850,
    PurchaseOrder850,
    ShipNotice,
    ShipNoticeItem,
    ShipTo,
    X12Error,
    parse_855,
    parse_856,
    parse_x12,
    render_850,
    transaction_sets,
)

ENV = Envelope(
    sender=Party("ZZ", "PACKLINE"),
    receiver=Party("12", "5551234567"),
    interchange_control=42,
    group_control=7,
    created=datetime(2024, 3, 12, 15, 30),
)
SHIP_TO = ShipTo("Jane Doe", "1 Main St", "Apt 4", "Springfield", "IL", "62701", "US")
LINES = (
    POLine850(1, 2, "EA", 1250, "SKU-RED", upc="012345678905", description="Red mug"),
    POLine850(2, 1, "EA", 5, "SKU-BLUE"),
)
PO = PurchaseOrder850(
    "PO-1001", date(2024, 3, 10), SHIP_TO, LINES, buyer_name="Acme Shop", order_ref="1001"
)


def segs(text: str) -> list[list[str]]:
    return parse_x12(text).segments


def transactions(segments: list[list[str]]) -> list[list[list[str]]]:
    out: list[list[list[str]]] = []
    for seg in segments:
        if seg[0] == "ST":
            out.append([])
        if out and (not out[-1] or out[-1][-1][0] != "SE"):
            out[-1].append(seg)
    return out


def find(segments: list[list[str]], tag: str, first: str | None = None) -> list[list[str]]:
    return [s for s in segments if s[0] == tag and (first is None or s[1] == first)]


# -- 850 -------------------------------------------------------------------------------------


def test_envelope_fields() -> None:
    text = render_850(ENV, [PO])
    parsed = parse_x12(text)
    assert (parsed.element_sep, parsed.segment_term, parsed.component_sep) == ("*", "~", ">")
    isa_text = text[: text.index("~") + 1]
    assert len(isa_text) == 106
    isa = parsed.segments[0]
    assert len(isa) == 17
    assert isa[1:5] == ["00", " " * 10, "00", " " * 10]
    assert isa[5:9] == ["ZZ", "PACKLINE       ", "12", "5551234567     "]
    assert isa[9:17] == ["240312", "1530", "U", "00401", "000000042", "0", "P", ">"]
    gs, ge, iea = parsed.segments[1], parsed.segments[-2], parsed.segments[-1]
    assert gs == ["GS", "PO", "PACKLINE", "5551234567", "20240312", "1530", "7", "X", "004010"]
    assert ge == ["GE", "1", "7"]
    assert iea == ["IEA", "1", "000000042"]
    assert isa[13] == iea[2] and gs[6] == ge[2]


def test_test_flag_and_no_newlines() -> None:
    text = render_850(replace(ENV, test=True), [PO], newlines=False)
    assert "\n" not in text
    assert len(text[: text.index("~") + 1]) == 106
    assert segs(text)[0][15] == "T"
    assert segs(text)[1:] == segs(render_850(ENV, [PO]))[1:]


def test_transaction_field_by_field() -> None:
    (tx,) = transactions(segs(render_850(ENV, [PO])))
    assert tx[0] == ["ST", "850", "0001"]
    assert tx[-1] == ["SE", str(len(tx)), "0001"]
    assert tx[1] == ["BEG", "00", "DS", "PO-1001", "", "20240310"]
    assert find(tx, "REF") == [["REF", "CO", "1001"]]
    assert find(tx, "N1", "BY") == [["N1", "BY", "Acme Shop"]]
    assert find(tx, "N1", "ST") == [["N1", "ST", "Jane Doe"]]
    assert find(tx, "N3") == [["N3", "1 Main St", "Apt 4"]]
    assert find(tx, "N4") == [["N4", "Springfield", "IL", "62701", "US"]]
    po1 = find(tx, "PO1")
    assert po1 == [
        ["PO1", "1", "2", "EA", "12.50", "", "VP", "SKU-RED", "UP", "012345678905"],
        ["PO1", "2", "1", "EA", "0.05", "", "VP", "SKU-BLUE"],
    ]
    assert find(tx, "PID") == [["PID", "F", "", "", "", "Red mug"]]
    assert find(tx, "CTT") == [["CTT", str(len(po1))]]
    # The ship-to loop comes before the lines, the PID right after its PO1.
    tags = [s[0] for s in tx]
    assert tags == ["ST", "BEG", "REF", "N1", "N1", "N3", "N4", "PO1", "PID", "PO1", "CTT", "SE"]


def test_optional_segments_are_omitted() -> None:
    po = replace(
        PO,
        buyer_name="",
        order_ref="",
        ship_to=replace(SHIP_TO, line2=""),
        lines=(POLine850(7, 3, "CA", 0, "BOX"),),
    )
    (tx,) = transactions(segs(render_850(ENV, [po])))
    assert [s[0] for s in tx] == ["ST", "BEG", "N1", "N3", "N4", "PO1", "CTT", "SE"]
    assert find(tx, "N3") == [["N3", "1 Main St"]]
    assert find(tx, "PO1") == [["PO1", "7", "3", "CA", "0.00", "", "VP", "BOX"]]
    assert tx[-1] == ["SE", "8", "0001"]


def test_several_purchase_orders() -> None:
    pos = [replace(PO, po_number=f"PO-{n}") for n in range(3)]
    parsed = segs(render_850(ENV, pos, first_transaction_control=998))
    txs = transactions(parsed)
    assert [tx[0][2] for tx in txs] == ["0998", "0999", "1000"]
    assert [tx[1][3] for tx in txs] == ["PO-0", "PO-1", "PO-2"]
    for tx in txs:
        assert tx[-1] == ["SE", str(len(tx)), tx[0][2]]
    assert find(parsed, "GE") == [["GE", "3", "7"]]


def test_control_numbers_pad_to_four_digits_and_grow() -> None:
    parsed = segs(render_850(ENV, [PO], first_transaction_control=123456789))
    assert find(parsed, "ST") == [["ST", "850", "123456789"]]
    assert find(parsed, "SE")[0][2] == "123456789"


Change = Callable[[Envelope, PurchaseOrder850], tuple[Envelope, list[PurchaseOrder850]]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e, p: (replace(e, interchange_control=0), [p]), "interchange control"),
        (lambda e, p: (replace(e, interchange_control=1_000_000_000), [p]), "interchange control"),
        (lambda e, p: (replace(e, group_control=-1), [p]), "group control"),
        (lambda e, p: (replace(e, sender=Party("Z", "PACKLINE")), [p]), "sender qualifier"),
        (lambda e, p: (replace(e, receiver=Party("ZZ", "X" * 16)), [p]), "receiver id"),
        (lambda e, p: (replace(e, sender=Party("ZZ", "PACK*LINE")), [p]), "sender id"),
        (lambda e, p: (e, []), "no purchase orders"),
        (lambda e, p: (e, [replace(p, lines=())]), "no lines"),
        (lambda e, p: (e, [replace(p, po_number="PO~1")]), "PO number"),
        (lambda e, p: (e, [replace(p, po_number="P" * 23)]), "PO number"),
        (lambda e, p: (e, [replace(p, lines=(replace(LINES[0], quantity=0),))]), "quantity"),
        (lambda e, p: (e, [replace(p, lines=(replace(LINES[0], unit_price_cents=-1),))]), "price"),
        (lambda e, p: (e, [replace(p, lines=(replace(LINES[0], unit="each"),))]), "unit"),
        (lambda e, p: (e, [replace(p, lines=(replace(LINES[0], vendor_sku=""),))]), "vendor SKU"),
        (lambda e, p: (e, [replace(p, lines=(LINES[0], LINES[0]))]), "used twice"),
        (lambda e, p: (e, [replace(p, ship_to=replace(SHIP_TO, name="*~>\n"))]), "ship-to name"),
        (
            lambda e, p: (e, [replace(p, ship_to=replace(SHIP_TO, country="United States"))]),
            "ISO code",
        ),
    ],
)
def test_invalid_input_is_refused(change: Change, message: str) -> None:
    env, pos = change(ENV, PO)
    with pytest.raises(ValueError, match=message):
        render_850(env, pos)


def test_transaction_control_range_is_checked() -> None:
    with pytest.raises(ValueError, match="last transaction control"):
        render_850(ENV, [PO, PO], first_transaction_control=999_999_999)
    with pytest.raises(ValueError, match="first transaction control"):
        render_850(ENV, [PO], first_transaction_control=0)


def test_free_text_is_folded_to_x12_characters() -> None:
    po = replace(
        PO,
        ship_to=replace(SHIP_TO, name="José Müller-Straße\t*VIP*", city="Zürich"),
        buyer_name="Ünïcode ☃ Shop",
        lines=(replace(LINES[0], description="a" * 200),),
    )
    tx = segs(render_850(ENV, [po]))
    assert find(tx, "N1", "ST") == [["N1", "ST", "Jose Muller-Strasse VIP"]]
    assert find(tx, "N1", "BY") == [["N1", "BY", "Unicode Shop"]]
    assert find(tx, "N4")[0][1] == "Zurich"
    assert find(tx, "PID")[0][5] == "a" * 80


HOSTILE = st.text(
    alphabet=st.sampled_from("*~>\n\r\t\x00\x1b\x7f aZ9éß☃^|:\\\u2028\ufe61\uff0a"), max_size=40
) | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    name=HOSTILE,
    line1=HOSTILE,
    line2=HOSTILE,
    city=HOSTILE,
    region=HOSTILE,
    buyer=HOSTILE,
    description=HOSTILE,
)
def test_hostile_text_never_changes_structure(
    name: str, line1: str, line2: str, city: str, region: str, buyer: str, description: str
) -> None:
    ship_to = ShipTo("X" + name, "Y" + line1, line2, "Z" + city, region, "62701", "US")
    po = replace(
        PO,
        ship_to=ship_to,
        buyer_name=buyer,
        lines=(replace(LINES[0], description=description), LINES[1]),
    )
    text = render_850(ENV, [po, po])
    # Exactly one line per segment, one terminator per line, nothing outside printable ASCII.
    lines = text.split("\n")
    assert lines[-1] == ""
    assert all(line.count("~") == 1 and line.endswith("~") for line in lines[:-1])
    assert all(" " <= ch <= "~" for ch in text.replace("\n", ""))
    assert len(lines[0]) == 106
    parsed = segs(text)
    assert len(parsed) == len(lines) - 1
    assert all(">" not in el for seg in parsed[:1] for el in seg[:-1])
    assert all(">" not in el for seg in parsed[1:] for el in seg)
    txs = transactions(parsed)
    assert len(txs) == 2 and find(parsed, "GE")[0][1] == "2"
    for tx in txs:
        assert tx[-1] == ["SE", str(len(tx)), tx[0][2]]
        (n1,) = find(tx, "N1", "ST")
        assert len(n1) == 3 and n1[2].startswith("X")
        (n3,) = find(tx, "N3")
        assert len(n3) in (2, 3) and n3[1].startswith("Y")
        (n4,) = find(tx, "N4")
        assert n4[1].startswith("Z") and n4[3:] == ["62701", "US"]
        assert len(find(tx, "N1", "BY")) <= 1
        assert [len(s) for s in find(tx, "PO1")] == [10, 8]
        for pid in find(tx, "PID"):
            assert len(pid) == 6 and pid[5]
        assert find(tx, "CTT") == [["CTT", "2"]]


@settings(max_examples=100, deadline=None)
@given(
    quantity=st.integers(1, 10**9),
    cents=st.integers(0, 10**11),
    line_no=st.integers(1, 10**6),
    count=st.integers(1, 5),
)
def test_quantities_and_prices_round_trip(
    quantity: int, cents: int, line_no: int, count: int
) -> None:
    lines = tuple(POLine850(line_no + i, quantity, "EA", cents, f"S{i}") for i in range(count))
    parsed = segs(render_850(ENV, [replace(PO, lines=lines)]))
    po1 = find(parsed, "PO1")
    assert [int(s[1]) for s in po1] == [line_no + i for i in range(count)]
    assert all(int(s[2]) == quantity for s in po1)
    assert all(Decimal(s[4]) * 100 == cents and len(s[4].split(".")[1]) == 2 for s in po1)
    assert find(parsed, "CTT") == [["CTT", str(count)]]


# -- parse_x12 -------------------------------------------------------------------------------


def test_parse_x12_reads_separators_from_isa() -> None:
    text = (
        "ISA|00|          |00|          |ZZ|VENDOR         |ZZ|PACKLINE       "
        "|240312|1530|U|00401|000000001|0|P|:\r\n"
        "GS|SH|VENDOR|PACKLINE|20240312|1530|1|X|004010\r\n"
        "IEA|1|000000001\r\n"
    )
    parsed = parse_x12(text)
    assert (parsed.element_sep, parsed.component_sep, parsed.segment_term) == ("|", ":", "\r")
    assert [s[0] for s in parsed.segments] == ["ISA", "GS", "IEA"]
    assert parsed.segments[1][1] == "SH"


def test_parse_x12_tolerates_bom_and_indentation() -> None:
    text = "\ufeff\n" + render_850(ENV, [PO]).replace("~\n", "~\r\n  ")
    assert parse_x12(text).segments == segs(render_850(ENV, [PO], newlines=False))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "<?xml version='1.0'?><order/>",
        "ISA",
        "ISA*00*          *00*  ",
        "ISA*00*          *00*          *ZZ*VENDOR         *ZZ*PACKLINE       *240312*1530",
        "ISA*00*          *00*          *ZZ*VENDOR         *ZZ*PACKLINE       "
        "*240312*1530*U*00401*000000001*0*P*>",
        "ISAA00A",
    ],
)
def test_garbage_raises(text: str) -> None:
    with pytest.raises(X12Error):
        parse_x12(text)
    with pytest.raises(X12Error):
        parse_856(text)


# -- 856 -------------------------------------------------------------------------------------

ISA_856 = (
    "ISA*00*          *00*          *ZZ*ACMEVENDOR     *ZZ*PACKLINE       "
    "*240312*1530*U*00401*000000123*0*P*>~\n"
)

SAMPLE_856 = (
    ISA_856
    + """GS*SH*ACMEVENDOR*PACKLINE*20240312*1530*77*X*004010~
ST*856*0001~
BSN*00*SN1001*20240312*1530~
HL*1**S~
TD1*CTN25*1****G*4.2*LB~
TD5**2*UPSN*M*UPS GROUND~
REF*CN*1Z999AA10123456784~
DTM*011*20240312~
N1*ST*Jane Doe~
HL*2*1*O~
PRF*PO-1001***20240310~
HL*3*2*I~
LIN*1*VP*SKU-RED*UP*012345678905~
SN1*1*2*EA~
HL*4*2*I~
LIN*2*VP*SKU-BLUE~
SN1*2*1*EA~
CTT*4~
SE*18*0001~
ST*856*0002~
BSN*00*SN1002*20240312*1545~
HL*1**S~
TD5**2*FDEG~
DTM*011*20240311~
HL*2*1*O~
PRF*PO-1002~
HL*3*2*P~
MAN*CP*612999AA10123456~
HL*4*3*I~
LIN**VP*MUG-01*UP*036000291452~
SN1**3*EA~
SE*13*0002~
ST*856*0003~
BSN*00*SN1003*20240312*1600~
HL*1**S~
TD5**2*USPS~
REF*CN*9400100000000000000000~
HL*2*1*O~
HL*3*2*I~
LIN*1*VP*X~
SN1*1*1*EA~
SE*10*0003~
GE*3*77~
IEA*1*000000123~
"""
)


def test_realistic_856() -> None:
    notices, errors = parse_856(SAMPLE_856)
    assert notices == [
        ShipNotice(
            po_number="PO-1001",
            tracking="1Z999AA10123456784",
            carrier="ups",
            ship_date=date(2024, 3, 12),
            items=(
                ShipNoticeItem(1, "SKU-RED", "012345678905", 2),
                ShipNoticeItem(2, "SKU-BLUE", "", 1),
            ),
            segment_line=3,
        ),
        ShipNotice(
            po_number="PO-1002",
            tracking="612999AA10123456",
            carrier="fedex",
            ship_date=date(2024, 3, 11),
            items=(ShipNoticeItem(0, "MUG-01", "036000291452", 3),),
            segment_line=21,
        ),
    ]
    assert errors == ["ST #3 (segment 34): no PRF (purchase order) segment"]
    assert segs(SAMPLE_856)[33][:2] == ["ST", "856"]


def wrap(*transactions: str) -> str:
    body = "".join(transactions)
    return (
        ISA_856
        + "GS*SH*ACMEVENDOR*PACKLINE*20240312*1530*77*X*004010~\n"
        + body
        + f"GE*{body.count('ST*')}*77~\nIEA*1*000000123~\n"
    )


def tx856(number: str, *segments: str, se_count: int | None = None) -> str:
    count = len(segments) + 2 if se_count is None else se_count
    return "".join(f"{s}~\n" for s in (f"ST*856*{number}", *segments, f"SE*{count}*{number}"))


GOOD = tx856(
    "0001",
    "HL*1**S",
    "TD5**2*UPSN",
    "REF*CN*1ZGOOD",
    "HL*2*1*O",
    "PRF*PO-1",
    "HL*3*2*I",
    "LIN*1*VP*A",
    "SN1*1*1*EA",
)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            tx856("0002", "HL*1**S", "REF*CN*1Z", "HL*2*1*O", "PRF*PO-2", se_count=9),
            "SE says 9 segments but the transaction has 6",
        ),
        (
            tx856("0002", "HL*1**S", "TD5**2*UPSN", "HL*2*1*O", "PRF*PO-2"),
            "no tracking number (REF*CN or MAN*CP) for PO PO-2",
        ),
        (
            tx856(
                "0002",
                "HL*1**S",
                "REF*CN*1Z",
                "HL*2*1*O",
                "PRF*PO-2",
                "HL*3*2*I",
                "LIN*1*VP*A",
                "SN1*1*two*EA",
            ),
            "segment 20: SN1 quantity 'two' is not a whole",
        ),
        (
            tx856(
                "0002",
                "HL*1**S",
                "REF*CN*1Z",
                "HL*2*1*O",
                "PRF*PO-2",
                "HL*3*2*I",
                "LIN*1*VP*A",
                "SN1*1*1.5*EA",
            ),
            "SN1 quantity '1.5'",
        ),
        (
            tx856("0002", "HL*1**S", "REF*CN*1Z", "HL*2*1*O", "PRF*PO-2", "HL*3*2*I", "LIN*1*VP*A"),
            "segment 19: LIN has no SN1 quantity",
        ),
        (tx856("0002", "REF*CN*1Z", "PRF*PO-2", "DTM*011*20241399"), "DTM*011 date"),
        ("ST*856*0002~\nPRF*PO-2~\nREF*CN*1Z~\n", "no SE segment"),
        ("ST*856*0002~\nPRF*PO-2~\nREF*CN*1Z~\nSE*4*0003~\n", "does not match ST"),
        ("ST*810*0002~\nBIG*20240312*INV1~\nSE*3*0002~\n", "not a ship notice"),
    ],
)
def test_malformed_transaction_is_reported_and_good_ones_kept(bad: str, message: str) -> None:
    notices, errors = parse_856(wrap(GOOD, bad, GOOD.replace("0001", "0003")))
    assert [n.tracking for n in notices] == ["1ZGOOD", "1ZGOOD"]
    assert [n.segment_line for n in notices] == [3, 3 + GOOD.count("~") + bad.count("~")]
    assert len(errors) == 1
    assert errors[0].startswith(f"ST #2 (segment {3 + GOOD.count('~')}): ")
    assert message in errors[0]


def test_tracking_preference_and_carriers() -> None:
    both = tx856("0001", "TD5*B*2*FDXE", "MAN*CP*CPNUM", "REF*CN*CNNUM", "PRF*PO-1")
    gm_only = tx856("0002", "TD5*B*2*ABFS", "MAN*GM*00012345678901234567", "PRF*PO-2")
    routed = tx856("0003", "TD5*B*2**M*DHL Express", "REF*CN*12 3456 7890", "PRF*PO-3")
    notices, errors = parse_856(wrap(both, gm_only, routed))
    assert errors == []
    assert [(n.po_number, n.tracking, n.carrier) for n in notices] == [
        ("PO-1", "CNNUM", "fedex"),
        ("PO-2", "00012345678901234567", "abfs"),
        ("PO-3", "1234567890", "dhl"),
    ]
    assert all(n.ship_date is None and n.items == () for n in notices)


def test_one_notice_per_carton_tracking() -> None:
    multi = tx856(
        "0001",
        "HL*1**S",
        "TD5**2*UPSN",
        "REF*CN*1ZMASTER",
        "DTM*011*20240312",
        "HL*2*1*O",
        "PRF*PO-9",
        "HL*3*2*P",
        "MAN*GM*SSCC1",
        "MAN*CP*1ZBOX1",
        "HL*4*3*I",
        "LIN*1*VP*A",
        "SN1*1*2*EA",
        "HL*5*2*P",
        "MAN*CP*1ZBOX2",
        "HL*6*5*I",
        "LIN*2*VP*B",
        "SN1*2*1*EA",
        "HL*7*5*I",
        "LIN*3*VP*C",
        "SN1*3*4*EA",
    )
    notices, errors = parse_856(wrap(multi))
    assert errors == []
    assert [(n.po_number, n.tracking, [i.vendor_sku for i in n.items]) for n in notices] == [
        ("PO-9", "1ZBOX1", ["A"]),
        ("PO-9", "1ZBOX2", ["B", "C"]),
    ]
    assert {(n.carrier, n.ship_date) for n in notices} == {("ups", date(2024, 3, 12))}


def test_orders_without_hl_levels() -> None:
    flat = tx856(
        "0001",
        "BSN*00*S1*20240312",
        "TD5**2*USPS",
        "DTM*011*240312",
        "PRF*PO-A",
        "REF*CN*TRK-A",
        "LIN*1*VP*A",
        "SN1*1*1*EA",
        "PRF*PO-B",
        "REF*CN*TRK-B",
        "LIN*1*VP*B",
        "SN1*1*2*EA",
    )
    notices, errors = parse_856(wrap(flat))
    assert errors == []
    assert [(n.po_number, n.tracking, n.carrier, n.ship_date, n.items) for n in notices] == [
        ("PO-A", "TRK-A", "usps", date(2024, 3, 12), (ShipNoticeItem(1, "A", "", 1),)),
        ("PO-B", "TRK-B", "usps", date(2024, 3, 12), (ShipNoticeItem(1, "B", "", 2),)),
    ]


def test_truncated_interchange_is_reported() -> None:
    text = wrap(GOOD).replace("IEA*1*000000123~\n", "")
    notices, errors = parse_856(text)
    assert len(notices) == 1
    assert errors == [
        f"segment {len(segs(text))}: file ends without IEA (interchange may be truncated)"
    ]


def test_rendered_850_is_not_mistaken_for_856() -> None:
    notices, errors = parse_856(render_850(ENV, [PO]))
    assert notices == []
    assert errors == [
        "ST #1 (segment 3): transaction set '850' is not a ship notice (856); skipped"
    ]


# -- 855 -------------------------------------------------------------------------------------


def tx855(number: str, *segments: str) -> str:
    return tx856(number, *segments).replace("ST*856*", "ST*855*")


def test_855_acknowledgments_read_and_bad_ones_reported() -> None:
    text = wrap(
        tx855("0001", "BAK*00*AC*PO10001*20240312", "PO1*1*2*EA*6.39**VP*A", "ACK*IA*2*EA"),
        tx855("0002", "BAK*00*RJ*PO10002*20240312"),
        tx855("0003", "BAK*00*XX*PO10003*20240312"),
        tx855("0004", "BAK*00*AK**20240312"),
        tx855("0005", "BAK*00*AK*PO10005*20241399"),
        tx855("0006", "PO1*1*2*EA"),
        tx855("0007", "BAK*00*AK*PO10007"),
    )
    assert transaction_sets(text) == ["855"] * 7
    acks, errors = parse_855(text)
    assert acks == [
        POAcknowledgment("PO10001", "AC", True, date(2024, 3, 12), 3),
        POAcknowledgment("PO10002", "RJ", False, date(2024, 3, 12), 8),
        POAcknowledgment("PO10007", "AK", True, None, 23),
    ]
    assert errors == [
        "ST #3 (segment 11): segment 12: BAK acknowledgment type 'XX' is unknown",
        "ST #4 (segment 14): segment 15: BAK has no purchase order number",
        "ST #5 (segment 17): segment 18: BAK date '20241399' is not CCYYMMDD",
        "ST #6 (segment 20): 0 BAK segments; an 855 has exactly one",
    ]
    ships, errors = parse_855(wrap(GOOD))
    assert ships == []
    assert errors == [
        "ST #1 (segment 3): transaction set '856' is not a PO acknowledgment (855); skipped"
    ]
