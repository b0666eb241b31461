"""The queue's frame, painted while the services load.

Most of start-up is importing SQLAlchemy, pydantic and the services (~0.7 s here, three
times a bare Textual app), and none of it is needed to draw the queue's tabs and columns.
So the console paints this first, loads the services off the event loop, then puts the
real queue in its place; keys typed meanwhile are held by the app and replayed there.

The tab strip and the footer are drawn as plain lines in their places: Textual's Tabs and
Footer widgets cost more to build than the rest of this frame (about 70 ms, a quarter of
a bare app's start), and the real ones arrive with the queue a moment later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from screens.queue_columns import queue_columns
from screens.untrusted import one_line
from screens.widgets.lazy_table import LazyTable
from services.workflow import Workflow
from styles import tcss

if TYPE_CHECKING:
    from services.views import OrderRow


class StartingScreen(Screen[None]):
    CSS_PATH = tcss("starting")

    def __init__(self, where: str = "") -> None:
        super().__init__()
        # The default machine: the configured labels arrive with the settings, a moment on.
        self.workflow = Workflow.from_config((), {})
        self.where = where

    def tab_strip(self) -> Text:
        """The queue's status tabs as they will look, "All" chosen, counts still to come."""
        labels = ["0 All …"]
        for digit, status in enumerate(self.workflow.statuses[:9], start=1):
            labels.append(f"{digit} {self.workflow.labels.get(status, status.value)} …")
        strip = Text(no_wrap=True, overflow="crop")
        for index, label in enumerate(labels):
            strip.append(f" {label} ", style="bold" if index == 0 else "dim")
        strip.append("\n")
        strip.append("━" * (len(labels[0]) + 1), style="bold")
        strip.append("╺" + "━" * 300, style="dim")  # cropped to the screen by the CSS
        return strip

    def compose(self) -> ComposeResult:
        yield Static(self.tab_strip(), id="status-tabs", markup=False)
        table: LazyTable[OrderRow] = LazyTable(
            queue_columns(self.workflow, wide=False),
            key=lambda row: row.number,
            empty_message="opening the database…",
            id="orders",
        )
        yield table
        where = f"opening {one_line(self.where, 60)}…" if self.where else "opening…"
        yield Static(Text(where), id="queue-status", markup=False)
        yield Static(id="starting-footer")
