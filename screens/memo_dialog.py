"""Add a staff memo to an order (never sent to the customer)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static, TextArea

from screens.base import FailureReports, after_typing
from screens.ports import ConsoleServices
from services.errors import Conflict
from services.views import OrderDetail
from styles import tcss


class MemoDialog(FailureReports, ModalScreen[OrderDetail | None]):
    CSS_PATH = tcss("memo_dialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "save", "Save", priority=True, id="memo.save"),
    ]

    def __init__(self, services: ConsoleServices, number: int, version: int) -> None:
        super().__init__()
        self.services = services
        self.number = number
        self.version = version
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="memo-dialog"):
            yield Static(
                Text.assemble("Staff memo for ", (f"#{self.number}", "bold")),
                id="memo-title",
                markup=False,
            )
            yield TextArea(id="memo-text", soft_wrap=True)
            with Horizontal(id="memo-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#memo-text", TextArea))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @after_typing
    def action_save(self) -> None:
        if not self.saving:
            self.saving = True
            self.save(self.query_one("#memo-text", TextArea).text)

    @work(exit_on_error=False, group="save", exclusive=True, name="save the memo")
    async def save(self, text: str) -> None:
        try:
            detail = await self.services.orders.add_memo(
                self.number, text, expected_version=self.version
            )
        finally:
            self.saving = False
        self.dismiss(detail)

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.reload_version()

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def reload_version(self) -> None:
        detail = await self.services.orders.show(self.number)
        self.version = detail.version
        self.notify(f"#{self.number} reloaded; save again to add your memo", markup=False)
