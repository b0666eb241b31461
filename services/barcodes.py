"""Make sense of one line typed into the pack screen's scan field.

Keyboard-wedge scanners "type" what they read, so the pack screen cannot tell a scan from
keystrokes: this module turns that text into a `Scan` (a product code, a GS1 element string,
an order slip, a bench command or a quantity) or a `ScanError` whose message an operator can
act on. It is pure: whether a code belongs to a product or an order is the pack service's call.

Check digits are verified here and never by python-barcode, which silently "corrects" them.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

GS = "\x1d"  # ASCII 29 group separator: FNC1 inside GS1-128 data
MAX_SCAN_LENGTH = 128
ORDER_PREFIX = "PL:ORDER:"  # packing-slip barcodes encode "PL:ORDER:1042"

MAX_INTERNAL_LENGTH = 64  # product_barcodes.code is String(64)
MAX_QUANTITY = 9999
_MAX_ORDER_DIGITS = 18  # orders.number is a BigInteger
_SHOWN = 30  # characters of a long scan quoted back in a message


class Command(StrEnum):
    NEXT_PACKAGE = "next_package"
    VALIDATE = "validate"
    UNDO = "undo"
    ABORT = "abort"


# Printed on a laminated card at the bench; matched case-insensitively.
COMMAND_CODES: dict[str, Command] = {
    "PL:NEXT": Command.NEXT_PACKAGE,
    "PL:VALIDATE": Command.VALIDATE,
    "PL:UNDO": Command.UNDO,
    "PL:ABORT": Command.ABORT,
}


class ScanError(ValueError):
    """A scan Packline cannot use; the message is shown to the operator as is."""


class Kind(StrEnum):
    PRODUCT = "product"
    GS1 = "gs1"
    ORDER = "order"
    COMMAND = "command"
    QUANTITY = "quantity"


@dataclass(frozen=True)
class Scan:
    raw: str
    kind: Kind
    code: str = ""
    symbology: str = ""
    quantity: int = 1
    gtin14: str = ""
    lot: str = ""
    expiry: date | None = None
    serial: str = ""
    order_number: int | None = None
    command: Command | None = None


# --- check digits -------------------------------------------------------------------------

_GTIN_SYMBOLOGY = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}


def _digits(text: str) -> bool:
    # str.isdigit() alone accepts "²" and "٣", which int() then rejects or misreads.
    return text.isascii() and text.isdigit()


def _mod10(body: str) -> int:
    """GS1 mod-10: weights 3, 1, 3, ... from the right, so leading zeros never matter."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return -total % 10


def gtin_check_digit(body: str) -> int:
    """The check digit that completes a GTIN-8, -12, -13 or -14 body."""
    if not _digits(body) or len(body) + 1 not in _GTIN_SYMBOLOGY:
        raise ValueError(f"a GTIN body is 7, 11, 12 or 13 digits, not {body!r}")
    return _mod10(body)


def is_valid_gtin(code: str) -> bool:
    return _digits(code) and len(code) in _GTIN_SYMBOLOGY and _mod10(code[:-1]) == int(code[-1])


def make_gtin(body: str) -> str:
    return body + str(gtin_check_digit(body))


def to_gtin14(code: str) -> str:
    """Zero-pad to the 14-digit form product lookups compare on (UPC-A 0123… == EAN-13 00123…).

    Only the shape is checked; padding keeps a check digit right or wrong, see is_valid_gtin.
    """
    if not _digits(code) or len(code) not in _GTIN_SYMBOLOGY:
        raise ValueError(f"a GTIN is 8, 12, 13 or 14 digits, not {code!r}")
    return code.zfill(14)


# --- messages -----------------------------------------------------------------------------

_CONTROL_NAMES = {
    "\x00": "<NUL>",
    "\x04": "<EOT>",
    "\t": "<TAB>",
    "\n": "<LF>",
    "\r": "<CR>",
    "\x1b": "<ESC>",
    "\x1c": "<FS>",
    GS: "<GS>",
    "\x1e": "<RS>",
}


def printable(text: str) -> str:
    """Make invisible characters visible, so a message can neither hide nor drive the terminal.

    Escapes what str.isprintable() rejects: controls, format characters such as bidi
    overrides, odd spaces (NBSP); scanner suspects get names like <GS>, the rest \\xNN/\\uNNNN.
    """
    out: list[str] = []
    for ch in text:
        if ch in _CONTROL_NAMES:
            out.append(_CONTROL_NAMES[ch])
        elif not ch.isprintable():
            n = ord(ch)
            width = 2 if n < 0x100 else 4 if n < 0x10000 else 8
            out.append(f"\\{'x' if width == 2 else 'u' if width == 4 else 'U'}{n:0{width}x}")
        else:
            out.append(ch)
    return "".join(out)


def _show(text: str, limit: int = 48) -> str:
    return printable(text) if len(text) <= limit else printable(text[:limit]) + "…"


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


# --- GS1 application identifiers ----------------------------------------------------------

# GS1 "CSET 82", the characters allowed in alphanumeric AI values such as lot and serial.
_CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True)
class _AI:
    name: str
    length: int  # exact length when fixed, else the maximum
    fixed: bool
    numeric: bool


_AIS: dict[str, _AI] = {
    "00": _AI("SSCC", 18, fixed=True, numeric=True),
    "01": _AI("GTIN", 14, fixed=True, numeric=True),
    "02": _AI("GTIN of contained items", 14, fixed=True, numeric=True),
    "10": _AI("lot", 20, fixed=False, numeric=False),
    "11": _AI("production date", 6, fixed=True, numeric=True),
    "15": _AI("best before date", 6, fixed=True, numeric=True),
    "17": _AI("expiry date", 6, fixed=True, numeric=True),
    "21": _AI("serial", 20, fixed=False, numeric=False),
    "30": _AI("count", 8, fixed=False, numeric=True),
    "37": _AI("count", 8, fixed=False, numeric=True),
}
_DATE_AIS = frozenset({"11", "15", "17"})
_COUNT_AIS = ("30", "37")

# AIM symbology identifiers (ISO/IEC 15424) that announce GS1 element strings; scanners can
# be set to prefix every scan with one, and only these say "what follows is GS1 data".
_GS1_AIM = {
    "]C1": "GS1-128",
    "]e0": "GS1 DataBar",
    "]d2": "GS1 DataMatrix",
    "]Q3": "GS1 QR Code",
}
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_BARE_GS1 = re.compile(r"01[0-9]{14}")
_HRI_GROUP = re.compile(r" *\(([^()]*)\) *([^()]*)")


class _Gs1Error(Exception):
    """A problem with one AI; parse_scan prefixes the scan it came from."""


def _gs1_date(ai: str, value: str) -> date:
    """YYMMDD, DD=00 meaning the month's last day; years read as 20YY to stay clock-free."""
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:])
    if 1 <= month <= 12 and day == 0:
        day = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, day)
    except ValueError:
        raise _Gs1Error(f"AI {ai} ({_AIS[ai].name}): {value} is not a date (YYMMDD)") from None


def _check_value(ai: str, value: str) -> None:
    spec = _AIS[ai]
    what = f"AI {ai} ({spec.name})"
    if not value:
        raise _Gs1Error(f"{what} is empty")
    if spec.fixed and len(value) < spec.length:
        raise _Gs1Error(f"{what} is cut short: {len(value)} of {spec.length} characters")
    if len(value) > spec.length:
        size = "exactly" if spec.fixed else "at most"
        raise _Gs1Error(f"{what} is {len(value)} characters, {size} {spec.length} allowed")
    if spec.numeric and not _digits(value):
        raise _Gs1Error(f"{what} must be digits only, not {_show(value)}")
    if not spec.numeric and any(ch not in _CSET82 for ch in value):
        bad = next(ch for ch in value if ch not in _CSET82)
        raise _Gs1Error(f"{what} may not contain '{printable(bad)}'")
    if ai in ("00", "01", "02") and _mod10(value[:-1]) != int(value[-1]):
        expected = _mod10(value[:-1])
        raise _Gs1Error(f"{what} {value}: check digit should be {expected}, not {value[-1]}")
    if ai in _COUNT_AIS and int(value) == 0:
        raise _Gs1Error(f"{what} is 0")
    if ai in _DATE_AIS:  # 11 and 15 are ignored, but a label with a bad date is a bad label
        _gs1_date(ai, value)


def _split_element_string(data: str) -> list[tuple[str, str]]:
    """Cut AI-prefixed data where FNC1/GS ends a variable field (or a fixed length ends)."""
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(data):
        if data[pos] == GS:  # tolerated: leading FNC1, after fixed fields, doubled or trailing
            pos += 1
            continue
        ai = data[pos : pos + 2]
        if ai not in _AIS:
            where = _show(data[pos:], 12)
            raise _Gs1Error(f"unsupported application identifier {_show(ai)} at {where}")
        spec = _AIS[ai]
        pos += 2
        if spec.fixed:
            value = data[pos : pos + spec.length]
            value = value.split(GS, 1)[0]
        else:
            end = data.find(GS, pos)
            value = data[pos : end if end >= 0 else len(data)]
        _check_value(ai, value)  # now, so a cut-short field is blamed, not what follows it
        pos += len(value)
        fields.append((ai, value))
    return fields


def _split_hri(text: str) -> list[tuple[str, str]]:
    """Read the "(01)09506000134352(10)ABC" form people copy from under the bars."""
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _HRI_GROUP.match(text, pos)
        if m is None:
            raise _Gs1Error(f"expected an (AI) at {_show(text[pos:], 12)}")
        ai, value = m[1].strip(" "), m[2].rstrip(" ")
        if ai not in _AIS:
            raise _Gs1Error(f"unsupported application identifier ({_show(ai)})")
        _check_value(ai, value)
        fields.append((ai, value))
        pos = m.end()
    return fields


def _gs1_scan(fields: list[tuple[str, str]], symbology: str) -> tuple[Scan, bool]:
    """Keep what packing needs from checked fields; True when a count (AI 30/37) was given."""
    values: dict[str, str] = {}
    for ai, value in fields:
        if ai in values:
            raise _Gs1Error(f"AI {ai} ({_AIS[ai].name}) is given twice")
        values[ai] = value
    if "01" in values and "02" in values:
        raise _Gs1Error("AI 01 and AI 02 both give a GTIN")
    if all(ai in values for ai in _COUNT_AIS):
        raise _Gs1Error("quantity given twice (AI 30 and AI 37)")
    count = next((int(values[ai]) for ai in _COUNT_AIS if ai in values), None)
    gtin = values.get("01") or values.get("02")
    if gtin:
        code, gtin14 = gtin, gtin
    elif "00" in values:
        code, gtin14, symbology = values["00"], "", "SSCC"
    else:
        raise _Gs1Error("no GTIN (AI 01) or SSCC (AI 00) to look up")
    scan = Scan(
        raw="",
        kind=Kind.GS1,
        code=code,
        symbology=symbology,
        quantity=count or 1,
        gtin14=gtin14,
        lot=values.get("10", ""),
        expiry=_gs1_date("17", values["17"]) if "17" in values else None,
        serial=values.get("21", ""),
    )
    return scan, count is not None


# --- parse_scan ---------------------------------------------------------------------------

_INTERNAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./+")


def _clean(raw: str, gs_standin: str) -> str:
    text = raw.rstrip(" ")
    for ending in ("\r\n", "\r", "\n"):  # the scanner's suffix; "\r\n" counts as one
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    text = text.strip(" ")
    if not text:
        raise ScanError("empty scan")
    if len(text) > MAX_SCAN_LENGTH:
        raise ScanError(
            f"scan is {len(text)} characters long, at most {MAX_SCAN_LENGTH} allowed: "
            f"{printable(text[:_SHOWN])}…"
        )
    rest = text.replace(gs_standin, "") if gs_standin else text
    if any(_is_control(ch) for ch in rest if ch != GS):
        raise ScanError(f"{_show(text, _SHOWN)} contains control characters")
    return text


def _gs1_marked(text: str, gs_standin: str) -> bool:
    """An AIM GS1 identifier, a leading FNC1 (some scanners send it) or the "(01)…" form."""
    return (
        text[:3] in _GS1_AIM
        or text.startswith(("(", GS))
        or bool(gs_standin and text.startswith(gs_standin))
    )


def _bare_gs1(text: str, aim_optional: bool) -> bool:
    return aim_optional and len(text) > 16 and _BARE_GS1.match(text) is not None


def _looks_gs1(text: str, gs_standin: str, aim_optional: bool) -> bool:
    """GS1 data may contain "*", so it must be recognised before the quantity prefix."""
    return _gs1_marked(text, gs_standin) or _bare_gs1(text, aim_optional)


def _order(text: str, number: str) -> Scan:
    number = number.strip(" ")
    if not number:
        raise ScanError(f"{_show(text)}: the order number is missing")
    if not _digits(number):
        raise ScanError(f"{_show(text)}: the order number must be digits only")
    if len(number) > _MAX_ORDER_DIGITS or int(number) == 0:
        raise ScanError(f"{_show(text)}: there is no such order number")
    return Scan(raw="", kind=Kind.ORDER, order_number=int(number))


def _parse_code(
    text: str, gs_standin: str, aim_optional: bool, aim_allowed: bool = True
) -> tuple[Scan, bool]:
    """One code without a quantity prefix; raw is filled in by parse_scan."""
    if _gs1_marked(text, gs_standin):
        symbology = _GS1_AIM.get(text[:3], "GS1-128")
        data = text[3:] if text[:3] in _GS1_AIM else text
        if gs_standin:
            data = data.replace(gs_standin, GS)
        if not data.strip(GS):
            raise ScanError(f"{_show(text)}: no data after the GS1 identifier")
        try:
            fields = _split_hri(data) if data.startswith("(") else _split_element_string(data)
            return _gs1_scan(fields, symbology)
        except _Gs1Error as e:
            raise ScanError(f"{_show(text)}: {e}") from None
    if aim_allowed and _AIM_ID.match(text):
        # A non-GS1 symbology identifier (e.g. "]E0" before an EAN-13) says nothing we need.
        if len(text) == 3:
            raise ScanError(f"{_show(text)}: no data after the symbology identifier")
        return _parse_code(text[3:], gs_standin, aim_optional, aim_allowed=False)

    upper = text.upper() if text.isascii() else ""  # ascii: "ı".upper() == "I"
    if upper in COMMAND_CODES:
        return Scan(raw="", kind=Kind.COMMAND, command=COMMAND_CODES[upper]), False
    if upper.startswith(ORDER_PREFIX):
        return _order(text, text[len(ORDER_PREFIX) :]), False
    if text.startswith("#"):
        return _order(text, text[1:]), False

    if _bare_gs1(text, aim_optional) and is_valid_gtin(text[2:16]):
        # "01" + a valid GTIN-14 + more: GS1 sent without its AIM prefix. A wrong check digit
        # here more likely means a long numeric SKU that happens to start with 01.
        data = text.replace(gs_standin, GS) if gs_standin else text
        try:
            return _gs1_scan(_split_element_string(data), "GS1-128")
        except _Gs1Error as e:
            raise ScanError(f"{_show(text)}: {e}") from None

    if _digits(text) and len(text) in _GTIN_SYMBOLOGY:
        symbology = _GTIN_SYMBOLOGY[len(text)]
        expected = _mod10(text[:-1])
        if expected != int(text[-1]):
            raise ScanError(
                f"{text}: check digit should be {expected}, not {text[-1]} ({symbology})"
            )
        scan = Scan(
            raw="", kind=Kind.PRODUCT, code=text, symbology=symbology, gtin14=text.zfill(14)
        )
        return scan, False

    bad = next((ch for ch in text if ch not in _INTERNAL_CHARS), None)
    if bad is None:
        if len(text) > MAX_INTERNAL_LENGTH:
            raise ScanError(
                f"{_show(text, _SHOWN)} is not a barcode Packline knows "
                f"(internal codes are at most {MAX_INTERNAL_LENGTH} characters)"
            )
        return Scan(raw="", kind=Kind.PRODUCT, code=text, symbology="internal"), False
    if text[:3].upper() == "PL:":
        raise ScanError(f"{_show(text)} is not a Packline command")
    what = "a space" if bad == " " else f"'{printable(bad)}'"
    raise ScanError(f'"{_show(text)}" is not a barcode Packline knows (it contains {what})')


def parse_scan(raw: str, *, gs_standin: str = "", aim_optional: bool = True) -> Scan:
    """Classify one scan; raise ScanError with an operator-facing reason when it is unusable.

    gs_standin is what the scanner sends for FNC1/GS when the keyboard wedge cannot type
    ASCII 29 (e.g. "~"). aim_optional accepts GS1 data sent without its "]C1" identifier.
    """
    if gs_standin.isalnum():
        raise ValueError(f"gs_standin {gs_standin!r} would clash with GS1 data")
    cleaned = text = _clean(raw, gs_standin)

    quantity: int | None = None
    if "*" in text and not _looks_gs1(text, gs_standin, aim_optional):
        prefix, _, text = text.partition("*")
        prefix, text = prefix.strip(" "), text.strip(" ")
        if not _digits(prefix) or not 1 <= int(prefix) <= MAX_QUANTITY:
            raise ScanError(
                f"{_show(prefix, _SHOWN)}*: the quantity must be a whole number "
                f"from 1 to {MAX_QUANTITY}"
            )
        quantity = int(prefix)
        if not text:
            return Scan(raw=raw, kind=Kind.QUANTITY, quantity=quantity)
        again = text.partition("*")[0].strip(" ")
        if "*" in text and _digits(again) and not _looks_gs1(text, gs_standin, aim_optional):
            raise ScanError(f"{_show(cleaned)}: quantity given twice")

    scan, counted = _parse_code(text, gs_standin, aim_optional)
    scan = replace(scan, raw=raw)
    if quantity is None:
        return scan
    if scan.kind not in (Kind.PRODUCT, Kind.GS1):
        raise ScanError(f"{_show(cleaned)}: a quantity can only go with a product")
    if counted:
        raise ScanError(f"{_show(cleaned)}: quantity given twice (the barcode carries a count)")
    return replace(scan, quantity=quantity)
