"""The queue's frame, painted while the services load.

Most of start-up is importing SQLAlchemy, pydantic and the services (~0.7 s here, three
times a bare Textual app), and none of it is needed to draw the queue's tabs, columns and
keys. So the console paints this first, loads the services off the event loop, then puts
the real queue in its place; keys typed meanwhile are held by the app and replayed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static, Tab, Tabs

from screens.queue_columns import ALL, queue_columns
from screens.untrusted import one_line
from screens.widgets.lazy_table import LazyTable
from services.workflow import Workflow
from styles import tcss

if TYPE_CHECKING:
    from services.views import OrderRow


class StartingScreen(Screen[None]):
    CSS_PATH = tcss("queue")

    def __init__(self, where: str = "") -> None:
        super().__init__()
        # The default machine: the configured labels arrive with the settings, a moment on.
        self.workflow = Workflow.from_config((), {})
        self.where = where

    def compose(self) -> ComposeResult:
        tabs = [Tab(Content.assemble(("0 ", "dim"), "All ", ("…", "bold")), id=ALL)]
        for digit, status in enumerate(self.workflow.statuses[:9], start=1):
            label = self.workflow.labels.get(status, status.value)
            tabs.append(Tab(Content.assemble((f"{digit} ", "dim"), label, " ", ("…", "bold"))))
        yield Tabs(*tabs, id="status-tabs")
        table: LazyTable[OrderRow] = LazyTable(
            queue_columns(self.workflow, wide=False),
            key=lambda row: row.number,
            empty_message="opening the database…",
            id="orders",
        )
        yield table
        where = f"opening {one_line(self.where, 60)}…" if self.where else "opening…"
        yield Static(Text(where), id="queue-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Tabs).can_focus = False
