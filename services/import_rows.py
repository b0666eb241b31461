"""An import batch's orders checked against the catalogue and turned into the rows they
store, with no database at hand: pure, so a worker process can do it while the importing
process writes (services/import_worker.py; services/imports.py writes them).

What needs the database is left for the writer: ids, order numbers, customers found by
e-mail, the order-number search term and the transaction's own time. The rows are kept
column by column (one list a column, an order's index in the batch where a row belongs
to an order), so the writer adds ids with a list lookup and hands the driver `zip`s, and
a batch crosses a process boundary as plain lists.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from services import search_terms
from services.import_formats import (
    Bad,
    ImportedOrder,
    MoneyState,
    Rejected,
    money_state,
)
from services.statuses import Fulfillment, PaymentStatus, Status

UNKNOWN_FLAG = "unknown SKU"
S = Status
# Enum values as plain strings, read once: a member's `.value` is a Python-level property,
# and a big import reads a dozen of them an order.
STOCK, DROP_SHIP = str(Fulfillment.STOCK), str(Fulfillment.DROP_SHIP)
NEW = str(S.NEW)
# What the channel calls each status it can move an order to, for the history memo.
CHANNEL_WORDS = {
    S.CANCELED: "canceled",
    S.SHIPPED: "fulfilled",
    S.PARTIALLY_SHIPPED: "partially fulfilled",
}
# One encoder for every row: json.dumps with options builds a new one per call.
as_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_quote = encode_basestring  # a str as as_json writes it (quoted, escaped)
EMPTY_LIST = as_json([])


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    price: int
    fulfillment: str  # of its lines: a Fulfillment value


class Line(NamedTuple):
    product_id: int | None
    sku: str
    name: str
    quantity: int
    unit_price: int
    shipped: int
    fulfillment: str  # a Fulfillment value


@dataclass
class Ready:
    """An order checked against the catalogue, with everything needed to write it."""

    src: ImportedOrder
    lines: list[Line]
    subtotal: int
    total: int
    money: MoneyState
    payment_status: PaymentStatus
    flags: list[str]
    notices: list[str]
    units: int  # of all lines

    @property
    def key(self) -> tuple[str, str]:
        return (self.src.channel, self.src.ref)


class Facts(NamedTuple):
    """What decides whether an order already imported follows its channel (see
    imports._follow): small, so a batch of such orders needs nothing more from the reader
    unless one of them moved on."""

    status: str  # the channel's, as ours
    shipped: int  # units shipped there
    captured: int
    authorized: int
    refunded: int
    voided: bool
    total: int


def follow_facts(r: Ready) -> Facts:
    m = r.money
    return Facts(
        str(r.src.status),
        sum(ln.shipped for ln in r.lines),
        m.captured,
        m.authorized,
        m.refunded,
        m.voided,
        r.total,
    )


@dataclass
class PaymentRow:
    kind: str
    amount: int
    state: str = "approved"


def payment_rows(money: MoneyState, total: int) -> list[PaymentRow]:
    rows = []
    if money.captured:
        rows.append(PaymentRow("charge", money.captured))
    if money.authorized:
        rows.append(PaymentRow("authorize", money.authorized))
    if money.refunded:
        rows.append(PaymentRow("refund", money.refunded))
    if money.voided:
        rows += [PaymentRow("authorize", total), PaymentRow("void", total)]
    return rows


def payment_status_of(money: MoneyState, total: int) -> PaymentStatus:
    """What `derive_status` makes of `payment_rows(money, total)`, without the rows
    (tests/services/test_import_formats.py checks the two agree)."""
    if money.captured or money.refunded:
        if money.refunded >= money.captured:
            return PaymentStatus.REFUNDED
        if money.refunded:
            return PaymentStatus.PARTIALLY_REFUNDED
        if money.captured >= total:
            return PaymentStatus.PAID
    if money.authorized:
        return PaymentStatus.AUTHORIZED
    if money.voided:
        return PaymentStatus.VOIDED
    return PaymentStatus.UNPAID


def payment_key(channel: str, ref: str, kind: str, amount: int, seq: int) -> str:
    raw = f"{channel}\x00{ref}\x00{kind}\x00{amount}\x00{seq}".encode()
    return "import-" + hashlib.sha1(raw).hexdigest()


def channel_actor(channel: str) -> str:
    return f"channel:{channel}"[:100]


def ready(imp: ImportedOrder, catalogue: dict[str, Product], unknown_sku: str) -> Ready:
    """The order against the catalogue and the shop's rules; raises Bad."""
    lines: list[Line] = []
    flags: list[str] = []
    units = 0
    for ln in imp.lines:
        product = catalogue.get(ln.sku)
        units += ln.quantity
        if product is not None:
            price = product.price if ln.unit_price is None else ln.unit_price
            name = ln.name or product.name
            lines.append(
                Line(
                    product.id,
                    ln.sku,
                    name,
                    ln.quantity,
                    price,
                    ln.shipped,
                    product.fulfillment,
                )
            )
            continue
        where = f" (line {ln.line_no})" if ln.line_no else ""
        shown = repr(ln.sku) if ln.sku else "(none)"
        if unknown_sku == "refuse":
            raise Bad(f"unknown SKU {shown}{where}; the shop refuses such orders")
        flags.append(f"{UNKNOWN_FLAG} {shown}{where}: imported without a product")
        price = 0 if ln.unit_price is None else ln.unit_price
        lines.append(Line(None, ln.sku, ln.name or ln.sku, ln.quantity, price, ln.shipped, STOCK))
    if len(lines) > 500:
        raise Bad(f"it has {len(lines)} lines; at most 500")
    subtotal = imp.subtotal
    if subtotal is None:
        subtotal = sum(ln.quantity * ln.unit_price for ln in lines)
    total = imp.total
    if total is None:
        total = subtotal + imp.shipping_total + imp.tax_total
    money = money_state(imp.financial, total, imp.refunded, imp.outstanding)
    return Ready(
        src=imp,
        lines=lines,
        subtotal=subtotal,
        total=total,
        money=money,
        payment_status=payment_status_of(money, total),
        flags=flags,
        notices=list(imp.warnings) + flags,
        units=units,
    )


def datetimes(sqlite: bool) -> Callable[[datetime], Any]:
    """Aware UTC datetimes as the driver takes them, the way services/bulk.py stores them
    (SQLite: SQLAlchemy's text format; PostgreSQL: naive UTC)."""

    @functools.lru_cache(maxsize=8192)
    def convert(value: datetime) -> Any:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(sep=" ", timespec="microseconds") if sqlite else naive

    return convert


class _ChannelWords:
    """What the rows of a channel's orders say, made once per channel."""

    def __init__(self, channel: str) -> None:
        self.actor = channel_actor(channel)
        self.quoted = _quote(channel)
        self.memo = {s: f"{CHANNEL_WORDS.get(s, s.value)} on {channel}" for s in Status}
        self.reason = {k: f"{k} on {channel}" for k in ("charge", "authorize", "refund", "void")}


@dataclass
class Rows:
    """New orders' rows, column by column. `*_of` columns hold the index in the batch of
    the order a row belongs to; None in `placed` / `pay_at` means "now" (the writer's
    clock). Columns every row shares (the time, constants) are the writer's."""

    n: int = 0
    # orders (the order's own index is its position)
    channel: list[str] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)  # stripped: also the customer's key
    customer_name: list[str] = field(default_factory=list)
    phone: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    payment_status: list[str] = field(default_factory=list)
    payment_method: list[str] = field(default_factory=list)
    currency: list[str] = field(default_factory=list)
    subtotal: list[int] = field(default_factory=list)
    shipping_total: list[int] = field(default_factory=list)
    tax_total: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    note: list[str] = field(default_factory=list)
    shipping_method: list[str] = field(default_factory=list)
    ship_at: list[int] = field(default_factory=list)  # positions in the address columns
    bill_at: list[int] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    placed: list[Any] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)  # order.import detail
    # addresses
    address_of: list[int] = field(default_factory=list)
    address: list[list[str]] = field(default_factory=lambda: [[] for _ in range(9)])
    # order_lines
    line_of: list[int] = field(default_factory=list)
    line_pos: list[int] = field(default_factory=list)
    line_product: list[int | None] = field(default_factory=list)
    line_sku: list[str] = field(default_factory=list)
    line_name: list[str] = field(default_factory=list)
    line_qty: list[int] = field(default_factory=list)
    line_price: list[int] = field(default_factory=list)
    line_shipped: list[int] = field(default_factory=list)
    line_kind: list[str] = field(default_factory=list)
    # status_events
    event_of: list[int] = field(default_factory=list)
    event_from: list[str | None] = field(default_factory=list)
    event_to: list[str] = field(default_factory=list)
    event_actor: list[str] = field(default_factory=list)
    event_memo: list[str] = field(default_factory=list)
    # order_search (the number's term is the writer's; `digit_terms`: an order's other
    # terms that are all digits, which the number's may equal)
    term_of: list[int] = field(default_factory=list)
    term: list[str] = field(default_factory=list)
    digit_terms: dict[int, set[str]] = field(default_factory=dict)
    # payments
    pay_of: list[int] = field(default_factory=list)
    pay_kind: list[str] = field(default_factory=list)
    pay_amount: list[int] = field(default_factory=list)
    pay_state: list[str] = field(default_factory=list)
    pay_method: list[str] = field(default_factory=list)
    pay_gateway: list[str] = field(default_factory=list)
    pay_key: list[str] = field(default_factory=list)
    pay_reason: list[str] = field(default_factory=list)
    pay_actor: list[str] = field(default_factory=list)
    pay_at: list[Any] = field(default_factory=list)
    # what the operator is told of an order that goes in: (index, message)
    notices: list[tuple[int, str]] = field(default_factory=list)


def share_strings(rows: Rows) -> None:
    """Equal strings of the batch made one object (SKUs, words, cities ... repeat): a
    pickle then sends each once, and the writer unpickles a third as many objects."""
    memo: dict[str, str] = {}
    share = memo.setdefault
    for name, value in vars(rows).items():
        if name == "address":
            rows.address = [[share(v, v) for v in col] for col in value]
        elif isinstance(value, list) and value and isinstance(value[0], str):
            setattr(rows, name, [share(v, v) for v in value])


def build_rows(fresh: Sequence[Ready], *, source: str, operator: str, sqlite: bool) -> Rows:
    """The rows of new orders (see Rows). One lean pass: the batch's values are appended
    column by column with bound methods, each value converted once."""
    dt = datetimes(sqlite)
    out = Rows(n=len(fresh))
    o_channel, o_ref, o_where = out.channel.append, out.ref.append, out.where.append
    o_email, o_name, o_phone = out.email.append, out.customer_name.append, out.phone.append
    o_status, o_pay_status = out.status.append, out.payment_status.append
    o_method, o_currency = out.payment_method.append, out.currency.append
    o_subtotal, o_ship_total = out.subtotal.append, out.shipping_total.append
    o_tax, o_total, o_units = out.tax_total.append, out.total.append, out.units.append
    o_note, o_ship_method = out.note.append, out.shipping_method.append
    o_ship_at, o_bill_at = out.ship_at.append, out.bill_at.append
    o_flags, o_placed, o_audit = out.flags.append, out.placed.append, out.audit.append
    a_of = out.address_of
    a_cols = out.address
    e_of, e_from, e_to = out.event_of.append, out.event_from.append, out.event_to.append
    e_actor, e_memo = out.event_actor.append, out.event_memo.append
    t_of, t_term = out.term_of, out.term
    p_of, p_kind, p_amount = out.pay_of.append, out.pay_kind.append, out.pay_amount.append
    p_state, p_method = out.pay_state.append, out.pay_method.append
    p_gateway, p_key = out.pay_gateway.append, out.pay_key.append
    p_reason, p_actor, p_at = out.pay_reason.append, out.pay_actor.append, out.pay_at.append
    l_of, l_pos, l_product = out.line_of, out.line_pos, out.line_product
    l_sku, l_name, l_qty = out.line_sku, out.line_name, out.line_qty
    l_price, l_shipped, l_kind = out.line_price, out.line_shipped, out.line_kind
    notices = out.notices
    source_json = _quote(source)
    memo_head = f"imported from {source} ("
    by_channel: dict[str, _ChannelWords] = {}
    addresses = 0
    for i, r in enumerate(fresh):
        imp = r.src
        channel = imp.channel
        words = by_channel.get(channel)
        if words is None:
            words = by_channel[channel] = _ChannelWords(channel)
        email = imp.email.strip()
        o_channel(channel)
        o_ref(imp.ref)
        o_where(imp.where)
        o_email(email)
        o_name(imp.customer_name)
        o_phone(imp.phone)
        a_of.append(i)
        for col, value in zip(a_cols, imp.shipping, strict=True):
            col.append(value)
        o_ship_at(addresses)
        if imp.billing is not None and imp.billing != imp.shipping:
            a_of.append(i)
            for col, value in zip(a_cols, imp.billing, strict=True):
                col.append(value)
            o_bill_at(addresses + 1)
            addresses += 2
        else:
            o_bill_at(addresses)
            addresses += 1
        placed = imp.placed_at
        status = str(imp.status)
        method = str(imp.payment_method)
        o_status(status)
        o_pay_status(str(r.payment_status))
        o_method(method)
        o_currency(imp.currency or "USD")
        o_subtotal(r.subtotal)
        o_ship_total(imp.shipping_total)
        o_tax(imp.tax_total)
        o_total(r.total)
        o_units(r.units)
        o_note(imp.note)
        o_ship_method(imp.shipping_method or "standard")
        o_flags(as_json(r.flags) if r.flags else EMPTY_LIST)
        o_placed(None if placed is None else dt(placed))
        lines = r.lines
        k = len(lines)
        l_of += [i] * k
        l_pos += range(k)
        for ln in lines:
            l_product.append(ln.product_id)
            l_sku.append(ln.sku)
            l_name.append(ln.name)
            l_qty.append(ln.quantity)
            l_price.append(ln.unit_price)
            l_shipped.append(ln.shipped)
            l_kind.append(ln.fulfillment)
        e_of(i)
        e_from(None)
        e_to(NEW)
        e_actor(operator)
        e_memo(f"{memo_head}{imp.where})")
        if imp.status is not S.NEW:
            e_of(i)
            e_from(NEW)
            e_to(status)
            e_actor(words.actor)
            e_memo(words.memo[imp.status])
        terms = search_terms.other_terms(
            name=imp.customer_name,
            email=email,
            skus=[ln.sku for ln in lines],
            extra=[imp.ref],  # a query's leading "#" is dropped: "#1001" finds "1001"
        )
        t_of += [i] * len(terms)
        t_term += terms
        digits = {t for t in terms if t.isdigit()}
        if digits:
            out.digit_terms[i] = digits
        paid_at = imp.paid_at or placed
        paid = None if paid_at is None else dt(paid_at)
        gateway = (imp.payment_ref or channel)[:100]
        for seq, p in enumerate(payment_rows(r.money, r.total)):
            p_of(i)
            p_kind(p.kind)
            p_amount(p.amount)
            p_state(p.state)
            p_method(method)
            p_gateway(gateway)
            p_key(payment_key(channel, imp.ref, p.kind, p.amount, seq))
            p_reason(words.reason[p.kind])
            p_actor(words.actor)
            p_at(paid)
        # as_json of {"channel", "ref", "file", "where", "status", "lines"}, key by key
        o_audit(
            f'{{"channel":{words.quoted},"ref":{_quote(imp.ref)},"file":{source_json},'
            f'"where":{_quote(imp.where)},"status":"{status}","lines":{k}}}'
        )
        notices += [(i, n) for n in r.notices]
    return out


def check_batch(
    chunk: Sequence[ImportedOrder | Rejected],
    catalogue: dict[str, Product],
    unknown_sku: str,
) -> tuple[list[Ready], list[Rejected]]:
    """A batch of what the reader gave, checked against the catalogue: (orders, refused)."""
    out: list[Ready] = []
    refused: list[Rejected] = []
    for entry in chunk:
        if isinstance(entry, Rejected):
            refused.append(entry)
            continue
        try:
            out.append(ready(entry, catalogue, unknown_sku))
        except Bad as exc:
            refused.append(Rejected(entry.ref, entry.where, str(exc)))
    return out, refused
