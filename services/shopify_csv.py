"""Shopify's order export CSV, both ways: reading it (services/imports.py) and writing it
(services/exports.py), with the same column names.

The layout, as Shopify writes it (Admin > Orders > Export): one row per line item; the
order's own fields (Financial Status, Currency, Subtotal, Total, addresses, Notes ...) only
on the order's first row; the rows of one order follow each other. Columns are found by
name, not position, since the header has changed over the years: `Lineitem sku` or
`Lineitem SKU`, `Billing Street` (older) or `Billing Address1`, `Shipping Zip` or
`Shipping Postal Code`, `Notes` or `Note`, `Cancelled at` or `Canceled at` ...

How its statuses become ours: `Cancelled at` set -> canceled; Fulfillment Status
`fulfilled` -> shipped, `partial` -> partially_shipped (the lines whose `Lineitem
fulfillment status` is `fulfilled` count as shipped), anything else -> new. Financial
Status becomes payment rows (money taken on the channel: paid, authorized, refunded ...),
from which our payment status is derived like any other order's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from services.import_formats import (
    CENTS,
    LIMITS,
    MAX_QUANTITY,
    MAX_TEXT,
    Bad,
    CsvRows,
    Draft,
    ImportedAddress,
    ImportedLine,
    ImportedOrder,
    Progress,
    Rejected,
    address,
    amount,
    columns,
    currency,
    financial,
    moment,
    open_csv,
    payment_method,
    picker,
    quantity,
    text,
    where_lines,
    zip_or_phone,
)
from services.statuses import Status

Picker = Callable[[list[str]], dict[str, str]]

KIND = "Shopify order export"

# Today's header, in Shopify's order: what the export writes.
HEADER: tuple[str, ...] = (
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
)


def _address_synonyms(prefix: str, word: str) -> dict[str, tuple[str, ...]]:
    return {
        f"{prefix}name": (f"{word} Name",),
        f"{prefix}company": (f"{word} Company",),
        f"{prefix}line1": (f"{word} Address1", f"{word} Address 1"),
        f"{prefix}street": (f"{word} Street",),
        f"{prefix}line2": (f"{word} Address2", f"{word} Address 2"),
        f"{prefix}city": (f"{word} City",),
        f"{prefix}region": (f"{word} Province", f"{word} Province Code", f"{word} State"),
        f"{prefix}region_name": (f"{word} Province Name",),
        f"{prefix}postal_code": (
            f"{word} Zip",
            f"{word} Postal Code",
            f"{word} Postcode",
            f"{word} ZIP Code",
        ),
        f"{prefix}country": (f"{word} Country", f"{word} Country Code"),
        f"{prefix}phone": (f"{word} Phone",),
    }


# our key -> the names it has gone by (the first is the one error messages use)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "order": ("Name", "Order Name", "Order", "Order Number"),
    "email": ("Email", "Customer Email", "Contact Email"),
    "financial_status": ("Financial Status", "Payment Status"),
    "paid_at": ("Paid at",),
    "fulfillment_status": ("Fulfillment Status",),
    "currency": ("Currency",),
    "subtotal": ("Subtotal", "Subtotal Price"),
    "shipping_total": ("Shipping", "Shipping Price", "Total Shipping"),
    "tax_total": ("Taxes", "Total Tax", "Tax"),
    "total": ("Total", "Total Price"),
    "shipping_method": ("Shipping Method",),
    "placed_at": ("Created at", "Created At", "Processed at", "Order Date"),
    "quantity": ("Lineitem quantity", "Line item quantity", "Line Item Quantity"),
    "line_name": ("Lineitem name", "Line item name", "Line Item Name"),
    "unit_price": ("Lineitem price", "Line item price", "Line Item Price"),
    "sku": ("Lineitem sku", "Line item sku", "Line Item SKU"),
    "line_fulfillment": ("Lineitem fulfillment status", "Line item fulfillment status"),
    **_address_synonyms("bill_", "Billing"),
    **_address_synonyms("ship_", "Shipping"),
    "note": ("Notes", "Note"),
    "cancelled_at": ("Cancelled at", "Canceled at", "Cancelled At"),
    "payment_method": ("Payment Method", "Payment Gateway", "Gateway"),
    "payment_ref": ("Payment Reference", "Payment References", "Payment ID"),
    "refunded": ("Refunded Amount",),
    "outstanding": ("Outstanding Balance",),
    "phone": ("Phone",),
}
REQUIRED = ("order", "quantity", "sku")
LINE_KEYS = ("sku", "quantity", "unit_price", "line_name", "line_fulfillment")
# Only on an order's first row: one of these set marks a row as the start of an order.
FIRST_ROW_KEYS = ("financial_status", "currency", "subtotal", "total", "fulfillment_status")
ORDER_KEYS = tuple(k for k in SYNONYMS if k not in LINE_KEYS and k != "order")


def read(
    path: Path, channel: str = "shopify", progress: Progress | None = None
) -> tuple[CsvRows, Iterator[ImportedOrder | Rejected]]:
    """The orders of a Shopify export, one by one, each checked (or rejected, with its
    lines and why). Refuses (InvalidInput) a file that is not one before yielding any."""
    rows = open_csv(path, KIND, progress)
    cols = columns(rows.header, SYNONYMS, REQUIRED, KIND)
    markers = [k for k in FIRST_ROW_KEYS if k in cols]
    fast = _Fast(cols, channel)
    line_of, order_of = picker(cols, LINE_KEYS), picker(cols, ORDER_KEYS)

    def orders() -> Iterator[ImportedOrder | Rejected]:
        for item in _groups(rows, cols, markers):
            if isinstance(item, Rejected):
                yield item
                continue
            order = fast.build(item)
            if order is not None:
                yield order
                continue
            try:  # something unusual: the checks that say exactly what
                yield build(item.draft(line_of, order_of), channel)
            except Bad as exc:
                yield Rejected(item.ref, item.where, str(exc))

    return rows, orders()


@dataclass
class _Group:
    """One order's rows as read: its first row (the order's own fields) and every row
    (its lines), with their file lines."""

    ref: str
    first_line: int
    last_line: int
    head: list[str]
    rows: list[tuple[int, list[str]]]

    @property
    def where(self) -> str:
        return where_lines(self.first_line, self.last_line)

    def draft(self, line_of: Picker, order_of: Picker) -> Draft:
        return Draft(
            self.ref,
            self.first_line,
            self.last_line,
            order_of(self.head),
            [(n, line_of(row)) for n, row in self.rows],
        )


def _groups(
    rows: CsvRows, cols: Mapping[str, int], markers: Sequence[str]
) -> Iterator[_Group | Rejected]:
    """Consecutive rows with one Name make an order. Its first row must carry the order's
    own fields; rows continuing an order whose first row is missing, and an order Name
    seen again after other orders, are refused with their lines."""
    seen: set[str] = set()
    current: _Group | None = None
    mode = "ok"  # ok | orphan (first row missing) | again (Name seen before)
    name_at = cols["order"]
    marker_at = [cols[k] for k in markers]

    def finish() -> _Group | Rejected | None:
        if current is None:
            return None
        if mode == "orphan":
            return Rejected(
                current.ref,
                current.where,
                f"line {current.first_line} continues order {current.ref}, but the order's "
                "first row (with its Financial Status, Total and addresses) is missing",
            )
        if mode == "again":
            return Rejected(
                current.ref,
                current.where,
                f"order {current.ref} appeared earlier in the file; the rows of one order "
                "must follow each other",
            )
        return current

    for line_no, row in rows:
        ref = row[name_at].strip()
        if not ref:
            yield Rejected("", where_lines(line_no, line_no), "the row has no order Name")
            continue
        if current is not None and ref == current.ref:
            current.last_line = line_no
            current.rows.append((line_no, row))
            continue
        done = finish()
        if done is not None:
            yield done
        current = _Group(ref, line_no, line_no, row, [(line_no, row)])
        if ref in seen:
            mode = "again"
        elif not marker_at or any(row[i].strip() for i in marker_at):
            mode = "ok"
        else:
            mode = "orphan"
        seen.add(ref)
    done = finish()
    if done is not None:
        yield done


# The cells the fast path reads, in this order (see _Fast.build).
_FAST_ORDER = (
    "email",
    "financial_status",
    "paid_at",
    "fulfillment_status",
    "currency",
    "subtotal",
    "shipping_total",
    "tax_total",
    "total",
    "shipping_method",
    "placed_at",
    "note",
    "cancelled_at",
    "payment_method",
    "payment_ref",
    "refunded",
    "outstanding",
    "phone",
)
_ADDRESS_CELLS = (
    "name",
    "company",
    "line1",
    "street",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
_FAST_LINE = ("quantity", "sku", "unit_price", "line_name", "line_fulfillment")
# Column limits (import_formats.LIMITS) as names the fast path reads without a lookup.
_NAME, _COMPANY, _LINE1, _LINE2, _CITY, _REGION, _POSTAL_CODE, _PHONE = (
    LIMITS[k]
    for k in ("name", "company", "line1", "line2", "city", "region", "postal_code", "phone")
)
_SKU, _LINE_NAME, _EMAIL, _METHOD, _REF = (
    LIMITS[k] for k in ("sku", "line_name", "email", "shipping_method", "order")
)


def _cells(cols: Mapping[str, int], keys: Sequence[str]) -> Callable[[list[str]], Sequence[str]]:
    """A row's cells of `keys` as a tuple ("" for a column the file lacks)."""
    at = [cols.get(k, -1) for k in keys]
    if all(i >= 0 for i in at):
        return itemgetter(*at)
    return lambda row: [row[i] if i >= 0 else "" for i in at]


class _Fast:
    """`build` for the usual order, in one pass over its cells: every value plain (no
    leading apostrophe but a ZIP's or phone's, amounts as `12.50`, known words). Anything
    else returns None, and `build` checks the order and says exactly what is wrong: the
    two agree on every order the fast path takes (tests/services/test_import_fast.py)."""

    def __init__(self, cols: Mapping[str, int], channel: str) -> None:
        self.order = _cells(cols, _FAST_ORDER)
        self.ship = _cells(cols, [f"ship_{k}" for k in _ADDRESS_CELLS])
        self.bill = _cells(cols, [f"bill_{k}" for k in _ADDRESS_CELLS])
        self.line = _cells(cols, _FAST_LINE)
        plain = len(channel) <= LIMITS["channel"] and channel[:1] != "'"
        self.channel = channel if plain else None

    def build(self, g: _Group) -> ImportedOrder | None:
        channel = self.channel
        ref = g.ref
        if channel is None or len(ref) > _REF or ref[0] == "'":
            return None
        (
            email,
            fin,
            paid_at,
            fstatus,
            cur,
            subtotal,
            shipping_total,
            tax_total,
            total,
            method,
            placed,
            note,
            cancelled,
            pay_method,
            pay_ref,
            refunded,
            outstanding,
            phone,
        ) = self.order(g.head)
        fulfilled = fstatus == "fulfilled" or fstatus.strip().casefold() == "fulfilled"
        lines: list[ImportedLine] = []
        shipped = units = 0
        line = self.line
        cents = CENTS.fullmatch
        for line_no, row in g.rows:
            qty_raw, sku, price, name, line_status = line(row)
            if not (qty_raw.isascii() and qty_raw.isdigit()):
                return None
            qty = int(qty_raw)
            sku = sku.strip()
            if (
                not 0 < qty <= MAX_QUANTITY
                or len(sku) > _SKU
                or sku[:1] == "'"
                or len(name) > _LINE_NAME
                or name[:1] == "'"
            ):
                return None
            if line_status == "fulfilled":
                done = True
            else:
                line_status = line_status.strip().casefold()
                done = line_status == "fulfilled" or (fulfilled and not line_status)
            if not price:
                unit_price = None
            elif cents(price):
                unit_price = int(price[:-3]) * 100 + int(price[-2:])
            else:
                return None
            ship = qty if done else 0
            shipped += ship
            units += qty
            lines.append(ImportedLine(sku, qty, unit_price, name, ship, line_no))
        if cancelled.strip():
            status = Status.CANCELED
        elif not shipped:
            if fstatus and fstatus.strip().casefold() == "partial":
                return None  # a warning to give
            status = Status.NEW
        else:
            status = Status.SHIPPED if shipped == units else Status.PARTIALLY_SHIPPED
        shipping = _address(self.ship(g.head))
        billing = _address(self.bill(g.head))
        if shipping is None or billing is None:
            return None
        email = email.strip()
        customer = billing.name or shipping.name
        phone = phone or billing.phone
        if phone[:1] == "'":
            phone = phone[1:]
        if (
            len(email) > _EMAIL
            or email[:1] == "'"
            or len(phone) > _PHONE
            or phone[:1] == "'"
            or len(note) > MAX_TEXT
            or note[:1] == "'"
            or len(method) > _METHOD
            or method[:1] == "'"
        ):
            return None
        try:
            return ImportedOrder(
                channel=channel,
                ref=ref,
                where=g.where,
                lines=tuple(lines),
                placed_at=moment(placed, "Created at"),
                email=email,
                customer_name=customer,
                phone=phone,
                note=note,
                currency=currency(cur),
                shipping_method=method,
                payment_method=payment_method(pay_method),
                payment_ref=pay_ref[:100],
                shipping=shipping,
                billing=None if billing.is_empty() else billing,
                shipping_total=amount(shipping_total, "Shipping"),
                tax_total=amount(tax_total, "Taxes"),
                subtotal=amount(subtotal, "Subtotal") if subtotal.strip() else None,
                total=amount(total, "Total") if total.strip() else None,
                status=status,
                financial=financial(fin, "Financial Status"),
                refunded=amount(refunded, "Refunded Amount"),
                outstanding=amount(outstanding, "Outstanding Balance")
                if outstanding.strip()
                else None,
                paid_at=moment(paid_at, "Paid at"),
            )
        except Bad:
            return None


def _address(cells: Sequence[str]) -> ImportedAddress | None:
    """`address()` for plain cells (None: not plain; `address()` says what is wrong)."""
    name, company, line1, street, line2, city, region, postal_code, country, phone = cells
    if not line1 and street:
        line1 = street  # older exports: Street only
    if postal_code[:1] == "'":
        postal_code = postal_code[1:]
    if phone[:1] == "'":
        phone = phone[1:]
    if (
        name[:1] == "'"
        or company[:1] == "'"
        or line1[:1] == "'"
        or line2[:1] == "'"
        or city[:1] == "'"
        or region[:1] == "'"
        or len(name) > _NAME
        or len(company) > _COMPANY
        or len(line1) > _LINE1
        or len(line2) > _LINE2
        or len(city) > _CITY
        or len(region) > _REGION
        or len(postal_code) > _POSTAL_CODE
        or len(phone) > _PHONE
    ):
        return None
    if country:
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            return None
        country = country.upper()
    return ImportedAddress(name, company, line1, line2, city, region, postal_code, country, phone)


def _status(v: Mapping[str, str], lines: list[ImportedLine]) -> tuple[Status, list[str]]:
    warnings: list[str] = []
    if v.get("cancelled_at", "").strip():
        return Status.CANCELED, warnings
    shipped = sum(ln.shipped for ln in lines)
    if shipped == 0:
        if v.get("fulfillment_status", "").strip().casefold() == "partial":
            warnings.append(
                "partially fulfilled on the channel, but no line says which: imported as new"
            )
        return Status.NEW, warnings
    if all(ln.shipped >= ln.quantity for ln in lines):
        return Status.SHIPPED, warnings
    return Status.PARTIALLY_SHIPPED, warnings


def build(draft: Draft, channel: str) -> ImportedOrder:
    """One order's rows, checked: raises Bad with the reason."""
    v = draft.values
    fulfilled = v.get("fulfillment_status", "").strip().casefold() == "fulfilled"
    lines: list[ImportedLine] = []
    warnings: list[str] = []
    for line_no, lv in draft.lines:
        at = f"line {line_no}: "
        qty = quantity(lv.get("quantity"), f"{at}Lineitem quantity")
        sku = lv.get("sku", "").strip()
        if qty == 0:
            warnings.append(f"{at}{sku or 'a line'} has quantity 0; skipped")
            continue
        line_status = lv.get("line_fulfillment", "").strip().casefold()
        done = line_status == "fulfilled" or (fulfilled and not line_status)
        price = lv.get("unit_price", "")
        lines.append(
            ImportedLine(
                sku=text(sku, f"{at}Lineitem sku", "sku"),
                quantity=qty,
                unit_price=amount(price, f"{at}Lineitem price") if price.strip() else None,
                name=text(lv.get("line_name", ""), f"{at}Lineitem name", "line_name"),
                shipped=qty if done else 0,
                line_no=line_no,
            )
        )
    if not lines:
        raise Bad("it has no lines")
    status, more = _status(v, lines)
    for prefix in ("ship_", "bill_"):
        if not v.get(prefix + "line1") and v.get(prefix + "street"):
            v = {**v, prefix + "line1": v[prefix + "street"]}  # older exports: Street only
    shipping = address(v, "ship_", "Shipping")
    billing = address(v, "bill_", "Billing")
    subtotal, total = v.get("subtotal", ""), v.get("total", "")
    outstanding = v.get("outstanding", "")
    return ImportedOrder(
        channel=text(channel, "channel"),
        ref=text(draft.ref, "order Name", "order"),
        where=draft.where,
        lines=tuple(lines),
        placed_at=moment(v.get("placed_at"), "Created at"),
        email=text(v.get("email", "").strip(), "Email", "email"),
        customer_name=text(billing.name or shipping.name, "customer name", "customer_name"),
        phone=zip_or_phone(v.get("phone", "") or billing.phone, "Phone", "phone"),
        note=text(v.get("note", ""), "Notes", "note"),
        currency=currency(v.get("currency", "")),
        shipping_method=text(v.get("shipping_method", ""), "Shipping Method", "shipping_method"),
        payment_method=payment_method(v.get("payment_method", "")),
        payment_ref=v.get("payment_ref", "")[:100],
        shipping=shipping,
        billing=None if billing.is_empty() else billing,
        shipping_total=amount(v.get("shipping_total"), "Shipping"),
        tax_total=amount(v.get("tax_total"), "Taxes"),
        subtotal=amount(subtotal, "Subtotal") if subtotal.strip() else None,
        total=amount(total, "Total") if total.strip() else None,
        status=status,
        financial=financial(v.get("financial_status", ""), "Financial Status"),
        refunded=amount(v.get("refunded"), "Refunded Amount"),
        outstanding=amount(outstanding, "Outstanding Balance") if outstanding.strip() else None,
        paid_at=moment(v.get("paid_at"), "Paid at"),
        warnings=tuple(warnings + more),
    )
