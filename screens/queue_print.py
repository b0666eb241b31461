"""Bulk print from the queue (`i` invoices, `I` packing slips): the selected orders, else
the highlighted one, rendered by the documents service (an invoice split by delivery
method where lines ship differently) and sent to the configured printer in one go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from screens.ports import DocumentPrinting, Printer

# What one key prints at most: a printer queue, not an export (use `packline print`).
MAX_BULK_PRINT = 500
KINDS = {"invoice": "invoices", "slip": "packing slips"}


async def print_orders(services: object, kind: str, numbers: Sequence[int]) -> tuple[int, str]:
    """Render `kind` for every order in `numbers` and print them: (documents, printer)."""
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    documents = cast(DocumentPrinting, cast(Any, services).documents)
    printing = cast(Printer, cast(Any, services).printing)
    rendered = await documents.render(kind, list(numbers[:MAX_BULK_PRINT]))
    jobs = await printing.print(rendered)
    return len(rendered), jobs[0].printer if jobs else "the printer"


def summary(kind: str, orders: int, documents: int, printer: str) -> str:
    what = KINDS[kind]
    many = f"{orders} orders" if orders != 1 else "1 order"
    extra = f" ({documents} documents)" if documents != orders else ""
    return f"printed the {what} of {many}{extra} to {printer}"
