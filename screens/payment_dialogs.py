"""Money on an order: `c` charges (or records money received by hand), `r` refunds.

Both open on `PaymentService.summary()`: the charge button carries the amount it will
charge; with no gateway configured the dialog says so, and how to set one up, instead of
offering a button. A refund is the whole refundable amount, an amount, or lines (with a
restock choice), and is confirmed before it goes. What the operator's role may not do is
greyed out with the reason; the service refuses it too (`NotAllowed`, a polite message).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from screens.base import FailureReports
from screens.confirm import ConfirmDialog
from screens.format import safe_line
from screens.ports import ConsoleServices, may, payments_of, wake_notifications
from screens.untrusted import visible
from services.amounts import parse_amount
from services.errors import Conflict, InvalidInput
from services.roles import Action
from services.statuses import PaymentMethod
from services.views import PaymentResult, PaymentSummary
from styles import tcss

MANUAL = (PaymentMethod.CHECK, PaymentMethod.CASH, PaymentMethod.COD, PaymentMethod.TERMS)
NOT_ALLOWED = "Your role may not {what}; a {who} can. Ask them, or sign in as one."


def money_line(summary: PaymentSummary) -> Text:
    """Total, paid, refunded and due, in one line."""
    m = summary.money
    text = Text.assemble(
        ("Total ", "dim"),
        m(summary.total),
        ("  paid ", "dim"),
        m(summary.captured),
    )
    if summary.refunded:
        text.append_text(Text.assemble(("  refunded ", "dim"), m(summary.refunded)))
    if summary.authorized:
        text.append_text(Text.assemble(("  authorized ", "dim"), m(summary.authorized)))
    text.append_text(Text.assemble(("  due ", "dim"), (m(summary.balance_due), "bold")))
    text.append(f"  ({summary.status.value}, {summary.method})", style="dim")
    return text


def report_result(screen: FailureReports, result: PaymentResult) -> None:
    """The gateway's answer as a notification: approved, declined (with why), unknown."""
    lines = [visible(result.message), *(visible(n) for n in result.notes)]
    severity = "information" if result.approved else "warning"
    title = {"approved": "Approved", "declined": "Declined", "unknown": "Unknown"}.get(
        result.outcome, result.outcome.capitalize()
    )
    screen.notify("\n".join(lines), title=title, severity=severity, markup=False, timeout=8)


class _PaymentDialog(FailureReports, ModalScreen[PaymentResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, services: ConsoleServices, number: int) -> None:
        super().__init__()
        self.services = services
        self.payments = payments_of(services)
        self.number = number
        self.summary: PaymentSummary | None = None
        self.busy = False

    def on_mount(self) -> None:
        self.load()

    @work(exit_on_error=False, group="load", exclusive=True, name="load the payments")
    async def load(self) -> None:
        summary = await self.payments.summary(self.number)
        self.summary = summary
        self.show_summary(summary)

    def show_summary(self, summary: PaymentSummary) -> None:
        raise NotImplementedError

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.load()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def finished(self, result: PaymentResult) -> None:
        report_result(self, result)
        self.dismiss(result)


class ChargeDialog(_PaymentDialog):
    """`c`: charge the card (or capture), or record money received by hand."""

    CSS_PATH = tcss("payment_dialogs")

    def compose(self) -> ComposeResult:
        with Vertical(id="pay-dialog", classes="payment"):
            yield Static(Text.assemble("Payment for ", (f"#{self.number}", "bold")), id="pay-title")
            yield Static(Text("loading…", style="italic"), id="pay-money", markup=False)
            yield Static("", id="pay-note", markup=False)
            with Horizontal(id="pay-amount-row", classes="pay-row"):
                yield Label("Amount", classes="pay-label")
                yield Input(id="pay-amount", compact=True, placeholder="what is due")
            with Horizontal(id="pay-method-row", classes="pay-row"):
                yield Label("Method", classes="pay-label")
                yield Select(
                    [(m.value, m) for m in MANUAL],
                    id="pay-method",
                    allow_blank=False,
                    compact=True,
                )
                yield Input(id="pay-ref", compact=True, placeholder="note (check no., …)")
            with Horizontal(id="pay-buttons"):
                yield Button("Charge", id="charge", variant="success", compact=True)
                yield Button("Close", id="close", compact=True)
        yield Footer()

    def show_summary(self, summary: PaymentSummary) -> None:
        self.query_one("#pay-money", Static).update(money_line(summary))
        op = summary.charge_op
        manual = op == "record"
        button = self.query_one("#charge", Button)
        note = self.query_one("#pay-note", Static)
        self.query_one("#pay-method-row").display = manual
        self.query_one("#pay-amount-row").display = bool(op)
        action = Action.RECORD_PAYMENT if manual else Action.CHARGE
        notes: list[Text] = []
        if summary.unresolved is not None:
            notes.append(Text("A payment's outcome is unknown: check the gateway.", "bold yellow"))
        if not op:
            button.display = False
            notes.append(Text(visible(summary.next_step or "Nothing to charge."), "italic"))
        elif not manual and summary.gateway_problem:
            button.display = False  # no button: say why and how to set one up
            notes.append(Text(visible(summary.gateway_problem), "bold yellow"))
        else:
            button.display = True
            if manual:
                self.query_one("#pay-method", Select).value = _manual_method(summary.method)
            if not may(self.services, action):
                button.disabled = True
                notes.append(
                    Text(NOT_ALLOWED.format(what="take payments", who="staff member"), "italic")
                )
        if summary.next_step and op:
            notes.append(Text(visible(summary.next_step), "dim"))
        note.display = bool(notes)
        note.update(Text("\n").join(notes))
        amount = self.query_one("#pay-amount", Input)
        if not amount.value and summary.chargeable:
            amount.value = f"{summary.chargeable / 100:.2f}"
        self._label()
        if button.display and not button.disabled:
            self.set_focus(button)

    @on(Input.Changed, "#pay-amount")
    def _label(self) -> None:
        if self.summary is None:
            return
        verb = {"capture": "Capture", "record": "Record"}.get(self.summary.charge_op, "Charge")
        try:
            cents = self.amount()
        except InvalidInput:
            self.query_one("#charge", Button).label = f"{verb} ?"
            return
        shown = self.summary.money(cents if cents is not None else self.summary.chargeable)
        suffix = " received" if verb == "Record" else ""
        self.query_one("#charge", Button).label = f"{verb} {shown}{suffix}"

    def amount(self) -> int | None:
        raw = self.query_one("#pay-amount", Input).value.strip()
        return parse_amount(raw) if raw else None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "charge":
            self.go()
        else:
            self.dismiss(None)

    def go(self) -> None:
        summary = self.summary
        if summary is None or self.busy:
            return
        try:
            cents = self.amount()
        except InvalidInput as exc:
            self.report_failure(exc, "charge")
            return
        self.busy = True
        self.query_one("#charge", Button).disabled = True
        self.charge(summary, cents)

    @work(exit_on_error=False, group="save", exclusive=True, name="take the payment")
    async def charge(self, summary: PaymentSummary, cents: int | None) -> None:
        try:
            if summary.charge_op == "record":
                method = self.query_one("#pay-method", Select).value
                result = await self.payments.record(
                    self.number,
                    cents if cents is not None else summary.chargeable,
                    method if isinstance(method, PaymentMethod) else PaymentMethod.CHECK,
                    note=self.query_one("#pay-ref", Input).value,
                )
            else:
                result = await self.payments.charge(self.number, cents)
        finally:
            self.busy = False
            self.query_one("#charge", Button).disabled = False
        self.finished(result)


def _manual_method(method: str) -> PaymentMethod:
    try:
        found = PaymentMethod(method)
    except ValueError:
        return PaymentMethod.CHECK
    return found if found in MANUAL else PaymentMethod.CHECK


class RefundDialog(_PaymentDialog):
    """`r`: refund everything refundable, an amount, or lines (restock optional)."""

    CSS_PATH = tcss("payment_dialogs")
    MODES: ClassVar[list[tuple[str, str]]] = [
        ("Full refund", "full"),
        ("An amount", "amount"),
        ("Lines", "lines"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="pay-dialog", classes="refund"):
            yield Static(Text.assemble("Refund ", (f"#{self.number}", "bold")), id="pay-title")
            yield Static(Text("loading…", style="italic"), id="pay-money", markup=False)
            yield Static("", id="pay-note", markup=False)
            with Horizontal(classes="pay-row"):
                yield Label("Refund", classes="pay-label")
                yield Select(self.MODES, id="refund-mode", allow_blank=False, compact=True)
            with Horizontal(id="refund-amount-row", classes="pay-row"):
                yield Label("Amount", classes="pay-label")
                yield Input(id="refund-amount", compact=True, placeholder="12.50")
            yield VerticalScroll(id="refund-lines")
            yield Checkbox("Restock the goods that came back", id="restock", compact=True)
            with Horizontal(classes="pay-row"):
                yield Label("Reason", classes="pay-label")
                yield Input(id="refund-reason", compact=True, placeholder="why (recorded)")
            yield Checkbox("E-mail the customer", id="refund-notify", compact=True)
            with Horizontal(id="pay-buttons"):
                yield Button("Refund", id="refund", variant="error", compact=True)
                yield Button("Close", id="close", compact=True)
        yield Footer()

    def show_summary(self, summary: PaymentSummary) -> None:
        self.query_one("#pay-money", Static).update(money_line(summary))
        notes: list[Text] = []
        button = self.query_one("#refund", Button)
        if summary.unresolved is not None:
            notes.append(Text("A payment's outcome is unknown: check the gateway.", "bold yellow"))
        if not summary.refundable:
            button.disabled = True
            notes.append(Text("Nothing was paid that could be refunded.", "italic"))
        elif not may(self.services, Action.REFUND):
            button.disabled = True
            notes.append(Text(NOT_ALLOWED.format(what="refund", who="manager"), "italic"))
        note = self.query_one("#pay-note", Static)
        note.display = bool(notes)
        note.update(Text("\n").join(notes))
        box = self.query_one("#refund-lines", VerticalScroll)
        box.remove_children()
        rows = []
        for line in summary.refundable_lines:
            if not line.refundable:
                continue
            label = Text.assemble(
                (f"{line.sku:<10}", "bold"),
                " ",
                safe_line(line.name, width=24),
                (f"  {summary.money(line.unit_price)} · up to {line.refundable}", "dim"),
            )
            rows.append(
                Horizontal(
                    Static(label, classes="line-name", markup=False),
                    Input(
                        "0",
                        id=f"refund-qty-{line.line_id}",
                        type="integer",
                        classes="line-qty",
                        compact=True,
                    ),
                    classes="line-row",
                )
            )
        box.mount_all(rows)
        self._mode_changed()

    @property
    def mode(self) -> str:
        value = self.query_one("#refund-mode", Select).value
        return value if isinstance(value, str) else "full"

    @on(Select.Changed, "#refund-mode")
    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _mode_changed(self) -> None:
        mode = self.mode
        self.query_one("#refund-amount-row").display = mode == "amount"
        self.query_one("#refund-lines").display = mode == "lines"
        self.query_one("#restock").display = mode == "lines"
        self._label()

    def _label(self) -> None:
        summary = self.summary
        if summary is None:
            return
        try:
            cents, _ = self.request(summary)
        except InvalidInput:
            self.query_one("#refund", Button).label = "Refund ?"
            return
        self.query_one("#refund", Button).label = f"Refund {summary.money(cents)}"

    def request(self, summary: PaymentSummary) -> tuple[int, list[tuple[str, int]]]:
        """(amount in cents, lines) as the form says; refuses what the form cannot mean."""
        if self.mode == "amount":
            raw = self.query_one("#refund-amount", Input).value
            return parse_amount(raw), []
        if self.mode == "lines":
            lines: list[tuple[str, int]] = []
            cents = 0
            for line in summary.refundable_lines:
                if not line.refundable:
                    continue
                raw = self.query_one(f"#refund-qty-{line.line_id}", Input).value.strip() or "0"
                qty = int(raw) if raw.isdigit() else -1
                if not 0 <= qty <= line.refundable:
                    raise InvalidInput(f"{line.sku}: refund 0 to {line.refundable} units")
                if qty:
                    lines.append((line.sku, qty))
                    cents += qty * line.unit_price
            if not lines:
                raise InvalidInput("choose at least one unit to refund")
            return cents, lines
        return summary.refundable, []

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "refund":
            self.confirm()
        else:
            self.dismiss(None)

    def confirm(self) -> None:
        summary = self.summary
        if summary is None or self.busy:
            return
        try:
            cents, lines = self.request(summary)
        except InvalidInput as exc:
            self.report_failure(exc, "refund")
            return
        restock = self.mode == "lines" and self.query_one("#restock", Checkbox).value
        message = f"Give {summary.money(cents)} back to the customer of #{self.number}"
        if lines:
            message += " for " + ", ".join(f"{sku} × {q}" for sku, q in lines)
        if restock:
            message += " and put the goods back on the shelf"
        message += "? This cannot be undone."

        def answer(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self.query_one("#refund", Button).disabled = True
                amount = cents if self.mode == "amount" else None
                self.refund(amount, lines, restock)

        self.app.push_screen(
            ConfirmDialog("Refund", message, yes=f"Refund {summary.money(cents)}", no="Back"),
            answer,
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="refund")
    async def refund(self, amount: int | None, lines: list[tuple[str, int]], restock: bool) -> None:
        notify = self.query_one("#refund-notify", Checkbox).value
        try:
            result = await self.payments.refund(
                self.number,
                amount=amount,
                lines=lines,
                restock=restock,
                reason=self.query_one("#refund-reason", Input).value,
                notify=notify,
            )
        finally:
            self.busy = False
            self.query_one("#refund", Button).disabled = False
        if notify:
            wake_notifications(self.services)
        self.finished(result)
