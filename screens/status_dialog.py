"""Set the status of one order (or of several selected in the queue).

It offers what the status machine allows from here (`OrderService.options`), can show
the statuses it refuses with the machine's reason, asks for a hold reason when holding,
and saves two ways: "Save" and "Save + Send Email". Every change goes through
`OrderService.set_status` with the version the operator saw, so a change someone else
made meanwhile comes back as a Conflict, offered for reload, instead of being overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from screens.base import FailureReports, after_typing
from screens.format import safe, status_text
from screens.ports import ConsoleServices, email_previewer, wake_notifications
from screens.untrusted import visible
from services.errors import Conflict, Refused
from services.statuses import HoldReason, Status
from services.views import OrderDetail
from services.workflow import NOTIFY_EVENT
from styles import tcss

PREVIEW_DELAY = 0.4
# The machine's reasons name the order and the status; next to the status, the rest says it.
_REASON_PREFIX = re.compile(r"^order #\d+ cannot go to \w+: ")
HOLD_LABELS: dict[HoldReason, str] = {
    HoldReason.AWAITING_PAYMENT: "Awaiting payment",
    HoldReason.HIGH_RISK: "High risk",
    HoldReason.INCORRECT_ADDRESS: "Incorrect address",
    HoldReason.OUT_OF_STOCK: "Out of stock",
    HoldReason.AWAITING_CUSTOMER: "Awaiting customer",
    HoldReason.OTHER: "Other (say why)",
}


@dataclass
class Target:
    """An order as the operator saw it: its number, version and status then."""

    number: int
    version: int
    status: Status


@dataclass
class StatusOutcome:
    to: Status
    notify: bool
    changed: list[OrderDetail] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Offer:
    """One status the dialog can show: how many targets may go there, and why not."""

    status: Status
    allowed: int = 0
    reason: str | None = None


class StatusDialog(FailureReports, ModalScreen[StatusOutcome | None]):
    CSS_PATH = tcss("status_dialog")
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 - Textual reads it from the class
        (0, "-narrow"),
        (110, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "save(False)", "Save", priority=True, id="status.save"),
        Binding("ctrl+e", "save(True)", "Save + Send Email", priority=True, id="status.save_email"),
        Binding("f2", "toggle_all", "All statuses", id="status.show_all"),
        Binding("f3", "toggle_preview", "E-mail preview", id="status.preview"),
        # Priority, so the focus has moved before the next typed key is handed out: Textual
        # gives each key to the widget focused when it arrived ("⇥Thanks" typed fast).
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(self, services: ConsoleServices, targets: list[Target]) -> None:
        super().__init__()
        if not targets:
            raise ValueError("the status dialog needs at least one order")
        self.services = services
        self.workflow = services.workflow
        self.targets = targets
        self.offers: dict[Status, Offer] = {}
        self.show_all = False
        self.saving = False
        self._preview_timer: Timer | None = None

    @property
    def single(self) -> bool:
        return len(self.targets) == 1

    def _title(self) -> Text:
        if self.single:
            target = self.targets[0]
            return Text.assemble(
                "Set status of ",
                (f"#{target.number}", "bold"),
                " (now ",
                status_text(self.workflow, target.status),
                ")",
            )
        return Text.assemble("Set status of ", (f"{len(self.targets)} orders", "bold"))

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="status-dialog"):
            yield Static(self._title(), id="status-title", markup=False)
            with Horizontal(id="status-body"):
                with VerticalScroll(id="status-form"):
                    yield OptionList(id="targets")
                    yield Static("", id="targets-hint", markup=False)
                    with Horizontal(id="hold-row"):
                        yield Select(
                            [(label, reason) for reason, label in HOLD_LABELS.items()],
                            prompt="Hold reason",
                            id="hold-reason",
                            compact=True,
                        )
                        yield Input(
                            placeholder="note (needed for 'other')", id="hold-note", compact=True
                        )
                    yield Label("Comment to the customer (goes in the e-mail)")
                    yield TextArea(id="comment", soft_wrap=True, show_line_numbers=False)
                    yield Label("Staff memo (never sent)")
                    yield Input(id="memo", compact=True, placeholder="only staff see this")
                with VerticalScroll(id="preview-pane"):
                    yield Static(Text("E-mail preview", style="bold"), id="preview-title")
                    yield Static(Text("…"), id="preview", markup=False)
            with Horizontal(id="status-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Save + Send Email", id="save-email", variant="success", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#hold-row").display = False
        self.set_focus(self.query_one("#targets", OptionList))
        self.load_options()

    # -- offers ---------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the status choices")
    async def load_options(self) -> None:
        offers: dict[Status, Offer] = {}
        for target in self.targets:
            options = await self.services.orders.options(target.number)
            for status, why_not in options.items():
                offer = offers.setdefault(status, Offer(status))
                if why_not is None:
                    offer.allowed += 1
                elif offer.reason is None:
                    why = _REASON_PREFIX.sub("", why_not)
                    offer.reason = why if self.single else f"#{target.number}: {why}"
        self.offers = {s: offers[s] for s in self.workflow.statuses if s in offers}
        self._fill_options()

    def _fill_options(self) -> None:
        options = self.query_one("#targets", OptionList)
        previous = self.chosen
        shown: list[Option] = []
        for offer in self.offers.values():
            if not offer.allowed and not self.show_all:
                continue
            prompt = status_text(self.workflow, offer.status)
            if not self.single:
                prompt.append(f"  {offer.allowed} of {len(self.targets)}", style="dim")
            if not offer.allowed:
                prompt.append("  " + visible(offer.reason or ""), style="italic")
            shown.append(Option(prompt, id=offer.status.value, disabled=not offer.allowed))
        options.set_options(shown)
        hidden = sum(1 for o in self.offers.values() if not o.allowed)
        hint = self.query_one("#targets-hint", Static)
        hint.display = bool(not self.offers or hidden)
        if not self.offers:
            hint.update(Text("no status change is possible from here", style="italic"))
        elif hidden and not self.show_all:
            hint.update(Text(f"F2: show {hidden} more not allowed now, with why", style="dim"))
        elif hidden:
            hint.update(Text("F2: hide the ones not allowed now", style="dim"))
        else:
            hint.update("")
        all_ids = [o.id for o in shown]
        enabled = [o.id for o in shown if not o.disabled]
        if previous is not None and previous.value in enabled:
            options.highlighted = all_ids.index(previous.value)
        elif enabled:
            options.highlighted = all_ids.index(enabled[0])
        self._chosen_changed()

    @property
    def chosen(self) -> Status | None:
        options = self.query_one("#targets", OptionList)
        if options.highlighted is None or not options.option_count:
            return None
        option = options.get_option_at_index(options.highlighted)
        if option.disabled or option.id is None:
            return None
        return Status(option.id)

    @on(OptionList.OptionHighlighted, "#targets")
    def _highlighted(self) -> None:
        self._chosen_changed()

    @on(OptionList.OptionSelected, "#targets")
    def _selected(self) -> None:
        # Enter on a status moves on to the next field, as a form would.
        self.focus_next()

    def _chosen_changed(self) -> None:
        chosen = self.chosen
        self.query_one("#hold-row").display = chosen is Status.HELD
        self._show_email_button()
        self.query_one("#save", Button).disabled = chosen is None
        self._schedule_preview()

    def _show_email_button(self) -> None:
        chosen = self.chosen
        emails = chosen is not None and self._tells_customer(chosen)
        self.query_one("#save-email", Button).disabled = not emails
        self.refresh_bindings()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._fill_options()

    def action_toggle_preview(self) -> None:
        """Narrow: swap the form for the preview. Wide (side by side): hide or show it."""
        self.toggle_class("-preview")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save" and self.is_mounted:
            chosen = self.chosen
            if chosen is None or self.saving:
                return False
            if parameters and parameters[0] is True and not self._tells_customer(chosen):
                return False
        return True

    def _tells_customer(self, to: Status) -> bool:
        """Whether Save + Send Email would e-mail anyone: not for a hold whose reason the
        shop keeps to itself (settings notify_held_reasons; a risk hold by default)."""
        return self.services.orders.tells_customer(to, self._hold_reason())

    def _hold_reason(self) -> HoldReason | None:
        value = self.query_one("#hold-reason", Select).value
        return value if isinstance(value, HoldReason) else None

    @on(Select.Changed, "#hold-reason")
    def _hold_reason_changed(self) -> None:
        self._show_email_button()  # Save + Send Email comes or goes with the reason
        self._schedule_preview()  # the held e-mail words the reason

    # -- e-mail preview -------------------------------------------------------------------

    @on(TextArea.Changed, "#comment")
    def _comment_changed(self) -> None:
        self._schedule_preview()

    def _schedule_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self.render_preview)

    @work(exit_on_error=False, group="preview", exclusive=True, name="preview")
    async def render_preview(self) -> None:
        pane = self.query_one("#preview", Static)
        chosen = self.chosen
        if chosen is None:
            pane.update(Text("choose a status", style="italic"))
            return
        if chosen not in NOTIFY_EVENT:
            pane.update(Text(f"{chosen.value} sends no customer e-mail", style="italic"))
            return
        reason = self._hold_reason() if chosen is Status.HELD else None
        if not self._tells_customer(chosen):
            pane.update(
                Text("this shop does not tell customers of this hold: no e-mail", style="italic")
            )
            return
        previewer = email_previewer(self.services)
        if previewer is None:
            pane.update(Text("preview unavailable (no notification service)", style="italic"))
            return
        comment = self.query_one("#comment", TextArea).text
        try:
            mail = await previewer.preview(self.targets[0].number, chosen, comment, reason=reason)
        except Exception as exc:  # a broken template must not break the dialog
            pane.update(Text(f"preview unavailable: {visible(exc)}", style="italic"))
            return
        text = Text()
        if not self.single:  # each order gets its own; this is the first one's
            text.append(f"#{self.targets[0].number}, 1 of {len(self.targets)}\n", style="dim")
        text.append_text(Text.assemble(("To: ", "bold"), safe(mail.to or "(no address)"), "\n"))
        text.append_text(Text.assemble(("Subject: ", "bold"), safe(mail.subject), "\n\n"))
        text.append_text(safe(mail.text, keep_newlines=True))
        pane.update(text)

    # -- saving ---------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id in ("save", "save-email"):
            self.action_save(event.button.id == "save-email")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @after_typing
    def action_save(self, notify: bool) -> None:
        chosen = self.chosen
        if chosen is None or self.saving:
            return
        if notify and not self._tells_customer(chosen):
            return
        self.saving = True
        self.refresh_bindings()
        self.save(chosen, notify)

    @work(exit_on_error=False, group="save", exclusive=True, name="save the status")
    async def save(self, to: Status, notify: bool) -> None:
        comment = self.query_one("#comment", TextArea).text
        memo = self.query_one("#memo", Input).value
        reason = self._hold_reason()
        note = self.query_one("#hold-note", Input).value if to is Status.HELD else ""
        outcome = StatusOutcome(to=to, notify=notify)
        try:
            for target in self.targets:
                try:
                    detail = await self.services.orders.set_status(
                        target.number,
                        to,
                        comment=comment,
                        memo=memo,
                        notify=notify,
                        reason=reason if to is Status.HELD else None,
                        note=note,
                        expected_version=target.version,
                    )
                except Refused as exc:
                    if self.single:
                        raise  # shown here; the operator fixes it or reloads
                    outcome.refused.append((target.number, str(exc)))
                else:
                    outcome.changed.append(detail)
        finally:
            self.saving = False
            self.refresh_bindings()
        if notify and outcome.changed:
            wake_notifications(self.services)  # the console's worker sends them now
        self.dismiss(outcome)

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.reload_target()

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def reload_target(self) -> None:
        target = self.targets[0]
        detail = await self.services.orders.show(target.number)
        target.version = detail.version
        target.status = detail.status
        self.query_one("#status-title", Static).update(self._title())
        self.notify(
            f"#{detail.number} reloaded: now {self.workflow.labels[detail.status]}, "
            f"version {detail.version}; your text is kept",
            markup=False,
        )
        self.load_options()
