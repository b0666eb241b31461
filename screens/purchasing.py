"""Vendor purchase orders for one order (`v` on an order): drop shipping from the keyboard.

Every line not yet ordered gets a vendor chooser (the line's vendor or the product's
default pre-selected; each choice shows the vendor's SKU, cost, our margin and how the
vendor takes POs). Lines from stock are listed and left alone; a line that no vendor
supplies and that is not stocked says so. ctrl+s creates one PO per vendor, ctrl+e
creates and sends them (e-mail through the outbox, EDI as an X12 850 file). The order's
POs are listed below with their status; the highlighted one can be sent again (ctrl+t),
canceled with a reason (ctrl+x), or marked with what the vendor told us (ctrl+k: sent by
phone, acknowledged, received), so every status in the list can be reached from here.

Everything goes through the purchasing service (`plan`, `create`, `send`, `mark`); the
order's version is checked on create, so two operators cannot order the same lines twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from screens.base import FailureReports, after_typing
from screens.confirm import ConfirmDialog
from screens.format import safe_line
from screens.ports import ConsoleServices, wake_notifications
from screens.prompt_dialog import PromptDialog
from screens.untrusted import visible
from services.display import money
from services.errors import Conflict
from services.po_views import PlanLine, POPlan, POResult, PurchaseOrderView, VendorChoice
from services.statuses import POStatus
from styles import tcss

METHOD_LABEL = {"email": "e-mail", "edi": "EDI", "manual": "by hand"}
STATUS_STYLE = {
    "draft": "yellow",
    "sent": "cyan",
    "acknowledged": "cyan",
    "shipped": "green",
    "received": "green",
    "canceled": "dim strike",
}


class PurchasingActions(Protocol):
    """What this screen calls on `services.purchasing` (satisfied structurally)."""

    async def plan(self, ref: str | int) -> POPlan: ...

    async def create(
        self,
        ref: str | int,
        *,
        vendors: Mapping[str, str] | None = None,
        send: bool = False,
        expected_version: int | None = None,
    ) -> POResult: ...

    async def send(self, number: str) -> POResult: ...

    async def mark(self, number: str, to: POStatus, *, note: str = "") -> POResult: ...


def purchasing_of(services: object) -> PurchasingActions:
    return cast(PurchasingActions, services.purchasing)  # type: ignore[attr-defined]


def choice_label(choice: VendorChoice, currency: str = "USD") -> Text:
    """`ACME  ACM-69375  cost $124.05  margin $61.94  e-mail` (a warning if it cannot send)."""
    margin_style = "red" if choice.margin < 0 else "green"
    label = Text.assemble(
        (visible(choice.code), "bold"),
        "  ",
        safe_line(choice.vendor_sku, width=16),
        f"  cost {money(choice.cost, currency)}  ",
        (f"margin {money(choice.margin, currency)}", margin_style),
        f"  {METHOD_LABEL.get(choice.method, choice.method)}",
    )
    if choice.is_default:
        label.append("  default", style="dim")
    if choice.send_problem:
        label.append("  ⚠ cannot send", style="yellow")
    return label


def po_label(po: PurchaseOrderView) -> Text:
    style = STATUS_STYLE.get(po.status, "")
    text = Text.assemble(
        (f"{visible(po.number):<9}", "bold"),
        " ",
        (f"{po.status:<12}", style),
        safe_line(po.vendor_name, width=22),
        f"  {METHOD_LABEL.get(po.method, po.method)}",
        f"  {sum(ln.quantity for ln in po.lines)} unit(s) {money(po.total_cost)}",
    )
    if po.sent_at:
        text.append(f"  sent {po.sent_at:%Y-%m-%d %H:%M}", style="dim")
    if po.tracking:
        text.append("  " + ", ".join(visible(t) for t in po.tracking), style="green")
    return text


MARK_HELP = {
    "sent": "sent by hand (phone, fax, portal)",
    "acknowledged": "the vendor confirmed the PO",
    "received": "the goods arrived at the customer",
    "canceled": "cancel the PO (its lines can be ordered again)",
}


class MarkPODialog(ModalScreen[tuple[POStatus, str] | None]):
    """Record a PO status by hand: pick one of the statuses the PO can go to, add a note
    (what the vendor said); None when canceled."""

    CSS_PATH = tcss("purchasing")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, po: PurchaseOrderView) -> None:
        super().__init__()
        self.po = po

    def compose(self) -> ComposeResult:
        with Vertical(id="po-mark"):
            yield Static(
                Text.assemble(
                    "Mark ",
                    (visible(self.po.number), "bold"),
                    f" ({self.po.status}, {visible(self.po.vendor_name)}) as:",
                ),
                id="po-mark-title",
                markup=False,
            )
            yield OptionList(
                *[
                    Option(
                        Text.assemble(
                            (f"{status:<13}", STATUS_STYLE.get(status, "")),
                            (MARK_HELP.get(status, ""), "dim"),
                        ),
                        id=status,
                    )
                    for status in self.po.can_mark
                ],
                id="po-mark-status",
            )
            yield Input(placeholder="note (optional): what the vendor said", id="po-mark-note")

    def on_mount(self) -> None:
        options = self.query_one("#po-mark-status", OptionList)
        options.highlighted = 0 if self.po.can_mark else None
        self.set_focus(options)

    @on(OptionList.OptionSelected, "#po-mark-status")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._answer(event.option.id)

    @on(Input.Submitted, "#po-mark-note")
    def _submitted(self) -> None:
        options = self.query_one("#po-mark-status", OptionList)
        if options.highlighted is not None:
            self._answer(options.get_option_at_index(options.highlighted).id)

    def _answer(self, status: str | None) -> None:
        if status in self.po.can_mark:
            note = self.query_one("#po-mark-note", Input).value.strip()
            self.dismiss((POStatus(status), note))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PurchasingScreen(FailureReports, Screen[None]):
    CSS_PATH = tcss("purchasing")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="purchasing.back"),
        Binding("ctrl+s", "create(False)", "Create POs", priority=True, id="purchasing.create"),
        Binding(
            "ctrl+e",
            "create(True)",
            "Create POs & Send",
            priority=True,
            id="purchasing.create_send",
        ),
        Binding("ctrl+t", "send_po", "Send PO again", id="purchasing.send"),
        Binding("ctrl+x", "cancel_po", "Cancel PO", id="purchasing.cancel"),
        Binding("ctrl+k", "mark_po", "Mark PO", id="purchasing.mark"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="purchasing.reload"),
    ]

    def __init__(self, services: ConsoleServices, ref: str | int) -> None:
        super().__init__()
        self.services = services
        self.purchasing = purchasing_of(services)
        self.ref = ref
        self.plan: POPlan | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Loading order {self.ref}…", style="italic"), id="po-header")
        with VerticalScroll(id="po-body"):
            yield Static("", id="po-why", markup=False)
            yield Vertical(id="po-lines")
            with Horizontal(id="po-buttons"):
                yield Button("Create POs", id="create", variant="primary", compact=True)
                yield Button("Create POs & Send", id="create-send", variant="success", compact=True)
            yield Label(
                "Purchase orders (ctrl+t send again · ctrl+x cancel · ctrl+k mark)",
                id="po-list-label",
            )
            yield OptionList(id="po-list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#po-lines").border_title = "Lines"
        self.query_one("#po-body").display = False
        self.load()

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order's POs")
    async def load(self) -> None:
        self.show_plan(await self.purchasing.plan(self.ref))

    def show_plan(self, plan: POPlan) -> None:
        first = self.plan is None
        self.plan = plan
        self.ref = plan.number
        self.sub_title = f"#{plan.number}"
        self.query_one("#po-header", Static).update(
            Text.assemble("Vendor POs for ", (f"#{plan.number}", "bold"), f" ({plan.status})")
        )
        why = self.query_one("#po-why", Static)
        why.display = plan.why_not is not None
        why.update(Text(visible(plan.why_not or ""), style="bold yellow"))
        self._fill_lines(plan)
        self._fill_pos(plan.purchase_orders)
        can = plan.why_not is None
        for button in self.query(Button):
            button.disabled = not can or self.busy
        self.query_one("#po-body").display = True
        if first:
            chooser = next(iter(self.query(Select)), None)
            target = chooser if chooser is not None else self.query_one("#po-list", OptionList)
            self.set_focus(target)
        self.refresh_bindings()

    def _fill_lines(self, plan: POPlan) -> None:
        box = self.query_one("#po-lines", Vertical)
        box.remove_children()
        rows: list[Widget] = []
        for line in plan.lines:
            label = Text.assemble(
                (f"{visible(line.sku):<10}", "bold"),
                " ",
                safe_line(line.name, width=26),
                f"  ×{line.quantity}",
                (f"  {money(line.unit_price)}", "dim"),
            )
            rows.append(
                Horizontal(Static(label, classes="po-line-name", markup=False), classes="po-line")
            )
            note = self._line_note(line)
            if line.orderable:
                options = [(choice_label(c), c.code) for c in line.choices]
                rows.append(
                    Select[str](
                        options,
                        value=line.selected or line.choices[0].code,
                        allow_blank=False,
                        compact=True,
                        id=f"vendor-{line.line_id}",
                        classes="po-vendor",
                    )
                )
            if note is not None:
                rows.append(Static(note, classes="po-line-note", markup=False))
        box.mount_all(rows)

    @staticmethod
    def _line_note(line: PlanLine) -> Text | None:
        if line.problem:
            return Text("  ! " + visible(line.problem), style="bold red")
        if line.fulfillment == "stock":
            return Text("  from stock (not ordered here)", style="dim")
        if line.to_order <= 0:
            done = "shipped" if line.shipped >= line.quantity else f"on PO ({line.on_po})"
            return Text(f"  ordered: {done}", style="dim")
        if line.to_order < line.quantity:
            return Text(f"  {line.to_order} of {line.quantity} left to order", style="dim")
        return None

    def _fill_pos(self, pos: tuple[PurchaseOrderView, ...]) -> None:
        options = self.query_one("#po-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(po_label(po), id=po.number) for po in pos])
        if pos:
            options.highlighted = min(highlighted or 0, len(pos) - 1)
        self.query_one("#po-list-label").display = bool(pos)
        options.display = bool(pos)

    def selected_vendors(self) -> dict[str, str]:
        """SKU -> vendor code, for every line whose chooser moved off its pre-selection."""
        chosen: dict[str, str] = {}
        if self.plan is None:
            return chosen
        for line in self.plan.lines:
            if not line.orderable:
                continue
            value = self.query_one(f"#vendor-{line.line_id}", Select).value
            if isinstance(value, str) and value != line.selected:
                chosen[line.sku] = value
        return chosen

    def highlighted_po(self) -> PurchaseOrderView | None:
        if self.plan is None:
            return None
        options = self.query_one("#po-list", OptionList)
        if options.highlighted is None or not self.plan.purchase_orders:
            return None
        option = options.get_option_at_index(options.highlighted)
        return next((p for p in self.plan.purchase_orders if p.number == option.id), None)

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            return self.plan is not None and self.plan.why_not is None and not self.busy
        if action in ("send_po", "cancel_po", "mark_po"):
            return bool(self.plan and self.plan.purchase_orders) and not self.busy
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.load()

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create(False)

    @on(Button.Pressed, "#create-send")
    def _create_send_pressed(self) -> None:
        self.action_create(True)

    @after_typing
    def action_create(self, send: bool) -> None:
        if self.plan is None or self.plan.why_not is not None or self.busy:
            return
        self.create(self.plan.number, self.plan.version, self.selected_vendors(), send)

    @work(exit_on_error=False, group="save", exclusive=True, name="create the POs")
    async def create(self, number: int, version: int, vendors: dict[str, str], send: bool) -> None:
        self._busy(True)
        try:
            result = await self.purchasing.create(
                number, vendors=vendors, send=send, expected_version=version
            )
        finally:
            self._busy(False)
        self._done(result, f"created {', '.join(result.created)}")
        self.load()

    def action_send_po(self) -> None:
        po = self.highlighted_po()
        if po is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.send_po(po.number)

        again = po.status != "draft"
        self.app.push_screen(
            ConfirmDialog(
                f"{'Re-send' if again else 'Send'} {po.number}?",
                f"{po.number} goes to {visible(po.vendor_name)} by "
                f"{METHOD_LABEL.get(po.method, po.method)}"
                + (" again; tell them it replaces the first one." if again else "."),
                yes="Send",
                no="Not now",
            ),
            answer,
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="send the PO")
    async def send_po(self, number: str) -> None:
        result = await self.purchasing.send(number)
        self._done(result, f"{number} sent")
        self.load()

    def action_cancel_po(self) -> None:
        po = self.highlighted_po()
        if po is None:
            return

        def answer(reason: str | None) -> None:
            if reason is not None:
                self.cancel_po(po.number, reason)

        self.app.push_screen(
            PromptDialog(
                f"Cancel {po.number} ({visible(po.vendor_name)})? Reason:",
                placeholder="told to the vendor with the cancellation",
                ok="Cancel PO",
            ),
            answer,
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="cancel the PO")
    async def cancel_po(self, number: str, reason: str) -> None:
        result = await self.purchasing.mark(number, POStatus.CANCELED, note=reason)
        self._done(result, f"{number} canceled")
        self.load()

    def action_mark_po(self) -> None:
        po = self.highlighted_po()
        if po is None:
            return
        if not po.can_mark:
            self.notify(
                visible(f"{po.number} is {po.status}; nothing can be recorded by hand"),
                severity="warning",
                markup=False,
            )
            return

        def answer(choice: tuple[POStatus, str] | None) -> None:
            if choice is not None:
                self.mark_po(po.number, *choice)

        self.app.push_screen(MarkPODialog(po), answer)

    @work(exit_on_error=False, group="save", exclusive=True, name="mark the PO")
    async def mark_po(self, number: str, to: POStatus, note: str) -> None:
        result = await self.purchasing.mark(number, to, note=note)
        self._done(result, f"{number} marked {to.value}")
        self.load()

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        can = self.plan is not None and self.plan.why_not is None
        for button in self.query(Button):
            button.disabled = busy or not can
        self.refresh_bindings()

    def _done(self, result: POResult, what: str) -> None:
        sent = [s for s in result.sent if s.ok]
        if any(s.via == "email" for s in sent):
            wake_notifications(self.services)
        message = what + (f"; sent {', '.join(s.po for s in sent)}" if sent else "")
        self.notify(visible(message), markup=False)
        for problem in result.problems:
            who = problem.po or problem.vendor
            self.notify(
                visible(f"{who} not sent: {problem.detail}"),
                title="Not sent",
                severity="warning",
                markup=False,
                timeout=10,
            )
