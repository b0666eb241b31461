"""`?`: every key that works where the operator is, with the keymap applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from styles import tcss


@dataclass(frozen=True)
class KeyHelp:
    where: str
    key: str
    description: str
    binding_id: str


class HelpScreen(ModalScreen[None]):
    CSS_PATH = tcss("help")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close", id="help.close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
        Binding("q", "app.pop_screen", "Close", show=False),
    ]

    def __init__(self, keys: list[KeyHelp], title: str) -> None:
        super().__init__()
        self.keys = keys
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(Text(f"Keys · {self.title_text}", style="bold"), id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(self._table(), markup=False)
            yield Static(
                Text('Remap a key in the config file: [keys] binding-id = "key"', style="dim"),
                id="help-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#help-body"))

    def _table(self) -> Table:
        table = Table(box=None, expand=True, padding=(0, 1), show_header=True)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Does")
        table.add_column("Binding id", style="dim", no_wrap=True)
        where = None
        for item in self.keys:
            if item.where != where:
                where = item.where
                table.add_row(Text(where, style="bold underline"), "", "")
            table.add_row(Text(item.key), Text(item.description), Text(item.binding_id))
        return table
