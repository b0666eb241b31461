"""What the live feed tells a screen: which orders changed, and how the status counts moved.

Plain frozen dataclasses (no database import), so screens may import them; the feed that
produces them is `services.live.ChangeFeed`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from services.statuses import Status


@dataclass(frozen=True)
class OrderStamp:
    """An order as it is after a change: enough to decide whether to fetch it again."""

    number: int
    version: int
    status: Status
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class StatusMove:
    """One status change (or a new order: `from_status` None), from the history table."""

    number: int
    from_status: Status | None
    to_status: Status
    actor: str


@dataclass(frozen=True)
class Changes:
    """What changed since the previous report. `overflow`: too much to list (a bulk
    import); the reader reloads what it shows and recounts instead of patching."""

    orders: tuple[OrderStamp, ...] = ()
    moves: tuple[StatusMove, ...] = ()
    packed: frozenset[int] = frozenset()  # orders scanned into (their row is not touched)
    overflow: bool = False

    def __bool__(self) -> bool:
        return bool(self.orders or self.moves or self.packed or self.overflow)

    @property
    def numbers(self) -> frozenset[int]:
        """Orders whose row or status changed (not those only scanned into)."""
        return frozenset(o.number for o in self.orders) | {m.number for m in self.moves}

    def stamp(self, number: int) -> OrderStamp | None:
        """The latest stamp of order `number` in this report, if it changed."""
        found = [o for o in self.orders if o.number == number]
        return max(found, key=lambda o: o.version) if found else None

    def count_deltas(self) -> dict[Status, int]:
        """How many orders each status gained (negative: lost), from the moves."""
        delta: Counter[Status] = Counter()
        for move in self.moves:
            if move.from_status is not None:
                delta[move.from_status] -= 1
            delta[move.to_status] += 1
        return {status: n for status, n in delta.items() if n}


@dataclass(frozen=True)
class LinkState:
    """The feed lost (`up=False`) or regained the database; `message` says what happened."""

    up: bool
    message: str = ""
    at: datetime | None = field(default=None, compare=False)


FeedItem = Changes | LinkState
