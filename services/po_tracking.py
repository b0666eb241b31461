"""Tracking numbers back from drop-ship vendors: CSV files and X12 856 ship notices.

Each file is read into rows (PO number, tracking, carrier, optional items), rows are grouped
by PO, and a PO's rows are all checked before any of them is applied: an unknown PO, an
unknown SKU, a malformed tracking number or more units than are left makes every row of
that PO a reported problem (with its line number) and the other POs still go in. Nothing
is half-applied within a PO.

Applying goes through ShippingService.ship_many, one transaction per PO: a vendor shipment
is a shipment like any other (lines marked shipped, the order partially shipped or shipped,
the customer's shipped e-mail queued once for the PO's packages, stock hooks and webhooks
run), and a refusal that arises while applying (the order put on hold meanwhile, a tracking
number another order took) leaves none of that PO's packages in. A tracking number already on
the order is reported as unchanged, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services import carriers, edi_x12
from services.errors import Refused
from services.models import (
    Order,
    OrderLine,
    POLine,
    ProductBarcode,
    PurchaseOrder,
    Shipment,
    Vendor,
)
from services.po_views import AppliedShipment, ImportProblem, ImportReport
from services.shipment_entry import NewShipment
from services.statuses import POStatus
from services.uow import UnitOfWork

if TYPE_CHECKING:
    from services.purchasing import PurchasingService

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000

_HEADERS = {
    "po": ("po", "po_number", "ponumber", "purchase_order", "purchase_order_number", "po_no"),
    "tracking": ("tracking", "tracking_number", "trackingnumber", "tracking_no"),
    "carrier": ("carrier", "carrier_code", "scac"),
    "sku": ("sku", "vendor_sku", "item", "item_number", "part_number"),
    "quantity": ("quantity", "qty", "quantity_shipped", "qty_shipped"),
    "ship_date": ("ship_date", "shipped", "shipped_date", "date_shipped"),
}


@dataclass(frozen=True)
class RowItem:
    """Units of one PO line: named by SKU (theirs or ours), UPC or PO line number.
    quantity 0 means "whatever is left of that line"."""

    sku: str
    upc: str
    line_no: int
    quantity: int

    def label(self) -> str:
        return self.sku or self.upc or f"line {self.line_no}"


@dataclass(frozen=True)
class TrackingRow:
    source: str
    line: int  # CSV line number, or the 856 ST segment number
    po: str
    tracking: str
    carrier: str
    ship_date: date | None
    items: tuple[RowItem, ...]  # empty: everything left on the PO


def _key(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").replace("#", " ").split())


def read_csv(text: str, source: str) -> tuple[list[TrackingRow], list[ImportProblem]]:
    """Rows of a vendor CSV: a header naming at least a PO and a tracking column; rows
    with the same PO and tracking number are one package with several items."""
    problems: list[ImportProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [ImportProblem(source, 1, "", "the file is empty")]
    except csv.Error as exc:
        return [], [ImportProblem(source, 1, "", f"unreadable CSV: {exc}")]
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        k = _key(name.lstrip("\ufeff"))
        for field, names in _HEADERS.items():
            if k in names and field not in columns:
                columns[field] = index
    missing = [f for f in ("po", "tracking") if f not in columns]
    if missing:
        return [], [
            ImportProblem(
                source,
                1,
                "",
                f"the header has no {' or '.join(missing)} column (found: "
                f"{', '.join(h.strip() for h in header)[:200]})",
            )
        ]
    rows: list[TrackingRow] = []
    try:
        for cells in reader:
            line = reader.line_num
            if len(rows) + len(problems) >= MAX_ROWS:
                problems.append(ImportProblem(source, line, "", f"more than {MAX_ROWS} rows"))
                break
            if not any(c.strip() for c in cells):
                continue

            def cell(field: str, cells: list[str] = cells) -> str:
                i = columns.get(field)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            po = cell("po")
            if not po:
                problems.append(ImportProblem(source, line, "", "no PO number"))
                continue
            tracking = cell("tracking")
            if not tracking:
                problems.append(ImportProblem(source, line, po, "no tracking number"))
                continue
            raw_qty = cell("quantity")
            quantity = 0
            if raw_qty:
                if not raw_qty.isdigit() or int(raw_qty) < 1:
                    problems.append(
                        ImportProblem(
                            source, line, po, f"quantity {raw_qty[:20]!r} is not a whole number"
                        )
                    )
                    continue
                quantity = int(raw_qty)
            sku = cell("sku")
            if quantity and not sku:
                problems.append(ImportProblem(source, line, po, "a quantity needs a SKU"))
                continue
            shipped_on: date | None = None
            raw_date = cell("ship_date")
            if raw_date:
                try:
                    shipped_on = date.fromisoformat(raw_date)
                except ValueError:
                    problems.append(
                        ImportProblem(
                            source, line, po, f"ship date {raw_date[:20]!r} is not YYYY-MM-DD"
                        )
                    )
                    continue
            items = (RowItem(sku, "", 0, quantity),) if sku else ()
            rows.append(TrackingRow(source, line, po, tracking, cell("carrier"), shipped_on, items))
    except csv.Error as exc:
        problems.append(ImportProblem(source, reader.line_num, "", f"unreadable CSV: {exc}"))
    return rows, problems


# Where parse_856 says a problem is: "ST #2 (segment 18): ..." or "segment 40: ...".
_SEGMENT = re.compile(r"^(?:ST #\d+ \(segment (\d+)\)|segment (\d+)):")


def _segment_of(error: str) -> int:
    """The segment number an 856 error names, reported as its line (0 when none)."""
    found = _SEGMENT.match(error)
    return int(found.group(1) or found.group(2)) if found else 0


def read_856(text: str, source: str) -> tuple[list[TrackingRow], list[ImportProblem]]:
    """Ship notices: PO from PRF, tracking from REF*CN or MAN*CP, items from LIN/SN1.
    Rows and problems carry the number of their ST segment as their line."""
    try:
        notices, errors = edi_x12.parse_856(text)
    except edi_x12.X12Error as exc:
        return [], [ImportProblem(source, _segment_of(str(exc)) or 1, "", str(exc))]
    rows = [
        TrackingRow(
            source,
            n.segment_line,
            n.po_number,
            n.tracking,
            n.carrier,
            n.ship_date,
            tuple(RowItem(i.vendor_sku, i.upc, i.line_no, i.quantity) for i in n.items),
        )
        for n in notices
    ]
    return rows, [ImportProblem(source, _segment_of(e), "", e) for e in errors]


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # X12 is ASCII; old vendor CSVs are often Latin-1


def _is_x12(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("ISA")


def read_any(name: str, data: bytes) -> tuple[list[TrackingRow], list[ImportProblem]]:
    """A file by its content: X12 when it starts with ISA, otherwise CSV."""
    if len(data) > MAX_FILE_BYTES:
        return [], [ImportProblem(name, 0, "", f"file is larger than {MAX_FILE_BYTES} bytes")]
    text = _text(data)
    if _is_x12(text):
        return read_856(text, name)
    return read_csv(text, name)


def read_acks(
    name: str, data: bytes
) -> tuple[list[edi_x12.POAcknowledgment], list[ImportProblem]] | None:
    """The 855 acknowledgments of an X12 file whose transactions are all 855s; None for
    anything else (a CSV, an 856), which read_any takes."""
    if len(data) > MAX_FILE_BYTES:
        return None
    text = _text(data)
    if not _is_x12(text):
        return None
    try:
        sets = edi_x12.transaction_sets(text)
    except edi_x12.X12Error:
        return None  # read_any reports it
    if not sets or any(code != "855" for code in sets):
        return None
    acks, errors = edi_x12.parse_855(text)
    return acks, [ImportProblem(name, _segment_of(e), "", e) for e in errors]


@dataclass
class _Package:
    """One tracking number of one PO, checked and ready to ship."""

    rows: list[TrackingRow]
    tracking: carriers.Tracking | None
    lines: list[tuple[str, int]]  # our SKU, units
    existing: bool


class TrackingImporter:
    """Applies tracking rows through the shipping service; see the module doc."""

    def __init__(self, purchasing: PurchasingService) -> None:
        self.p = purchasing

    async def apply(
        self, rows: Sequence[TrackingRow], problems: Iterable[ImportProblem], sources: Sequence[str]
    ) -> ImportReport:
        reported = list(problems)
        applied: list[AppliedShipment] = []
        by_po: dict[str, list[TrackingRow]] = {}
        for row in rows:
            by_po.setdefault(row.po.strip().upper(), []).append(row)
        for key in by_po:
            done, bad = await self._one_po(by_po[key])
            applied.extend(done)
            reported.extend(bad)
        reported.sort(key=lambda p: (p.source, p.line))
        return ImportReport(tuple(sources), tuple(applied), tuple(reported))

    async def _one_po(
        self, rows: list[TrackingRow]
    ) -> tuple[list[AppliedShipment], list[ImportProblem]]:
        po_name = rows[0].po.strip()

        def refuse(message: str, only: Sequence[TrackingRow] = ()) -> list[ImportProblem]:
            """Every row of the PO is reported: the one at fault with the reason, the rest
            as held back because of it."""
            at = only or rows
            first = at[0]
            out = [ImportProblem(r.source, r.line, po_name, message) for r in at]
            out += [
                ImportProblem(
                    r.source,
                    r.line,
                    po_name,
                    f"not applied: another row of this PO is wrong ({first.source} line "
                    f"{first.line})",
                )
                for r in rows
                if r not in at
            ]
            return out

        async with self.p.reader() as uow:
            po = await _find_po(uow, po_name)
            if po is None:
                return [], refuse(f"unknown PO {po_name[:40]!r}")
            if po.status is POStatus.CANCELED:
                return [], refuse(f"PO {po.number} is canceled")
            number = int(
                (
                    await uow.session.execute(select(Order.number).where(Order.id == po.order_id))
                ).scalar_one()
            )
            order = await uow.order(number)
            vendor = await uow.session.get(Vendor, po.vendor_id)
            vendor_name = vendor.name if vendor else "?"
            lines = {ln.id: ln for ln in order.lines}
            po_lines = sorted(po.lines, key=lambda x: x.id)
            upcs = await _upcs(uow, [lines[pl.order_line_id].product_id for pl in po_lines])
            active = {
                t
                for (t,) in (
                    await uow.session.execute(
                        select(Shipment.tracking).where(
                            Shipment.order_id == order.id, Shipment.deleted_at.is_(None)
                        )
                    )
                ).all()
            }
            packages: dict[str, _Package] = {}
            left = {
                pl.id: max(lines[pl.order_line_id].quantity - lines[pl.order_line_id].shipped, 0)
                for pl in po_lines
            }
            # Group by tracking number (as the carrier writes it), checking each.
            for row in rows:
                try:
                    t = carriers.validate(row.tracking, row.carrier or None)
                except carriers.InvalidTracking as exc:
                    if row.carrier and row.carrier.lower() not in carriers.KNOWN_CARRIERS:
                        try:  # an SCAC we do not know: let the number say who it is
                            t = carriers.validate(row.tracking, None)
                        except carriers.InvalidTracking:
                            return [], refuse(str(exc), [row])
                    else:
                        return [], refuse(str(exc), [row])
                pkg = packages.setdefault(t.number, _Package([], t, [], t.number in active))
                pkg.rows.append(row)
            for pkg in packages.values():
                if pkg.existing:
                    continue
                wanted: dict[int, int] = {}
                items = [i for r in pkg.rows for i in r.items]
                if not items or any(not r.items for r in pkg.rows):
                    # A row naming no items: everything of the PO not yet shipped.
                    wanted = {pl.id: min(pl.quantity, left[pl.id]) for pl in po_lines}
                    items = []
                for item in items:
                    found = _match(item, po_lines, lines, upcs)
                    if found is None:
                        row = next(r for r in pkg.rows if item in r.items)
                        have = ", ".join(p.vendor_sku for p in po_lines)
                        return [], refuse(
                            f"unknown SKU {item.label()[:40]!r} (PO {po.number} has {have})", [row]
                        )
                    wanted[found.id] = wanted.get(found.id, 0) + (item.quantity or left[found.id])
                for pl in po_lines:
                    qty = wanted.get(pl.id, 0)
                    if qty > left[pl.id]:
                        ln = lines[pl.order_line_id]
                        return [], refuse(
                            f"{pl.vendor_sku} ({ln.sku}): {qty} units shipped but only "
                            f"{left[pl.id]} of {ln.quantity} are left to ship",
                            pkg.rows,
                        )
                    if qty > 0:
                        left[pl.id] -= qty
                        pkg.lines.append((lines[pl.order_line_id].sku, qty))
                if not pkg.lines:
                    return [], refuse(f"PO {po.number} has nothing left to ship", pkg.rows)
            why = (
                self.p.shipping.why_not_ship(order)
                if any(not p.existing for p in packages.values())
                else None
            )
            if why:
                return [], refuse(why)
            placed = order.placed_at.date()
            po_number = po.number
            settled = po.status in (POStatus.SHIPPED, POStatus.RECEIVED)
        # -- every row of the PO checked: its new packages go in together or not at all --
        done: list[AppliedShipment] = []
        bad: list[ImportProblem] = []
        today = self.p.clock().date()
        fresh: list[tuple[str, _Package]] = []
        for number_, pkg in packages.items():
            assert pkg.tracking is not None
            if pkg.existing:
                done.append(
                    AppliedShipment(po_number, number, number_, pkg.tracking.carrier, (), False)
                )
            else:
                fresh.append((number_, pkg))
        news: list[NewShipment] = []
        for _number, pkg in fresh:
            assert pkg.tracking is not None
            first = pkg.rows[0]
            shipped_on = (
                first.ship_date if first.ship_date and placed <= first.ship_date <= today else None
            )
            news.append(
                NewShipment(
                    tracking=pkg.tracking.number,
                    carrier=pkg.tracking.carrier,
                    lines=tuple(pkg.lines),
                    ship_date=shipped_on,
                    memo=f"from {vendor_name} (PO {po_number}, {first.source})",
                    notify=True,
                )
            )
        if news:
            try:
                await self.p.shipping.ship_many(number, news)
            except Refused as exc:
                # Nothing of this PO went in (one transaction). If another import of the
                # same file got there first, every package is on the order now: unchanged.
                if await self._all_on_order(number, [t for t, _ in fresh]):
                    done.extend(
                        AppliedShipment(po_number, number, t, pkg.tracking.carrier, (), False)
                        for t, pkg in fresh
                        if pkg.tracking is not None
                    )
                    return done, bad
                bad.extend(
                    ImportProblem(r.source, r.line, po_number, str(exc))
                    for _number, pkg in fresh
                    for r in pkg.rows
                )
                return done, bad
        for number_, pkg in fresh:
            assert pkg.tracking is not None
            done.append(
                AppliedShipment(
                    po_number, number, number_, pkg.tracking.carrier, tuple(pkg.lines), True
                )
            )
        if not settled:
            await self.p.settle_shipped(po_number)
        return done, bad

    async def _all_on_order(self, number: int, trackings: Sequence[str]) -> bool:
        async with self.p.reader() as uow:
            order = await uow.order(number)
            active = set(
                (
                    await uow.session.execute(
                        select(Shipment.tracking).where(
                            Shipment.order_id == order.id, Shipment.deleted_at.is_(None)
                        )
                    )
                ).scalars()
            )
        return all(t in active for t in trackings)


async def _find_po(uow: UnitOfWork, name: str) -> PurchaseOrder | None:
    if not name:
        return None
    return (
        await uow.session.execute(
            select(PurchaseOrder)
            .where(func.upper(PurchaseOrder.number) == name.upper())
            .options(selectinload(PurchaseOrder.lines))
        )
    ).scalar_one_or_none()


async def _upcs(uow: UnitOfWork, product_ids: Sequence[int | None]) -> dict[int, set[str]]:
    ids = {p for p in product_ids if p is not None}
    out: dict[int, set[str]] = {}
    if ids:
        for pid, code in (
            await uow.session.execute(
                select(ProductBarcode.product_id, ProductBarcode.code).where(
                    ProductBarcode.product_id.in_(ids)
                )
            )
        ).all():
            out.setdefault(int(pid), set()).add(code.lstrip("0"))
    return out


def _match(
    item: RowItem,
    po_lines: Sequence[POLine],
    lines: dict[int, OrderLine],
    upcs: dict[int, set[str]],
) -> POLine | None:
    """The PO line an item names: its SKU (the vendor's or ours), UPC, or line number."""
    sku = item.sku.strip().casefold()
    if sku:
        for pl in po_lines:
            if pl.vendor_sku.casefold() == sku or lines[pl.order_line_id].sku.casefold() == sku:
                return pl
    if item.upc:
        code = item.upc.strip().lstrip("0")
        for pl in po_lines:
            pid = lines[pl.order_line_id].product_id
            if pid is not None and code in upcs.get(pid, set()):
                return pl
    if not sku and not item.upc and 1 <= item.line_no <= len(po_lines):
        return po_lines[item.line_no - 1]
    return None
