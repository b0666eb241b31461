"""The queue's tabs and columns: shared by the queue and the frame painted while it loads.

Imports nothing of the services but the workflow's labels (the view dataclasses are only
types here), so the first frame of the console does not wait for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from screens.format import (
    date_long,
    date_short,
    money_text,
    payment_text,
    risk_text,
    safe_line,
    status_text,
)
from screens.widgets.lazy_table import Column
from services.workflow import Workflow

if TYPE_CHECKING:
    from services.views import OrderRow

ALL = "tab-all"


def queue_columns(workflow: Workflow, *, wide: bool) -> list[Column[OrderRow]]:
    def date(row: OrderRow) -> Text:
        return Text(date_long(row.placed_at) if wide else date_short(row.placed_at))

    def money(row: OrderRow) -> Text:
        return money_text(row.total, row.currency)

    def status(row: OrderRow) -> Text:
        text = status_text(workflow, row.status)
        if wide and row.hold_reason is not None:
            text.append(f" ({row.hold_reason.value.replace('_', ' ')})", style="dim")
        return text

    def memo(row: OrderRow) -> Text:
        if not row.flags:
            return safe_line(row.last_memo)
        # ⚑: an import or a check left a warning (the order screen lists them).
        return Text.assemble(("⚑ ", "bold yellow"), safe_line(row.last_memo or row.flags[0]))

    return [
        Column("#", lambda r: Text(str(r.number)), 7, justify="right"),
        Column("Date", date, 10 if wide else 6),
        Column("Customer", lambda r: safe_line(r.customer.name), 10, flex=3, max_width=32),
        Column("Qty", lambda r: Text(str(r.items)), 3, justify="right"),
        Column("Total", money, 10 if wide else 9, justify="right"),
        Column("Payment", lambda r: payment_text(r.payment_status), 8, flex=1, max_width=11),
        Column("Status", status, 11, flex=1, max_width=36),
        Column("Memo", memo, 5, flex=3),
        Column("Risk", lambda r: risk_text(r.risk_score, r.risk_high_at), 4),
    ]
