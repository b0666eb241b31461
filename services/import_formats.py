"""Order files, read: the generic CSV, JSON, and what every format is turned into.

Pure Python (no database): a file becomes a stream of `ImportedOrder` (checked, ready to
write) and `Rejected` (an order refused, with its file lines and why). The Shopify export
has its own reader (services/shopify_csv.py) built on the same parts.

Rules every format follows (docs/imports.md says the same for shops):

- Text is kept exactly as written (names, notes, addresses: no trimming, no markup), and
  refused, never cut, when longer than its column. The only change: one leading
  apostrophe is dropped from ZIP codes and phone numbers (spreadsheets and Shopify write
  `'02134` to keep a leading zero) and from a cell that then starts with = + - @ (the
  guard a spreadsheet-safe export puts there, ours included).
- Amounts use a dot as the decimal mark, at most two decimals: `12.50`, `12.5`, `12`. A
  comma is refused ("12,50" could be 12.50 or, as a thousands separator, 1250), as are
  currency signs and more than two decimals.
- Quantities are whole numbers (`2`, not `2.0` or `two`); a line of quantity 0 is skipped
  with a warning (an item removed from the order on the storefront).
- Dates: ISO 8601 (`2026-11-20T14:05:00Z`, `2026-11-20`) or Shopify's
  `2026-11-20 14:05:00 -0500`; without a zone, UTC.

## Generic CSV (`packline import csv FILE`)

One row per order line; the rows of one order follow each other. Columns are found by
name (case, spaces and `_`/`-` do not matter); required: `order`, `sku`, `quantity`.
Order columns are read from the order's first row (later rows may leave them empty):

    order            the order's reference in the source system (matched with channel)
    channel          where it comes from (default: `csv`, or --channel)
    placed_at        when it was placed (default: now)
    email, customer_name, phone, note, currency (3 letters), shipping_method
    payment_method   card | check | cash | cod | terms (default card)
    payment_status   unpaid | authorized | paid | partially_refunded | refunded
    refunded         amount refunded (with partially_refunded / refunded)
    status           new | partially_shipped | shipped | canceled (default new)
    shipping_total, tax_total
    ship_name, ship_company, ship_line1, ship_line2, ship_city, ship_region,
    ship_postal_code, ship_country (2 letters), ship_phone
    bill_...         the same for the billing address (default: the shipping address)

Line columns: `sku`, `quantity`, `unit_price` (default: the catalogue price),
`line_name` (default: the catalogue name), `shipped` (units already shipped; default all
of them when status is shipped, else 0).

## JSON (`packline import json FILE`)

A list of orders, or `{"orders": [...]}`; each order an object with the generic CSV's
order columns as keys (`order` may also be `ref`), `shipping_address` and
`billing_address` objects with keys `name company line1 line2 city region postal_code
country phone`, and `lines`: a list of `{"sku", "quantity", "unit_price", "name",
"shipped"}`. Amounts are strings ("12.50") or numbers; quantities whole numbers.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

from services.errors import InvalidInput
from services.statuses import PaymentMethod, Status

# bytes read so far, file size: what a progress bar needs
Progress = Callable[[int, int], None]

MAX_TEXT = 10_000
MAX_QUANTITY = 100_000
MAX_AMOUNT = 10**12  # cents
SNIFF_BYTES = 64 * 1024
IMPORTABLE = (Status.NEW, Status.PARTIALLY_SHIPPED, Status.SHIPPED, Status.CANCELED)

# Column limits of the schema (services/models.py): longer text is refused, never cut.
LIMITS = {
    "order": 100,
    "channel": 32,
    "email": 320,
    "customer_name": 200,
    "phone": 64,
    "currency": 3,
    "shipping_method": 64,
    "sku": 64,
    "line_name": 300,
    "name": 200,
    "company": 200,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 32,
    "note": MAX_TEXT,
}
ADDRESS_KEYS = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country")


class Bad(Exception):
    """One order cannot be imported; the message says why, for the operator."""


# -- what a file turns into ------------------------------------------------------------------


# What a file turns into: named tuples, not frozen dataclasses, because a big import makes
# hundreds of thousands of them and a frozen dataclass is four times slower to build.


class ImportedAddress(NamedTuple):
    name: str = ""
    company: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""

    def is_empty(self) -> bool:
        return not any(self)


class ImportedLine(NamedTuple):
    sku: str
    quantity: int
    unit_price: int | None  # None: the catalogue's
    name: str  # "" : the catalogue's
    shipped: int
    line_no: int  # in the file (0 for JSON)


class ImportedOrder(NamedTuple):
    """One order as the file has it, every value checked."""

    channel: str
    ref: str
    where: str  # "lines 12-14" / "order 3"
    lines: tuple[ImportedLine, ...]
    placed_at: datetime | None = None
    email: str = ""
    customer_name: str = ""
    phone: str = ""
    note: str = ""
    currency: str = ""
    shipping_method: str = ""
    payment_method: PaymentMethod = PaymentMethod.CARD
    payment_ref: str = ""
    shipping: ImportedAddress = ImportedAddress()
    billing: ImportedAddress | None = None
    shipping_total: int = 0
    tax_total: int = 0
    subtotal: int | None = None  # None: the lines' sum
    total: int | None = None  # None: subtotal + shipping + tax
    status: Status = Status.NEW  # new | partially_shipped | shipped | canceled
    # The channel's payment status (ours or Shopify's names, see FINANCIAL), resolved
    # against the total once prices are known (`money_state`).
    financial: str = ""
    refunded: int = 0
    outstanding: int | None = None  # Shopify's balance still due (partially_paid)
    paid_at: datetime | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """An order (or rows) left out, and why; nothing of it was written."""

    ref: str
    where: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"order": self.ref, "where": self.where, "reason": self.reason}


@dataclass(frozen=True)
class Notice:
    """Something the operator should know about an order that did go in (or was left as
    it is): an unknown SKU flagged, a status the channel has but ours cannot follow."""

    ref: str
    where: str
    message: str
    number: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.ref,
            "where": self.where,
            "number": self.number,
            "message": self.message,
        }


@dataclass(frozen=True)
class Followed:
    """A known order that changed because the channel's did."""

    ref: str
    number: int
    change: str

    def to_json(self) -> dict[str, Any]:
        return {"order": self.ref, "number": self.number, "change": self.change}


@dataclass(frozen=True)
class ImportReport:
    """What one import did. Numbers are ours; refs are the channel's order names."""

    file: str
    format: str
    channel: str
    rows: int
    created: tuple[tuple[str, int], ...]  # (ref, our number)
    followed: tuple[Followed, ...]
    unchanged: int
    rejected: tuple[Rejected, ...]
    notices: tuple[Notice, ...]
    seconds: float
    file_error: str = ""  # the file stopped being readable here; what came before went in

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.file_error

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} new",
            f"{len(self.followed)} updated from the channel",
            f"{self.unchanged} unchanged",
            f"{len(self.rejected)} refused",
        ]
        return f"{self.file}: " + ", ".join(parts) + f" ({self.rows} rows, {self.seconds:.1f} s)"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "channel": self.channel,
            "rows": self.rows,
            "created": [{"order": ref, "number": n} for ref, n in self.created],
            "updated": [f.to_json() for f in self.followed],
            "unchanged": self.unchanged,
            "rejected": [r.to_json() for r in self.rejected],
            "notices": [n.to_json() for n in self.notices],
            "file_error": self.file_error or None,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
        }


# -- values -----------------------------------------------------------------------------------

_MONEY = re.compile(r"-?[0-9]+(?:\.[0-9]*)?|-?\.[0-9]+")
_QUANTITY = re.compile(r"[0-9]+")
_ESCAPED = re.compile(r"'(?=[=+\-@\t\r])")


def unescape(value: str) -> str:
    """Undo the spreadsheet-safety apostrophe in front of = + - @ (see the module doc)."""
    return value[1:] if value[:1] == "'" and _ESCAPED.match(value) else value


def text(value: str, what: str, key: str | None = None) -> str:
    """Text exactly as written, refused when longer than its column."""
    if not value:
        return value
    if value[0] == "'":
        value = unescape(value)
    limit = LIMITS.get(key or what, MAX_TEXT)
    if len(value) > limit:
        raise Bad(f"{what} is {len(value)} characters long; at most {limit} fit")
    return value


def zip_or_phone(value: str, what: str, key: str) -> str:
    return text(value[1:] if value.startswith("'") else value, what, key)


CENTS = re.compile(r"[0-9]{1,10}\.[0-9][0-9]")


def amount(raw: str | int | float | None, what: str, *, negative: bool = False) -> int:
    """Cents from `12.50`-style text (or a JSON number); see the module doc for the rules."""
    if isinstance(raw, str) and CENTS.fullmatch(raw):
        return int(raw[:-3]) * 100 + int(raw[-2:])  # the usual "12.50", quickly
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    if isinstance(raw, bool):
        raise Bad(f"{what} {raw!r} is not an amount")
    value = str(raw).strip() if not isinstance(raw, float) else repr(raw)
    if "," in value:
        raise Bad(
            f"{what} {value[:30]!r} has a comma: write amounts with a dot as the decimal mark "
            "(12.50); a comma could be a decimal mark or a thousands separator"
        )
    if not _MONEY.fullmatch(value):
        raise Bad(f"{what} {value[:30]!r} is not an amount (write 12.50)")
    if value.startswith("-") and not negative:
        raise Bad(f"{what} {value[:30]!r} is negative")
    if "." in value and len(value.partition(".")[2].rstrip("0")) > 2:
        raise Bad(f"{what} {value[:30]!r} has more than two decimal places")
    try:
        cents = int(Decimal(value) * 100)
    except InvalidOperation:
        raise Bad(f"{what} {value[:30]!r} is not an amount") from None
    if abs(cents) >= MAX_AMOUNT:
        raise Bad(f"{what} {value[:30]!r} is too large")
    return cents


def quantity(raw: str | int | None, what: str = "quantity") -> int:
    if isinstance(raw, bool):
        raise Bad(f"{what} {raw!r} is not a whole number")
    if isinstance(raw, int):
        value = raw
    else:
        s = str(raw if raw is not None else "").strip()
        if not _QUANTITY.fullmatch(s):
            shown = s[:30] or "(empty)"
            raise Bad(f"{what} {shown!r} is not a whole number")
        value = int(s)
    if value < 0:
        raise Bad(f"{what} {value} is negative")
    if value > MAX_QUANTITY:
        raise Bad(f"{what} {value} is more than {MAX_QUANTITY}; a typo?")
    return value


_SHOPIFY_TIME = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S")


_SHOPIFY_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")


@functools.lru_cache(maxsize=4096)
def moment(raw: str | None, what: str) -> datetime | None:
    """A point in time (see the module doc for the forms); Shopify's own form on a fast
    path, since every order has one or two."""
    value = (raw or "").strip()
    if not value:
        return None
    if _SHOPIFY_STAMP.fullmatch(value):
        iso = f"{value[:19]}{value[20:23]}:{value[23:]}"
        return datetime.fromisoformat(iso).astimezone(UTC)
    parsed: datetime | None = None
    for fmt in _SHOPIFY_TIME:
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        cleaned = value[:-4] + "+00:00" if value.endswith(" UTC") else value
        try:
            parsed = datetime.fromisoformat(cleaned)
        except ValueError:
            raise Bad(
                f"{what} {value[:40]!r} is not a date and time (write 2026-11-20T14:05:00Z)"
            ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def country(raw: str, what: str) -> str:
    if not raw:
        return raw
    value = unescape(raw)
    if not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise Bad(f"{what} {value[:40]!r} is not a two-letter country code (US, GB, DE ...)")
    return value.upper()


@functools.lru_cache(maxsize=256)
def currency(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[A-Za-z]{3}", value):
        raise Bad(f"currency {value[:20]!r} is not a three-letter code (USD, EUR ...)")
    return value.upper()


@functools.lru_cache(maxsize=256)
def payment_method(raw: str) -> PaymentMethod:
    """Our method for a channel's name of it: Shopify writes "Cash on Delivery (COD)",
    "Bank Deposit", "Shopify Payments" ... Anything not recognised is a card payment."""
    value = raw.strip().casefold()
    if not value:
        return PaymentMethod.CARD
    for method in PaymentMethod:
        if value == method.value:
            return method
    if "cash on delivery" in value or re.search(r"\bcod\b", value):
        return PaymentMethod.COD
    if any(w in value for w in ("bank deposit", "money order", "cheque", "check")):
        return PaymentMethod.CHECK
    if "cash" in value:
        return PaymentMethod.CASH
    if "terms" in value or "invoice" in value:
        return PaymentMethod.TERMS
    return PaymentMethod.CARD


def where_lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def norm_header(name: str) -> str:
    """`Lineitem SKU`, `lineitem_sku` and ` Lineitem  sku ` are one column."""
    return re.sub(r"[\s_\-]+", " ", name.strip().lstrip("\ufeff")).casefold()


# -- reading a CSV file -------------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """The file's bytes, counted as they are read (for the progress bar)."""

    def __init__(self, raw: IO[bytes], size: int, progress: Progress | None) -> None:
        self.raw = raw
        self.size = size
        self.done = 0
        self.progress = progress

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Closing the reader closes the file under it (CsvRows.close)."""
        self.raw.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        count = int(n or 0)
        self.done += count
        if self.progress is not None and count:
            self.progress(self.done, self.size)
        return count


def sniff(path: Path, kind: str) -> None:
    """Refuse what is not a text file before anything is written: binary data, another
    encoding than UTF-8, an empty file."""
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if not head.strip():
        raise InvalidInput(f"{path.name} is empty")
    if b"\x00" in head:
        raise InvalidInput(f"{path.name} is not a {kind} file: it holds binary data")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end is not an error
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (line {line}); export it again as CSV UTF-8"
        ) from None


@dataclass
class CsvRows:
    """A CSV file's header and its rows with the file line each starts on."""

    path: Path
    header: list[str]
    _reader: Iterator[list[str]]
    _csv: Any
    _text: IO[str]
    error: str = ""
    rows: int = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        previous = self._csv.line_num
        width = len(self.header)
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                self.error = (
                    f"{self.path.name} is not UTF-8 text after line {previous}; "
                    "the rest of the file was not read"
                )
                return
            except csv.Error as exc:
                self.error = f"line {previous + 1}: not readable as CSV ({exc})"
                return
            start = previous + 1
            previous = self._csv.line_num
            if len(row) < width:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
                row += [""] * (width - len(row))
            self.rows += 1
            yield start, row

    def close(self) -> None:
        self._text.close()


def open_csv(path: Path, kind: str, progress: Progress | None = None) -> CsvRows:
    sniff(path, kind)
    size = path.stat().st_size
    raw = path.open("rb")
    stream = io.TextIOWrapper(
        io.BufferedReader(_Counting(raw, size, progress)), encoding="utf-8-sig", newline=""
    )
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        stream.close()
        raise InvalidInput(f"{path.name} is not a {kind} file: no header line ({exc})") from None
    return CsvRows(path, header, reader, reader, stream)


def columns(
    header: list[str], synonyms: Mapping[str, tuple[str, ...]], required: tuple[str, ...], kind: str
) -> dict[str, int]:
    """Our key -> column index, by name; refuses a header missing a required column."""
    index = {norm_header(h): i for i, h in reversed(list(enumerate(header)))}
    found: dict[str, int] = {}
    for key, names in synonyms.items():
        for name in names:
            if norm_header(name) in index:
                found[key] = index[norm_header(name)]
                break
    missing = [synonyms[k][0] for k in required if k not in found]
    if missing:
        if len(missing) == len(required):
            raise InvalidInput(
                f"not a {kind} file: line 1 has none of the required columns "
                f"{', '.join(repr(m) for m in missing)}"
            )
        listed = ", ".join(repr(m) for m in missing)
        plural = "columns" if len(missing) > 1 else "column"
        raise InvalidInput(f"the {kind} file lacks the required {plural} {listed} (line 1)")
    return found


def cell(row: list[str], cols: Mapping[str, int], key: str) -> str:
    i = cols.get(key)
    return row[i] if i is not None and i < len(row) else ""


def picker(cols: Mapping[str, int], keys: Sequence[str]) -> Callable[[list[str]], dict[str, str]]:
    """A function taking a row (padded to the header) to {key: cell} for the `keys` the
    file has, in one C-level step: it runs for every row of big files."""
    present = [k for k in keys if k in cols]
    if not present:
        return lambda row: {}
    get = itemgetter(*(cols[k] for k in present))
    if len(present) == 1:
        only = present[0]
        return lambda row: {only: get(row)}
    return lambda row: dict(zip(present, get(row), strict=True))


# -- one order, from the fields every format shares ----------------------------------------------


_ADDRESS_TEXT = (
    ("name", "name"),
    ("company", "company"),
    ("line1", "address line 1"),
    ("line2", "address line 2"),
    ("city", "city"),
    ("region", "region"),
    ("postal_code", "ZIP"),
    ("phone", "phone"),
)


def address(values: Mapping[str, str], prefix: str, what: str) -> ImportedAddress:
    """An address from `prefix`ed keys (`ship_city` ...), every field checked; runs twice
    an order, so messages are only built when something is wrong."""
    out: dict[str, str] = {}
    for key, label in _ADDRESS_TEXT:
        value = values.get(prefix + key, "")
        if value:
            if value[0] == "'":
                value = value[1:] if key in ("postal_code", "phone") else unescape(value)
            if len(value) > LIMITS[key]:
                raise Bad(
                    f"{what} {label} is {len(value)} characters long; at most {LIMITS[key]} fit"
                )
        out[key] = value
    out["country"] = country(values.get(prefix + "country", ""), f"{what} country")
    return ImportedAddress(**out)


# Payment states a file may give: ours, and Shopify's ("partially_paid", "expired" ...).
FINANCIAL = frozenset(
    {
        "",
        "unpaid",
        "pending",
        "expired",
        "authorized",
        "paid",
        "partially_paid",
        "partially_refunded",
        "refunded",
        "voided",
    }
)


@functools.lru_cache(maxsize=256)
def financial(raw: str, what: str = "payment status") -> str:
    value = re.sub(r"[\s\-]+", "_", raw.strip().casefold())
    if value not in FINANCIAL:
        names = ", ".join(sorted(f for f in FINANCIAL if f))
        raise Bad(f"{what} {raw[:30]!r} is not one of {names}")
    return value


@dataclass(frozen=True)
class MoneyState:
    captured: int = 0  # money taken on the channel
    authorized: int = 0  # an open authorization there
    refunded: int = 0
    voided: bool = False


def money_state(
    status: str, total: int, refunded: int, outstanding: int | None = None
) -> MoneyState:
    """What the channel's payment status means in money, for an order of `total`."""
    if status in ("", "unpaid", "pending", "expired"):
        return MoneyState()
    if status == "authorized":
        return MoneyState(authorized=total)
    if status == "paid":
        return MoneyState(captured=total)
    if status == "partially_paid":
        return MoneyState(captured=max(total - (outstanding or total), 0))
    if status == "partially_refunded":
        if not 0 < refunded < total:
            raise Bad("partially refunded, but the amount refunded is not below the total")
        return MoneyState(captured=total, refunded=refunded)
    if status == "refunded":
        return MoneyState(captured=total, refunded=refunded or total)
    if status == "voided":
        return MoneyState(voided=True)
    raise Bad(f"payment status {status[:30]!r} is not known")


def generic_status(raw: str) -> Status:
    value = raw.strip().casefold() or "new"
    for status in IMPORTABLE:
        if status.value == value:
            return status
    names = ", ".join(s.value for s in IMPORTABLE)
    raise Bad(f"status {raw[:30]!r} cannot be imported; use one of {names}")


@dataclass
class Draft:
    """An order's fields as read (strings), before checking: the generic keys above."""

    ref: str
    first_line: int
    last_line: int
    values: dict[str, str]
    lines: list[tuple[int, dict[str, str]]]
    where_text: str = ""

    @property
    def where(self) -> str:
        return self.where_text or where_lines(self.first_line, self.last_line)


def build_generic(draft: Draft, channel: str) -> ImportedOrder:
    """The generic CSV's and JSON's fields, checked (raises Bad)."""
    v = draft.values
    warnings: list[str] = []
    status = generic_status(v.get("status", ""))
    lines: list[ImportedLine] = []
    for i, (line_no, lv) in enumerate(draft.lines, start=1):
        at = f"line {line_no}: " if line_no else f"lines[{i}]: "
        qty = quantity(lv.get("quantity"), f"{at}quantity")
        sku = lv.get("sku", "").strip()
        if qty == 0:
            warnings.append(f"{at}{sku or 'a line'} has quantity 0; skipped")
            continue
        price_raw = lv.get("unit_price", "")
        shipped_raw = lv.get("shipped", "")
        shipped = (
            quantity(shipped_raw, f"{at}shipped")
            if str(shipped_raw).strip()
            else (qty if status is Status.SHIPPED else 0)
        )
        if shipped > qty:
            raise Bad(f"{at}{sku}: {shipped} shipped of {qty} ordered")
        lines.append(
            ImportedLine(
                sku=text(sku, f"{at}SKU", "sku"),
                quantity=qty,
                unit_price=amount(price_raw, f"{at}unit price") if str(price_raw).strip() else None,
                name=text(lv.get("line_name", ""), f"{at}line name", "line_name"),
                shipped=shipped,
                line_no=line_no,
            )
        )
    if not lines:
        raise Bad("it has no lines")
    shipping = address(v, "ship_", "shipping")
    billing = address(v, "bill_", "billing")
    shipping_total = amount(v.get("shipping_total"), "shipping_total")
    tax_total = amount(v.get("tax_total"), "tax_total")
    refunded = amount(v.get("refunded"), "refunded")
    return ImportedOrder(
        channel=text(v.get("channel", "").strip() or channel, "channel"),
        ref=text(draft.ref, "order"),
        where=draft.where,
        lines=tuple(lines),
        placed_at=moment(v.get("placed_at"), "placed_at"),
        email=text(v.get("email", "").strip(), "email"),
        customer_name=text(v.get("customer_name", "") or shipping.name, "customer_name"),
        phone=zip_or_phone(v.get("phone", ""), "phone", "phone"),
        note=text(v.get("note", ""), "note"),
        currency=currency(v.get("currency", "")),
        shipping_method=text(v.get("shipping_method", ""), "shipping_method"),
        payment_method=payment_method(v.get("payment_method", "")),
        shipping=shipping,
        billing=None if billing.is_empty() else billing,
        shipping_total=shipping_total,
        tax_total=tax_total,
        status=status,
        financial=financial(v.get("payment_status", "")),
        refunded=refunded,
        warnings=tuple(warnings),
    )


# -- generic CSV --------------------------------------------------------------------------------

GENERIC_ORDER_KEYS = (
    "channel",
    "placed_at",
    "email",
    "customer_name",
    "phone",
    "note",
    "currency",
    "shipping_method",
    "payment_method",
    "payment_status",
    "refunded",
    "status",
    "shipping_total",
    "tax_total",
    *(f"ship_{k}" for k in (*ADDRESS_KEYS, "phone")),
    *(f"bill_{k}" for k in (*ADDRESS_KEYS, "phone")),
)
GENERIC_LINE_KEYS = ("sku", "quantity", "unit_price", "line_name", "shipped")
GENERIC_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order": ("order", "ref", "order ref", "order name"),
    **{k: (k,) for k in (*GENERIC_ORDER_KEYS, *GENERIC_LINE_KEYS)},
}


def group_rows(
    rows: CsvRows, cols: Mapping[str, int], order_keys: tuple[str, ...], line_keys: tuple[str, ...]
) -> Iterator[Draft | Rejected]:
    """Consecutive rows with the same `order` value make one draft; the order's fields come
    from its first row. An order name seen again after other orders is refused."""
    seen: set[str] = set()
    current: Draft | None = None
    line_of, order_of = picker(cols, line_keys), picker(cols, order_keys)
    for line_no, row in rows:
        ref = cell(row, cols, "order").strip()
        if not ref:
            yield Rejected("", where_lines(line_no, line_no), "the row has no order reference")
            continue
        if current is not None and ref == current.ref:
            current.last_line = line_no
            current.lines.append((line_no, line_of(row)))
            continue
        if current is not None:
            yield current
        if ref in seen:
            current = None
            yield Rejected(
                ref,
                where_lines(line_no, line_no),
                f"order {ref} appeared earlier in the file; the rows of one order must follow "
                "each other",
            )
            continue
        seen.add(ref)
        current = Draft(
            ref=ref,
            first_line=line_no,
            last_line=line_no,
            values=order_of(row),
            lines=[(line_no, line_of(row))],
        )
    if current is not None:
        yield current


def read_generic_csv(
    path: Path, channel: str, progress: Progress | None = None
) -> tuple[CsvRows, Iterator[ImportedOrder | Rejected]]:
    rows = open_csv(path, "CSV order", progress)
    cols = columns(rows.header, GENERIC_SYNONYMS, ("order", "sku", "quantity"), "CSV order")

    def orders() -> Iterator[ImportedOrder | Rejected]:
        for item in group_rows(rows, cols, GENERIC_ORDER_KEYS, GENERIC_LINE_KEYS):
            if isinstance(item, Rejected):
                yield item
                continue
            try:
                yield build_generic(item, channel)
            except Bad as exc:
                yield Rejected(item.ref, item.where, str(exc))

    return rows, orders()


# -- JSON -------------------------------------------------------------------------------------


def read_json(path: Path, channel: str) -> list[ImportedOrder | Rejected]:
    """The orders of a JSON file. A refused order is named by its file lines (and its place
    in the list); those are found only when something is refused, so a clean file is
    parsed once."""
    sniff(path, "JSON")
    try:
        raw = path.read_text(encoding="utf-8-sig")
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path.name} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text") from None
    if isinstance(data, dict) and isinstance(data.get("orders"), list):
        data = data["orders"]
    if not isinstance(data, list):
        raise InvalidInput(f'{path.name}: expected a list of orders or {{"orders": [...]}}')
    places = JsonPlaces(raw)
    out: list[ImportedOrder | Rejected] = []
    seen: set[str] = set()

    def refuse(i: int, ref: str, reason: str) -> Rejected:
        return Rejected(ref, places.where(i), reason)

    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            out.append(refuse(i, "", "an order must be an object"))
            continue
        ref = str(item.get("order", item.get("ref", "")) or "").strip()
        if not ref:
            out.append(refuse(i, "", 'the order has no "order" reference'))
            continue
        if ref in seen:
            out.append(refuse(i, ref, f"order {ref} appears twice in the file"))
            continue
        seen.add(ref)
        try:
            out.append(build_generic(_json_draft(ref, item, f"order {i} in the file"), channel))
        except Bad as exc:
            reason = str(exc)
            spots = places.order(i)
            if spots is not None:  # the same checks again, saying which file line is wrong
                try:
                    build_generic(_json_draft(ref, item, "", spots[2]), channel)
                except Bad as again:
                    reason = str(again)
            out.append(refuse(i, ref, reason))
    return out


_JSON = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, i: int) -> int:
    found = _SPACE.match(text, i)
    return found.end() if found else i


def _json_items(text: str, i: int) -> list[tuple[int, int]]:
    """(start, end) of each element of the JSON array starting at text[i] == '['."""
    out: list[tuple[int, int]] = []
    i = _skip(text, i + 1)
    if text[i] == "]":
        return out
    while True:
        _value, end = _JSON.raw_decode(text, i)
        out.append((i, end))
        i = _skip(text, end)
        if text[i] != ",":
            return out
        i = _skip(text, i + 1)


def _json_members(text: str, i: int) -> dict[str, tuple[int, int]]:
    """(start, end) of each value of the JSON object starting at text[i] == '{'."""
    out: dict[str, tuple[int, int]] = {}
    i = _skip(text, i + 1)
    if text[i] == "}":
        return out
    while True:
        key, i = _JSON.raw_decode(text, i)
        i = _skip(text, _skip(text, i) + 1)  # past the ':'
        _value, end = _JSON.raw_decode(text, i)
        out[str(key)] = (i, end)  # the last one wins, as in json.loads
        i = _skip(text, end)
        if text[i] != ",":
            return out
        i = _skip(text, i + 1)


class JsonPlaces:
    """Where each order of a JSON file (and each of its lines) starts and ends, as file
    line numbers; worked out on the first question, from the text json.loads accepted."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._orders: list[tuple[int, int]] | None = None
        self._newlines: list[int] = []

    def _line(self, index: int) -> int:
        return bisect.bisect_right(self._newlines, index - 1) + 1

    def _scan(self) -> list[tuple[int, int]]:
        if self._orders is None:
            self._orders = []
            try:
                self._newlines = [m.start() for m in re.finditer("\n", self.text)]
                i = _skip(self.text, 0)
                if self.text[i] == "{":
                    i = _json_members(self.text, i)["orders"][0]
                self._orders = _json_items(self.text, i)
            except (ValueError, KeyError, IndexError):  # pragma: no cover - json.loads took it
                self._orders = []
        return self._orders

    def order(self, i: int) -> tuple[int, int, list[int]] | None:
        """First and last file line of order `i` (1-based) and the first line of each of its
        order lines; None when not found."""
        orders = self._scan()
        if not 1 <= i <= len(orders):
            return None
        start, end = orders[i - 1]
        lines: list[int] = []
        if self.text[start] == "{":
            try:
                spot = _json_members(self.text, start).get("lines")
                if spot is not None and self.text[spot[0]] == "[":
                    lines = [self._line(a) for a, _b in _json_items(self.text, spot[0])]
            except (ValueError, IndexError):  # pragma: no cover - json.loads took it
                lines = []
        return self._line(start), self._line(end - 1), lines

    def where(self, i: int) -> str:
        spots = self.order(i)
        if spots is None:
            return f"order {i} in the file"
        return f"{where_lines(spots[0], spots[1])} (order {i} in the file)"


def _json_value(value: Any, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise Bad(f"{key} must be text or a number")
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int) else repr(value)


def _json_draft(ref: str, item: dict[str, Any], where: str, line_nos: Sequence[int] = ()) -> Draft:
    """`line_nos`: the file line each order line starts on (refusals name it), when known."""
    values = {
        k: _json_value(item.get(k), k)
        for k in GENERIC_ORDER_KEYS
        if not k.startswith(("ship_", "bill_"))
    }
    for prefix, key in (("ship_", "shipping_address"), ("bill_", "billing_address")):
        addr = item.get(key) or {}
        if not isinstance(addr, dict):
            raise Bad(f"{key} must be an object")
        for k in (*ADDRESS_KEYS, "phone"):
            values[prefix + k] = _json_value(addr.get(k), f"{key}.{k}")
    raw_lines = item.get("lines")
    if not isinstance(raw_lines, list):
        raise Bad("lines must be a list")
    lines: list[tuple[int, dict[str, str]]] = []
    for n, ln in enumerate(raw_lines, start=1):
        line_no = line_nos[n - 1] if len(line_nos) >= n else 0
        at = f"line {line_no}: " if line_no else ""
        if not isinstance(ln, dict):
            raise Bad(f"{at}order line {n} must be an object")
        qty = ln.get("quantity")
        if isinstance(qty, float):
            raise Bad(f"{at}quantity {qty!r} of order line {n} is not a whole number")
        lines.append(
            (
                line_no,
                {
                    "sku": _json_value(ln.get("sku"), "sku"),
                    "quantity": _json_value(qty, "quantity"),
                    "unit_price": _json_value(ln.get("unit_price"), "unit_price"),
                    "line_name": _json_value(ln.get("name"), "name"),
                    "shipped": _json_value(ln.get("shipped"), "shipped"),
                },
            )
        )
    return Draft(ref=ref, first_line=0, last_line=0, values=values, lines=lines, where_text=where)
