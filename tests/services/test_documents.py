"""Invoices, packing slips and ZPL labels rendered from real orders, checked for content,
for hostile customer text, and for a barcode the scanner module reads back as the order."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from barcode.charsets import code128
from hypothesis import given
from hypothesis import strategies as st

from services.barcodes import Kind, parse_scan
from services.container import Services
from services.documents import allocate, barcode_png, barcode_svg, order_code, plain, zpl_field
from services.errors import InvalidInput, NotFound
from services.orders import NewAddress
from services.shipping import NewShipment
from services.statuses import Status
from tests.services.test_shipping_support import (
    DROP,
    STOCK_A,
    STOCK_B,
    new_order,
    prepare,
    seed_catalogue,
    tracking,
)

HOSTILE = NewAddress(
    name="Eve <script>alert(1)</script>",
    company="^XA^FDpwn^FS~JA",
    line1="1 Rd\x1b[31m\x07_x",
    line2="\u202eevil",
    city="Town & Co",
    postal_code="12345",
    country="US",
    phone="555^XZ",
)


@pytest.fixture
async def shop(services: Services) -> Services:
    await seed_catalogue(services)
    return services


# -- reading the barcode back -------------------------------------------------------------


def decode_code128(svg: str) -> str:
    """Read a python-barcode Code 128 SVG: bars -> modules -> symbols -> text."""
    bars = [
        (float(x), float(w))
        for x, w in re.findall(
            r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm"[^>]*fill:black', svg
        )
    ]
    assert bars, "no bars in the SVG"
    unit = min(w for _, w in bars)
    start = bars[0][0]
    end = max(x + w for x, w in bars)
    modules = ["0"] * round((end - start) / unit)
    for x, w in bars:
        first = round((x - start) / unit)
        for i in range(first, first + round(w / unit)):
            modules[i] = "1"
    return decode_modules("".join(modules))


def decode_png(png: bytes, dots_per_module: int) -> str:
    """Read a Code 128 PNG: sample the middle of each module along the middle row."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    row = [image.getpixel((x, height // 2)) for x in range(width)]
    dark = [x for x, value in enumerate(row) if isinstance(value, int) and value < 128]
    assert dark, "no bars in the PNG"
    first, last = dark[0], dark[-1]
    assert (last - first + 1) % dots_per_module == 0, "bars are not whole modules"
    middle = dots_per_module // 2
    bits = "".join(
        "1" if row[x + middle] < 128 else "0"  # type: ignore[operator]
        for x in range(first, last + 1, dots_per_module)
    )
    return decode_modules(bits)


def decode_modules(bits: str) -> str:
    assert bits.endswith(code128.STOP + "11"), "no stop pattern"
    patterns = {p: v for v, p in enumerate(code128.CODES)}
    values = [patterns[bits[i : i + 11]] for i in range(0, len(bits) - 13, 11)]
    assert (values[0] + sum(i * v for i, v in enumerate(values[1:-1], 1))) % 103 == values[-1]
    charset = {103: "A", 104: "B", 105: "C"}[values[0]]
    out = []
    for v in values[1:-1]:
        if charset == "C":
            if v < 100:
                out.append(f"{v:02d}")
            else:
                charset = {100: "B", 101: "A"}[v]
            continue
        if v == 99 or (v == 100 and charset == "A") or (v == 101 and charset == "B"):
            charset = {99: "C", 100: "B", 101: "A"}[v]
            continue
        out.append(chr(v + 32) if charset == "B" or v < 64 else chr(v - 64))
    return "".join(out)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> tuple[str, list[str]]:
    p = _Text()
    p.feed(html)
    return " ".join(" ".join(p.parts).split()), p.tags


def amounts(text: str, label: str) -> Decimal:
    match = re.search(rf"{label}\s+\$([\d,]+\.\d\d)", text)
    assert match, f"no {label} in\n{text}"
    return Decimal(match.group(1).replace(",", ""))


# -- tests --------------------------------------------------------------------------------


def test_the_order_barcode_reads_back_as_the_order() -> None:
    svg = barcode_svg(order_code(1042))
    assert svg.startswith("<svg") and "<?xml" not in svg and "id=" not in svg
    data = decode_code128(svg)
    assert data == "PL:ORDER:1042"
    scan = parse_scan(data)
    assert (scan.kind, scan.order_number) == (Kind.ORDER, 1042)


def test_the_png_barcode_reads_back_as_the_order_too() -> None:
    png = barcode_png(order_code(1042))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_png(png, dots_per_module=3) == "PL:ORDER:1042"


async def test_invoice_has_what_an_invoice_needs(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)), note="Leave at door")
    (doc,) = await shop.documents.invoices([f"#{number}"])
    assert (doc.kind, doc.name, doc.title) == ("invoice", f"invoice-{number}", f"Invoice #{number}")
    text = doc.bodies["txt"]
    for expected in (
        "Packline Demo Shop",
        f"Order #{number}",
        "Ada Lovelace",
        "12 Analytical Way",
        "PL-10002",
        "Classic Spark Plug 4-Pack",
        "$45.98",
        "Leave at door",
        f"PL:ORDER:{number}",
    ):
        assert expected in text, expected
    assert amounts(text, "Subtotal") == Decimal("59.97")
    assert amounts(text, "Shipping") == Decimal("7.99")
    assert amounts(text, "Tax") == Decimal("3.50")
    assert amounts(text, "Total") == Decimal("71.46")
    page, tags = html_text(doc.bodies["html"])
    assert "Classic Wiper Blade" in page and "$71.46" in page and "svg" in tags
    svg = doc.bodies["html"][doc.bodies["html"].index("<svg") :]
    assert decode_code128(svg[: svg.index("</svg>")]) == f"PL:ORDER:{number}"


async def test_invoices_split_by_delivery_method_add_up(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (DROP, 3), (STOCK_B, 1)))
    docs = await shop.documents.invoices([number])
    assert [d.name for d in docs] == [f"invoice-{number}-1", f"invoice-{number}-2"]
    ours, vendor = (d.bodies["txt"] for d in docs)
    assert "Shipped from Packline Demo Shop" in ours and "PL-10001" not in ours
    assert "Shipped directly by" in vendor and "PL-10002" not in vendor
    assert "Part 2 of 2" in vendor
    assert all(f"PL:ORDER:{number}" in part for part in (ours, vendor))  # each part scans
    detail = await shop.orders.show(number)
    for label, cents in (
        ("Subtotal", detail.subtotal),
        ("Shipping", detail.shipping_total),
        ("Tax", detail.tax_total),
        ("Total of this invoice", detail.row.total),
    ):
        parts = amounts(ours, label) + amounts(vendor, label)
        assert parts == Decimal(cents) / 100, label
    (combined,) = await shop.documents.invoices([number], split=False)
    assert (
        "Shipped from" in combined.bodies["txt"] and "Shipped directly by" in combined.bodies["txt"]
    )
    assert amounts(combined.bodies["txt"], "Total") == Decimal(detail.row.total) / 100


async def test_packing_slip_lists_bins_and_what_ships_separately(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (DROP, 1)))
    await prepare(shop, number, status=Status.PROCESSING)
    t = tracking("ups", 40)
    await shop.shipping.ship(number, NewShipment(tracking=t, lines=((STOCK_A, 2),)))
    (slip,) = await shop.documents.packing_slips([number])
    text = slip.bodies["txt"]
    detail = await shop.orders.show(number)
    bin_a = next(ln.bin for ln in detail.lines if ln.sku == STOCK_A)
    assert bin_a and bin_a in text
    assert "(not in this box)" in text and "PL-10001" in text
    assert f"Tracking: UPS {t}" in text
    assert "$" not in text  # no prices on a packing slip
    page, _ = html_text(slip.bodies["html"])
    assert f"Packing slip, order #{number}" in page and bin_a in page
    # the order barcode, in every form the slip has: text, inline SVG, PNG beside it
    assert f"PL:ORDER:{number}" in text
    html = slip.bodies["html"]
    svg = html[html.index("<svg") :]
    assert decode_code128(svg[: svg.index("</svg>")]) == f"PL:ORDER:{number}"
    assert decode_png(slip.images["barcode.png"], dots_per_module=3) == f"PL:ORDER:{number}"


async def test_hostile_customer_text_is_data_everywhere(shop: Services) -> None:
    number = await new_order(
        shop,
        lines=((STOCK_A, 1),),
        name="Eve <b>&amp;</b>",
        address=HOSTILE,
        note="<img src=x onerror=alert(1)>\x1b]0;pwned\x07",
    )
    await prepare(shop, number)
    await shop.shipping.ship(number, NewShipment(tracking=tracking("fedex", 41)))
    docs = [
        *(await shop.documents.invoices([number])),
        *(await shop.documents.packing_slips([number])),
    ]
    for doc in docs:
        html = doc.bodies["html"]
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        page, tags = html_text(html)
        assert "script" not in tags and "img" not in tags
        assert "Eve <script>alert(1)</script>" in page  # shown as typed
        for body in doc.bodies.values():
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", body), doc.name
        assert "Eve <script>alert(1)</script>" in doc.bodies["txt"]
    (label,) = await shop.documents.labels([number])
    zpl = label.bodies["zpl"]
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1 and "~" not in zpl
    assert zpl.isascii() and not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", zpl)
    fields = [unhex(f) for f in re.findall(r"\^FH\^FD(.*?)\^FS", zpl)]
    assert "^XA^FDpwn^FS~JA" in fields  # the company, exactly, as data
    assert "TEL 555^XZ" in fields
    assert "1 Rd [31m _x" in fields  # control characters became spaces


def unhex(field: str) -> str:
    """Undo ^FH: _XX is a byte in hex (UTF-8 under ^CI28)."""
    raw = re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), field.encode())
    return raw.decode("utf-8")


async def test_label_per_shipment_with_the_tracking_barcode(shop: Services) -> None:
    number = await new_order(shop, lines=((STOCK_A, 2), (STOCK_B, 1)))
    await prepare(shop, number)
    a, b = tracking("ups", 42), tracking("usps", 43)
    with pytest.raises(InvalidInput, match="no shipment yet"):
        await shop.documents.labels([number])
    await shop.shipping.ship(number, NewShipment(tracking=a, lines=((STOCK_A, 2),)))
    await shop.shipping.ship(number, NewShipment(tracking=b))
    labels = await shop.documents.labels([number])
    assert [d.name for d in labels] == [f"label-{number}-{a}", f"label-{number}-{b}"]
    zpl = labels[1].bodies["zpl"]
    assert f"^BCN,200,Y,N,N,A^FH^FD{b}^FS" in zpl
    assert f"^FH^FDORDER #{number}^FS" in zpl and "BOX 2 of 2" in zpl
    assert "^PW812" in zpl and "^LL1218" in zpl  # 4x6 inches at 203 dpi
    assert "Ada Lovelace" in zpl and "12 Analytical Way" in zpl
    (only,) = await shop.documents.labels([number], tracking=a.lower())
    assert only.name.endswith(a)
    with pytest.raises(NotFound):
        await shop.documents.labels([number], tracking=tracking("ups", 44))


async def test_bulk_is_one_call_and_all_or_nothing(shop: Services) -> None:
    first = await new_order(shop, lines=((STOCK_A, 1),))
    second = await new_order(shop, lines=((STOCK_B, 1),))
    docs = await shop.documents.render("slip", [first, f"#{second}"])
    assert [d.order_number for d in docs] == [first, second]
    with pytest.raises(NotFound):
        await shop.documents.render("invoice", [first, 99999])
    with pytest.raises(InvalidInput, match="unknown document"):
        await shop.documents.render("menu", [first])


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=8))
def test_allocate_adds_up_and_is_fair(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total and len(parts) == len(weights)
    whole = sum(weights)
    if whole:
        for part, w in zip(parts, weights, strict=True):
            assert abs(part - total * w / whole) < 1


@given(st.text(max_size=80))
def test_zpl_field_data_cannot_carry_commands(text: str) -> None:
    field = zpl_field(text)
    assert field.isascii()
    assert not set(field) & set("^~\\") and not re.search(r"[\x00-\x1f\x7f]", field)
    assert unhex(field) == plain(text)
