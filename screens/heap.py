"""The console's heap kept out of the garbage collector's full passes.

Once the services and screens are loaded, a full collection walks all of it (Textual,
SQLAlchemy, every module) and paused the event loop for 100-160 ms about once per
thousand scans. What exists then lives as long as the console does: `gc.freeze()` moves it
to a generation the collector skips; what is made later is collected as usual.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

_frozen = False


def freeze_heap() -> None:
    """Once per process, when what the console keeps for its lifetime has been built."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class QuietCollector:
    """The collector's passes moved out of the scans: right after an answer is drawn, or
    in a pause.

    With automatic collection on, a pass ran every few hundred allocations: about once a
    scan, and now and then a 2-16 ms pass of the middle generation, in the middle of a
    scan's answer. While a pack screen is up, automatic collection is off. `scanned()`
    (once a scan's answer is on the screen) collects what the automatic collector would
    have collected by then: a scanner takes some 10 ms to type its next code, so the pass
    is over before that code's Enter. `tick` (on a timer) does the same when no scan came
    for QUIET seconds, or AT_MOST seconds passed, or MOST_OBJECTS are waiting: memory stays
    bounded whatever the packer does. One collector per process, shared by the screens
    that hold it.
    """

    QUIET = 0.05
    LONG_PAUSE = 1.0  # no scan for this long: time for a full pass when one is due
    AT_MOST = 2.0
    MOST_OBJECTS = 200_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.holders = 0
        self.was_enabled = True
        self.last_scan = 0.0
        self.last_pass = 0.0
        self.passes = 0  # collections it made (tests read it)

    def hold(self) -> None:
        if self.holders == 0:
            self.was_enabled = gc.isenabled()
            gc.disable()
            self.last_pass = self.clock()
        self.holders += 1

    def release(self) -> None:
        if self.holders == 0:
            return
        self.holders -= 1
        if self.holders == 0 and self.was_enabled:
            gc.enable()

    def scanned(self) -> bool:
        """A scan's answer is drawn: collect now if a pass is due; True when it ran."""
        self.last_scan = self.clock()
        return self._collect()

    def tick(self) -> bool:
        """Collect if it is time (a pause, or too long without); True when it did."""
        if self.holders == 0:
            return False
        now = self.clock()
        due = (
            now - self.last_scan >= self.QUIET
            or now - self.last_pass >= self.AT_MOST
            or gc.get_count()[0] >= self.MOST_OBJECTS
        )
        return due and self._collect(full=now - self.last_scan >= self.LONG_PAUSE)

    def _collect(self, *, full: bool = False) -> bool:
        """The young generation past its threshold, the middle one when its count is; the
        whole heap only when `full` (a long pause): a full pass walks everything made since
        the heap was frozen, tens of milliseconds."""
        gen0, gen1, gen2 = gc.get_count()
        every0, every1, every2 = gc.get_threshold()
        if self.holders == 0 or gen0 < every0:
            return False
        if full and gen2 >= every2:
            gc.collect(2)
        else:
            gc.collect(1 if gen1 >= every1 else 0)
        self.last_pass = self.clock()
        self.passes += 1
        return True


quiet_collector = QuietCollector()
