"""The slice of a long keyset-paged list that a lazy table holds in memory.

Pure bookkeeping, no Textual: rows, each row's cursor (its keyset position), and whether
more rows exist on either side. The table asks its source for the page after the last
cursor or before the first one, and trims the far end so memory stays bounded however
far the operator scrolls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Chunk(Generic[RowT]):
    """A page as a source returns it: rows in list order, one cursor per row."""

    rows: Sequence[RowT]
    cursors: Sequence[str]
    more_before: bool
    more_after: bool

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.cursors):
            raise ValueError("a chunk needs exactly one cursor per row")


class KeysetWindow(Generic[RowT]):
    def __init__(self) -> None:
        self.rows: list[RowT] = []
        self.cursors: list[str] = []
        self.more_before = False
        self.more_after = False

    def __len__(self) -> int:
        return len(self.rows)

    def reset(self, chunk: Chunk[RowT]) -> None:
        self.rows = list(chunk.rows)
        self.cursors = list(chunk.cursors)
        self.more_before = chunk.more_before
        self.more_after = chunk.more_after

    def extend(self, chunk: Chunk[RowT]) -> int:
        """Append the page that follows the last row; returns how many rows came."""
        self.rows.extend(chunk.rows)
        self.cursors.extend(chunk.cursors)
        self.more_after = chunk.more_after
        return len(chunk.rows)

    def prepend(self, chunk: Chunk[RowT]) -> int:
        """Put the page that precedes the first row in front; returns how many rows came."""
        self.rows[:0] = chunk.rows
        self.cursors[:0] = chunk.cursors
        self.more_before = chunk.more_before
        return len(chunk.rows)

    def trim_front(self, count: int) -> int:
        count = max(0, min(count, len(self.rows)))
        if count:
            del self.rows[:count]
            del self.cursors[:count]
            self.more_before = True
        return count

    def trim_back(self, count: int) -> int:
        count = max(0, min(count, len(self.rows)))
        if count:
            del self.rows[len(self.rows) - count :]
            del self.cursors[len(self.cursors) - count :]
            self.more_after = True
        return count
