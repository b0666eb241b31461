"""The Shopify reader's fast path (services/shopify_csv._Fast) against its full checks
(`build`): on any rows, the fast path either gives exactly the order `build` gives, or
steps aside (None) - never another order, never one `build` refuses. No database."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services import shopify_csv as sc
from services.import_formats import Bad, ImportedOrder, columns, open_csv, picker
from tests.services.import_support import SHOPIFY, SHOPIFY_2016, SHOPIFY_LATER

HEADER = list(sc.HEADER)


def edge(n: int) -> list[str]:
    """Text at a column's limit and one past it, bare and behind an apostrophe."""
    return ["x" * n, "x" * (n + 1), "'" + "x" * (n - 1), "'" + "x" * n, "''" + "x" * (n - 1)]


LINE_COLUMNS = {
    "Lineitem quantity": ["1", "2", "0", " 3", "1.5", "", "100001", "\u0663", "-1", "100000"],
    "Lineitem sku": ["PL-10001", " PL-10002 ", "'=x", "'abc", "", *edge(64)],
    "Lineitem price": ["12.50", "", " ", "12", "12.5", "12,50", "-1.00", "1.234", "'12.50"],
    "Lineitem name": ["Mug", "", "'=cmd", "'plain", *edge(300)],
    "Lineitem fulfillment status": ["", "fulfilled", "FULFILLED", " fulfilled", "pending"],
}
MONEY = ["12.50", "", "0.00", " ", "7", "1,00", "-2.00", "99999999999.00", "1.999"]
TEXT = ["Ada", "", "'=1+2", "'Ada", "Zo\u00eb \u202e"]
ORDER_COLUMNS = {
    "Email": ["ada@example.org", " ada@example.org ", "'x@y", "", *edge(320)],
    "Financial Status": [
        *("paid", "Paid", "partially refunded", "bogus", "", "refunded", "partially_paid"),
        *("voided", "authorized", "pending"),
    ],
    "Paid at": ["2026-01-01 10:00:00 -0500", "", "bad", "2026-01-01", " 2026-01-01 "],
    "Created at": ["2026-01-01 10:00:00 -0500", "", "yesterday", "2026-02-03T04:05:06Z"],
    "Fulfillment Status": ["fulfilled", "partial", "", "Fulfilled", "unfulfilled"],
    "Currency": ["USD", "usd", " EUR ", "US", ""],
    "Subtotal": MONEY,
    "Shipping": MONEY,
    "Taxes": MONEY,
    "Total": MONEY,
    "Refunded Amount": MONEY,
    "Outstanding Balance": MONEY,
    "Shipping Method": ["Standard", "", "'=x", *edge(64)],
    "Notes": ["", "a note\nwith lines", "'=1+2", "'plain", *edge(10_000)],
    "Cancelled at": ["", "2026-01-02 10:00:00 -0500"],
    "Payment Method": ["Shopify Payments", "Cash on Delivery (COD)", "", "manual"],
    "Payment Reference": ["", "r" * 150, "'=x"],
    "Phone": ["", "'0123", "''=1", "'''1", *edge(64)],
}
for word in ("Billing", "Shipping"):
    ORDER_COLUMNS |= {
        f"{word} Name": TEXT + edge(200),
        f"{word} Company": TEXT + edge(200),
        f"{word} Street": ["", "1 Old Road", "'=x"],
        f"{word} Address1": ["12 Beacon Street", "", "'=x", *edge(200)],
        f"{word} Address2": TEXT + edge(200),
        f"{word} City": TEXT + edge(100),
        f"{word} Zip": ["'02134", "", "02134", "''1", "'=1", *edge(32)],
        f"{word} Province": ["MA", "", "'=x", *edge(100)],
        f"{word} Country": ["US", "", "us", "USA", "'US", "1A", "\u00e9\u00e9"],
        f"{word} Phone": ["", "'0123", "''1", *edge(64)],
    }


def groups(
    header: list[str], rows: Iterable[tuple[int, list[str]]], channel: str
) -> Iterator[tuple[str, ImportedOrder | None, object]]:
    """(ref, fast result, full result or the Bad it raised) for each order of the rows."""
    cols = columns(header, sc.SYNONYMS, sc.REQUIRED, sc.KIND)
    markers = [k for k in sc.FIRST_ROW_KEYS if k in cols]
    fast = sc._Fast(cols, channel)
    line_of, order_of = picker(cols, sc.LINE_KEYS), picker(cols, sc.ORDER_KEYS)
    for g in sc._groups(rows, cols, markers):  # type: ignore[arg-type]
        if not isinstance(g, sc._Group):
            continue
        got = fast.build(g)
        try:
            want: object = sc.build(g.draft(line_of, order_of), channel)
        except Bad as exc:
            want = exc
        yield g.ref, got, want


def cell(draw: st.DrawFn, values: list[str]) -> str:
    """Mostly the first (plain) value, so that whole orders are plain often enough."""
    return draw(st.sampled_from(values)) if draw(st.integers(0, 11)) == 0 else values[0]


@st.composite
def exports(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    dropped = draw(st.sets(st.sampled_from(sorted(ORDER_COLUMNS)), max_size=6))
    header = [h for h in HEADER if h not in dropped]
    rows: list[list[str]] = []
    for n in range(draw(st.integers(1, 3))):
        for i in range(draw(st.integers(1, 3))):
            row = dict.fromkeys(header, "")
            row["Name"] = f"#{1000 + n}"
            for column, values in LINE_COLUMNS.items():
                row[column] = cell(draw, values)
            if i == 0:
                for column, values in ORDER_COLUMNS.items():
                    if column in row:
                        row[column] = cell(draw, values)
                row["Currency"] = row.get("Currency") or "USD"  # marks the first row
            rows.append([row[h] for h in header])
    return header, rows


@settings(max_examples=400, deadline=None)
@given(exports(), st.sampled_from(["shopify", "shopify", "shopify", "'=x", "c" * 33]))
def test_the_fast_path_gives_what_the_checks_give(
    export: tuple[list[str], list[list[str]]], channel: str
) -> None:
    header, rows = export
    for ref, got, want in groups(header, enumerate(rows, start=2), channel):
        if got is not None:
            assert isinstance(want, ImportedOrder), (ref, want)
            assert got == want


def plain_order(ref: str, lines: int) -> list[dict[str, str]]:
    rows = [dict.fromkeys(HEADER, "") for _ in range(lines)]
    for row in rows:
        row["Name"] = ref
        row.update({column: values[0] for column, values in LINE_COLUMNS.items()})
    rows[0].update({column: values[0] for column, values in ORDER_COLUMNS.items()})
    return rows


def test_every_value_alone() -> None:
    """A plain two-line order with one cell changed, for every cell and value above."""
    header = HEADER
    cases: list[tuple[str, str, int]] = [
        (column, value, row)
        for row, table in ((0, ORDER_COLUMNS), (0, LINE_COLUMNS), (1, LINE_COLUMNS))
        for column, values in table.items()
        for value in values
    ]
    rows: list[list[str]] = []
    for n, (column, value, at) in enumerate(cases):
        order = plain_order(f"#{n}", 2)
        order[at][column] = value
        rows += [[row[h] for h in header] for row in order]
    taken = 0
    for ref, got, want in groups(header, enumerate(rows, start=2), "shopify"):
        if got is not None:
            taken += 1
            assert got == want, cases[int(ref[1:])]
    assert taken > len(cases) // 3  # the plain values, and the odd ones still plain


def fast_refs(path: Path) -> tuple[list[str], list[str]]:
    """Refs of the file's orders the fast path took, and of those it left to `build`."""
    rows = open_csv(path, sc.KIND)
    took: list[str] = []
    left: list[str] = []
    for ref, got, want in groups(rows.header, rows, "shopify"):
        assert got is None or got == want
        (took if got is not None else left).append(ref)
    rows.close()
    return took, left


def test_the_usual_orders_take_the_fast_path() -> None:
    """Only broken orders (a quantity of 1.5, a price with a comma) and those with
    something to warn of (a line of quantity 0) are left to the full checks."""
    assert fast_refs(SHOPIFY)[1] == ["#1004", "#1007"]
    assert fast_refs(SHOPIFY_LATER)[1] == ["#1004", "#1007"]
    assert fast_refs(SHOPIFY_2016) == (["#501"], [])  # an older header, Street only
