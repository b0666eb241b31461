"""The pack screen's lines: one widget, drawn line by line, so a scan repaints one line.

Drawn as one Rich table, every scan re-measured and re-rendered every line and asked for
a new layout, which re-rendered every widget on the screen (the footer's keys included):
most of the time between a scan's commit and its frame. Here each line is rendered on its
own from column widths shared by all lines; a scan changes one line's view, so one line
is repainted and nothing is laid out again (only when the order's lines change, as after a
split).

The columns look as the table did: SKU, item (takes the free width, cut with an
ellipsis), bin, packed / to pack, and a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
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


class PackLines(Widget):
    """The header row and a row per order line, drawn line by line (Textual's Line API).

    One widget whatever the order's size: `show(progress)` repaints the lines whose view
    changed (one region each) and Textual renders those lines alone; the other rows come
    from its line cache. A row widget per line cost a render of every row in the
    rectangle a scan's answer repainted, a fifth of a millisecond each.
    """

    DEFAULT_CSS = """
    PackLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = Columns(len(HEADER[0]), len(HEADER[2]), len(HEADER[3]))
        self.lines: tuple[PackLineView, ...] = ()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines) + 1

    def show(self, progress: PackProgress) -> None:
        old, lines = self.lines, progress.lines
        columns = Columns.of(lines)
        self.lines = lines
        if [ln.line_id for ln in old] != [ln.line_id for ln in lines]:
            self.columns = columns
            self.refresh(layout=True)  # a new shape: the one layout
            return
        if columns != self.columns:  # a count grew a digit, a line got its tick: all rows
            self.columns = columns
            self.refresh()
            return
        width = self.size.width
        for y, (was, now) in enumerate(zip(old, lines, strict=True), start=1):
            if was != now:
                self.refresh(Region(0, y, width, 1))

    def row_text(self, y: int) -> Text | None:
        """Line `y` as text: 0 the header, then the order's lines; None below them."""
        width, columns = self.size.width, self.columns
        if y == 0:
            sku, item, bin_, packed, progress = HEADER
            header: Cells = (Text(sku), Text(item), Text(bin_), Text(packed), Text(progress))
            return columns.row(header, width, style="bold")
        if not 0 < y <= len(self.lines):
            return None
        ln = self.lines[y - 1]
        style = line_style(ln)
        serial = " (serial)" if ln.serialized else ""
        cells: Cells = (
            Text(visible(ln.sku), style=style),
            Text(visible(ln.name) + serial),
            Text(visible(ln.bin)),
            Text(packed_text(ln), style=style),
            bar(ln),
        )
        return columns.row(cells, width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        text = self.row_text(y)
        if text is None:
            return Strip.blank(width)
        # The text is cut to the width already: its segments as they are, under the row's
        # and the widget's styles (Console.render_lines did the same at four times the cost).
        own = text.style if isinstance(text.style, Style) else Style.parse(text.style)
        base = self.rich_style
        segments = Segment.apply_style(text.render(self.app.console), base + own)
        return Strip(segments).crop_extend(0, width, base)
