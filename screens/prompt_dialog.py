"""Ask for one line of text (a reason, an address) in a small modal; None when canceled."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from styles import tcss


class PromptDialog(ModalScreen[str | None]):
    CSS_PATH = tcss("prompt_dialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(
        self,
        title: Text | str,
        *,
        value: str = "",
        placeholder: str = "",
        ok: str = "OK",
        required: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.ok = ok
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(self.title_text, id="prompt-title", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", compact=True)
            with Horizontal(id="prompt-buttons"):
                yield Button(self.ok, id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#prompt-input", Input))
        self._changed()

    @on(Input.Changed, "#prompt-input")
    def _changed(self) -> None:
        text = self.query_one("#prompt-input", Input).value.strip()
        self.query_one("#ok", Button).disabled = self.required and not text

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._answer()
        else:
            self.dismiss(None)

    def _answer(self) -> None:
        text = self.query_one("#prompt-input", Input).value.strip()
        if text or not self.required:
            self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
