"""The Textual app: screens, keys (remappable by binding id), themes, command palette.

It is handed a ready `Services` (tests) or a way to start them (`console.launch`): then it
paints the queue's frame first and loads the services off the event loop, holding the keys
typed meanwhile. It gives the services to each screen; the screens call service methods
and render the views they return.
"""

from __future__ import annotations

import asyncio
import os
import time

# A scan's answer waits for the next frame: Textual draws at most TEXTUAL_FPS frames a second
# (60: up to 16.7 ms). 240 leaves ~0.5 ms of that wait (measured; 1000 gained nothing more);
# idle screens draw nothing either way. Read once, when Textual is first imported: so
# before it, here. An explicit TEXTUAL_FPS wins.
os.environ.setdefault("TEXTUAL_FPS", "240")
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.dom import DOMNode

from screens.heap import freeze_heap
from screens.starting import StartingScreen
from screens.widgets.lazy_table import LazyTable
from screens.widgets.scan_field import ScanField, SlipCatcher
from styles import tcss

# The first frame waits for every import above: the screens (and the view dataclasses they
# render) are imported when first shown, after it.
if TYPE_CHECKING:
    from textual.command import Provider

    from screens.help import KeyHelp
    from screens.ports import ConsoleServices

DARK = "textual-dark"
LIGHT = "textual-light"


@cache
def keyed() -> tuple[type[DOMNode], ...]:
    """Every class whose bindings carry ids a `[keys]` table may remap."""
    from screens.confirm import ConfirmDialog
    from screens.help import HelpScreen
    from screens.memo_dialog import MemoDialog
    from screens.new_order import NewOrderScreen
    from screens.order import OrderScreen
    from screens.order_edit import OrderEditScreen
    from screens.outbox import OutboxScreen
    from screens.pack import BackorderDialog, PackScreen, WeightDialog
    from screens.payment_dialogs import ChargeDialog, RefundDialog
    from screens.prompt_dialog import PromptDialog
    from screens.purchasing import PurchasingScreen
    from screens.queue import QueueScreen
    from screens.returns import ReturnsScreen
    from screens.status_dialog import StatusDialog
    from screens.tracking import TrackingScreen

    return (
        QueueScreen,
        OrderScreen,
        PackScreen,
        WeightDialog,
        BackorderDialog,
        StatusDialog,
        MemoDialog,
        ConfirmDialog,
        TrackingScreen,
        OutboxScreen,
        NewOrderScreen,
        OrderEditScreen,
        ReturnsScreen,
        PurchasingScreen,
        ChargeDialog,
        RefundDialog,
        PromptDialog,
        HelpScreen,
        LazyTable,
    )


def _order_commands() -> type[Provider]:
    from console.commands import OrderCommands

    return OrderCommands


def _screen_commands() -> type[Provider]:
    from console.commands import ScreenCommands

    return ScreenCommands


def _tool_commands() -> type[Provider]:
    from console.commands import ToolCommands

    return ToolCommands


class StartFailed(Exception):
    """The services could not be started; the message is for the operator (one line)."""


# Builds the services and says which keys the user remapped (both come from the settings).
Starting = Callable[[], Awaitable[tuple["ConsoleServices", Mapping[str, str]]]]
# Keys that act while the services load; every other key waits for the queue.
STARTUP_KEYS = frozenset({"ctrl+q", "ctrl+c"})


def remappable(classes: Iterable[type[DOMNode]]) -> Iterator[tuple[type[DOMNode], Binding]]:
    """Each binding that carries an id (what a `[keys]` table may remap), with its class."""
    for cls in classes:
        for item in cls.BINDINGS:
            if isinstance(item, Binding) and item.id:
                yield cls, item


def binding_ids(classes: Iterable[type[DOMNode]]) -> set[str]:
    return {binding.id for _, binding in remappable(classes) if binding.id}


class PacklineApp(App[None]):
    TITLE = "Packline"
    CSS_PATH = tcss("app")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding(
            "ctrl+p", "command_palette", "Palette", show=False, priority=True, id="app.palette"
        ),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False, id="app.theme"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit"),
    ]
    COMMANDS = App.COMMANDS | {_order_commands, _screen_commands, _tool_commands}
    services: ConsoleServices  # set once started (see `started`)

    def __init__(
        self,
        services: ConsoleServices | None = None,
        *,
        starting: Starting | None = None,
        where: str = "",
        order: str | None = None,
        pack: str | None = None,
        keymap: Mapping[str, str] | None = None,
        theme: str = DARK,
        owns_services: bool = False,
        run_notifications: bool = False,
    ) -> None:
        super().__init__()
        if (services is None) == (starting is None):
            raise TypeError("give the services or a way to start them, not both")
        if services is not None:
            self.services = services
        self.starting = starting
        self.where = where
        self.start_error: str | None = None
        self._held_keys: list[events.Key] = []
        self.open_ref = pack or order
        self.pack = pack is not None
        self.owns_services = owns_services
        self.theme = theme
        self._use_keymap(keymap or {})
        self.slips = SlipCatcher()
        self.run_worker_on_mount = run_notifications
        self._notify_stop = asyncio.Event()

    def _use_keymap(self, keymap: Mapping[str, str]) -> None:
        self.user_keymap = dict(keymap)
        if not keymap:  # nothing to check: and the screens stay unimported until shown
            self.unknown_keys, self.known_keymap = [], {}
            return
        known = binding_ids((type(self), *keyed()))
        self.unknown_keys = sorted(set(self.user_keymap) - known)
        self.known_keymap = {k: v for k, v in self.user_keymap.items() if k in known}

    @property
    def started(self) -> bool:
        return hasattr(self, "services")

    async def on_event(self, event: events.Event) -> None:
        """Packing-slip scans on any screen (the pack screen's scan field reads its own)."""
        if isinstance(event, events.Key) and not self.started and event.key not in STARTUP_KEYS:
            self._held_keys.append(event)  # typed (or scanned) before the queue was there
            return
        if isinstance(event, events.Key) and not event.is_forwarded:
            try:
                focused = self.focused
            except ScreenStackError:  # a key after the last screen has gone (quitting)
                return
            if isinstance(focused, ScanField):
                for held in self.slips.release():
                    await super().on_event(held)
            else:
                deliver, number = self.slips.feed(event, time.monotonic())
                for key in deliver:
                    await super().on_event(key)
                if self.slips.held:
                    self.set_timer(self.slips.gap * 2, self._release_held_keys)
                if number is not None:
                    self.open_slip(number)
                return
        await super().on_event(event)

    async def _release_held_keys(self) -> None:
        """No key followed: what was held was typed by a person; deliver it."""
        if self.slips.held and time.monotonic() - self.slips.last > self.slips.gap:
            for held in self.slips.release():
                await super().on_event(held)

    def open_slip(self, number: int) -> None:
        """A slip scanned: on the queue, pack that order (if it is packable); else open it."""
        from screens.order import OrderScreen
        from screens.pack import PackScreen
        from screens.queue import QueueScreen

        if isinstance(self.screen, QueueScreen):
            self.push_screen(OrderScreen(self.services, number))
            self.push_screen(PackScreen(self.services, number, quiet_if_unpackable=True))
        else:
            self.open_order(number)

    def on_mount(self) -> None:
        if self.started:
            self._open_screens()
        else:
            self.push_screen(StartingScreen(self.where))
            # After the first frame is on the terminal: the imports would delay it.
            self.call_after_refresh(self.start_services)

    @work(exit_on_error=False, group="start", exclusive=True, name="start the services")
    async def start_services(self) -> None:
        assert self.starting is not None
        try:
            services, keymap = await self.starting()
        except StartFailed as exc:
            self.start_error = str(exc)
            self.exit(return_code=1)
            return
        except Exception as exc:  # a bug: say it in one line rather than a broken screen
            self.start_error = f"could not start: {type(exc).__name__}: {exc}"
            self.exit(return_code=1)
            return
        self.services = services
        self._use_keymap(keymap)
        from screens.queue import QueueScreen

        await self.switch_screen(QueueScreen(self.services))
        for mounted in self._open_screens(queue=False):
            await mounted
        freeze_heap()
        held, self._held_keys = self._held_keys, []
        for key in held:
            await self.on_event(key)

    def _open_screens(self, *, queue: bool = True) -> list[Awaitable[Any]]:
        """The queue, and the order (or its pack screen) asked for on the command line."""
        from screens.order import OrderScreen
        from screens.pack import PackScreen
        from screens.queue import QueueScreen

        if self.known_keymap:
            self.set_keymap(self.known_keymap)
        if self.run_worker_on_mount:
            self.deliver_notifications()
        mounting: list[Awaitable[Any]] = []
        if queue:
            mounting.append(self.push_screen(QueueScreen(self.services)))
        if self.open_ref is not None:
            mounting.append(self.push_screen(OrderScreen(self.services, self.open_ref)))
            if self.pack:
                mounting.append(self.push_screen(PackScreen(self.services, self.open_ref)))
        if self.unknown_keys:
            self.notify(
                "Unknown binding ids in [keys]: " + ", ".join(self.unknown_keys) + " (see ?)",
                severity="warning",
                markup=False,
                timeout=10,
            )
        return mounting

    @work(exit_on_error=False, group="notify", exclusive=True, name="deliver notifications")
    async def deliver_notifications(self) -> None:
        """The outbox worker, in the background while the console runs: Save stays
        instant, e-mails go out behind it; it logs its own errors and keeps going."""
        run_forever = getattr(getattr(self, "services", None), "notifications", None)
        run_forever = getattr(run_forever, "run_forever", None)
        if run_forever is not None:
            await run_forever(self._notify_stop)

    async def on_unmount(self) -> None:
        self._notify_stop.set()
        if self.owns_services:
            close = getattr(getattr(self, "services", None), "close", None)
            if close is not None:
                await close()

    def open_order(self, number: int) -> None:
        """Open an order from anywhere (the command palette)."""
        from screens.order import OrderScreen

        if isinstance(self.screen, OrderScreen) and self.screen.ref == number:
            return
        self.push_screen(OrderScreen(self.services, number))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_help(), self.screen_title()))

    def screen_title(self) -> str:
        name = type(self.screen).__name__
        return {
            "QueueScreen": "order queue",
            "OrderScreen": "order",
            "StatusDialog": "set status",
            "MemoDialog": "memo",
            "TrackingScreen": "tracking",
            "OutboxScreen": "outbox",
            "ChargeDialog": "charge",
            "RefundDialog": "refund",
            "PackScreen": "pack",
        }.get(name, name)

    def key_help(self) -> list[KeyHelp]:
        """Every active key of the current screen, grouped by where it is defined."""
        from screens.help import KeyHelp

        places: dict[str, list[KeyHelp]] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if binding.system or not binding.description:
                continue
            where = _where(active.node)
            places.setdefault(where, []).append(
                KeyHelp(
                    where,
                    self.get_key_display(binding) or key,
                    binding.description,
                    binding.id or "",
                )
            )
        order = ["This list", "This screen", "Everywhere"]
        return [item for place in sorted(places, key=_rank(order)) for item in places[place]]


def _where(node: Any) -> str:
    if isinstance(node, App):
        return "Everywhere"
    if isinstance(node, LazyTable):
        return "This list"
    return "This screen"


def _rank(order: list[str]) -> Any:
    return lambda place: order.index(place) if place in order else len(order)
