"""The order queue: status tabs with live counts, search, sort, selection, bulk status.

Rows come a page at a time from `OrderService.page` into a `LazyTable`, so the queue opens
and scrolls the same at a million orders as at a hundred. Once a second it asks the
cheap `last_change()` token whether anything changed (another operator, the CLI) and, only
then, reloads the counts and the rows on screen.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, Tab, Tabs

from screens.base import FailureReports
from screens.confirm import ConfirmDialog
from screens.format import (
    safe_line,
)
from screens.live import LiveUpdates
from screens.memo_dialog import MemoDialog
from screens.order import OrderScreen
from screens.outbox import OutboxScreen
from screens.pack import PackScreen
from screens.ports import ConsoleServices, OrderQueries
from screens.queue_columns import ALL, queue_columns
from screens.status_dialog import StatusDialog, StatusOutcome, Target
from screens.widgets.keyset_window import Chunk
from screens.widgets.lazy_table import LazyTable
from services.changes import Changes
from services.order_query import SORTS, OrderFilter
from services.statuses import Status
from services.views import OrderDetail, OrderRow
from styles import tcss

POLL_SECONDS = 1.0
SEARCH_DELAY = 0.25
WIDE = 110


class QueueSource:
    """The queue's filter as a `RowSource` for the lazy table."""

    def __init__(
        self, orders: OrderQueries, flt: OrderFilter, ready: asyncio.Event | None = None
    ) -> None:
        self.orders = orders
        self.flt = flt
        self.ready = ready  # the live feed's baseline: the first page waits for it

    async def after(self, cursor: str | None, limit: int) -> Chunk[OrderRow]:
        if self.ready is not None:
            await self.ready.wait()
        page = await self.orders.page(self.flt, after=cursor, limit=limit)
        return Chunk(
            page.rows,
            page.cursors,
            more_before=page.prev_cursor is not None,
            more_after=page.next_cursor is not None,
        )

    async def before(self, cursor: str, limit: int) -> Chunk[OrderRow]:
        page = await self.orders.page(self.flt, before=cursor, limit=limit)
        return Chunk(
            page.rows, page.cursors, more_before=page.prev_cursor is not None, more_after=True
        )

    async def last(self, limit: int) -> Chunk[OrderRow]:
        # The end of the list is the start of the same list in the opposite order.
        flipped = replace(self.flt, descending=not self.flt.descending)
        page = await self.orders.page(flipped, limit=limit)
        return Chunk(
            page.rows[::-1],
            page.cursors[::-1],
            more_before=page.next_cursor is not None,
            more_after=False,
        )


def _tab_binding(digit: int) -> Binding:
    return Binding(
        str(digit),
        f"tab({digit})",
        "Status tab",
        show=digit == 1,
        key_display="1…9" if digit == 1 else None,
        id=f"queue.tab_{digit}",
    )


class QueueScreen(LiveUpdates, FailureReports, Screen[None]):
    CSS_PATH = tcss("queue")
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 - Textual reads it from the class
        (0, "-narrow"),
        (WIDE, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: Textual hands keys already typed to the widget focused when they came
        # in; run at once, so "/1042⏎" typed fast (or scanned) lands in the search box.
        Binding("slash", "search", "Search", priority=True, id="queue.search"),
        Binding("space", "select", "Select", id="queue.select"),
        Binding("s", "set_status", "Status", id="queue.set_status"),
        Binding("m", "memo", "Memo", show=False, id="queue.memo"),
        Binding("i", "print('invoice')", "Print invoices", show=False, id="queue.print_invoice"),
        Binding("I", "print('slip')", "Print packing slips", show=False, id="queue.print_slip"),
        Binding("o", "sort", "Sort", id="queue.sort"),
        Binding("O", "reverse", "Reverse sort", show=False, id="queue.reverse"),
        Binding("0", "tab(0)", "All orders", show=False, id="queue.tab_all"),
        *[_tab_binding(d) for d in range(1, 10)],
        Binding("left", "tab_step(-1)", "Previous tab", show=False, id="queue.tab_prev"),
        Binding("right", "tab_step(1)", "Next tab", show=False, id="queue.tab_next"),
        Binding("escape", "clear", "Clear", show=False, id="queue.clear"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="queue.reload"),
        Binding("n", "outbox", "Outbox", show=False, id="queue.outbox"),
        Binding("N", "new_order", "New order", show=False, id="queue.new_order"),
        Binding("x", "export", "Export CSV", show=False, id="queue.export"),
        Binding("p", "pack_next", "Pack next", show=False, id="queue.pack_next"),
        Binding("q", "app.quit", "Quit", id="queue.quit"),
    ]

    def __init__(self, services: ConsoleServices) -> None:
        super().__init__()
        self.services = services
        self.workflow = services.workflow
        self.statuses = list(self.workflow.statuses)
        self.flt = OrderFilter()
        self.counts: dict[Status, int] = {}
        self._token: object = None
        self._poll_failed = False
        self._search_timer: Timer | None = None
        self._wide = False

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs = [Tab(self._tab_label(None), id=ALL)]
        tabs += [Tab(self._tab_label(s), id=f"tab-{s.value}") for s in self.statuses]
        yield Tabs(*tabs, id="status-tabs")
        yield Input(
            placeholder="search: order number, name, e-mail, SKU, tracking",
            id="search",
            compact=True,
        )
        yield LazyTable(
            queue_columns(self.workflow, wide=False),
            key=lambda row: row.number,
            empty_message="no orders here",
            id="orders",
        )
        yield Static(id="queue-status", markup=False)
        yield Footer()

    @property
    def table(self) -> LazyTable[OrderRow]:
        return self.query_one("#orders", LazyTable)

    def on_mount(self) -> None:
        self.query_one(Tabs).can_focus = False
        self.set_focus(self.table)
        live = self.follow_changes()  # first: the loads below wait for its baseline
        self._show_filter()
        self.load_counts()
        if not live:
            self.set_interval(POLL_SECONDS, self._poll)

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if wide != self._wide:
            self._wide = wide
            self.table.columns = queue_columns(self.workflow, wide=wide)

    def on_screen_resume(self) -> None:
        # Back from an order or a dialog: show what changed there at once (following the
        # feed, LiveUpdates catches up on what it held back; polling: ask now).
        if not self.following:
            self._poll()

    def _tab_label(self, status: Status | None) -> Content:
        if status is None:
            total = sum(self.counts.get(s, 0) for s in self.statuses)
            return Content.assemble(("0 ", "dim"), "All ", (f"{total:,}", "bold"))
        digit = self.statuses.index(status) + 1
        label = self.workflow.labels.get(status, status.value)
        key = (f"{digit} ", "dim") if digit <= 9 else ""
        count = self.counts.get(status)
        return Content.assemble(
            key, label, " ", (f"{count:,}" if count is not None else "…", "bold")
        )

    def _show_filter(self) -> None:
        """Point the table at the current filter and say what is shown."""
        self.table.set_source(QueueSource(self.services.orders, self.flt, self.live_ready))
        self._update_status_line()

    def _update_status_line(self) -> None:
        flt = self.flt
        if flt.status is None:
            shown = sum(self.counts.get(s, 0) for s in self.statuses)
        else:
            shown = self.counts.get(flt.status, 0)
        arrow = "↓" if flt.descending else "↑"
        parts = []
        if flt.search:
            parts.append(Text.assemble("search ", safe_line(flt.search, "bold", 30)))
        else:
            parts.append(Text(f"{shown:,} orders" if self.counts else "counting…"))
        parts.append(Text(f"sort {flt.sort} {arrow}"))
        selected = len(self.table.selected)
        if selected:
            parts.append(Text(f"{selected} selected", style="bold"))
        self.query_one("#queue-status", Static).update(Text(" · ").join(parts))

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="counts", exclusive=True, name="load the counts")
    async def load_counts(self) -> None:
        await self.live_ready.wait()
        self.counts = await self.services.orders.counts()
        self._show_counts()

    def _show_counts(self) -> None:
        tabs = self.query_one(Tabs)
        tabs.query_one(f"#{ALL}", Tab).label = self._tab_label(None)
        for status in self.statuses:
            tabs.query_one(f"#tab-{status.value}", Tab).label = self._tab_label(status)
        self._update_status_line()

    def _poll(self) -> None:
        if self.is_current:
            self.check_for_changes()

    @work(exit_on_error=False, group="poll", exclusive=True, name="check for changes")
    async def check_for_changes(self) -> None:
        try:
            token = await self.services.orders.last_change()
        except Exception as exc:
            # Polling repeats every second: say it once, not every second.
            if not self._poll_failed:
                self._poll_failed = True
                self.report_failure(exc, "load the queue")
            return
        self._poll_failed = False
        if self._token is None:
            self._token = token
        elif token != self._token:
            self._token = token
            self.load_counts()
            self.table.reload()

    def on_changes(self, changes: Changes) -> None:
        """Someone changed orders: move the counts by what moved, and fetch the rows on
        screen again only when one of them changed or a changed order may now belong here
        (never the whole queue; counting again only after a burst too big to list)."""
        if changes.overflow or not self.counts:
            self.load_counts()
            self.table.reload()
            return
        deltas = changes.count_deltas()
        if deltas:
            for status, delta in deltas.items():
                self.counts[status] = max(self.counts.get(status, 0) + delta, 0)
            self._show_counts()
        shown = {row.number for row in self.table.rows}
        arrived = any(
            m.from_status is None or m.to_status == self.flt.status for m in changes.moves
        )
        if arrived or not shown.isdisjoint(changes.numbers):
            self.table.reload()

    def action_reload(self) -> None:
        self.load_counts()
        self.table.reload()

    # -- tabs, search, sort ---------------------------------------------------------------

    def action_tab(self, digit: int) -> None:
        if digit == 0:
            self.query_one(Tabs).active = ALL
        elif digit <= len(self.statuses):
            self.query_one(Tabs).active = f"tab-{self.statuses[digit - 1].value}"

    def action_tab_step(self, step: int) -> None:
        tabs = self.query_one(Tabs)
        tabs.action_next_tab() if step > 0 else tabs.action_previous_tab()

    @on(Tabs.TabActivated)
    def _tab_changed(self, event: Tabs.TabActivated) -> None:
        tab_id = event.tab.id or ALL
        status = None if tab_id == ALL else Status(tab_id.removeprefix("tab-"))
        if status != self.flt.status:
            self.flt = replace(self.flt, status=status)
            self._show_filter()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("-active")
        self.set_focus(search)

    @on(Input.Changed, "#search")
    def _search_typed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self._apply_search()
        self.set_focus(self.table)

    def _apply_search(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        query = self.query_one("#search", Input).value.strip()
        if query != self.flt.search:
            self.flt = replace(self.flt, search=query)
            self._show_filter()

    def action_sort(self) -> None:
        following = SORTS[(SORTS.index(self.flt.sort) + 1) % len(SORTS)]
        self.flt = replace(self.flt, sort=following)
        self._show_filter()

    def action_reverse(self) -> None:
        self.flt = replace(self.flt, descending=not self.flt.descending)
        self._show_filter()

    def action_clear(self) -> None:
        """Escape: leave the search box, then drop the selection, then drop the search."""
        search = self.query_one("#search", Input)
        if search.has_focus:
            if not search.value:
                search.remove_class("-active")
            self.set_focus(self.table)
        elif self.table.selected:
            self.table.clear_selection()
            self._update_status_line()
        elif self.flt.search or search.value:
            search.value = ""
            search.remove_class("-active")
            self._apply_search()

    # -- rows -----------------------------------------------------------------------------

    def action_select(self) -> None:
        if self.table.toggle_selected() is not None:
            self.table.action_cursor_down()
        self._update_status_line()

    @on(LazyTable.Activated, "#orders")
    def _open(self, event: LazyTable.Activated) -> None:
        row: OrderRow = event.row
        self.app.push_screen(OrderScreen(self.services, row.number))

    @on(LazyTable.Loaded, "#orders")
    def _loaded(self) -> None:
        self._update_status_line()

    def action_print(self, kind: str) -> None:
        """Invoices or packing slips of the selected orders, else the highlighted one
        (screens/queue_print.py)."""
        rows: list[OrderRow] = list(self.table.selected.values())
        if not rows and self.table.current is not None:
            rows = [self.table.current]
        if rows:
            self.print_bulk(kind, sorted(r.number for r in rows))

    @work(exit_on_error=False, group="print", exclusive=True, name="print")
    async def print_bulk(self, kind: str, numbers: list[int]) -> None:
        from screens.queue_print import print_orders, summary

        documents, printer = await print_orders(self.services, kind, numbers)
        self.notify(summary(kind, len(numbers), documents, printer), markup=False)

    def action_set_status(self) -> None:
        rows: list[OrderRow] = list(self.table.selected.values())
        if not rows and self.table.current is not None:
            rows = [self.table.current]
        if not rows:
            return
        targets = [Target(r.number, r.version, r.status) for r in rows]
        self.app.push_screen(StatusDialog(self.services, targets), self._status_done)

    def _status_done(self, outcome: StatusOutcome | None) -> None:
        if outcome is None:
            return
        if len(outcome.changed) + len(outcome.refused) > 1:
            self.table.clear_selection()
        self.load_counts()
        self.table.reload()
        label = self.workflow.labels[outcome.to]
        if outcome.changed:
            changed = ", ".join(f"#{d.number}" for d in outcome.changed[:5])
            more = f" and {len(outcome.changed) - 5} more" if len(outcome.changed) > 5 else ""
            mailed = " · customer e-mails queued" if outcome.notify else ""
            self.notify(f"{changed}{more} now {label}{mailed}", markup=False)
        if outcome.refused:
            count = len(outcome.refused)
            report = "\n".join(f"#{number}: {why}" for number, why in outcome.refused)
            title = f"{count} order{'s' if count != 1 else ''} not changed"
            self.app.push_screen(ConfirmDialog(title, report, yes="OK", no=None))

    def action_memo(self) -> None:
        row = self.table.current
        if row is not None:
            self.app.push_screen(
                MemoDialog(self.services, row.number, row.version), self._memo_done
            )

    def _memo_done(self, detail: OrderDetail | None) -> None:
        if detail is not None:
            self.table.reload()

    def action_new_order(self) -> None:
        """An order typed in by hand (phone, counter): screens/new_order.py."""
        from screens.new_order import NewOrderScreen

        self.app.push_screen(NewOrderScreen(self.services))

    def action_export(self) -> None:
        """The selected orders, else what the queue shows, to a CSV (screens/queue_export.py)."""
        from datetime import datetime

        from screens.prompt_dialog import PromptDialog
        from screens.queue_export import default_path, expand, request_for

        label = self.workflow.labels.get(self.flt.status, "") if self.flt.status else ""
        selected = sorted(row.number for row in self.table.selected.values())
        request = request_for(self.flt, selected, label)

        def answer(path: str | None) -> None:
            if path:
                self.export(request, expand(path))

        self.app.push_screen(
            PromptDialog(
                f"Export {request.what} to the CSV file:",
                value=default_path(datetime.now()),
                ok="Export",
            ),
            answer,
        )

    @work(exit_on_error=False, group="export", exclusive=True, name="export the orders")
    async def export(self, request: object, path: str) -> None:
        from screens.queue_export import ExportRequest, run_export

        assert isinstance(request, ExportRequest)
        self.notify(f"exporting {request.what}…", markup=False, timeout=2)
        report, note = await run_export(self.services, request, path)
        more = f" ({note})" if note else ""
        self.notify(
            f"exported {report.orders:,} orders ({report.rows:,} rows) to {report.file}{more}",
            markup=False,
            timeout=8,
        )

    def action_pack_next(self) -> None:
        """The next order nobody is packing, claimed for this operator (each packer at
        their own terminal gets a different one)."""
        self.app.push_screen(PackScreen(self.services, "", next_order=True))

    def action_outbox(self) -> None:
        """Notifications that did not go out: retry, fix the recipient, discard."""
        self.app.push_screen(OutboxScreen(self.services))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search":
            # In the search box "/" is just a character (the binding steps aside).
            return not self.query_one("#search", Input).has_focus
        if action == "tab" and parameters:
            digit = parameters[0]
            return isinstance(digit, int) and digit <= len(self.statuses)
        return True
