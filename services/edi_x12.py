"""ANSI X12 004010 for drop-ship vendors: 850 purchase orders out, 855 acknowledgments and
856 ship notices in.

Pure text in, text out: the caller allocates control numbers, writes and reads the files.
Rendering refuses identifiers it would have to alter (a PO number the vendor cannot echo back
unchanged is useless) and scrubs free text, so customer-supplied names can never break the
envelope. Parsing keeps going past a bad transaction so one vendor mistake never hides the
tracking numbers of the good ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

_T = TypeVar("_T")

__all__ = [
    "Envelope",
    "POAcknowledgment",
    "POLine850",
    "ParsedX12",
    "Party",
    "PurchaseOrder850",
    "ShipNotice",
    "ShipNoticeItem",
    "ShipTo",
    "X12Error",
    "parse_855",
    "parse_856",
    "parse_x12",
    "render_850",
    "transaction_sets",
]

ELEMENT_SEP = "*"
SEGMENT_TERM = "~"
COMPONENT_SEP = ">"
REPETITION_SEP = "U"  # 004010 has no repetition separator; ISA11 carries the standards id "U"
_DELIMITERS = frozenset((ELEMENT_SEP, SEGMENT_TERM, COMPONENT_SEP))
_MAX_CONTROL = 999_999_999

# Free-text maxima from the 004010 element dictionary (N102, N301/N302, N401, PID05).
_NAME_MAX = 60
_ADDRESS_MAX = 55
_CITY_MAX = 30
_DESCRIPTION_MAX = 80

_CODE2 = re.compile(r"[0-9A-Z]{2}")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # SN1-02 is type R; negatives refused

# Letters NFKD cannot split into base letter + accent.
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Þ": "Th",
        "þ": "th",
    }
)

_SCAC_CARRIERS: dict[str, str] = {
    "UPSN": "ups",
    "UPSS": "ups",
    "UPSC": "ups",
    "UPS": "ups",
    "FDEG": "fedex",
    "FDXE": "fedex",
    "FDXG": "fedex",
    "FDE": "fedex",
    "FDEN": "fedex",
    "FXFE": "fedex",
    "FXNL": "fedex",
    "USPS": "usps",
    "DHL": "dhl",
    "DHLC": "dhl",
}


class X12Error(ValueError):
    """The file cannot be read as X12 at all; the message is shown to the operator."""


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    qualifier: str
    id: str


@dataclass(frozen=True)
class ShipTo:
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class POLine850:
    line_no: int
    quantity: int
    unit: str
    unit_price_cents: int
    vendor_sku: str
    upc: str = ""
    description: str = ""


@dataclass(frozen=True)
class PurchaseOrder850:
    po_number: str
    po_date: date
    ship_to: ShipTo
    lines: tuple[POLine850, ...]
    buyer_name: str = ""
    order_ref: str = ""


@dataclass(frozen=True)
class Envelope:
    sender: Party
    receiver: Party
    interchange_control: int
    group_control: int
    created: datetime
    test: bool = False


@dataclass(frozen=True)
class ShipNoticeItem:
    line_no: int  # 0 when the vendor sent no line number
    vendor_sku: str
    upc: str
    quantity: int


@dataclass(frozen=True)
class ShipNotice:
    po_number: str
    tracking: str
    carrier: str
    ship_date: date | None
    items: tuple[ShipNoticeItem, ...]
    segment_line: int


@dataclass(frozen=True)
class POAcknowledgment:
    """An 855: the vendor accepted (or rejected) one of our POs (BAK02 ``kind``)."""

    po_number: str
    kind: str  # BAK02, e.g. AC, AK, RJ
    accepted: bool
    ack_date: date | None
    segment_line: int


@dataclass(frozen=True)
class ParsedX12:
    segments: list[list[str]]
    element_sep: str
    segment_term: str
    component_sep: str


# -- 850 rendering ---------------------------------------------------------------------------


def render_850(
    env: Envelope,
    pos: Sequence[PurchaseOrder850],
    *,
    first_transaction_control: int = 1,
    newlines: bool = True,
) -> str:
    """One interchange, one PO functional group, one ST*850 per purchase order.

    ``newlines`` puts a line break after each terminator for humans reading the file; turn it
    off for a vendor whose translator rejects it. Raises ValueError on input that cannot be
    sent faithfully.
    """
    _check_control("interchange control number", env.interchange_control)
    _check_control("group control number", env.group_control)
    if not pos:
        raise ValueError("no purchase orders to send")
    _check_control("first transaction control number", first_transaction_control)
    _check_control("last transaction control number", first_transaction_control + len(pos) - 1)
    sender = _check_party("sender", env.sender)
    receiver = _check_party("receiver", env.receiver)

    created = env.created
    isa = ELEMENT_SEP.join(
        (
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            sender.qualifier,
            sender.id.ljust(15),
            receiver.qualifier,
            receiver.id.ljust(15),
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            REPETITION_SEP,
            "00401",
            f"{env.interchange_control:09d}",
            "0",
            "T" if env.test else "P",
            COMPONENT_SEP,
        )
    )
    segments = [
        isa,
        _segment(
            "GS",
            "PO",
            sender.id,
            receiver.id,
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(env.group_control),
            "X",
            "004010",
        ),
    ]
    for offset, po in enumerate(pos):
        segments.extend(_transaction_850(po, first_transaction_control + offset))
    segments.append(_segment("GE", str(len(pos)), str(env.group_control)))
    segments.append(_segment("IEA", "1", f"{env.interchange_control:09d}"))
    end = SEGMENT_TERM + "\n" if newlines else SEGMENT_TERM
    return "".join(segment + end for segment in segments)


def _transaction_850(po: PurchaseOrder850, control: int) -> list[str]:
    where = f"PO {po.po_number!r}"
    po_number = _identifier(f"{where}: PO number", po.po_number, 22)
    if not po.lines:
        raise ValueError(f"{where}: has no lines")
    ship_to = po.ship_to
    name = _required_text(f"{where}: ship-to name", ship_to.name, _NAME_MAX)
    line1 = _required_text(f"{where}: ship-to address line 1", ship_to.line1, _ADDRESS_MAX)
    city = _required_text(f"{where}: ship-to city", ship_to.city, _CITY_MAX)
    country = _text(ship_to.country, 100)
    if country and not 2 <= len(country) <= 3:
        raise ValueError(f"{where}: ship-to country {ship_to.country!r} must be an ISO code")

    number = f"{control:04d}"
    segments = [
        _segment("ST", "850", number),
        _segment("BEG", "00", "DS", po_number, "", po.po_date.strftime("%Y%m%d")),
    ]
    if po.order_ref:
        segments.append(_segment("REF", "CO", _identifier(f"{where}: order ref", po.order_ref, 30)))
    buyer = _text(po.buyer_name, _NAME_MAX)
    if buyer:
        segments.append(_segment("N1", "BY", buyer))
    segments += [
        _segment("N1", "ST", name),
        _segment("N3", line1, _text(ship_to.line2, _ADDRESS_MAX)),
        _segment(
            "N4", city, _text(ship_to.region, _CITY_MAX), _text(ship_to.postal_code, 15), country
        ),
    ]
    seen: set[int] = set()
    for line in po.lines:
        segments.extend(_po1(where, line, seen))
    segments.append(_segment("CTT", str(len(po.lines))))
    segments.append(_segment("SE", str(len(segments) + 1), number))
    return segments


def _po1(where: str, line: POLine850, seen: set[int]) -> list[str]:
    at = f"{where} line {line.line_no}"
    if line.line_no < 1:
        raise ValueError(f"{at}: line number must be 1 or more")
    if line.line_no in seen:
        raise ValueError(f"{at}: line number is used twice")
    seen.add(line.line_no)
    if line.quantity <= 0:
        raise ValueError(f"{at}: quantity must be more than 0, not {line.quantity}")
    if line.unit_price_cents < 0:
        raise ValueError(f"{at}: unit price cannot be negative")
    if not _CODE2.fullmatch(line.unit):
        raise ValueError(f"{at}: unit {line.unit!r} must be a 2-character code such as EA")
    cents = line.unit_price_cents
    elements = [
        str(line.line_no),
        str(line.quantity),
        line.unit,
        f"{cents // 100}.{cents % 100:02d}",
        "",
        "VP",
        _identifier(f"{at}: vendor SKU", line.vendor_sku, 48),
    ]
    if line.upc:
        elements += ["UP", _identifier(f"{at}: UPC", line.upc, 48)]
    segments = [_segment("PO1", *elements)]
    description = _text(line.description, _DESCRIPTION_MAX)
    if description:
        segments.append(_segment("PID", "F", "", "", "", description))
    return segments


def _segment(tag: str, *elements: str) -> str:
    """X12 forbids trailing empty elements, so they are dropped here once for every segment."""
    values = list(elements)
    while values and not values[-1]:
        values.pop()
    return ELEMENT_SEP.join((tag, *values))


def _text(value: str, max_len: int) -> str:
    """Free text folded to the X12 basic+extended set: accents dropped, delimiters and
    anything else unsendable turned into spaces, runs of spaces collapsed, cut to max_len."""
    folded = unicodedata.normalize("NFKD", value.translate(_TRANSLITERATE))
    chars = [
        " " if not " " <= ch <= "~" or ch in _DELIMITERS else ch
        for ch in folded
        if not unicodedata.combining(ch)
    ]
    return " ".join("".join(chars).split())[:max_len].rstrip()


def _required_text(what: str, value: str, max_len: int) -> str:
    cleaned = _text(value, max_len)
    if not cleaned:
        raise ValueError(f"{what} is empty")
    return cleaned


def _identifier(what: str, value: str, max_len: int) -> str:
    """Identifiers travel verbatim (vendors echo them back), so bad ones are refused."""
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > max_len:
        raise ValueError(f"{what} {value!r} is longer than {max_len} characters")
    if value != value.strip():
        raise ValueError(f"{what} {value!r} has leading or trailing spaces")
    bad = sorted({ch for ch in value if not " " <= ch <= "~" or ch in _DELIMITERS})
    if bad:
        raise ValueError(f"{what} {value!r} contains characters X12 cannot carry: {bad!r}")
    return value


def _check_party(role: str, party: Party) -> Party:
    if not _CODE2.fullmatch(party.qualifier):
        raise ValueError(f"{role} qualifier {party.qualifier!r} must be 2 characters, e.g. ZZ")
    if len(party.id) < 2:
        raise ValueError(f"{role} id {party.id!r} must be 2 to 15 characters")
    _identifier(f"{role} id", party.id, 15)
    return party


def _check_control(what: str, value: int) -> None:
    if not 1 <= value <= _MAX_CONTROL:
        raise ValueError(f"{what} {value} is outside 1..{_MAX_CONTROL}")


# -- reading ---------------------------------------------------------------------------------


def parse_x12(text: str) -> ParsedX12:
    """Split a file into segments using the separators its own ISA header declares.

    Tolerates a BOM, leading blank lines and line breaks after terminators; an ISA that is
    not padded to fixed width is still read as long as it has its 16 elements.
    """
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("ISA"):
        raise X12Error("not an X12 file: it does not start with an ISA segment")
    if len(body) < 4:
        raise X12Error("segment 1: ISA segment is truncated")
    element_sep = body[3]
    if element_sep.isalnum() or element_sep.isspace():
        raise X12Error(f"segment 1: ISA element separator {element_sep!r} is not usable")
    position = 3
    for _ in range(15):
        position = body.find(element_sep, position + 1)
        if position < 0:
            raise X12Error("segment 1: ISA segment has fewer than 16 elements")
    if position + 2 >= len(body):
        raise X12Error("segment 1: ISA segment is truncated (no segment terminator)")
    component_sep = body[position + 1]
    segment_term = body[position + 2]
    if (
        segment_term.isalnum()
        or segment_term in (" ", "\t", element_sep, component_sep)
        or component_sep.isalnum()
        or component_sep.isspace()
        or component_sep == element_sep
    ):
        raise X12Error(
            f"segment 1: ISA separators are unusable (element {element_sep!r}, "
            f"component {component_sep!r}, terminator {segment_term!r})"
        )
    segments: list[list[str]] = []
    for chunk in body.split(segment_term):
        chunk = chunk.lstrip(" \t\r\n").rstrip("\r\n")  # trailing spaces can be data
        if chunk:
            segments.append(chunk.split(element_sep))
    return ParsedX12(segments, element_sep, segment_term, component_sep)


def parse_856(text: str) -> tuple[list[ShipNotice], list[str]]:
    """Ship notices from every readable ST*856, plus one message per transaction that was not.

    A transaction with any problem yields no notices at all: half-read shipments are worse
    than a clear error the operator can send back to the vendor.
    """
    return _each_transaction(text, "856", "a ship notice", _read_856)


def parse_855(text: str) -> tuple[list[POAcknowledgment], list[str]]:
    """Acknowledgments from every readable ST*855 (BAK: purpose, type, our PO number, date),
    plus one message per transaction that was not, worded as parse_856's."""
    return _each_transaction(text, "855", "a PO acknowledgment", _read_855)


def transaction_sets(text: str) -> list[str]:
    """The ST01 codes of the file in order (e.g. ["856", "856"]); X12Error if not X12."""
    return [_el(seg, 1).strip() for seg in parse_x12(text).segments if seg[0] == "ST"]


def _each_transaction(
    text: str,
    code: str,
    what: str,
    read: Callable[[list[tuple[int, list[str]]], int], tuple[list[_T], list[str]]],
) -> tuple[list[_T], list[str]]:
    """Cut the interchange into ST..SE transactions, check each envelope, and `read` the
    bodies of those of transaction set `code`; keeps going past a bad one."""
    segments = parse_x12(text).segments
    found_all: list[_T] = []
    errors: list[str] = []
    number = 0
    interchange_open = False
    i = 0
    while i < len(segments):
        tag = segments[i][0]
        if tag in ("ISA", "IEA"):
            interchange_open = tag == "ISA"
        if tag != "ST":
            i += 1
            continue
        number += 1
        start = i
        end = i + 1
        while end < len(segments) and segments[end][0] not in _ENVELOPE_TAGS:
            end += 1
        closed = end < len(segments) and segments[end][0] == "SE"
        body = [(n + 1, segments[n]) for n in range(start + 1, end)]
        problems = _envelope_problems(
            segments[start], segments[end] if closed else None, end - start + 1
        )
        if _el(segments[start], 1) != code:
            problems.append(
                f"transaction set {_el(segments[start], 1)!r} is not {what} ({code}); skipped"
            )
            found: list[_T] = []
        else:
            found, more = read(body, start + 1)
            problems += more
        if problems:
            errors.append(f"ST #{number} (segment {start + 1}): {'; '.join(_unique(problems))}")
        else:
            found_all.extend(found)
        i = end + 1 if closed else end
    if interchange_open:
        errors.append(
            f"segment {len(segments)}: file ends without IEA (interchange may be truncated)"
        )
    return found_all, errors


# BAK02 acknowledgment types (004010): accepted in some form, or rejected.
ACK_ACCEPTED = {
    "AC": "acknowledged with detail and change",
    "AD": "acknowledged with detail, no change",
    "AE": "acknowledged with exception detail only",
    "AK": "acknowledged, no detail or change",
    "AP": "acknowledged, product replenishment",
}
ACK_REJECTED = {
    "RD": "rejected with detail",
    "RF": "rejected with exception detail only",
    "RJ": "rejected, no detail",
    "RO": "rejected with counter offer",
}


def _read_855(
    body: list[tuple[int, list[str]]], st_line: int
) -> tuple[list[POAcknowledgment], list[str]]:
    baks = [(n, seg) for n, seg in body if seg[0] == "BAK"]
    if len(baks) != 1:
        return [], [f"{len(baks)} BAK segments; an 855 has exactly one"]
    n, bak = baks[0]
    problems = []
    kind = _el(bak, 2).strip().upper()
    po = _el(bak, 3).strip()
    if kind not in ACK_ACCEPTED and kind not in ACK_REJECTED:
        problems.append(f"segment {n}: BAK acknowledgment type {kind[:10]!r} is unknown")
    if not po:
        problems.append(f"segment {n}: BAK has no purchase order number")
    when = _el(bak, 4).strip()
    day = _date(when) if when else None
    if when and day is None:
        problems.append(f"segment {n}: BAK date {when[:10]!r} is not CCYYMMDD")
    if problems:
        return [], problems
    return [POAcknowledgment(po, kind, kind in ACK_ACCEPTED, day, st_line)], []


_ENVELOPE_TAGS = frozenset(("SE", "ST", "GE", "GS", "IEA", "ISA"))


def _envelope_problems(st: list[str], se: list[str] | None, count: int) -> list[str]:
    if se is None:
        return ["no SE segment (transaction is truncated)"]
    problems: list[str] = []
    declared = _el(se, 1).strip()
    if not _DIGITS.fullmatch(declared):
        problems.append(f"SE segment count {declared!r} is not a number")
    elif int(declared) != count:
        problems.append(f"SE says {int(declared)} segments but the transaction has {count}")
    if _el(se, 2).strip() != _el(st, 2).strip():
        problems.append(f"SE control number {_el(se, 2)!r} does not match ST {_el(st, 2)!r}")
    return problems


@dataclass
class _Item:
    index: int
    line_no: int
    vendor_sku: str
    upc: str
    quantity: int | None = None
    has_sn1: bool = False


@dataclass
class _Level:
    """One HL level (or the transaction header), holding what the vendor put at that level."""

    parent: _Level | None
    index: int
    po: str = ""
    cn: str = ""
    cp: str = ""
    gm: str = ""
    carrier: str = ""
    ship_date: date | None = None
    items: list[_Item] = field(default_factory=list)

    def chain(self) -> Iterator[_Level]:
        level: _Level | None = self
        while level is not None:
            yield level
            level = level.parent

    def tracking(self) -> str:
        """Nearest level wins, so per-carton MAN*CP beats a shipment-wide REF*CN; within a
        level REF*CN beats MAN*CP. MAN*GM (an SSCC label, not a carrier number) is last."""
        for level in self.chain():
            if level.cn or level.cp:
                return level.cn or level.cp
        return next((level.gm for level in self.chain() if level.gm), "")

    def nearest_po(self) -> str:
        return next((level.po for level in self.chain() if level.po), "")


@dataclass
class _Group:
    index: int
    level: _Level
    po: str
    tracking: str
    items: list[ShipNoticeItem] = field(default_factory=list)


def _read_856(
    body: list[tuple[int, list[str]]], st_index: int
) -> tuple[list[ShipNotice], list[str]]:
    problems: list[str] = []
    root = _Level(None, st_index)
    levels = [root]
    by_id: dict[str, _Level] = {}
    has_hl = any(segment[0] == "HL" for _, segment in body)
    current = root
    item: _Item | None = None
    for index, segment in body:
        tag = segment[0]
        if not _SEGMENT_ID.fullmatch(tag):
            problems.append(f"segment {index}: unreadable segment {tag[:12]!r}")
        elif tag == "HL" or (tag == "PRF" and not has_hl):
            # Without HL levels every PRF opens its own order under the shipment header.
            parent = by_id.get(_el(segment, 2).strip(), root) if tag == "HL" else root
            current = _Level(parent, index)
            levels.append(current)
            if tag == "HL":
                by_id[_el(segment, 1).strip()] = current
            item = None
        if tag == "PRF":
            if current.po:
                problems.append(f"segment {index}: second PRF in the same HL level")
            elif not _el(segment, 1).strip():
                problems.append(f"segment {index}: PRF has no purchase order number")
            current.po = current.po or _el(segment, 1).strip()
        elif tag == "REF" and _el(segment, 1) == "CN":
            current.cn = current.cn or _tracking_number(_el(segment, 2))
        elif tag == "MAN" and _el(segment, 1) in ("CP", "GM"):
            value = _tracking_number(_el(segment, 2))
            if _el(segment, 1) == "CP":
                current.cp = current.cp or value
            else:
                current.gm = current.gm or value
        elif tag == "TD5":
            current.carrier = current.carrier or _carrier(_el(segment, 3), _el(segment, 5))
        elif tag == "DTM" and _el(segment, 1) == "011":
            shipped = _date(_el(segment, 2))
            if shipped is None:
                problems.append(
                    f"segment {index}: DTM*011 date {_el(segment, 2)!r} is not CCYYMMDD"
                )
            current.ship_date = current.ship_date or shipped
        elif tag == "LIN":
            item = _lin(index, segment)
            current.items.append(item)
        elif tag == "SN1":
            problems.extend(_sn1(index, segment, item))

    if not any(level.po for level in levels):
        return [], ["no PRF (purchase order) segment", *problems]
    groups: dict[tuple[str, str], _Group] = {}
    for level in levels:
        for entry in level.items:
            po, tracking = level.nearest_po(), level.tracking()
            if entry.quantity is None:
                if not entry.has_sn1:  # a bad SN1 was already reported
                    problems.append(f"segment {entry.index}: LIN has no SN1 quantity")
            elif not po:
                problems.append(f"segment {entry.index}: LIN is not under any PRF order")
            elif not tracking:
                problems.append(f"no tracking number (REF*CN or MAN*CP) for PO {po}")
            else:
                group = groups.setdefault((po, tracking), _Group(entry.index, level, po, tracking))
                group.items.append(
                    ShipNoticeItem(entry.line_no, entry.vendor_sku, entry.upc, entry.quantity)
                )
    covered = {po for po, _ in groups}
    for level in levels:
        if level.po and level.po not in covered:
            tracking = level.tracking() or _tracking_below(level, levels)
            if tracking:
                groups.setdefault(
                    (level.po, tracking), _Group(level.index, level, level.po, tracking)
                )
            else:
                problems.append(f"no tracking number (REF*CN or MAN*CP) for PO {level.po}")
    if problems:
        return [], problems
    fallback_carrier = next((level.carrier for level in levels if level.carrier), "")
    fallback_date = next((level.ship_date for level in levels if level.ship_date), None)
    notices = []
    for group in sorted(groups.values(), key=lambda g: g.index):
        chain = list(group.level.chain())
        notices.append(
            ShipNotice(
                po_number=group.po,
                tracking=group.tracking,
                carrier=next((lv.carrier for lv in chain if lv.carrier), fallback_carrier),
                ship_date=next((lv.ship_date for lv in chain if lv.ship_date), fallback_date),
                items=tuple(group.items),
                segment_line=st_index,
            )
        )
    return notices, []


def _tracking_below(order: _Level, levels: list[_Level]) -> str:
    """An order with no items of its own: take the first number any level under it carries."""
    below = [level for level in levels if level is not order and order in level.chain()]
    for kind in ("cn", "cp", "gm"):
        for level in below:
            value: str = getattr(level, kind)
            if value:
                return value
    return ""


def _lin(index: int, segment: list[str]) -> _Item:
    ids: dict[str, str] = {}
    for qualifier, value in zip(segment[2::2], segment[3::2], strict=False):
        if qualifier.strip() and value.strip():
            ids.setdefault(qualifier.strip(), value.strip())
    sku = ids.get("VP") or ids.get("VN") or ""
    upc = ids.get("UP") or ids.get("UK") or ids.get("EN") or ""
    line_no = _whole(ids.get("PL", "")) or _whole(_el(segment, 1)) or 0
    return _Item(index, line_no, sku, upc)


def _sn1(index: int, segment: list[str], item: _Item | None) -> list[str]:
    if item is None:
        return [f"segment {index}: SN1 without a LIN before it"]
    if item.has_sn1:
        return [f"segment {index}: second SN1 for the LIN at segment {item.index}"]
    item.has_sn1 = True
    raw = _el(segment, 2).strip()
    if not _DECIMAL.fullmatch(raw) or Decimal(raw) % 1:
        return [f"segment {index}: SN1 quantity {raw!r} is not a whole number"]
    item.quantity = int(Decimal(raw))
    item.line_no = item.line_no or _whole(_el(segment, 1)) or 0
    return []


def _carrier(scac: str, routing: str) -> str:
    code = scac.strip().upper()
    if code:
        return _SCAC_CARRIERS.get(code, code.lower())
    words = routing.strip().lower().split()
    for name in ("ups", "fedex", "usps", "dhl"):
        if name in words:
            return name
    return words[0] if words else ""


def _tracking_number(raw: str) -> str:
    """Vendors sometimes print tracking numbers in blocks ("1Z 999 AA1 ..."); carriers don't."""
    return "".join(raw.split())


def _date(raw: str) -> date | None:
    value = raw.strip()
    formats = {8: "%Y%m%d", 6: "%y%m%d"}
    if not _DIGITS.fullmatch(value) or len(value) not in formats:
        return None
    try:
        return datetime.strptime(value, formats[len(value)]).date()
    except ValueError:
        return None


def _whole(raw: str) -> int | None:
    value = raw.strip()
    return int(value) if _DIGITS.fullmatch(value) else None


def _el(segment: list[str], n: int) -> str:
    return segment[n] if n < len(segment) else ""


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
