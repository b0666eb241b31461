"""The pack screen's lines: one row widget per order line, so a scan repaints one row.

Drawn as one Rich table, every scan re-measured and re-rendered every line and asked for
a new layout, which re-rendered every widget on the screen (the footer's keys included):
most of the time between a scan's commit and its frame. Here each row is a widget one
line high that renders its own line from column widths shared by all rows; a scan
changes one line's view, so one row is repainted and nothing is laid out again. Rows are
mounted once per order (and again only if the order's lines change, as after a split).

The columns look as the table did: SKU, item (takes the free width, cut with an
ellipsis), bin, packed / to pack, and a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget

from screens.untrusted import visible
from services.views import PackLineView, PackProgress

BAR_WIDTH = 12
HEADER = ("SKU", "Item", "Bin", "Packed", "")
Cells = tuple[Text, Text, Text, Text, Text]


def bar(line: PackLineView, width: int = BAR_WIDTH) -> Text:
    if not line.packable:
        return Text("drop-ship".ljust(width), style="dim italic")
    total = max(line.ordered - line.shipped, 0)
    filled = width if total == 0 else round(width * min(line.packed, total) / total)
    style = "green" if line.done else "yellow"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"))


def packed_text(line: PackLineView) -> str:
    mark = "✓ " if line.packable and line.done else ""
    return f"{mark}{line.packed}/{line.ordered - line.shipped}"


def line_style(line: PackLineView) -> str:
    if not line.packable:
        return "dim"
    return "green" if line.done else ""


@dataclass(frozen=True)
class Columns:
    """Widths of the fixed columns (cells), the widest of the header and every line."""

    sku: int
    bin: int
    packed: int

    @staticmethod
    def of(lines: tuple[PackLineView, ...]) -> Columns:
        return Columns(
            sku=max([cell_len(HEADER[0]), *(cell_len(visible(ln.sku)) for ln in lines)]),
            bin=max([cell_len(HEADER[2]), *(cell_len(visible(ln.bin)) for ln in lines)]),
            packed=max([cell_len(HEADER[3]), *(cell_len(packed_text(ln)) for ln in lines)]),
        )

    def item_width(self, width: int) -> int:
        """What is left for the item's name in a row `width` cells wide (a space either
        side of every cell, as the table padded them)."""
        return max(width - (self.sku + self.bin + self.packed + BAR_WIDTH) - 10, 1)

    def row(self, cells: Cells, width: int, style: str = "") -> Text:
        sku, item, bin_, packed, progress = cells
        item.truncate(self.item_width(width), overflow="ellipsis", pad=True)
        sku.align("left", self.sku)
        bin_.align("left", self.bin)
        packed.align("right", self.packed)
        progress.align("left", BAR_WIDTH)
        row = Text(" ", style=style)
        for cell in (sku, item, bin_, packed):
            row.append_text(cell)
            row.append("  ")
        row.append_text(progress)
        row.append(" ")
        return row


class LineRow(Widget):
    """One order line (or, with no line, the header), one terminal line high."""

    DEFAULT_CSS = """
    LineRow {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, owner: PackLines, line: PackLineView | None) -> None:
        super().__init__(classes="header" if line is None else None)
        self.owner = owner
        self.line = line

    def show(self, line: PackLineView) -> None:
        if line != self.line:
            self.line = line
            self.refresh()

    def render(self) -> Text:
        columns, ln = self.owner.columns, self.line
        if ln is None:
            sku, item, bin_, packed, progress = HEADER
            header: Cells = (Text(sku), Text(item), Text(bin_), Text(packed), Text(progress))
            return columns.row(header, self.size.width, style="bold")
        style = line_style(ln)
        serial = " (serial)" if ln.serialized else ""
        cells: Cells = (
            Text(visible(ln.sku), style=style),
            Text(visible(ln.name) + serial),
            Text(visible(ln.bin)),
            Text(packed_text(ln), style=style),
            bar(ln),
        )
        return columns.row(cells, self.size.width)


class PackLines(Vertical):
    """The header row and a row per line; `show(progress)` repaints what changed."""

    DEFAULT_CSS = """
    PackLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = Columns(len(HEADER[0]), len(HEADER[2]), len(HEADER[3]))
        self.rows: list[LineRow] = []

    def compose(self) -> ComposeResult:
        yield LineRow(self, None)

    def show(self, progress: PackProgress) -> None:
        lines = progress.lines
        columns = Columns.of(lines)
        if [r.line.line_id for r in self.rows if r.line] != [ln.line_id for ln in lines]:
            self.columns = columns
            for row in self.rows:
                row.remove()
            self.rows = [LineRow(self, ln) for ln in lines]
            self.mount_all(self.rows)  # a new shape: the one layout
            self.children[0].refresh()
            return
        if columns != self.columns:  # a count grew a digit, a line got its tick: all rows
            self.columns = columns
            for child in self.children:
                child.refresh()
        for row, ln in zip(self.rows, lines, strict=True):
            row.show(ln)
