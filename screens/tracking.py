"""Enter a shipment for one order (`t` on an order): what it carries, carrier and tracking
number (checked live as it is typed), dates, the customer's message and a staff memo, and
the notify toggle ("E-mail the customer"): Save follows the toggle, Save + Send Email
always e-mails. One shipment per Save, after which the form is ready for the next; or
several packages that leave together: "Add package" (ctrl+n) sets the one on the form
aside and the form offers what is left, and Save records them all at once (one status
change, one e-mail naming every tracking number). Existing shipments are listed below,
and one entered by mistake can be deleted with a reason.

Everything goes through the shipping service (`plan`, `check_tracking`, `ship`,
`ship_many`, `delete_shipment`): a wrong check digit is shown before saving; a number
already used on another order is asked about and saved only when confirmed. A number of
no known format needs its carrier: one of the list, or "other…" and its name (recorded
unchecked).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from screens.base import FailureReports, after_typing
from screens.confirm import ConfirmDialog
from screens.format import safe_line, status_text
from screens.ports import ConsoleServices, shipping_of, wake_notifications
from screens.prompt_dialog import PromptDialog
from screens.untrusted import visible
from services.carriers import KNOWN_CARRIERS, UNCHECKED, detect
from services.errors import Conflict, InvalidInput
from services.shipment_entry import DuplicateTracking, NewShipment
from services.views import ShipmentRecord, ShipPlan, ShipResult, TrackingCheck
from styles import tcss

CHECK_DELAY = 0.3
AUTO = "auto"
OTHER = "other"  # a carrier not in the list: its name goes in #carrier-name


def parse_day(text: str, what: str) -> date | None:
    """`2026-11-25` (blank: none); anything else is refused with the form it wants."""
    raw = text.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{what} {raw[:20]!r} is not a date (YYYY-MM-DD)") from None


class TrackingScreen(FailureReports, Screen[None]):
    CSS_PATH = tcss("tracking")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="tracking.back"),
        Binding("ctrl+s", "save", "Save", priority=True, id="tracking.save"),
        Binding(
            "ctrl+e", "save(True)", "Save + Send Email", priority=True, id="tracking.save_email"
        ),
        Binding("ctrl+n", "add_package", "Add package", priority=True, id="tracking.add_package"),
        Binding("ctrl+d", "delete", "Delete shipment", id="tracking.delete"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="tracking.reload"),
    ]

    def __init__(self, services: ConsoleServices, ref: str | int) -> None:
        super().__init__()
        self.services = services
        self.shipping = shipping_of(services)
        self.workflow = services.workflow
        self.ref = ref
        self.plan: ShipPlan | None = None
        self.check: TrackingCheck | None = None
        self.saving = False
        self._check_timer: Timer | None = None
        # Packages set aside with "Add package", saved with the next Save: each with its
        # units per order line, so the form offers only what is left.
        self.pending: list[tuple[NewShipment, dict[int, int]]] = []

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Loading order {self.ref}…", style="italic"), id="ship-header")
        with VerticalScroll(id="ship-form"):
            yield Static("", id="ship-why", markup=False)
            yield Vertical(id="ship-lines")
            with Horizontal(classes="ship-row"):
                yield Label("Tracking", classes="ship-label")
                yield Input(id="tracking", placeholder="scan or type the number", compact=True)
                yield Select[str](
                    [
                        ("carrier: detect", AUTO),
                        *[(c.upper(), c) for c in KNOWN_CARRIERS],
                        ("other…", OTHER),
                    ],
                    id="carrier",
                    allow_blank=False,
                    compact=True,
                )
                yield Input(id="carrier-name", placeholder="carrier", compact=True)
            yield Static("", id="tracking-check", markup=False)
            yield Static("", id="pending", markup=False)
            with Horizontal(classes="ship-row"):
                yield Label("Shipped", classes="ship-label")
                yield Input(id="ship-date", placeholder="today (YYYY-MM-DD)", compact=True)
                yield Label("Expected", classes="ship-label")
                yield Input(id="expected", placeholder="YYYY-MM-DD", compact=True)
            yield Label("Message to the customer (goes in the e-mail)")
            yield TextArea(id="comment", soft_wrap=True, show_line_numbers=False)
            with Horizontal(classes="ship-row"):
                yield Label("Staff memo", classes="ship-label")
                yield Input(id="memo", placeholder="only staff see this", compact=True)
            with Horizontal(id="ship-buttons"):
                yield Checkbox("E-mail the customer", id="notify", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Save + Send Email", id="save-email", variant="success", compact=True)
            yield Label("Shipments (ctrl+d deletes the highlighted one)", id="shipments-label")
            yield OptionList(id="shipments")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ship-form").display = False
        self.query_one("#carrier-name").display = False
        self.load()

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def load(self) -> None:
        plan = await self.shipping.plan(self.ref)
        self.show_plan(plan)

    def show_plan(self, plan: ShipPlan, *, reset: bool = True) -> None:
        first = self.plan is None
        self.plan = plan
        self.ref = plan.number
        self.sub_title = f"#{plan.number}"
        self.query_one("#ship-header", Static).update(
            Text.assemble(
                "Ship ",
                (f"#{plan.number}", "bold"),
                " (",
                status_text(self.workflow, plan.status),
                ")",
            )
        )
        why = self.query_one("#ship-why", Static)
        why.display = plan.why_not is not None
        why.update(Text(visible(plan.why_not or ""), style="bold yellow"))
        self._fill_lines(plan)
        self._fill_shipments(plan.shipments)
        if reset:
            self.pending.clear()
            self._show_pending()
            for widget_id in ("#tracking", "#ship-date", "#expected", "#memo"):
                self.query_one(widget_id, Input).value = ""
            self.query_one("#comment", TextArea).text = ""
            self.check = None
            self.query_one("#tracking-check", Static).update("")
        self.query_one("#ship-form").display = True
        if first:
            self.set_focus(self.query_one("#tracking", Input))
        self._update_buttons()

    def _fill_lines(self, plan: ShipPlan) -> None:
        box = self.query_one("#ship-lines", Vertical)
        box.remove_children()
        rows: list[Horizontal] = []
        for line in plan.lines:
            label = Text.assemble(
                (f"{line.sku:<10}", "bold"),
                " ",
                safe_line(line.name, width=28),
                (f"  shipped {line.shipped}/{line.quantity}", "dim"),
            )
            if line.vendor:
                label.append("  drop-ship " + visible(line.vendor), style="magenta")
            children: list[Static | Input] = [Static(label, classes="line-name", markup=False)]
            if line.ready:
                children.append(
                    Input(
                        str(line.ready),
                        id=f"qty-{line.line_id}",
                        type="integer",
                        classes="line-qty",
                        compact=True,
                        tooltip=f"up to {line.ready}",
                    )
                )
            rows.append(Horizontal(*children, classes="line-row"))
        box.mount_all(rows)

    def _fill_shipments(self, shipments: tuple[ShipmentRecord, ...]) -> None:
        options = self.query_one("#shipments", OptionList)
        shown: list[Option] = []
        for sh in shipments:
            prompt = Text.assemble(
                (sh.carrier.upper(), "bold"),
                " ",
                safe_line(sh.tracking),
                f"  {sh.shipped_at:%Y-%m-%d}",
                f"  due {sh.expected_delivery:%Y-%m-%d}" if sh.expected_delivery else "",
                "  ",
                ", ".join(f"{sku}×{qty}" for sku, qty in sh.lines),
            )
            if sh.deleted:
                prompt.stylize("strike dim")
                prompt.append("  deleted: " + visible(sh.delete_reason), style="italic")
            shown.append(Option(prompt, id=str(sh.id), disabled=sh.deleted))
        if not shown:
            shown.append(Option(Text("none yet", style="italic"), disabled=True))
        options.set_options(shown)

    def action_reload(self) -> None:
        self.load()

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.reload_keeping_form()

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def reload_keeping_form(self) -> None:
        plan = await self.shipping.plan(self.ref)
        self.show_plan(plan, reset=False)
        self.notify(f"#{plan.number} reloaded; your entries are kept", markup=False)

    # -- live tracking check --------------------------------------------------------------

    @on(Select.Changed, "#carrier")
    def _carrier_chosen(self, event: Select.Changed) -> None:
        """Choosing "other…" asks for the carrier's name beside the list."""
        name = self.query_one("#carrier-name", Input)
        name.display = event.value == OTHER
        if name.display:
            self.set_focus(name)

    @on(Input.Changed, "#tracking")
    @on(Input.Changed, "#carrier-name")
    @on(Select.Changed, "#carrier")
    def _tracking_changed(self) -> None:
        if self._check_timer is not None:
            self._check_timer.stop()
        self.check = None
        self._update_buttons()
        self._check_timer = self.set_timer(CHECK_DELAY, self.check_number)

    @property
    def carrier(self) -> str | None:
        """The carrier chosen, or None to detect it (also "other…" with no name yet)."""
        value = self.query_one("#carrier", Select).value
        if value == OTHER:
            return self.query_one("#carrier-name", Input).value.strip() or None
        return value if isinstance(value, str) and value != AUTO else None

    @work(exit_on_error=False, group="check", exclusive=True, name="check the tracking number")
    async def check_number(self) -> None:
        pane = self.query_one("#tracking-check", Static)
        number = self.query_one("#tracking", Input).value
        if not number.strip():
            pane.update("")
            return
        try:
            check = await self.shipping.check_tracking(number, self.carrier)
        except InvalidInput as exc:
            refusal = Text("✗ " + visible(exc), style="bold red")
            if self.carrier is None and not detect(number):
                refusal.append(
                    "\nno known format: choose its carrier above (other… for one not listed)",
                    style="yellow",
                )
            pane.update(refusal)
            return
        if number != self.query_one("#tracking", Input).value:
            return  # typed on meanwhile; the next check answers
        self.check = check
        if check.service == UNCHECKED:
            what = f"{visible(check.carrier).upper()}: no known format, recorded as given"
        else:
            what = visible(check.service)
        text = Text.assemble(
            ("✓ ", "bold green"), (what, "bold"), "  ", safe_line(check.url, "dim")
        )
        if check.used_on and check.used_on != (self.ref,):
            others = ", ".join(f"#{n}" for n in check.used_on)
            text.append(f"\nalready used on {others}", style="bold yellow")
        pane.update(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        can = self.plan is not None and self.plan.why_not is None and not self.saving
        for button_id in ("#save", "#save-email"):
            self.query_one(button_id, Button).disabled = not can
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "add_package"):
            return self.plan is not None and self.plan.why_not is None and not self.saving
        if action == "delete":
            return self.plan is not None and any(not s.deleted for s in self.plan.shipments)
        return True

    # -- saving ---------------------------------------------------------------------------

    def _left(self, line_id: int, ready: int) -> int:
        """Units of a line the form may still send: ready, less the packages set aside."""
        return ready - sum(units.get(line_id, 0) for _, units in self.pending)

    def entry(self, notify: bool, *, confirm_duplicate: bool = False) -> NewShipment:
        """The form as a `NewShipment`; refuses blank tracking and bad dates or quantities."""
        return self._entry(notify, confirm_duplicate)[0]

    def _entry(self, notify: bool, confirm_duplicate: bool) -> tuple[NewShipment, dict[int, int]]:
        assert self.plan is not None
        tracking = self.query_one("#tracking", Input).value.strip()
        if not tracking:
            raise InvalidInput("enter the tracking number")
        lines: list[tuple[str, int]] = []
        units: dict[int, int] = {}
        for line in self.plan.lines:
            if not line.ready:
                continue
            most = self._left(line.line_id, line.ready)
            raw = self.query_one(f"#qty-{line.line_id}", Input).value.strip() or "0"
            qty = int(raw) if raw.lstrip("-").isdigit() else -1
            if qty < 0 or qty > most:
                raise InvalidInput(f"{line.sku}: ship 0 to {most} units, not {raw!r}")
            if qty:
                lines.append((line.sku, qty))
                units[line.line_id] = qty
        if not lines:
            raise InvalidInput("nothing to ship: give at least one line a quantity")
        new = NewShipment(
            tracking=tracking,
            carrier=self.carrier,
            lines=tuple(lines),
            ship_date=parse_day(self.query_one("#ship-date", Input).value, "ship date"),
            expected_delivery=parse_day(self.query_one("#expected", Input).value, "expected date"),
            comment=self.query_one("#comment", TextArea).text,
            memo=self.query_one("#memo", Input).value,
            notify=notify,
            confirm_duplicate=confirm_duplicate,
        )
        return new, units

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "save-email":
            self.action_save(True)

    @after_typing
    def action_save(self, notify: bool | None = None, confirm_duplicate: bool = False) -> None:
        """Save the shipment; `notify` None means as the "E-mail the customer" toggle says."""
        if self.plan is None or self.saving:
            return
        if notify is None:
            notify = self.query_one("#notify", Checkbox).value
        if self.pending:
            self._save_packages(notify, confirm_duplicate)
            return
        try:
            new = self.entry(notify, confirm_duplicate=confirm_duplicate)
        except InvalidInput as exc:
            self.report_failure(exc, "save")
            return
        self.saving = True
        self._update_buttons()
        self.save(new, self.plan.version)

    # -- several packages at once ---------------------------------------------------------

    @after_typing
    def action_add_package(self) -> None:
        """Set the form's package aside; the form then offers what is left for the next."""
        if self.plan is None or self.saving:
            return
        try:
            new, units = self._entry(False, False)
            taken = {p.tracking.strip().upper() for p, _ in self.pending}
            if new.tracking.strip().upper() in taken:
                raise InvalidInput(f"tracking number {new.tracking} is already a package here")
        except InvalidInput as exc:
            self.report_failure(exc, "add the package")
            return
        self.pending.append((new, units))
        for line in self.plan.lines:
            if line.ready:
                left = self._left(line.line_id, line.ready)
                self.query_one(f"#qty-{line.line_id}", Input).value = str(left)
        tracking = self.query_one("#tracking", Input)
        tracking.value = ""
        self.check = None
        self.query_one("#tracking-check", Static).update("")
        self._show_pending()
        self.set_focus(tracking)

    def _show_pending(self) -> None:
        pane = self.query_one("#pending", Static)
        pane.display = bool(self.pending)
        text = Text(f"{len(self.pending)} set aside, saved with the next Save:", style="bold")
        for i, (new, _) in enumerate(self.pending, 1):
            what = ", ".join(f"{visible(sku)}×{qty}" for sku, qty in new.lines)
            text.append(f"\n  package {i}: ")
            text.append_text(safe_line(new.tracking, "bold"))
            text.append(f"  {what}")
        pane.update(text)

    def _save_packages(self, notify: bool, confirm_duplicate: bool) -> None:
        """The packages set aside, and the form's own when it has a tracking number."""
        assert self.plan is not None
        news = [new for new, _ in self.pending]
        try:
            if self.query_one("#tracking", Input).value.strip():
                news.append(self._entry(notify, confirm_duplicate)[0])
        except InvalidInput as exc:
            self.report_failure(exc, "save")
            return
        news = [replace(n, notify=notify, confirm_duplicate=confirm_duplicate) for n in news]
        self.saving = True
        self._update_buttons()
        self.save_packages(news, self.plan.version)

    @work(exit_on_error=False, group="save", exclusive=True, name="save the packages")
    async def save_packages(self, news: list[NewShipment], version: int) -> None:
        try:
            records = await self.shipping.ship_many(self.ref, news, expected_version=version)
        except DuplicateTracking as exc:
            self._ask_duplicate(exc, news[0])
            return
        finally:
            self.saving = False
            self._update_buttons()
        notify = any(n.notify for n in news)
        if notify:
            wake_notifications(self.services)
        plan = await self.shipping.plan(self.ref)
        label = self.workflow.labels[plan.status]
        mailed = " · customer e-mail queued" if notify else ""
        self.notify(
            f"#{plan.number}: {len(records)} packages saved; now {label}{mailed}", markup=False
        )
        self.show_plan(plan)

    @work(exit_on_error=False, group="save", exclusive=True, name="save the shipment")
    async def save(self, new: NewShipment, version: int) -> None:
        try:
            result = await self.shipping.ship(self.ref, new, expected_version=version)
        except DuplicateTracking as exc:
            self._ask_duplicate(exc, new)
            return
        finally:
            self.saving = False
            self._update_buttons()
        if new.notify:
            wake_notifications(self.services)
        self._saved(result, new.notify)

    def _ask_duplicate(self, exc: DuplicateTracking, new: NewShipment) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.action_save(new.notify, confirm_duplicate=True)

        self.app.push_screen(
            ConfirmDialog(
                "Tracking number already used",
                f"{exc}\n\nSave it on #{self.ref} as well?",
                yes="Save anyway",
                no="Go back",
            ),
            answer,
        )

    def _saved(self, result: ShipResult, notify: bool) -> None:
        label = self.workflow.labels[result.order.status]
        mailed = " · customer e-mail queued" if notify else ""
        self.notify(
            f"#{result.order.number} shipment {visible(result.shipment.tracking)} saved; "
            f"now {label}{mailed}",
            markup=False,
        )
        self.load()

    # -- delete ---------------------------------------------------------------------------

    def action_delete(self) -> None:
        if self.plan is None:
            return
        options = self.query_one("#shipments", OptionList)
        live = [s for s in self.plan.shipments if not s.deleted]
        chosen: ShipmentRecord | None = None
        if options.highlighted is not None and options.option_count:
            option = options.get_option_at_index(options.highlighted)
            chosen = next((s for s in live if str(s.id) == option.id), None)
        if chosen is None and len(live) == 1:
            chosen = live[0]
        if chosen is None:
            self.set_focus(options)
            self.notify("Highlight the shipment to delete, then ctrl+d", markup=False)
            return
        record = chosen

        def answer(reason: str | None) -> None:
            if reason:
                self.delete(record, reason)

        title = Text.assemble(
            "Delete shipment ", (visible(record.tracking), "bold"), "? Its goods go back to packed."
        )
        self.app.push_screen(
            PromptDialog(title, placeholder="why (required, recorded)", ok="Delete"), answer
        )

    @work(exit_on_error=False, group="save", exclusive=True, name="delete the shipment")
    async def delete(self, record: ShipmentRecord, reason: str) -> None:
        version = self.plan.version if self.plan is not None else None
        result = await self.shipping.delete_shipment(
            self.ref, record.tracking, reason=reason, expected_version=version
        )
        label = self.workflow.labels[result.order.status]
        self.notify(
            f"shipment {visible(record.tracking)} deleted; #{result.order.number} is {label}",
            markup=False,
        )
        self.load()

    def action_back(self) -> None:
        """Back to the order; packages set aside or a number typed are not dropped unasked."""
        typed = self.query_one("#tracking", Input).value.strip()
        if not self.pending and not typed:
            self.app.pop_screen()
            return
        what = []
        if self.pending:
            n = len(self.pending)
            what.append(f"{n} package{'s' if n != 1 else ''} set aside")
        if typed:
            what.append(f"the tracking number {visible(typed)!r}")
        self.app.push_screen(
            ConfirmDialog(
                "Leave without saving?",
                f"{' and '.join(what)} will not be saved.",
                yes="Leave",
                no="Stay",
            ),
            lambda leave: self.app.pop_screen() if leave else None,
        )


__all__ = ["TrackingScreen", "parse_day"]
