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
    """The collector's young-generation passes moved into the pauses between scans.

    With automatic collection on, a pass ran every few hundred allocations: about once a
    scan, and now and then a 2-16 ms pass of the middle generation, in the middle of a
    scan's answer. While a pack screen is up, automatic collection is off; `tick` (on a
    timer) collects once no scan has come for QUIET seconds, or after AT_MOST seconds of
    scanning without a pause, or when MOST_OBJECTS are waiting: memory stays bounded
    whatever the packer does. One collector per process, shared by the screens that hold it.
    """

    QUIET = 0.05
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

    def scanned(self) -> None:
        self.last_scan = self.clock()

    def tick(self) -> bool:
        """Collect if it is time; True when it did."""
        if self.holders == 0:
            return False
        now = self.clock()
        waiting = gc.get_count()[0]
        due = (
            now - self.last_scan >= self.QUIET
            or now - self.last_pass >= self.AT_MOST
            or waiting >= self.MOST_OBJECTS
        )
        if not due or waiting < gc.get_threshold()[0]:
            return False
        # What the automatic collector would have collected by now: the older generations
        # when their own counts have passed their thresholds.
        _, gen1, gen2 = gc.get_count()
        _, every1, every2 = gc.get_threshold()
        gc.collect(2 if gen2 >= every2 and gen1 >= every1 else 1 if gen1 >= every1 else 0)
        self.last_pass = now
        self.passes += 1
        return True


quiet_collector = QuietCollector()
