"""Screens that follow what other operators do, through the console's one change feed.

`LiveUpdates` is a mixin: `follow_changes()` (from `on_mount`) starts one task that
subscribes to `services.live` (services.live.ChangeFeed: LISTEN/NOTIFY on PostgreSQL,
a polled change token on SQLite) and hands each report to `on_changes`; a lost or
regained database goes to `on_link`, which by default tells the operator once, in
words, and keeps everything typed (nothing on screen is thrown away while it is down).
Without a feed (a build or a test double that has none) it returns False and the screen
keeps polling as before. The task is a plain asyncio task, not a Textual worker: it
never ends while the screen is up, and "no worker running" means "idle" to the tests
and the bench; it is cancelled when the screen is unmounted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

from screens.untrusted import visible
from services.changes import Changes, FeedItem, LinkState

RECONNECT_HINT = "your typed text is kept; reconnecting by itself"


class ChangeSource(Protocol):
    def subscribe(self) -> AbstractAsyncContextManager[AsyncIterator[FeedItem]]: ...


def change_source(services: object) -> ChangeSource | None:
    live = getattr(services, "live", None)
    if live is None or not callable(getattr(live, "subscribe", None)):
        return None
    return cast(ChangeSource, live)


class PausingFeed(Protocol):
    def hold_off(self, seconds: float) -> None: ...

    def resume(self) -> None: ...


def pausing_feed(services: object) -> PausingFeed | None:
    """The live feed, when it can be asked to look in a pause (ChangeFeed.hold_off)."""
    live = getattr(services, "live", None)
    return cast(PausingFeed, live) if callable(getattr(live, "hold_off", None)) else None


class LiveUpdates:
    """Mixin for screens: `on_changes` runs on the screen for every report of changes."""

    services: Any
    offline: bool = False
    _missed: bool = False
    _live_task: asyncio.Task[None] | None = None
    _live_ready: asyncio.Event | None = None

    @property
    def live_ready(self) -> asyncio.Event:
        """Set once the feed has its baseline (or there is no feed): a screen's first
        load waits for it, so nothing committed between that load and the baseline is
        missed ("subscribe, then load")."""
        if self._live_ready is None:
            self._live_ready = asyncio.Event()
        return self._live_ready

    if TYPE_CHECKING:  # provided by the Screen this is mixed into

        def notify(self, message: str, **kwargs: Any) -> None: ...

    @property
    def following(self) -> bool:
        """Changes come from the feed (else the screen polls a change token itself)."""
        return self._live_task is not None

    def follow_changes(self) -> bool:
        source = change_source(self.services)
        if source is None:
            self.live_ready.set()
            return False
        self._live_task = asyncio.create_task(self._follow(source), name="follow changes")
        return True

    async def _follow(self, source: ChangeSource) -> None:
        try:
            async with source.subscribe() as items:
                self.live_ready.set()
                async for item in items:
                    if isinstance(item, LinkState):
                        self.offline = not item.up
                        self.on_link(item)
                    elif isinstance(item, Changes):
                        if in_view(self):
                            self.on_changes(item)
                        else:  # under another screen (the order under its pack screen):
                            self._missed = True  # catch up once, when shown again
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, not the database (the feed reports that itself)
            self.live_ready.set()
            self.notify(
                f"live updates stopped: {visible(str(exc) or type(exc).__name__)}; "
                "ctrl+r reloads by hand",
                severity="error",
                markup=False,
            )

    def on_screen_resume(self) -> None:
        """Back on top: what changed while another screen covered this one, in one go (a
        packer's every scan would otherwise reload the order screen beneath the pack
        screen, competing with the scans for the database and the frame)."""
        if self._missed:
            self._missed = False
            self.on_changes(Changes(overflow=True))

    async def on_unmount(self) -> None:
        task, self._live_task = self._live_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=5)  # our own cancellation still propagates

    def on_changes(self, changes: Changes) -> None:
        """Screens override: patch what they show."""

    def on_link(self, state: LinkState) -> None:
        if not state.up:
            self.notify(
                f"{visible(state.message)}; {RECONNECT_HINT}",
                title="Database unreachable",
                severity="error",
                markup=False,
                timeout=30,
            )
        else:
            self.notify("the database is back", title="Reconnected", markup=False)
            self.on_changes(Changes(overflow=True))  # whatever happened meanwhile: reload


def in_view(screen: object) -> bool:
    """On the terminal: the top screen, or one only see-through screens (dialogs) cover.

    Not Textual's `is_current`: it also counts the screen right under the top one, however
    opaque the top is, so the order under its pack screen reloaded on every report of a
    scan (its footer recomposed, the pack screen was repainted: the packer's scans waited).
    """
    app = getattr(screen, "app", None)
    stack = getattr(app, "screen_stack", None)
    if not stack or screen not in stack:
        return bool(getattr(screen, "is_current", True))  # not a screen on a stack (tests)
    above = stack[stack.index(screen) + 1 :]
    return all(s.styles.background.a < 1 for s in above)


def changed_by_someone_else(changes: Changes, number: int, version: int, me: str) -> str | None:
    """'#1042 was changed by maria at 12:03:04' when another operator changed this order
    past `version`; None when it did not change, or the change was this operator's."""
    stamp = changes.stamp(number)
    if stamp is None or stamp.version <= version or stamp.updated_by == me:
        return None
    who = visible(stamp.updated_by) or "another operator"
    return f"#{number} was changed by {who} at {stamp.updated_at:%H:%M:%S} UTC"
