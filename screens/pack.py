"""The pack screen: one order at the bench, a scanner in hand, every scan saved as it happens.

The scan field always has focus. It hands each scan over in the same step as its Enter
(`ScanField.deliver`) to one asyncio queue, and one long-lived worker sends them to the
pack service strictly in order, each drawn from the `ScanResult` it returns (no second
query), so the screen answers within a frame of the database's commit. The keys (and the
command barcodes the service knows) go through the same queue, so an undo pressed during
a burst undoes the scan before it, not one after. A refused scan rings the bell and
flashes the message bar red: many terminals mute the bell. Closing the screen releases
the claim (`leave`); the counts stay.

Fast enough for a scanner (bench/bench_scan_pty.py): the scan's transaction runs on the
event loop's thread once it holds SQLite's write lock (services.sqlite_connection); a
scan repaints only what it changed (the header, its line in the lines widget, the
message), never asks for a layout unless the message needs another number of lines, draws
them in the same turn of the event loop (screens.pack_paint), and the scan field draws
nothing while a scanner types. The first pack screen freezes the heap the console has
built (screens.heap; the console does it too, once the queue is up): a full collection
walked all of it, a 100-150 ms pause every thousand scans or so. While it is up, the
garbage collector runs right after an answer is drawn or in a pause
(screens.heap.QuietCollector), and the live feed looks at the database between scans
(ChangeFeed.hold_off / resume), not in the middle of one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol, cast

from rich.text import Text
from textual._time import get_time as now  # the clock Key.time is read from
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from screens.base import FailureReports
from screens.confirm import ConfirmDialog
from screens.heap import freeze_heap, quiet_collector
from screens.live import LiveUpdates, pausing_feed
from screens.pack_lines import PackLines
from screens.pack_paint import paint_now
from screens.ports import ConsoleServices, may
from screens.untrusted import visible
from screens.widgets.scan_field import ScanField
from services.changes import Changes
from services.errors import Refused
from services.pack_errors import NotPackable, PackClaimed
from services.roles import Action
from services.views import (
    PackageView,
    PackProgress,
    PackSessionView,
    ScanOutcome,
    ScanResult,
)
from styles import tcss

FLASH_SECONDS = 1.0
# The message's colour by kind, in its text: a class per kind on the bar had the stylesheet
# matched again twice for every refusal. While the bar flashes red, plain bold text.
MESSAGE_STYLES = {
    "ok": "$text-success",
    "ask": "$text-warning",
    "done": "bold $text-success",
    "refused": "bold $text-error",
}
FLASH_STYLE = "bold $text"
SCAN_PAUSE = 0.05  # seconds without a scan that count as a pause (live feed, collector)
MESSAGE_LINES = (2, 3)  # the status bar's least and most lines (styles/pack.tcss)
TAKE_OVER = Action.TAKE_OVER_PACK
LATENCIES_KEPT = 5000


class PackOperations(Protocol):
    """services.packing.PackService as this screen calls it (screens may not import it)."""

    async def start(self, ref: str | int, *, take_over: bool = False) -> PackSessionView: ...

    async def session_ended(self, ref: str | int, *, session_id: int) -> str | None: ...

    async def next_to_pack(self) -> PackSessionView: ...

    async def scan(self, ref: str | int, raw: str, *, session_id: int) -> ScanResult: ...

    async def undo(self, ref: str | int, *, session_id: int) -> ScanResult: ...

    async def next_package(self, ref: str | int, *, session_id: int) -> ScanResult: ...

    async def validate(self, ref: str | int, *, session_id: int) -> ScanResult: ...

    async def abort(self, ref: str | int, *, session_id: int) -> ScanResult: ...

    async def split_backorder(
        self, ref: str | int, *, session_id: int, notify: bool = False
    ) -> ScanResult: ...

    async def leave(self, ref: str | int, *, session_id: int) -> None: ...

    async def packages(self, ref: str | int) -> tuple[PackageView, ...]: ...

    async def set_package_weight(
        self, ref: str | int, package_no: int, grams: int
    ) -> PackageView: ...


def pack_service(services: object) -> PackOperations:
    return cast(PackOperations, services.packing)  # type: ignore[attr-defined]


# One unit of work for the worker: how to call the service, and when Enter arrived.
Job = tuple[Callable[[int], Awaitable[ScanResult]], float | None]


def grams_of(text: str) -> int | None:
    """`850`, `850g`, `1.2kg` -> grams; None when it is not a weight."""
    raw = text.strip().lower().replace(" ", "")
    scale = 1
    if raw.endswith("kg"):
        raw, scale = raw[:-2], 1000
    elif raw.endswith("g"):
        raw = raw[:-1]
    try:
        value = float(raw)
    except ValueError:
        return None
    if value != value or value <= 0:  # NaN or not positive
        return None
    return round(value * scale)


class WeightDialog(ModalScreen[int | None]):
    """The weight of the current package, in grams (or `1.2kg`)."""

    CSS_PATH = tcss("pack")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, package_no: int, grams: int | None) -> None:
        super().__init__()
        self.package_no = package_no
        self.grams = grams

    def compose(self) -> ComposeResult:
        with Vertical(id="weight-dialog"):
            yield Static(
                Text.assemble("Weight of package ", (str(self.package_no), "bold")),
                markup=False,
            )
            yield Input(
                value=str(self.grams) if self.grams else "",
                placeholder="grams, or e.g. 1.2kg",
                id="weight-input",
            )
            yield Static("", id="weight-error", markup=False)
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        grams = grams_of(event.value)
        if grams is None:
            self.query_one("#weight-error", Static).update(
                f"{visible(event.value)[:30]!r} is not a weight: type grams, or e.g. 1.2kg"
            )
            return
        self.dismiss(grams)

    def action_cancel(self) -> None:
        self.dismiss(None)


VALIDATE_SCAN = "PL:VALIDATE"  # the command barcode (services.packing.VALIDATE_CODE)


class BackorderDialog(ModalScreen[bool | str]):
    """Split the unpacked rest off to a backorder?

    Not a yes/no dialog with a focused Yes button: a scan's Enter would press it. Its own
    scan field takes the scanner's keys instead: the validate barcode (or F5) splits,
    escape keeps packing, and any other scan keeps packing and is packed (returned).
    """

    CSS_PATH = tcss("pack")
    AUTO_FOCUS = "ScanField"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", "Keep packing", id="pack.backorder.keep"),
        Binding("f5", "split", "Split", id="pack.backorder.split"),
    ]

    def __init__(self, rest: str) -> None:
        super().__init__()
        self.rest = rest

    def compose(self) -> ComposeResult:
        with Vertical(id="backorder-dialog"):
            yield Static(Text("Split the rest to a backorder?", style="bold"), markup=False)
            yield Static(
                Text(
                    f"Not packed: {self.rest}.\nF5 or scan VALIDATE again: ship what is "
                    "packed, the rest becomes a new backorder. Escape, or scan an item: "
                    "keep packing."
                ),
                markup=False,
            )
            yield ScanField(id="backorder-scan")
        yield Footer()

    def on_scan_field_scanned(self, event: ScanField.Scanned) -> None:
        event.stop()
        code = event.code.strip()
        if code.upper() == VALIDATE_SCAN:
            self.dismiss(True)
        elif code:
            self.dismiss(event.code)

    def action_split(self) -> None:
        self.dismiss(True)

    def action_keep(self) -> None:
        self.dismiss(False)


class PackScreen(LiveUpdates, FailureReports, Screen[None]):
    CSS_PATH = tcss("pack")
    AUTO_FOCUS = "ScanField"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="pack.back"),
        # `?` is a character the scan field takes (codes may contain it): help is F1 here.
        Binding("f1", "app.help", "Keys", show=False, id="pack.help"),
        Binding("f2", "next_package", "Next package", id="pack.next_package"),
        Binding("f3", "weight", "Weight", id="pack.weight"),
        Binding("f4", "undo", "Undo", id="pack.undo"),
        Binding("f5", "validate", "Validate", id="pack.validate"),
        Binding("f8", "abort", "Abort", id="pack.abort"),
    ]

    def __init__(
        self,
        services: ConsoleServices,
        ref: str | int,
        *,
        quiet_if_unpackable: bool = False,
        next_order: bool = False,
    ) -> None:
        super().__init__()
        self.next_order = next_order  # ref unknown yet: the pack service hands one out
        self.quiet_if_unpackable = quiet_if_unpackable  # a slip scanned on the queue
        self.services = services
        self.packing = pack_service(services)
        self.feed = pausing_feed(services)
        self.ref = ref
        self.session: PackSessionView | None = None
        self.progress: PackProgress | None = None
        self.message_height = -1  # lines the message bar took last time
        self.weights: dict[int, int | None] = {}
        self.last: ScanResult | None = None
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.ready = asyncio.Event()
        self.ended = False  # the session is over (finished, aborted, never started)
        self.closing = False  # leaving: scans still queued are not sent
        self.scanned = 0  # results drawn (tests and the bench read it)
        # Per scan, seconds from its Enter: (saved by the service, drawn on screen).
        self.latencies: deque[tuple[float, float]] = deque(maxlen=LATENCIES_KEPT)
        self._flash_timer: object = None
        self._said = ("", "")  # the message shown and its kind (redrawn when the flash ends)

    def compose(self) -> ComposeResult:
        opening = (
            "Finding the next order to pack…"
            if self.next_order
            else f"Opening order {self.ref} for packing…"
        )
        yield Static(Text(opening), id="pack-header")
        with Vertical(id="pack-body"):
            yield PackLines(id="pack-lines")
        with Horizontal(id="pack-status"):
            yield Static("", id="pack-message", markup=False)
        yield ScanField(id="scan")
        yield Footer()

    def on_mount(self) -> None:
        self.line_rows = self.query_one(PackLines)
        self.line_rows.border_title = "Lines"
        self.header_bar = self.query_one("#pack-header", Static)
        self.message_bar = self.query_one("#pack-message", Static)
        self.status_bar = self.query_one("#pack-status", Horizontal)
        self.scan_field = self.query_one("#scan", ScanField)
        self.scan_field.deliver = self.take_scan  # the field's Enter hands it over directly
        freeze_heap()
        quiet_collector.hold()
        self.set_interval(SCAN_PAUSE, quiet_collector.tick, name="collect garbage")
        self.run_worker(
            self._consume(), name="pack", group="pack", exit_on_error=False, exclusive=True
        )
        self.run_worker(self._start(), name="open the order for packing", exit_on_error=False)
        self.follow_changes()

    def on_screen_resume(self) -> None:
        self.query_one(ScanField).focus()

    # -- the session ----------------------------------------------------------------------

    async def _start(self, take_over: bool = False) -> None:
        try:
            if self.next_order and not take_over:
                session = await self.packing.next_to_pack()
            else:
                session = await self.packing.start(self.ref, take_over=take_over)
        except Refused as exc:  # claimed by another packer, or nothing to pack
            self.ended = True
            if isinstance(exc, NotPackable) and self.quiet_if_unpackable:
                self.dismiss(None)  # the order detail underneath is what was asked for
                return
            if isinstance(exc, PackClaimed) and not take_over and self._may_take_over():
                self.offer_take_over(exc)
                return
            title = "Claimed" if isinstance(exc, PackClaimed) else "Cannot pack"
            self.app.bell()
            self.app.notify(visible(str(exc)), title=title, severity="error", markup=False)
            self.dismiss(None)
            return
        except Exception:
            self.ended = True
            raise
        self.session = session
        self.ref = session.order_number
        self.weights = {p.number: p.weight_grams for p in session.packages}
        self.sub_title = f"pack #{session.order_number}"
        self.show_progress(session.progress)
        what = "resumed" if session.resumed else "started"
        extra = f" (taken over from {session.took_over_from})" if session.took_over_from else ""
        self.say(f"{what} packing #{session.order_number}{extra}: scan the items", "ok")
        self.ready.set()

    def _may_take_over(self) -> bool:
        """A manager in a shop that names its managers (`roles`); without a roles table
        everyone counts as a manager, and a packer who opens a claimed order by mistake
        should be told and sent back, not asked."""
        roles = getattr(self.services, "roles", None)
        return bool(getattr(roles, "table", None)) and may(self.services, TAKE_OVER)

    def offer_take_over(self, claimed: PackClaimed) -> None:
        """A manager opening an order another packer holds: take it over, or go back."""

        def answer(yes: bool | None) -> None:
            if yes:
                self.ended = False
                self.run_worker(
                    self._start(take_over=True), name="take the order over", exit_on_error=False
                )
            else:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmDialog(
                "Take over?",
                f"{visible(str(claimed))}.\nTake it over? {visible(claimed.holder)}'s screen "
                "is told, and what they packed stays packed.",
                yes="Take over",
                no="Back",
            ),
            answer,
        )

    def on_changes(self, changes: Changes) -> None:
        """Someone else changed this order: if that ended our session (a manager took it
        over), say so now rather than at the next scan."""
        session = self.session
        stamp = changes.stamp(session.order_number) if session is not None else None
        if session is None or self.ended or stamp is None or stamp.updated_by == session.operator:
            return
        self.run_worker(
            self._check_session(session.session_id), name="check the claim", exit_on_error=False
        )

    async def _check_session(self, session_id: int) -> None:
        why = await self.packing.session_ended(self.ref, session_id=session_id)
        if why is None or self.ended:
            return
        self.ended = True
        self.say(f"✗ {why}", "refused")
        self.app.notify(
            visible(why), title="Taken over", severity="warning", markup=False, timeout=15
        )

    async def _consume(self) -> None:
        """The only caller of the service's scan methods: strictly one job at a time."""
        await self.ready.wait()
        while True:
            call, at = await self.jobs.get()
            session = self.session
            if session is None or self.ended or self.closing:
                continue
            try:
                result = await call(session.session_id)
            except Exception as exc:  # a lost database: say so, keep the next scans coming
                self.report_failure(exc, "save the scan")
                continue
            self.show_result(result, at, now())

    def submit(self, call: Callable[[int], Awaitable[ScanResult]], at: float | None) -> None:
        self.jobs.put_nowait((call, at))

    def take_scan(self, event: ScanField.Scanned) -> None:
        """The scan field's Enter (ScanField.deliver), queued for the one worker."""
        if self.feed is not None:  # its next look at the database between scans
            self.feed.hold_off(SCAN_PAUSE)
        code, ref = event.code, self.ref
        self.submit(lambda sid: self.packing.scan(ref, code, session_id=sid), event.at)

    # -- drawing --------------------------------------------------------------------------

    def show_progress(self, progress: PackProgress) -> None:
        self.progress = progress
        grams = self.weights.get(progress.package_no)
        weight = f" · {grams:,} g" if grams else ""
        customer = self.session.customer if self.session is not None else ""
        # Content, Textual's own text: a Rich Text was converted to it on every update.
        header = Content.assemble(
            (f"Packing #{progress.order_number}", "bold"),
            f" · {progress.status.value}",
            f" · package {progress.package_no}{weight}",
            " · ",
            (
                f"{progress.units_packed}/{progress.units_to_pack} units",
                "green" if progress.fully_packed else "",
            ),
            f" · {visible(customer)}" if customer else "",
        )
        # One line high whatever it says: repainted, never laid out again.
        self.header_bar.update(header, layout=False)
        self.line_rows.show(progress)  # repaints the rows whose line changed
        field = self.scan_field
        if progress.pending_serial is not None:
            field.prompt = "serial ›"
        elif progress.pending_quantity is not None:
            field.prompt = f"{progress.pending_quantity}× ›"
        else:
            field.prompt = "scan ›"

    def say(self, message: str, kind: str) -> None:
        self._said = (message, kind)
        refused = kind == "refused"
        self._draw_message(message, kind, flash=refused or self.flashing)
        if refused:
            self.app.bell()
            # On the status bar, not the screen: a class on the screen restyled every
            # widget on it, twice a refusal.
            if not self.flashing:
                self.status_bar.add_class("flash")
            if self._flash_timer is not None:
                self._flash_timer.stop()  # type: ignore[attr-defined]
            self._flash_timer = self.set_timer(FLASH_SECONDS, self._unflash)

    def _draw_message(self, message: str, kind: str, *, flash: bool) -> None:
        bar_ = self.message_bar
        style = FLASH_STYLE if flash else MESSAGE_STYLES.get(kind, "")
        content = Content.assemble((visible(message), style))
        # A layout only when the status bar must change height (it keeps room for two
        # lines, so a refusal's longer message does not move the screen every time).
        width = bar_.content_region.width
        lines = len(content.wrap(width)) if width > 0 else -1
        height = min(max(lines, MESSAGE_LINES[0]), MESSAGE_LINES[1]) if lines > 0 else -1
        bar_.update(content, layout=height != self.message_height or height < 0)
        self.message_height = height

    @property
    def flashing(self) -> bool:
        """The red flash of a refused scan is on."""
        return self.status_bar.has_class("flash")

    def _unflash(self) -> None:
        self.status_bar.remove_class("flash")
        self._flash_timer = None
        message, kind = self._said
        self._draw_message(message, kind, flash=False)

    def show_result(
        self, result: ScanResult, at: float | None = None, saved: float | None = None
    ) -> None:
        self.last = result
        self.scanned += 1
        self.show_progress(result.progress)
        out = result.outcome
        if out is ScanOutcome.REFUSED:
            self.say(f"✗ {result.message}", "refused")
        elif out is ScanOutcome.NEEDS_SERIAL:
            self.say(f"{result.message} — scan the serial", "ask")
        elif out is ScanOutcome.FINISHED:
            self.ended = True
            self.say(f"✓ {result.message} — escape to go back", "done")
        elif out is ScanOutcome.ABORTED:
            self.ended = True
            self.app.notify(visible(result.message), markup=False)
            self.dismiss(None)
        elif out is ScanOutcome.OPEN_ORDER and result.open_order is not None:
            self.say(result.message, "ok")
            self.open_other(result.open_order)
        elif out is ScanOutcome.OFFER_BACKORDER:
            self.say(result.message, "ask")
            self.offer_backorder(result)
        else:
            self.say(f"✓ {result.message}", "ok")
        # The answer on the terminal now, not after Textual's idle/timer round trip.
        drawn = paint_now(
            self, (self.header_bar, self.message_bar, self.scan_field, self.line_rows)
        )
        if at is not None and saved is not None:
            if drawn:
                self._measured(at, saved)
            else:  # at Textual's next frame
                self.call_after_refresh(self._measured, at, saved)
        # The answer is out: what waited for it runs now, while the next code is typed.
        self.call_next(self.after_answer)

    def after_answer(self) -> None:
        quiet_collector.scanned()
        if self.feed is not None and self.jobs.empty():
            self.feed.resume()  # no scan in flight: the feed may look now

    def _measured(self, at: float, saved: float) -> None:
        self.latencies.append((saved - at, now() - at))

    # -- what a result asks for -----------------------------------------------------------

    def open_other(self, number: int) -> None:
        self.closing = True
        opener = getattr(self.app, "open_order", None)
        self.dismiss(None)
        if callable(opener):
            opener(number)

    def offer_backorder(self, result: ScanResult) -> None:
        rest = ", ".join(f"{visible(sku)} ×{qty}" for sku, qty in result.backorder)

        def answer(split: bool | str | None) -> None:
            ref = self.ref
            if split is True:
                self.submit(lambda sid: self.packing.split_backorder(ref, session_id=sid), None)
            elif isinstance(split, str):  # a scan: keep packing, and pack it
                self.submit(lambda sid: self.packing.scan(ref, split, session_id=sid), None)

        self.app.push_screen(BackorderDialog(rest), answer)

    # -- keys -----------------------------------------------------------------------------

    def _command(self, name: str) -> None:
        method = getattr(self.packing, name)
        ref = self.ref
        self.submit(lambda sid: method(ref, session_id=sid), None)

    def action_next_package(self) -> None:
        self._command("next_package")

    def action_undo(self) -> None:
        self._command("undo")

    def action_validate(self) -> None:
        self._command("validate")

    def action_abort(self) -> None:
        self._command("abort")

    def action_weight(self) -> None:
        if self.progress is None or self.ended:
            return
        package_no = self.progress.package_no

        def answer(grams: int | None) -> None:
            if grams is not None:
                self.run_worker(
                    self._set_weight(package_no, grams),
                    name="save the weight",
                    exit_on_error=False,
                )

        self.app.push_screen(WeightDialog(package_no, self.weights.get(package_no)), answer)

    async def _set_weight(self, package_no: int, grams: int) -> None:
        view = await self.packing.set_package_weight(self.ref, package_no, grams)
        self.weights[view.number] = view.weight_grams
        if self.progress is not None:
            self.show_progress(self.progress)
        self.say(f"package {view.number}: {grams:,} g", "ok")

    def action_back(self) -> None:
        self.closing = True
        self.dismiss(None)

    async def on_unmount(self) -> None:
        quiet_collector.release()
        await self.release()

    async def release(self) -> None:
        """Give the claim back; the counts are in the database already."""
        session, self.session = self.session, None
        if session is None or self.ended:
            return
        with contextlib.suppress(Exception):  # the claim expires on its own; nothing is lost
            await self.packing.leave(self.ref, session_id=session.session_id)
