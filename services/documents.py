"""Documents of an order: invoice and packing slip (HTML and plain text) and a 4×6 shipping
label in ZPL II for thermal printers, rendered from jinja2 templates in
`services/templates/documents/` (a shop's `templates_dir/documents/` overrides them).

Customer text is data in every format: HTML is autoescaped; plain text loses its control
characters (a printer or terminal never sees an escape sequence); ZPL field data goes through
`zpl_field`, which hex-escapes `^`, `~`, `\\` and `_` with `^FH` and drops control
characters, so a name can never end a field or start a command.

Every document carries the order barcode: Code 128 of `PL:ORDER:<number>`, the code the pack
screen's scanner recognises (services/barcodes.ORDER_PREFIX), as inline SVG in HTML; invoices
and packing slips also carry it as a PNG (`<name>.barcode.png` beside them when printed to a
folder) for whatever takes pictures, not markup: a mail client, a label program.

Invoices are split by delivery method when lines ship differently (our stock, each
drop-ship vendor): one invoice per part, shipping and tax shared out in proportion to each
part's goods (largest remainder, so the parts add up to the order to the cent).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from markupsafe import Markup, escape
from sqlalchemy import select

from services.barcodes import ORDER_PREFIX
from services.db import Database
from services.display import money
from services.errors import InvalidInput, NotFound
from services.models import OrderLine, ProductVendor, Vendor
from services.orders import OrderService
from services.settings import Settings
from services.uow import Clock, UnitOfWork, utcnow
from services.views import Document, LineView, OrderDetail, ShipmentView

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
MAX_ORDERS = 500  # one bulk print
Kind = Literal["invoice", "packing_slip", "label"]
KINDS: dict[str, Kind] = {
    "invoice": "invoice",
    "slip": "packing_slip",
    "packing_slip": "packing_slip",
    "label": "label",
}
CARRIER_NAMES = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "post": "Post"}

# Label geometry: 4×6 inches at 203 dpi.
LABEL_WIDTH = 812
LABEL_LENGTH = 1218
_BARCODE_ROOM = 740  # dots across the label for the tracking barcode

_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def plain(value: object) -> str:
    """Text with every control, format or unassigned character turned into a space."""
    text = str(value)
    if all(ch.isprintable() for ch in text):
        return text
    return "".join(" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)


def _finalize_plain(value: object) -> object:
    if value is None:
        return ""
    return value if isinstance(value, Markup) else plain(value)


def zpl_field(value: object) -> str:
    """Field data for ^FH^FD…^FS: printable ASCII as is, except the characters ZPL reads as
    commands or escapes (^ ~ \\ _), which are hex-escaped like every non-ASCII character (its
    UTF-8 bytes, printed as such under ^CI28); control characters become spaces."""
    if value is None:
        return ""
    out: list[str] = []
    for ch in str(value):
        if unicodedata.category(ch) in _INVISIBLE:
            out.append(" ")
        elif " " <= ch <= "}" and ch not in "^\\_":
            out.append(ch)
        else:  # ~ (0x7e), ^ \ _ and everything beyond ASCII
            out.extend(f"_{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def _cut(value: object, width: int) -> str:
    text = plain(value)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _cell(value: object, width: int = 0, align: str = "<") -> str:
    """A fixed-width text cell: cut with an ellipsis, padded."""
    text = _cut(value, width) if width > 0 else plain(value)
    return f"{text:{align}{width}}" if width > 0 else text


def _rcell(value: object, width: int) -> str:
    return _cell(value, width, ">")


def _nl2br(value: object) -> Markup:
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return Markup("<br>\n").join(escape(plain(part)) for part in text.split("\n"))


def _zpl_cut(value: object, width: int) -> str:
    return _cut(value, width)


def order_code(number: int) -> str:
    """What the order barcode encodes (the pack screen opens the order when it reads it)."""
    return f"{ORDER_PREFIX}{number}"


def barcode_svg(data: str, *, height_mm: float = 12.0) -> str:
    """Code 128 of `data` as an inline <svg> element (no XML prologue, no ids)."""
    import barcode
    from barcode.writer import SVGWriter

    code = barcode.get("code128", data, writer=SVGWriter())
    buf = io.BytesIO()
    code.write(
        buf,
        options={"write_text": False, "module_height": height_mm, "quiet_zone": 2.5},
    )
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return svg.replace(' id="barcode_group"', "").strip()


PNG_DPI = 300  # one module (narrowest bar) = 0.254 mm = 3 dots at 300 dpi: no rounding


def barcode_png(data: str, *, height_mm: float = 12.0) -> bytes:
    """Code 128 of `data` as a 1-bit PNG, every bar a whole number of dots wide."""
    import barcode
    from barcode.writer import ImageWriter

    code = barcode.get("code128", data, writer=ImageWriter(mode="1"))
    buf = io.BytesIO()
    code.write(
        buf,
        options={
            "write_text": False,
            "module_height": height_mm,
            "module_width": 25.4 / 100,
            "quiet_zone": 2.54,
            "dpi": PNG_DPI,
        },
    )
    return buf.getvalue()


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` cents in proportion to `weights`, largest remainder first, so the
    parts add up to `total` exactly (all to the first part when every weight is 0)."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        return [total, *([0] * (len(weights) - 1))]
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class _Group:
    key: str  # "stock" or "vendor:<name>"
    label: str
    lines: tuple[LineView, ...]

    @property
    def subtotal(self) -> int:
        return sum(ln.unit_price * ln.quantity for ln in self.lines)


def _estimate_modules(data: str) -> int:
    """Code 128 width in modules with automatic subset C for digit runs (a close upper bound)."""
    symbols, i = 0, 0
    while i < len(data):
        run = len(data[i:]) - len(data[i:].lstrip("0123456789"))
        if run >= 4:
            symbols += run // 2 + 1
            i += run - run % 2
        else:
            symbols += 1
            i += 1
    return (symbols + 3) * 11 + 2


def _module_width(data: str) -> int:
    modules = _estimate_modules(data)
    for width in (3, 2):
        if modules * width <= _BARCODE_ROOM:
            return width
    return 1


class DocumentService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        settings: Settings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.settings = settings
        self.clock = clock
        self._envs: dict[str, ImmutableSandboxedEnvironment] = {}

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, write=False, clock=self.clock, actor=self.orders.operator)

    # -- public ---------------------------------------------------------------------------

    async def render(self, kind: str, refs: Sequence[str | int], **options: Any) -> list[Document]:
        """Documents of `kind` (invoice, slip / packing_slip, label) for every order in
        `refs`, in that order; nothing is rendered unless every order is found."""
        wanted = KINDS.get(kind.strip().lower())
        if wanted is None:
            raise InvalidInput(f"unknown document {kind!r}; choose invoice, slip or label")
        if wanted == "invoice":
            return await self.invoices(refs, split=bool(options.get("split", True)))
        if wanted == "packing_slip":
            return await self.packing_slips(refs)
        return await self.labels(refs, tracking=options.get("tracking"))

    async def invoices(self, refs: Sequence[str | int], *, split: bool = True) -> list[Document]:
        docs: list[Document] = []
        for detail, vendors in await self._load(refs):
            groups = self._groups(detail, vendors)
            if split and len(groups) > 1:
                docs.extend(self._invoice(detail, groups, part) for part in range(len(groups)))
            else:
                docs.append(self._invoice(detail, groups, None))
        return docs

    async def packing_slips(self, refs: Sequence[str | int]) -> list[Document]:
        docs = []
        for detail, vendors in await self._load(refs):
            groups = self._groups(detail, vendors)
            ctx = self._base(detail)
            ctx["groups"] = [self._group_ctx(g, detail, with_money=False) for g in groups]
            number = detail.number
            docs.append(
                Document(
                    kind="packing_slip",
                    order_number=number,
                    name=f"packing-slip-{number}",
                    title=f"Packing slip #{number}",
                    bodies={
                        "html": self._render("packing_slip.html", ctx),
                        "txt": self._render("packing_slip.txt", ctx),
                    },
                    images={"barcode.png": barcode_png(order_code(number))},
                )
            )
        return docs

    async def labels(
        self, refs: Sequence[str | int], *, tracking: str | None = None
    ) -> list[Document]:
        """One 4×6 ZPL label per shipment of each order (or only the shipment `tracking`)."""
        docs = []
        for detail, _vendors in await self._load(refs):
            shipments = list(detail.row.shipments)
            if tracking:
                from services.carriers import normalise

                shipments = [s for s in shipments if s.tracking == normalise(tracking)]
                if not shipments:
                    raise NotFound(
                        f"order #{detail.number} has no shipment with tracking number "
                        f"{_cut(normalise(tracking), 40)}"
                    )
            if not shipments:
                raise InvalidInput(
                    f"order #{detail.number} has no shipment yet; enter its tracking number "
                    "first (packline ship)"
                )
            for i, sh in enumerate(shipments, 1):
                docs.append(self._label(detail, sh, i, len(shipments)))
        return docs

    # -- loading ------------------------------------------------------------------------

    async def _load(self, refs: Sequence[str | int]) -> list[tuple[OrderDetail, dict[int, str]]]:
        if not refs:
            raise InvalidInput("name at least one order")
        if len(refs) > MAX_ORDERS:
            raise InvalidInput(f"at most {MAX_ORDERS} orders at once")
        out = []
        async with self._uow() as uow:
            for ref in refs:
                order = await uow.order(ref)
                detail = await self.orders.detail_of(uow, order)
                out.append((detail, await self._vendors(uow, order.id)))
        return out

    @staticmethod
    async def _vendors(uow: UnitOfWork, order_id: int) -> dict[int, str]:
        """Vendor name per drop-ship line: its chosen vendor, else the product's default."""
        chosen = await uow.session.execute(
            select(OrderLine.id, Vendor.name)
            .join(Vendor, Vendor.id == OrderLine.vendor_id)
            .where(OrderLine.order_id == order_id)
        )
        names = {int(i): n for i, n in chosen.all()}
        default = await uow.session.execute(
            select(OrderLine.id, Vendor.name)
            .join(ProductVendor, ProductVendor.product_id == OrderLine.product_id)
            .join(Vendor, Vendor.id == ProductVendor.vendor_id)
            .where(
                OrderLine.order_id == order_id,
                OrderLine.vendor_id.is_(None),
                ProductVendor.is_default.is_(True),
            )
        )
        for i, n in default.all():
            names.setdefault(int(i), n)
        return names

    # -- contexts -------------------------------------------------------------------------

    def _groups(self, detail: OrderDetail, vendors: dict[int, str]) -> list[_Group]:
        """Lines by how they ship: our stock first, then each vendor in line order."""
        order: list[str] = []
        members: dict[str, list[LineView]] = {}
        labels: dict[str, str] = {}
        for ln in detail.lines:
            if ln.fulfillment == "drop_ship":
                vendor = vendors.get(ln.id) or ln.vendor or ""
                key = f"vendor:{vendor}"
                labels[key] = (
                    f"Shipped directly by {vendor}" if vendor else "Shipped directly by a vendor"
                )
            else:
                key = "stock"
                labels[key] = f"Shipped from {self.settings.shop.name}"
            if key not in members:
                order.append(key)
                members[key] = []
            members[key].append(ln)
        order.sort(key=lambda k: k != "stock")
        return [_Group(k, labels[k], tuple(members[k])) for k in order]

    def _base(self, detail: OrderDetail) -> dict[str, Any]:
        row = detail.row
        shop = self.settings.shop
        ship = row.shipping_address
        bill = detail.billing_address or ship
        return {
            "shop": {
                "name": shop.name,
                "address": shop.address,
                "reply_to": shop.reply_to,
                "logo_text": shop.logo_text or shop.name,
            },
            "today": _long(self.clock().date()),
            "order": {
                "number": row.number,
                "placed_on": _long(row.placed_at.date()),
                "status": row.status.value,
                "payment_status": row.payment_status.value,
                "payment_method": detail.payment_method,
                "shipping_method": detail.shipping_method,
                "email": row.customer.email,
                "customer": row.customer.name,
                "note": detail.note,
                "currency": row.currency,
            },
            "ship_to": ship.lines() if ship else [],
            "bill_to": bill.lines() if bill else [],
            "barcode": {
                "data": order_code(row.number),
                "svg": Markup(barcode_svg(order_code(row.number))),
            },
            "shipments": [
                {
                    "carrier": CARRIER_NAMES.get(s.carrier, s.carrier),
                    "tracking": s.tracking,
                    "expected": _long(s.expected_delivery) if s.expected_delivery else "",
                }
                for s in row.shipments
            ],
        }

    def _group_ctx(self, group: _Group, detail: OrderDetail, *, with_money: bool) -> dict[str, Any]:
        cur = detail.row.currency
        return {
            "key": group.key,
            "label": group.label,
            "drop_ship": group.key != "stock",
            "lines": [
                {
                    "sku": ln.sku,
                    "name": ln.name,
                    "quantity": ln.quantity,
                    "shipped": ln.shipped,
                    "bin": ln.bin if group.key == "stock" else "",
                    "price": money(ln.unit_price, cur) if with_money else "",
                    "amount": money(ln.unit_price * ln.quantity, cur) if with_money else "",
                }
                for ln in group.lines
            ],
            "subtotal": money(group.subtotal, cur) if with_money else "",
        }

    def _invoice(self, detail: OrderDetail, groups: list[_Group], part: int | None) -> Document:
        cur = detail.row.currency
        number = detail.number
        weights = [g.subtotal for g in groups]
        shipping = allocate(detail.shipping_total, weights)
        tax = allocate(detail.tax_total, weights)
        ctx = self._base(detail)
        if part is None:
            shown = list(range(len(groups)))
            name, title = f"invoice-{number}", f"Invoice #{number}"
            sub, ship, vat = detail.subtotal, detail.shipping_total, detail.tax_total
        else:
            shown = [part]
            name = f"invoice-{number}-{part + 1}"
            title = f"Invoice #{number}-{part + 1}"
            sub, ship, vat = groups[part].subtotal, shipping[part], tax[part]
        ctx.update(
            title=title,
            part=(
                {"index": part + 1, "count": len(groups), "label": groups[part].label}
                if part is not None
                else None
            ),
            groups=[self._group_ctx(groups[i], detail, with_money=True) for i in shown],
            totals={
                "subtotal": money(sub, cur),
                "shipping": money(ship, cur),
                "tax": money(vat, cur),
                "total": money(sub + ship + vat, cur),
                "order_total": money(detail.row.total, cur),
            },
        )
        return Document(
            kind="invoice",
            order_number=number,
            name=name,
            title=title,
            bodies={
                "html": self._render("invoice.html", ctx),
                "txt": self._render("invoice.txt", ctx),
            },
            images={"barcode.png": barcode_png(order_code(number))},
        )

    def _label(self, detail: OrderDetail, sh: ShipmentView, index: int, count: int) -> Document:
        row = detail.row
        ship = row.shipping_address
        shop = self.settings.shop
        carrier = CARRIER_NAMES.get(sh.carrier, sh.carrier.upper())
        ctx = {
            "width": LABEL_WIDTH,
            "length": LABEL_LENGTH,
            "from_name": _zpl_cut(shop.name, 40),
            "from_address": _zpl_cut(shop.address, 56),
            "to": [_zpl_cut(line, 30) for line in (ship.lines() if ship else [])][:6],
            "phone": _zpl_cut(ship.phone, 30) if ship else "",
            "number": row.number,
            "package": f"{index} of {count}" if count > 1 else "",
            "carrier": _zpl_cut(carrier, 20),
            "expected": sh.expected_delivery.isoformat() if sh.expected_delivery else "",
            "tracking": sh.tracking,
            "module": _module_width(sh.tracking),
            "order_code": order_code(row.number),
        }
        zpl = self._render("label.zpl", ctx, zpl=True)
        return Document(
            kind="label",
            order_number=row.number,
            name=f"label-{row.number}-{sh.tracking}",
            title=f"Label #{row.number} {sh.tracking}",
            bodies={"zpl": zpl},
        )

    # -- templates ----------------------------------------------------------------------

    def _env(self, zpl: bool) -> ImmutableSandboxedEnvironment:
        key = "zpl" if zpl else "page"
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = self._build(zpl)
        return env

    def _build(self, zpl: bool) -> ImmutableSandboxedEnvironment:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        roots = [PACKAGE_TEMPLATES / "documents"]
        if self.settings.templates_dir:
            roots.insert(0, Path(self.settings.templates_dir).expanduser() / "documents")
        env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(r) for r in roots]),
            autoescape=False
            if zpl
            else jinja2.select_autoescape(
                enabled_extensions=("html", "htm"), default_for_string=False, default=False
            ),
            finalize=zpl_field if zpl else _finalize_plain,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(cell=_cell, rcell=_rcell, nl2br=_nl2br, plain=plain)
        return env

    def _render(self, name: str, ctx: dict[str, Any], *, zpl: bool = False) -> str:
        import jinja2

        try:
            return self._env(zpl).get_template(name).render(ctx)
        except jinja2.TemplateError as exc:
            raise InvalidInput(f"document template {name}: {plain(exc)}") from exc


def _long(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"
