"""What the order queue asks for (a filter and a sort) and what it gets back (a keyset page).

Kept free of SQL so the screens can build a filter and read a page without importing
the database layer (the import-linter contract forbids SQLAlchemy in screens);
`services.orders` re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.queue_sort import SORTS as SORTS
from services.queue_sort import Sort as Sort
from services.statuses import Status
from services.views import OrderRow, Page


@dataclass(frozen=True)
class OrderFilter:
    status: Status | None = None
    search: str = ""
    sort: Sort = "date"
    descending: bool = True


@dataclass(frozen=True)
class QueuePage(Page[OrderRow]):
    """A page of the queue that can be walked both ways.

    `cursors[i]` is row i's own keyset position: `page(after=cursors[i])` lists what
    follows row i and `page(before=cursors[i])` what precedes it, so a lazy list can
    re-anchor anywhere in what it holds. `prev_cursor` is set when rows precede this
    page (it equals `cursors[0]`), `next_cursor` when rows follow it.
    """

    prev_cursor: str | None = None
    cursors: tuple[str, ...] = ()
