"""The console's heap kept out of the garbage collector's full passes.

Once the services and screens are loaded, a full collection walks all of it (Textual,
SQLAlchemy, every module) and paused the event loop for 100-160 ms about once per
thousand scans. What exists then lives as long as the console does: `gc.freeze()` moves it
to a generation the collector skips; what is made later is collected as usual.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_heap() -> None:
    """Once per process, when what the console keeps for its lifetime has been built."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
