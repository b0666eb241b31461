"""Notifications that did not go out (`n` on the queue): failed ones (still retried) and
dead ones (given up), with the error, so staff can retry, fix the recipient, or discard.

The error text is untrusted (a mail or web server wrote part of it): it is shown as
literal text with control characters made visible, never as markup. Every action goes
through the notification service (`problems`, `retry`, `set_recipient`, `discard`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from screens.base import FailureReports
from screens.confirm import ConfirmDialog
from screens.format import safe, safe_line
from screens.ports import ConsoleServices, OutboxRow, outbox_of
from screens.prompt_dialog import PromptDialog
from services.statuses import NotificationState
from styles import tcss

POLL_SECONDS = 5.0
STATE_STYLE = {NotificationState.FAILED: "yellow", NotificationState.DEAD: "bold red"}
COLUMNS = ("Id", "Order", "Event", "To", "State", "Tries", "Error")


class OutboxScreen(FailureReports, Screen[None]):
    CSS_PATH = tcss("outbox")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="outbox.back"),
        Binding("r", "retry", "Retry", id="outbox.retry"),
        Binding("e", "edit_recipient", "Edit recipient", id="outbox.edit_recipient"),
        Binding("d", "discard", "Discard", id="outbox.discard"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="outbox.reload"),
    ]

    def __init__(self, services: ConsoleServices) -> None:
        super().__init__()
        self.services = services
        self.outbox = outbox_of(services)
        self.rows: list[OutboxRow] = []

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Outbox: notifications that did not go out", style="bold"), id="outbox-title"
        )
        yield DataTable(id="outbox-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="outbox-error", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.query_one("#outbox-error").border_title = "Error"
        self.set_focus(table)
        self.load()
        self.set_interval(POLL_SECONDS, self._poll)

    # -- data -----------------------------------------------------------------------------

    def _poll(self) -> None:
        if self.is_current:
            self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exit_on_error=False, group="load", exclusive=True, name="load the outbox")
    async def load(self) -> None:
        rows = await self.outbox.problems()
        self.show_rows(rows)

    def show_rows(self, rows: Sequence[OutboxRow]) -> None:
        table = self.query_one(DataTable)
        current = self.current
        keep = current.id if current is not None else None
        self.rows = list(rows)
        table.clear()
        for row in self.rows:
            table.add_row(
                Text(str(row.id), style="dim"),
                Text(f"#{row.order_number}" if row.order_number else "–"),
                safe_line(row.event),
                safe_line(row.to or "(none)", width=28),
                Text(row.state.value, style=STATE_STYLE.get(row.state, "")),
                Text(str(row.attempts)),
                safe_line(row.last_error, width=60),
                key=str(row.id),
            )
        if keep is not None:
            for index, row in enumerate(self.rows):
                if row.id == keep:
                    table.move_cursor(row=index)
                    break
        title = self.query_one("#outbox-title", Static)
        failed = sum(1 for r in self.rows if r.state is NotificationState.FAILED)
        dead = len(self.rows) - failed
        title.update(
            Text.assemble(
                ("Outbox: ", "bold"),
                f"{failed} failed (retrying), {dead} dead"
                if self.rows
                else "every notification went out",
            )
        )
        self._show_error()
        self.refresh_bindings()

    @property
    def current(self) -> OutboxRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None:
            return None
        if 0 <= table.cursor_row < len(self.rows):
            return self.rows[table.cursor_row]
        return None

    @on(DataTable.RowHighlighted)
    def _show_error(self) -> None:
        pane = self.query_one("#outbox-error", Static)
        row = self.current
        pane.display = row is not None
        if row is None:
            return
        text = Text.assemble(
            (f"#{row.id} ", "bold"),
            safe_line(row.event),
            " to ",
            safe_line(row.to or "(no recipient)"),
            f" · created {row.created_at:%Y-%m-%d %H:%M}\n",
        )
        text.append_text(safe(row.last_error or "(no error recorded)", keep_newlines=True))
        pane.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retry", "edit_recipient", "discard"):
            return self.current is not None
        return True

    # -- actions --------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        row = self.current
        if row is not None:
            self.retry(row.id)

    @work(exit_on_error=False, group="save", exclusive=True, name="retry the notification")
    async def retry(self, notification_id: int) -> None:
        entry = await self.outbox.retry(notification_id)
        self.notify(f"notification {entry.id} queued again", markup=False)
        self.load()

    def action_edit_recipient(self) -> None:
        row = self.current
        if row is None:
            return
        notification_id = row.id

        def answer(address: str | None) -> None:
            if address:
                self.set_recipient(notification_id, address)

        what = "address" if row.channel == "email" else "URL"
        self.app.push_screen(
            PromptDialog(
                Text.assemble(f"New {what} for notification ", (f"#{row.id}", "bold")),
                value=row.to,
                placeholder="name@example.org" if row.channel == "email" else "https://…",
                ok="Save and retry",
            ),
            answer,
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="change the recipient")
    async def set_recipient(self, notification_id: int, address: str) -> None:
        entry = await self.outbox.set_recipient(notification_id, address)
        self.notify(f"notification {entry.id} now goes to {safe_line(entry.to)}", markup=False)
        self.load()

    def action_discard(self) -> None:
        row = self.current
        if row is None:
            return
        notification_id = row.id

        def answer(yes: bool | None) -> None:
            if yes:
                self.discard(notification_id)

        self.app.push_screen(
            ConfirmDialog(
                "Discard notification",
                f"Give up on notification {row.id} ({row.event} to {row.to or 'nobody'})? "
                "It will not be sent.",
                yes="Discard",
                no="Keep",
            ),
            answer,
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="discard the notification")
    async def discard(self, notification_id: int) -> None:
        entry = await self.outbox.discard(notification_id)
        self.notify(f"notification {entry.id} discarded", markup=False)
        self.load()
