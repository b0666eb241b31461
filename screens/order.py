"""One order in full: header, alerts, customer and addresses, lines, money, shipments,
purchase orders and the timeline; `s` changes its status, `m` adds a memo.

Everything on it comes from one `OrderService.show()` call, re-run when the order (or
any order: the change token is global and cheap) changes.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from screens import order_sections as sections
from screens.base import FailureReports
from screens.confirm import ConfirmDialog
from screens.live import LiveUpdates, changed_by_someone_else
from screens.memo_dialog import MemoDialog
from screens.pack import PackScreen
from screens.payment_dialogs import ChargeDialog, RefundDialog
from screens.ports import ConsoleServices, payments_of, print_documents
from screens.purchasing import PurchasingScreen
from screens.status_dialog import StatusDialog, StatusOutcome, Target
from screens.tracking import TrackingScreen
from services.changes import Changes
from services.errors import Conflict
from services.order_edit_spec import EditResult
from services.statuses import Status
from services.views import OrderDetail, PaymentResult
from styles import tcss

POLL_SECONDS = 1.0

# Keys the design reserves on this screen for actions later issues build.
LATER: dict[str, str] = {
    "charge": "charging",
    "refund": "refunds",
    "pack": "the pack screen",
    "vendor_pos": "vendor purchase orders",
    "tracking": "entering tracking",
}


class OrderScreen(LiveUpdates, FailureReports, Screen[None]):
    CSS_PATH = tcss("order")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="order.back"),
        Binding("s", "set_status", "Status", id="order.set_status"),
        Binding("m", "memo", "Memo", id="order.memo"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="order.reload"),
        Binding("c", "charge", "Charge", id="order.charge"),
        Binding("r", "refund", "Refund", show=False, id="order.refund"),
        Binding("p", "pack", "Pack", id="order.pack"),
        Binding("v", "vendor_pos", "Vendor POs", show=False, id="order.vendor_pos"),
        Binding("t", "tracking", "Tracking", id="order.tracking"),
        Binding("e", "edit", "Edit", show=False, id="order.edit"),
        Binding("R", "returns", "Returns", show=False, id="order.returns"),
        Binding("i", "print('invoice')", "Print invoice", show=False, id="order.print_invoice"),
        Binding("I", "print('slip')", "Print packing slip", show=False, id="order.print_slip"),
    ]

    def __init__(self, services: ConsoleServices, ref: str | int) -> None:
        super().__init__()
        self.services = services
        self.workflow = services.workflow
        self.ref = ref
        self.detail: OrderDetail | None = None
        self._token: object = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Loading order {self.ref}…", style="italic"), id="order-header")
        with VerticalScroll(id="order-body"):
            yield Static(id="order-alerts", markup=False)
            with Horizontal(id="order-people"):
                yield Static(id="customer", classes="section", markup=False)
                yield Static(id="ship-to", classes="section", markup=False)
                yield Static(id="bill-to", classes="section", markup=False)
            yield Static(id="order-lines", classes="section", markup=False)
            yield Static(id="order-payments", classes="section", markup=False)
            yield Static(id="order-shipments", classes="section", markup=False)
            yield Static(id="order-pos", classes="section", markup=False)
            yield Static(id="order-returns", classes="section", markup=False)
            yield Static(id="order-timeline", classes="section", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "customer": "Customer",
            "ship-to": "Ship to",
            "bill-to": "Bill to",
            "order-lines": "Lines",
            "order-payments": "Payments",
            "order-shipments": "Shipments",
            "order-pos": "Purchase orders",
            "order-returns": "Returns",
            "order-timeline": "Timeline",
        }
        for widget_id, title in titles.items():
            self.query_one(f"#{widget_id}").border_title = title
        self.query_one("#order-body").display = False
        self.set_focus(self.query_one("#order-body"))
        live = self.follow_changes()  # first: the load waits for its baseline
        self.load()
        if not live:
            self.set_interval(POLL_SECONDS, self._poll)

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def load(self) -> None:
        await self.live_ready.wait()
        token = await self.services.orders.last_change()
        detail = await self.services.orders.show(self.ref)
        self._token = token
        self.show_detail(detail)

    def show_detail(self, detail: OrderDetail) -> None:
        self.detail = detail
        self.ref = detail.number
        self.sub_title = f"#{detail.number}"
        self.query_one("#order-header", Static).update(sections.header(detail, self.workflow))
        alerts = sections.alerts(detail)
        alert_widget = self.query_one("#order-alerts", Static)
        alert_widget.display = alerts is not None
        alert_widget.update(alerts or "")
        self.query_one("#customer", Static).update(sections.customer_block(detail))
        self.query_one("#ship-to", Static).update(
            sections.address_block(detail.row.shipping_address)
        )
        self.query_one("#bill-to", Static).update(
            sections.address_block(detail.billing_address, same_as=detail.row.shipping_address)
        )
        lines = self.query_one("#order-lines", Static)
        lines.update(sections.lines_table(detail))
        lines.border_subtitle = sections.totals(detail).plain
        self.query_one("#order-payments", Static).update(sections.payments_table(detail))
        self.query_one("#order-shipments", Static).update(sections.shipments_table(detail))
        pos = self.query_one("#order-pos", Static)
        pos.display = bool(detail.purchase_orders)
        pos.update(sections.purchase_orders_table(detail))
        returns = self.query_one("#order-returns", Static)
        returns.display = bool(detail.returns)
        returns.update(sections.returns_table(detail))
        self.query_one("#order-timeline", Static).update(sections.timeline(detail, self.workflow))
        self.query_one("#order-body").display = True
        self.refresh_bindings()

    def _poll(self) -> None:
        if self.is_current and self.detail is not None:
            self.check_for_changes()

    @work(exit_on_error=False, group="poll", exclusive=True, name="check for changes")
    async def check_for_changes(self) -> None:
        try:
            token = await self.services.orders.last_change()
        except Exception:
            return  # the next poll tries again; ctrl+r reports why
        if token != self._token:
            self.load()

    def on_changes(self, changes: Changes) -> None:
        """This order changed (anyone, anywhere): show it as it is now, and say who it was
        when it was not this operator; dialogs open on it keep what was typed, and their
        save still checks the version."""
        detail = self.detail
        if detail is None:
            return
        stamp = changes.stamp(detail.number)
        moved = stamp is not None and stamp.version != detail.version
        # Scanned into by a packer (packed): the lines are redrawn, without a message.
        if not (changes.overflow or moved or detail.number in changes.packed):
            return
        who = changed_by_someone_else(
            changes, detail.number, detail.version, self.services.settings.operator
        )
        self.catch_up(who)

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def catch_up(self, who: str | None) -> None:
        """Reload; say who changed it only once what they did is on screen (a key pressed
        after the message acts on the order as it is now)."""
        token = await self.services.orders.last_change()
        detail = await self.services.orders.show(self.ref)
        self._token = token
        self.show_detail(detail)
        if who is not None:
            self.notify(f"{who}: showing it as it is now", title="Changed", markup=False)

    def action_reload(self) -> None:
        self.load()

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        # Following the feed, LiveUpdates catches up on what it held back; polling: ask now.
        if self.detail is not None and not self.following:
            self.check_for_changes()

    # -- actions --------------------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("set_status", "memo", "tracking", "charge", "refund", "vendor_pos"):
            return self.detail is not None
        return True

    def action_set_status(self) -> None:
        if self.detail is None:
            return
        target = Target(self.detail.number, self.detail.version, self.detail.status)
        self.app.push_screen(StatusDialog(self.services, [target]), self._status_done)

    def _status_done(self, outcome: StatusOutcome | None) -> None:
        if outcome is None or not outcome.changed:
            return
        detail = outcome.changed[-1]
        self.show_detail(detail)
        label = self.workflow.labels[detail.status]
        mailed = " · customer e-mail queued" if outcome.notify else ""
        self.notify(f"#{detail.number} is now {label}{mailed}", markup=False)
        if detail.status is Status.CANCELED:
            self.offer_refund(detail.number)

    @work(exit_on_error=False, group="refund-offer", name="look up what was paid")
    async def offer_refund(self, number: int) -> None:
        """Canceled with money still held: offer the refund in the same step."""
        summary = await payments_of(self.services).summary(number)
        if summary.refundable <= 0:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(RefundDialog(self.services, number), self._paid)

        self.app.push_screen(
            ConfirmDialog(
                "Refund the customer?",
                f"#{number} is canceled and {summary.money(summary.refundable)} of the "
                "customer's money is still held. Refund it now?",
                yes="Refund…",
                no="Not now",
            ),
            answer,
        )

    def action_memo(self) -> None:
        if self.detail is not None:
            self.app.push_screen(
                MemoDialog(self.services, self.detail.number, self.detail.version), self._memo_done
            )

    def _memo_done(self, detail: OrderDetail | None) -> None:
        if detail is not None:
            self.show_detail(detail)
            self.notify(f"memo added to #{detail.number}", markup=False)

    def action_print(self, kind: str) -> None:
        if self.detail is not None:
            self.print_document(kind, self.detail.number)

    @work(exit_on_error=False, group="print", exclusive=True, name="print")
    async def print_document(self, kind: str, number: int) -> None:
        """Invoice or packing slip to the configured printer (`printer` setting)."""
        jobs = await print_documents(self.services, kind, number)
        names = ", ".join(job.document for job in jobs)
        where = jobs[0].printer if jobs else "the printer"
        self.notify(f"printed {names} to {where}", markup=False)

    def action_tracking(self) -> None:
        if self.detail is not None:
            self.app.push_screen(TrackingScreen(self.services, self.detail.number))

    def action_vendor_pos(self) -> None:
        if self.detail is not None:
            self.app.push_screen(
                PurchasingScreen(self.services, self.detail.number), lambda _: self.load()
            )

    def action_charge(self) -> None:
        if self.detail is not None:
            self.app.push_screen(ChargeDialog(self.services, self.detail.number), self._paid)

    def action_refund(self) -> None:
        if self.detail is not None:
            self.app.push_screen(RefundDialog(self.services, self.detail.number), self._paid)

    def _paid(self, result: PaymentResult | None) -> None:
        if result is not None:
            self.load()

    def action_edit(self) -> None:
        """Products, quantities, customer account: screens/order_edit.py."""
        from screens.order_edit import OrderEditScreen

        if self.detail is not None:
            self.app.push_screen(OrderEditScreen(self.services, self.detail.number), self._edited)

    def action_returns(self) -> None:
        """Ask goods back, receive them by scanning: screens/returns.py."""
        from screens.returns import ReturnsScreen

        if self.detail is not None:
            self.app.push_screen(
                ReturnsScreen(self.services, self.detail.number), lambda _: self.load()
            )

    def _edited(self, result: EditResult | None) -> None:
        if result is None:
            return
        self.show_detail(result.order)
        stock = f" · {result.stock}" if result.stock else ""
        self.notify(f"#{result.order.number} edited: {result.summary}{stock}", markup=False)

    def action_pack(self) -> None:
        self.app.push_screen(PackScreen(self.services, self.ref), lambda _: self.load())

    def action_later(self, what: str) -> None:
        self.notify(f"{LATER.get(what, what).capitalize()} is not built yet", markup=False)
