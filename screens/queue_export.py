"""Export from the queue (`x`): the selected orders, else the orders the queue shows (its
status tab, or its search), to a CSV in Shopify's order-export layout, through the same
`ExportService.export_csv` as `packline export csv`.

A status tab is exported by status (streamed, any size); a search by its order numbers,
collected page by page through the queue's own `page()`, up to MAX_SEARCH_EXPORT.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

from services.errors import InvalidInput
from services.order_query import OrderFilter
from services.statuses import Status

MAX_SEARCH_EXPORT = 10_000
PAGE = 500


class ExportDone(Protocol):
    @property
    def file(self) -> str: ...
    @property
    def orders(self) -> int: ...
    @property
    def rows(self) -> int: ...


class Exporter(Protocol):
    async def export_csv(
        self,
        path: str | Path,
        *,
        status: Status | None = None,
        since: datetime | None = None,
        refs: Sequence[str | int] | None = None,
    ) -> ExportDone: ...


class Pages(Protocol):
    async def page(
        self, flt: OrderFilter | None = None, *, after: str | None = None, limit: int = 50
    ) -> object: ...


def exporter_of(services: object) -> Exporter:
    return cast(Exporter, services.exports)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExportRequest:
    """What `x` exports, and how the prompt says it."""

    what: str
    status: Status | None = None
    refs: tuple[int, ...] | None = None
    search: OrderFilter | None = None


def request_for(flt: OrderFilter, selected: Sequence[int], label: str) -> ExportRequest:
    if selected:
        n = len(selected)
        return ExportRequest(f"{n} selected order{'s' if n != 1 else ''}", refs=tuple(selected))
    if flt.search:
        return ExportRequest(f"the orders matching “{flt.search[:30]}”", search=flt)
    if flt.status is not None:
        return ExportRequest(f"every {label} order", status=flt.status)
    return ExportRequest("every order")


def expand(text: str) -> str:
    """`~/orders.csv` as the operator typed it, made a path (called before the worker)."""
    return os.path.expanduser(text.strip())


def default_path(now: datetime) -> str:
    return str(Path.cwd() / f"orders-{now:%Y%m%d-%H%M}.csv")


async def run_export(services: object, request: ExportRequest, path: str) -> tuple[ExportDone, str]:
    """Export to `path` (already expanded): the report, and a note ("" or why fewer
    orders went out than matched)."""
    exporter = exporter_of(services)
    target = path
    note = ""
    refs: tuple[int, ...] | None = request.refs
    if request.search is not None:
        orders = cast(Pages, services.orders)  # type: ignore[attr-defined]
        flt = replace(request.search)
        found: list[int] = []
        after: str | None = None
        while len(found) < MAX_SEARCH_EXPORT:
            page = await orders.page(flt, after=after, limit=PAGE)
            rows = getattr(page, "rows", [])
            found += [int(r.number) for r in rows]
            after = getattr(page, "next_cursor", None)
            if after is None or not rows:
                break
        if len(found) > MAX_SEARCH_EXPORT or after is not None:
            note = f"only the first {MAX_SEARCH_EXPORT:,} matches; narrow the search or use a tab"
        refs = tuple(found[:MAX_SEARCH_EXPORT])
        if not refs:
            raise InvalidInput("no orders match the search: nothing to export")
    report = await exporter.export_csv(target, status=request.status, refs=refs)
    return report, note
