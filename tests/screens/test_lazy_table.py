"""The lazy table on its own: a million rows from a source that computes them, a window
that stays small, and cells that cannot break the line they are drawn on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from screens.widgets.keyset_window import Chunk, KeysetWindow
from screens.widgets.lazy_table import Column, LazyTable, column_widths
from tests.screens.helpers import screen_text, settle

ROWS = 1_000_000


@dataclass(frozen=True)
class Row:
    n: int
    label: str


class Numbers:
    """A keyset source over 0..ROWS-1: the cursor of row n is str(n)."""

    def __init__(self, size: int = ROWS) -> None:
        self.size = size
        self.calls: list[tuple[str, str | None, int]] = []

    def _chunk(self, start: int, stop: int) -> Chunk[Row]:
        start, stop = max(start, 0), min(stop, self.size)
        rows = [Row(n, f"row {n}") for n in range(start, stop)]
        return Chunk(rows, [str(n) for n in range(start, stop)], start > 0, stop < self.size)

    async def after(self, cursor: str | None, limit: int) -> Chunk[Row]:
        self.calls.append(("after", cursor, limit))
        start = 0 if cursor is None else int(cursor) + 1
        return self._chunk(start, start + limit)

    async def before(self, cursor: str, limit: int) -> Chunk[Row]:
        self.calls.append(("before", cursor, limit))
        return self._chunk(int(cursor) - limit, int(cursor))

    async def last(self, limit: int) -> Chunk[Row]:
        self.calls.append(("last", None, limit))
        return self._chunk(self.size - limit, self.size)


COLUMNS = [
    Column[Row]("n", lambda r: Text(str(r.n)), 8, justify="right"),
    Column[Row]("label", lambda r: Text(r.label), 10, flex=1),
]


class TableApp(App[None]):
    def __init__(self, source: Numbers) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield LazyTable(COLUMNS, key=lambda r: r.n, page_size=50, id="t")

    def on_mount(self) -> None:
        table = self.query_one(LazyTable)
        table.focus()
        table.set_source(self.source)


def table_of(app: App[Any]) -> LazyTable[Row]:
    return app.query_one(LazyTable)


async def test_a_million_rows_hold_a_few_pages_and_draw_only_the_screen() -> None:
    source = Numbers()
    app = TableApp(source)
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(pilot)
        table = table_of(app)
        assert [r.n for r in table.visible_rows()] == list(range(11))
        assert len(table.rows) <= 100  # the first page and one prefetched
        await pilot.press("end")
        await settle(pilot)
        assert table.current == Row(ROWS - 1, f"row {ROWS - 1}")
        assert "999999" in screen_text(app)
        for _ in range(30):
            await pilot.press("pageup")
        await settle(pilot)
        assert table.current is not None
        assert table.current.n == ROWS - 1 - 30 * (table.body_height - 1)
        cap = table.body_height + 2 * (table.margin + table.page_size) + table.page_size
        assert len(table.rows) <= max(table.max_rows, cap)
        assert {c[0] for c in source.calls} == {"after", "before", "last"}
        await pilot.press("home")
        await settle(pilot)
        assert table.current == Row(0, "row 0")


async def test_selection_survives_the_window_moving_away_and_back() -> None:
    app = TableApp(Numbers())
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(pilot)
        table = table_of(app)
        table.move_cursor(3)
        table.toggle_selected()
        await pilot.press("end")
        await settle(pilot)
        assert list(table.selected) == [3]
        assert "● " not in screen_text(app)
        await pilot.press("home")
        await settle(pilot)
        assert "●        3 row 3" in screen_text(app)


async def test_a_line_break_in_a_cell_cannot_break_the_row() -> None:
    class Lines(Numbers):
        def _chunk(self, start: int, stop: int) -> Chunk[Row]:
            chunk = super()._chunk(start, stop)
            rows = [Row(r.n, "two\nlines\x1b[2J") for r in chunk.rows]
            return Chunk(rows, chunk.cursors, chunk.more_before, chunk.more_after)

    app = TableApp(Lines(5))
    async with app.run_test(size=(40, 8)) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        assert lines[1].strip().startswith("0 two␊lines")
        assert lines[2].strip().startswith("1 two␊lines")


def test_flex_columns_share_the_spare_width_up_to_their_maximum() -> None:
    cols: list[Column[Any]] = [
        Column("a", lambda r: Text(""), 5),
        Column("b", lambda r: Text(""), 4, flex=1, max_width=6),
        Column("c", lambda r: Text(""), 4, flex=2),
    ]
    # 2 for the selection mark, 2 gaps between 3 columns
    assert column_widths(cols, 2 + 2 + 13) == [5, 4, 4]
    assert column_widths(cols, 2 + 2 + 19) == [5, 6, 8]
    assert column_widths(cols, 2 + 2 + 40) == [5, 6, 29]
    assert column_widths(cols, 10) == [5, 4, 4]  # too narrow: minimums, cropped by the strip


def test_window_bookkeeping() -> None:
    window: KeysetWindow[int] = KeysetWindow()
    window.reset(Chunk([1, 2, 3], ["1", "2", "3"], more_before=False, more_after=True))
    assert window.extend(Chunk([4, 5], ["4", "5"], more_before=True, more_after=False)) == 2
    assert window.rows == [1, 2, 3, 4, 5] and not window.more_after
    assert window.trim_front(2) == 2 and window.rows == [3, 4, 5] and window.more_before
    assert window.prepend(Chunk([2], ["2"], more_before=False, more_after=True)) == 1
    assert window.rows == [2, 3, 4, 5] and not window.more_before
    assert window.trim_back(9) == 4 and window.rows == [] and window.more_after
    with pytest.raises(ValueError, match="one cursor per row"):
        Chunk([1], [], more_before=False, more_after=False)
