"""A table over a list of any length: it holds a few keyset pages and draws only what shows.

Textual's DataTable keeps every row as widgets-worth of data; at a million orders that is
minutes and gigabytes. This is a Line API widget (ScrollView + render_line, as Toolong
does for log files): the rows live in a small `KeysetWindow`, the screen draws the
visible lines from it, and moving near either end of the window asks the `RowSource`
for the next (or previous) page in a worker, trimming the far end so memory stays flat.

Cells are `rich.text.Text` built by the caller; the table never parses markup and
replaces any line break that slips through, so untrusted text cannot reshape the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState

from screens.untrusted import one_line
from screens.widgets.keyset_window import Chunk, KeysetWindow

RowT = TypeVar("RowT")

MARK = 2  # selection mark and its gap


class RowSource(Protocol[RowT]):
    """Where the rows come from: keyset pages in list order."""

    async def after(self, cursor: str | None, limit: int) -> Chunk[RowT]:
        """The rows following `cursor` (None: from the top)."""
        ...

    async def before(self, cursor: str, limit: int) -> Chunk[RowT]:
        """The `limit` rows right before `cursor`."""
        ...

    async def last(self, limit: int) -> Chunk[RowT]:
        """The final `limit` rows of the list."""
        ...


@dataclass(frozen=True)
class Column(Generic[RowT]):
    label: str
    cell: Callable[[RowT], Text]
    width: int
    flex: int = 0
    max_width: int | None = None
    justify: Literal["left", "right"] = "left"


def column_widths(columns: Sequence[Column[Any]], width: int) -> list[int]:
    """Fixed columns keep their width; flex columns share what is left, up to max_width."""
    widths = [c.width for c in columns]
    spare = width - MARK - sum(widths) - max(len(columns) - 1, 0)
    growing = [i for i, c in enumerate(columns) if c.flex]
    while spare > 0 and growing:
        total = sum(columns[i].flex for i in growing)
        handed = 0
        for i in growing:
            share = max(1, spare * columns[i].flex // total)
            cap = columns[i].max_width
            if cap is not None:
                share = min(share, cap - widths[i])
            share = min(share, spare - handed)
            widths[i] += share
            handed += share
        spare -= handed
        growing = [
            i
            for i in growing
            if columns[i].max_width is None or widths[i] < (columns[i].max_width or 0)
        ]
        if handed == 0:
            break
    return widths


class LazyTable(ScrollView, Generic[RowT], can_focus=True):
    """Keyboard-first lazy table: cursor, selection, open; rows fetched page by page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "activate", "Open", id="list.open"),
        Binding("up", "cursor_up", "Up", show=False, id="list.up"),
        Binding("down", "cursor_down", "Down", show=False, id="list.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="list.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down"),
        Binding("home", "first", "First", show=False, id="list.first"),
        Binding("end", "last", "Last", show=False, id="list.last"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lazy-table--header",
        "lazy-table--cursor",
        "lazy-table--selected",
        "lazy-table--message",
    }

    DEFAULT_CSS = """
    LazyTable {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        background: $surface;
        & > .lazy-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .lazy-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .lazy-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .lazy-table--selected { background: $accent 25%; }
        & > .lazy-table--message { color: $text-muted; text-style: italic; }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class TableMessage(Message):
        def __init__(self, table: LazyTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> LazyTable[Any]:
            return self.table

    class Highlighted(TableMessage):
        def __init__(self, table: LazyTable[Any], row: Any) -> None:
            super().__init__(table)
            self.row = row

    class Activated(TableMessage):
        def __init__(self, table: LazyTable[Any], row: Any) -> None:
            super().__init__(table)
            self.row = row

    class Loaded(TableMessage):
        """The window changed (first page, more rows, a refresh)."""

    class FetchFailed(TableMessage):
        """A page could not be fetched; the screen reports it (retry: `reload`)."""

        def __init__(self, table: LazyTable[Any], error: BaseException) -> None:
            super().__init__(table)
            self.error = error

    def __init__(
        self,
        columns: Sequence[Column[RowT]],
        key: Callable[[RowT], Hashable],
        *,
        page_size: int = 100,
        max_pages: int = 4,
        empty_message: str = "nothing here",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns: list[Column[RowT]] = list(columns)
        self._key = key
        self.page_size = page_size
        self.max_rows = page_size * max_pages
        # Fetch the next page when the view comes within this many rows of an end.
        self.margin = max(page_size // 2, 1)
        self.empty_message = empty_message
        self.window: KeysetWindow[RowT] = KeysetWindow()
        self.selected: dict[Hashable, RowT] = {}
        self._source: RowSource[RowT] | None = None
        self._generation = 0
        self._loading = False
        self._busy_after = False
        self._busy_before = False
        self._pending = 0  # rows the cursor still has to move once the next page is in
        self._activate_when_loaded = False
        self._lines: dict[tuple[Any, ...], Strip] = {}
        self._widths: tuple[int, list[int]] = (-1, [])

    # -- public API -----------------------------------------------------------------------

    @property
    def columns(self) -> list[Column[RowT]]:
        return self._columns

    @columns.setter
    def columns(self, columns: Sequence[Column[RowT]]) -> None:
        self._columns = list(columns)
        self._widths = (-1, [])
        self._changed()

    @property
    def is_loading(self) -> bool:
        """True while a page is on its way (tests and the status line wait on this)."""
        return self._loading or self._busy_after or self._busy_before

    @property
    def rows(self) -> Sequence[RowT]:
        return self.window.rows

    @property
    def current(self) -> RowT | None:
        rows = self.window.rows
        return rows[self.cursor_row] if 0 <= self.cursor_row < len(rows) else None

    @property
    def body_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    @property
    def first_visible(self) -> int:
        return int(self.scroll_offset.y)

    def visible_rows(self) -> Sequence[RowT]:
        start = self.first_visible
        return self.window.rows[start : start + self.body_height]

    def set_source(self, source: RowSource[RowT]) -> None:
        """Show another list (a new filter, search or sort): start from its top."""
        self._source = source
        self._generation += 1
        self._loading = True
        self._busy_after = self._busy_before = False
        self._changed()
        self._run(self._load_top(self._generation))

    def reload(self) -> None:
        """Fetch again what is on screen (someone changed orders), keeping the cursor's row."""
        if self._source is None:
            return
        self._generation += 1
        self._loading = True
        self._busy_after = self._busy_before = False
        self._run(self._refresh(self._generation))

    def toggle_selected(self) -> RowT | None:
        row = self.current
        if row is None:
            return None
        key = self._key(row)
        if key in self.selected:
            del self.selected[key]
        else:
            self.selected[key] = row
        self._changed()
        return row

    def clear_selection(self) -> None:
        self.selected.clear()
        self._changed()

    def move_cursor(self, row: int) -> None:
        if not self.window.rows:
            return
        last = len(self.window) - 1
        if row > last and self.window.more_after:
            self._pending = row - last
        elif row < 0 and self.window.more_before:
            self._pending = row
        self.cursor_row = max(0, min(row, last))

    # -- actions --------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - (self.body_height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + (self.body_height - 1))

    def action_first(self) -> None:
        if self.window.more_before and self._source is not None:
            self.set_source(self._source)
        else:
            self.move_cursor(0)

    def action_last(self) -> None:
        if self.window.more_after and self._source is not None:
            self._generation += 1
            self._loading = True
            self._busy_after = self._busy_before = False
            self._run(self._load_bottom(self._generation))
        else:
            self.move_cursor(len(self.window) - 1)

    def action_activate(self) -> None:
        if self._loading:
            # The rows on screen belong to the previous list (a search is on its way):
            # open what the new list puts under the cursor once it is in.
            self._activate_when_loaded = True
            return
        row = self.current
        if row is not None:
            self.post_message(self.Activated(self, row))

    # -- fetching -------------------------------------------------------------------------

    def _run(self, work: Any) -> None:
        self.run_worker(work, group="lazy-table", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "lazy-table" or event.state is not WorkerState.ERROR:
            return
        event.stop()
        self._loading = self._busy_after = self._busy_before = False
        self._activate_when_loaded = False
        self._changed()
        error = event.worker.error
        if error is not None:
            self.post_message(self.FetchFailed(self, error))

    async def _load_top(self, generation: int) -> None:
        assert self._source is not None
        chunk = await self._source.after(None, self.page_size)
        if generation != self._generation:
            return
        self._replace(chunk, cursor=0, top=0)

    async def _load_bottom(self, generation: int) -> None:
        assert self._source is not None
        chunk = await self._source.last(self.page_size)
        if generation != self._generation:
            return
        last = len(chunk.rows) - 1
        self._replace(chunk, cursor=last, top=max(last - self.body_height + 1, 0))

    async def _refresh(self, generation: int) -> None:
        """Re-read from the first visible row down; rows above it are fetched afresh later."""
        assert self._source is not None
        window = self.window
        top = self.first_visible
        keep_key = self._key(self.current) if self.current is not None else None
        screen_offset = self.cursor_row - top
        limit = min(max(self.page_size, self.body_height + self.margin), 500)
        if top > 0 and top - 1 < len(window.cursors):
            chunk = await self._source.after(window.cursors[top - 1], limit)
        elif window.more_before and window.cursors:
            previous = await self._source.before(window.cursors[0], 1)
            anchor = previous.cursors[0] if previous.cursors else None
            chunk = await self._source.after(anchor, limit)
        else:
            chunk = await self._source.after(None, limit)
        if generation != self._generation:
            return
        keys = [self._key(r) for r in chunk.rows]
        cursor = keys.index(keep_key) if keep_key in keys else screen_offset
        self._replace(chunk, cursor=cursor, top=0)

    async def _fetch_after(self, generation: int) -> None:
        assert self._source is not None
        anchor = self.window.cursors[-1]
        try:
            chunk = await self._source.after(anchor, self.page_size)
        finally:
            if generation == self._generation:
                self._busy_after = False
        if generation != self._generation or not self.window.cursors:
            return
        if self.window.cursors[-1] != anchor:
            return
        self.window.extend(chunk)
        dropped = self.window.trim_front(min(self._excess(), self._slack_above()))
        self._shifted(-dropped)
        self._apply_pending()

    async def _fetch_before(self, generation: int) -> None:
        assert self._source is not None
        anchor = self.window.cursors[0]
        try:
            chunk = await self._source.before(anchor, self.page_size)
        finally:
            if generation == self._generation:
                self._busy_before = False
        if generation != self._generation or not self.window.cursors:
            return
        if self.window.cursors[0] != anchor:
            return
        added = self.window.prepend(chunk)
        self.window.trim_back(min(self._excess(), self._slack_below(shift=added)))
        self._shifted(added)
        self._apply_pending()

    # Trimming keeps the view, the cursor and a page plus the margin on each side of them,
    # so trimming one end never brings the other end within the prefetch margin.
    def _excess(self) -> int:
        cap = max(self.max_rows, self.body_height + 2 * (self.margin + self.page_size))
        return len(self.window) - cap

    def _slack_above(self) -> int:
        top = min(self.first_visible, self.cursor_row)
        return max(top - self.margin - self.page_size, 0)

    def _slack_below(self, shift: int = 0) -> int:
        bottom = max(self.first_visible + self.body_height, self.cursor_row + 1) + shift
        return max(len(self.window) - bottom - self.margin - self.page_size, 0)

    def _apply_pending(self) -> None:
        """A move past the loaded rows, held while the page came, is finished now."""
        pending, self._pending = self._pending, 0
        if pending:
            self.move_cursor(self.cursor_row + pending)

    def _replace(self, chunk: Chunk[RowT], *, cursor: int, top: int) -> None:
        self.window.reset(chunk)
        self._pending = 0
        self._loading = False
        self._sync_selected()
        self._set_virtual_size()
        self.scroll_to(y=top, animate=False, immediate=True)
        self._changed()
        self.move_cursor(cursor)
        if not self.window.rows:
            self.cursor_row = 0
        self._maybe_prefetch()
        self.post_message(self.Loaded(self))
        if self._activate_when_loaded:
            self._activate_when_loaded = False
            self.action_activate()

    def _shifted(self, rows: int) -> None:
        """Rows were added (or dropped) above: keep the same rows under the cursor and view."""
        self._sync_selected()
        self._set_virtual_size()
        if rows:
            self.scroll_to(y=self.first_visible + rows, animate=False, immediate=True)
            self.set_reactive(LazyTable.cursor_row, self.cursor_row + rows)
        self._changed()
        self._maybe_prefetch()
        self.post_message(self.Loaded(self))

    def _maybe_prefetch(self) -> None:
        if self._source is None or self._loading or not self.window.rows:
            return
        generation = self._generation
        window = self.window
        top = min(self.first_visible, self.cursor_row)
        bottom = max(self.first_visible + self.body_height, self.cursor_row)
        if window.more_after and not self._busy_after and len(window) - bottom < self.margin:
            self._busy_after = True
            self._run(self._fetch_after(generation))
        if window.more_before and not self._busy_before and top < self.margin:
            self._busy_before = True
            self._run(self._fetch_before(generation))

    def _sync_selected(self) -> None:
        """Selected rows track their latest version as they come back from the source."""
        if not self.selected:
            return
        for row in self.window.rows:
            key = self._key(row)
            if key in self.selected:
                self.selected[key] = row

    # -- layout and scrolling ---------------------------------------------------------------

    def _set_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.window) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._set_virtual_size()
        self._changed()
        self._scroll_cursor_into_view()
        self._maybe_prefetch()

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self._changed()
        self._maybe_prefetch()
        row = self.current
        if row is not None:
            self.post_message(self.Highlighted(self, row))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_prefetch()

    def _scroll_cursor_into_view(self) -> None:
        top = self.first_visible
        height = self.body_height
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = self.first_visible + offset.y - 1
        if index < len(self.window):
            self.move_cursor(index)
            if event.chain >= 2:
                self.action_activate()

    def on_focus(self) -> None:
        self._changed()

    def on_blur(self) -> None:
        self._changed()

    # -- drawing --------------------------------------------------------------------------

    def _changed(self) -> None:
        self._lines.clear()
        self.refresh()

    def _column_widths(self, width: int) -> list[int]:
        if self._widths[0] != width:
            self._widths = (width, column_widths(self._columns, width))
        return self._widths[1]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._cached(("header", width), lambda: self._header(width))
        index = self.first_visible + y - 1
        if index < len(self.window):
            is_cursor = index == self.cursor_row
            is_selected = self._key(self.window.rows[index]) in self.selected
            return self._cached(
                ("row", index, width, is_cursor, is_selected, self.has_focus),
                lambda: self._row(index, width, is_cursor, is_selected),
            )
        if index == len(self.window) and (self._loading or self._busy_after or not self.window):
            busy = self._loading or self._busy_after
            message = "loading…" if busy else self.empty_message
            style = self.get_component_rich_style("lazy-table--message")
            return self._strip(Text(" " * MARK + message, style=style), width, base)
        return Strip.blank(width, base)

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Strip]) -> Strip:
        strip = self._lines.get(key)
        if strip is None:
            strip = self._lines[key] = make()
        return strip

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments = list(text.render(self.app.console))
        return Strip(Segment.apply_style(segments, style)).adjust_cell_length(width, style)

    def _cells(self, texts: Sequence[Text], width: int) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        widths = self._column_widths(width)
        for column, cell_width, cell in zip(self._columns, widths, texts, strict=True):
            if "\n" in cell.plain or "\r" in cell.plain:
                cell = Text(one_line(cell.plain), style=cell.style)
            cell = cell.copy()
            cell.truncate(cell_width, overflow="ellipsis")
            cell.align(column.justify, cell_width)
            line.append_text(cell)
            line.append(" ")
        line.right_crop(1)
        return line

    def _header(self, width: int) -> Strip:
        style = self.rich_style + self.get_component_rich_style("lazy-table--header")
        labels = [Text(column.label) for column in self._columns]
        line = Text(" " * MARK, end="")
        line.append_text(self._cells(labels, width))
        return self._strip(line, width, style)

    def _row(self, index: int, width: int, is_cursor: bool, is_selected: bool) -> Strip:
        row = self.window.rows[index]
        style = self.rich_style
        if is_selected:
            style += self.get_component_rich_style("lazy-table--selected")
        if is_cursor:
            style += self.get_component_rich_style("lazy-table--cursor")
        line = Text("● " if is_selected else "  ", end="")
        line.append_text(self._cells([column.cell(row) for column in self._columns], width))
        return self._strip(line, width, style)
