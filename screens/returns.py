"""Returns of one order (`R` on an order): ask goods back, and receive them by scanning.

Top: the order's shipped lines with what may still be asked back; + and - set how many
of the highlighted line to ask, a reason, ctrl+o opens the return (the order goes to
`return_requested`). Below: the order's returns; enter on a requested one starts
receiving it: every scan (SKU or barcode, `3*CODE` for three) counts one unit against
the return, ctrl+w switches the highlighted line between restock and write-off, ctrl+s
receives what was counted (restock, refund through the payments service, the order to
`returned`); ctrl+x makes the highlighted return's exchange order (the same goods, paid
by what comes back). Everything goes through services/returns.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from screens.base import FailureReports, after_typing
from screens.format import money_text, safe_line, status_text
from screens.new_order import entry_of, split_quantity
from screens.ports import ConsoleServices, wake_notifications
from screens.untrusted import visible
from screens.widgets.product_picker import CodeInput
from services.errors import Refused
from services.return_views import Receipt, ReturnableLine, ReturnResult, ReturnView
from services.views import OrderDetail
from styles import tcss


class ReturnActions(Protocol):
    """services/returns.py, as this screen calls it (`Services.returns`)."""

    async def returnable(self, ref: str | int) -> tuple[ReturnableLine, ...]: ...

    async def for_order(self, ref: str | int) -> tuple[ReturnView, ...]: ...

    async def open(
        self,
        ref: str | int,
        lines: list[tuple[str, int]],
        *,
        reason: str,
        comment: str = "",
        notify: bool = False,
        expected_version: int | None = None,
    ) -> ReturnResult: ...

    async def exchange(
        self, rma: str | int, lines: list[tuple[str, int]], *, notify: bool = False
    ) -> ReturnResult: ...

    async def receive(
        self,
        rma: str | int,
        receipts: list[Receipt],
        *,
        restock: bool = True,
        refund: bool = True,
        notify: bool = False,
        memo: str = "",
    ) -> ReturnResult: ...


def returns_of(services: object) -> ReturnActions:
    return cast(ReturnActions, services.returns)  # type: ignore[attr-defined]


@dataclass
class _Count:
    sku: str
    name: str
    asked: int
    received: int = 0
    restock: bool | None = None  # None: restock what is our stock (services/returns.py)


class ReturnsScreen(FailureReports, Screen[None]):
    CSS_PATH = tcss("returns")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="returns.back"),
        Binding("plus,equals_sign", "ask(1)", "Ask +1", id="returns.more"),
        Binding("minus", "ask(-1)", "Ask -1", id="returns.less"),
        Binding("ctrl+o", "open_return", "Open return", priority=True, id="returns.open"),
        Binding("ctrl+w", "toggle_restock", "Restock / write off", id="returns.write_off"),
        Binding("ctrl+s", "receive", "Receive", priority=True, id="returns.receive"),
        Binding("ctrl+x", "exchange", "Exchange", id="returns.exchange"),
    ]

    def __init__(self, services: ConsoleServices, ref: str | int) -> None:
        super().__init__()
        self.services = services
        self.returns = returns_of(services)
        self.entry = entry_of(services)
        self.ref = ref
        self.detail: OrderDetail | None = None
        self.lines: list[ReturnableLine] = []
        self.asked: dict[str, int] = {}
        self.existing: list[ReturnView] = []
        self.receiving: ReturnView | None = None
        self.counts: list[_Count] = []
        self.busy = False
        self._scans: deque[tuple[str, int]] = deque()  # counted one at a time, in order
        self._counting = False

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Loading order {self.ref}…", style="italic"), id="returns-header")
        with VerticalScroll(id="returns-body"):
            yield Static("", id="returns-message", markup=False)
            with Vertical(id="ask-box", classes="box"):
                yield DataTable(id="ask-lines", cursor_type="row")
                with Horizontal(classes="form-row"):
                    yield Label("Reason", classes="form-label")
                    yield Input(placeholder="what is wrong (required)", id="return-reason")
                yield Checkbox("E-mail the customer", False, id="return-notify", compact=True)
            yield OptionList(id="return-list")
            with Vertical(id="receive-box", classes="box"):
                # Takes Enter itself: two scans back to back stay two scans.
                yield CodeInput(placeholder="scan or type what came back", id="return-scan")
                yield DataTable(id="receipt-lines", cursor_type="row")
                yield Checkbox("Refund what came back", True, id="return-refund", compact=True)
                yield Checkbox("E-mail the customer", False, id="receive-notify", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ask-lines", DataTable).add_columns(
            "SKU", "Item", "Shipped", "In returns", "Can return", "Ask", "Price"
        )
        self.query_one("#receipt-lines", DataTable).add_columns(
            "SKU", "Item", "Asked", "Received", "Then"
        )
        self.query_one("#ask-box").border_title = "Ask back (+ / -, reason, ctrl+o)"
        self.query_one("#return-list").border_title = "Returns (enter: receive)"
        self.query_one("#receive-box").display = False
        self.query_one("#returns-message").display = False
        self.load()

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the returns")
    async def load(self) -> None:
        detail = await self.services.orders.show(self.ref)
        lines = await self.returns.returnable(detail.number)
        existing = await self.returns.for_order(detail.number)
        first = self.detail is None
        self.detail, self.lines, self.existing = detail, list(lines), list(existing)
        self.ref = detail.number
        self.asked = {k: v for k, v in self.asked.items() if any(ln.sku == k for ln in lines)}
        self._show()
        if first:
            self.set_focus(self.query_one("#ask-lines", DataTable))

    def _show(self) -> None:
        d = self.detail
        if d is None:
            return
        self.query_one("#returns-header", Static).update(
            Text.assemble(
                "Returns of ",
                (f"#{d.number}", "bold"),
                "  ",
                status_text(self.services.workflow, d.status),
            )
        )
        table = self.query_one("#ask-lines", DataTable)
        keep = table.cursor_row
        table.clear()
        for ln in self.lines:
            table.add_row(
                safe_line(ln.sku, width=16),
                safe_line(ln.name, width=30),
                Text(str(ln.shipped)),
                Text(str(ln.in_returns)),
                Text(str(ln.returnable), style="green" if ln.returnable else "dim"),
                Text(str(self.asked.get(ln.sku, 0)), style="bold yellow"),
                money_text(ln.unit_price, d.row.currency),
                key=ln.sku,
            )
        if self.lines:
            table.move_cursor(row=min(keep, len(self.lines) - 1))
        box = self.query_one("#return-list", OptionList)
        box.clear_options()
        for r in self.existing:
            what = ", ".join(f"{ln.sku}×{ln.quantity}" for ln in r.lines)
            label = Text.assemble(
                (r.rma, "bold"),
                "  ",
                (r.status, "yellow" if r.status == "requested" else "dim"),
                "  ",
                safe_line(what, width=40),
                "  ",
                safe_line(r.reason, "dim", 30),
            )
            box.add_option(Option(label))
        box.display = bool(self.existing)
        self._show_counts()

    def _say(self, message: str, style: str = "bold yellow") -> None:
        widget = self.query_one("#returns-message", Static)
        widget.update(Text(visible(message), style=style))
        widget.display = bool(message)

    # -- asking back ----------------------------------------------------------------------

    def action_ask(self, step: int) -> None:
        table = self.query_one("#ask-lines", DataTable)
        if not self.lines or not table.has_focus:
            return
        ln = self.lines[table.cursor_row]
        now = self.asked.get(ln.sku, 0) + step
        self.asked[ln.sku] = max(0, min(now, ln.returnable))
        if now > ln.returnable:
            self._say(f"{ln.sku}: only {ln.returnable} can be asked back")
        self._show()

    @after_typing
    def action_open_return(self) -> None:
        if self.busy or self.detail is None:
            return
        lines = [(sku, n) for sku, n in self.asked.items() if n > 0]
        reason = self.query_one("#return-reason", Input).value
        if not lines:
            self._say("choose what comes back first: + on a line")
            return
        if not reason.strip():
            self._say("a return needs a reason")
            self.set_focus(self.query_one("#return-reason", Input))
            return
        self.busy = True
        notify = self.query_one("#return-notify", Checkbox).value
        self.open_return(lines, reason, notify, self.detail.version)

    @work(exit_on_error=False, group="save", exclusive=True, name="open the return")
    async def open_return(
        self, lines: list[tuple[str, int]], reason: str, notify: bool, version: int
    ) -> None:
        try:
            result = await self.returns.open(
                self.ref, lines, reason=reason, notify=notify, expected_version=version
            )
        finally:
            self.busy = False
        self.asked = {}
        self.query_one("#return-reason", Input).value = ""
        self._say(f"{result.return_.rma} opened: the order is {result.order.status.value}", "")
        if notify:
            wake_notifications(self.services)
        self.load()

    # -- receiving ------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#return-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if not 0 <= event.option_index < len(self.existing):
            return
        r = self.existing[event.option_index]
        if r.status != "requested":
            self._say(f"{r.rma} is {r.status}; only a requested return is received")
            return
        self.start_receiving(r)

    def start_receiving(self, r: ReturnView) -> None:
        self.receiving = r
        self.counts = [_Count(ln.sku, ln.name, ln.quantity) for ln in r.lines]
        box = self.query_one("#receive-box")
        box.border_title = f"Receive {r.rma} (scan, ctrl+w restock/write off, ctrl+s)"
        box.display = True
        self._show_counts()
        self.set_focus(self.query_one("#return-scan", Input))

    def _show_counts(self) -> None:
        table = self.query_one("#receipt-lines", DataTable)
        keep = table.cursor_row
        table.clear()
        for c in self.counts:
            table.add_row(
                safe_line(c.sku, width=16),
                safe_line(c.name, width=30),
                Text(str(c.asked)),
                Text(str(c.received), style="bold green" if c.received else ""),
                Text(
                    "write off" if c.restock is False else "restock",
                    style="red" if c.restock is False else "",
                ),
                key=c.sku,
            )
        if self.counts:
            table.move_cursor(row=min(keep, len(self.counts) - 1))

    @on(Input.Submitted, "#return-scan")
    def _scanned(self, event: Input.Submitted) -> None:
        qty, code = split_quantity(event.value)  # the value at Enter; the field is empty now
        if code:
            self._scans.append((code, qty))
            if not self._counting:
                self._counting = True
                self.count()

    @work(exit_on_error=False, group="scan", name="count the scans")
    async def count(self) -> None:
        """The scans in the order they came, one at a time: a look-up never lets a later
        scan be counted first, nor two scans of the last unit both pass the check."""
        try:
            while self._scans:
                code, qty = self._scans.popleft()
                await self._count_one(code, qty)
        except BaseException:
            self._scans.clear()
            raise
        finally:
            self._counting = False

    async def _count_one(self, code: str, qty: int) -> None:
        sku = code if any(c.sku == code for c in self.counts) else None
        if sku is None:
            try:
                sku = (await self.entry.product(code)).sku
            except Refused:
                sku = None
        line = next((c for c in self.counts if c.sku == sku), None)
        if line is None:
            self.app.bell()
            self._say(f"{code[:40]} is not in this return")
            return
        if line.received + qty > line.asked:
            self.app.bell()
            self._say(f"{line.sku}: {line.asked} asked back, {line.received} counted already")
            return
        line.received += qty
        self._say(f"{line.sku}: {line.received} of {line.asked}", "green")
        self._show_counts()

    def action_toggle_restock(self) -> None:
        table = self.query_one("#receipt-lines", DataTable)
        if not self.counts:
            return
        c = self.counts[max(0, min(table.cursor_row, len(self.counts) - 1))]
        c.restock = None if c.restock is False else False
        self._show_counts()

    @after_typing
    def action_receive(self) -> None:
        r = self.receiving
        if r is None or self.busy:
            return
        receipts = [Receipt(c.sku, c.received, c.restock) for c in self.counts if c.received]
        if not receipts:
            self._say("nothing counted yet: scan what came back")
            return
        self.busy = True
        refund = self.query_one("#return-refund", Checkbox).value
        notify = self.query_one("#receive-notify", Checkbox).value
        self.receive(r.id, receipts, refund, notify)

    @work(exit_on_error=False, group="save", exclusive=True, name="receive the return")
    async def receive(self, rid: int, receipts: list[Receipt], refund: bool, notify: bool) -> None:
        try:
            result = await self.returns.receive(rid, receipts, refund=refund, notify=notify)
        finally:
            self.busy = False
        done = f"{result.return_.rma} received: the order is {result.order.status.value}"
        if result.refund is not None:
            done += f"; {result.refund.message}"
        for note in result.notes:
            done += f"; {note}"
        self._say(done, "" if not result.notes else "bold yellow")
        self.receiving = None
        self.counts = []
        self.query_one("#receive-box").display = False
        if notify:
            wake_notifications(self.services)
        self.load()

    def action_exchange(self) -> None:
        """The highlighted return's replacement: a linked new order for the same goods,
        paid by what comes back (services/returns.py `exchange`)."""
        box = self.query_one("#return-list", OptionList)
        index = box.highlighted
        if self.busy or index is None or not 0 <= index < len(self.existing):
            self._say("highlight a return in the list first (tab to it, ↑ ↓)")
            return
        self.busy = True
        self.make_exchange(self.existing[index].id)

    @work(exit_on_error=False, group="save", exclusive=True, name="make the exchange order")
    async def make_exchange(self, rid: int) -> None:
        try:
            result = await self.returns.exchange(rid, [])
        finally:
            self.busy = False
        ex = result.exchange
        if ex is not None:
            self._say(
                f"{result.return_.rma}: exchange order #{ex.number} ({ex.status.value}, "
                f"{ex.row.total_text} due)",
                "green",
            )
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)
