"""The parts of the order screen, drawn from an `OrderDetail` as Rich renderables.

Pure functions, so each part can be checked on its own. Every value that came from a
customer, a vendor, a file or another operator passes through `safe()`/`safe_line()`:
literal text, control characters visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from screens.format import (
    date_long,
    date_time,
    money_text,
    payment_text,
    safe,
    safe_line,
    status_text,
)
from services.display import money
from services.risk import is_po_box
from services.views import (
    AddressView,
    HistoryEntry,
    NotificationView,
    OrderDetail,
)
from services.workflow import Workflow

MAIL_STATE_STYLE = {
    "queued": "yellow",
    "sending": "yellow",
    "sent": "green",
    "failed": "bold red",
    "dead": "bold red",
}


def _table(*headers: tuple[str, str]) -> Table:
    table = Table(
        box=None, pad_edge=False, padding=(0, 1), expand=True, show_edge=False, highlight=False
    )
    for header, justify in headers:
        table.add_column(
            header,
            justify="right" if justify == "r" else "left",
            no_wrap=True,
            overflow="ellipsis",
            ratio=None if justify in ("r", "n") else 1,
            header_style="bold",
        )
    return table


def header(detail: OrderDetail, workflow: Workflow) -> Text:
    row = detail.row
    text = Text.assemble(
        (f"Order #{row.number}", "bold"),
        "  ",
        status_text(workflow, row.status),
    )
    if row.hold_reason is not None:
        text.append(f" ({row.hold_reason.value.replace('_', ' ')})", style="yellow")
    text.append("  ·  ")
    text.append_text(payment_text(row.payment_status))
    text.append("  ·  ")
    text.append(money(row.total, row.currency), style="bold")
    flag = row.risk_flag
    if flag:
        text.append("  ·  ")
        text.append(
            f"risk {row.risk_score} ({flag})", style="bold red" if flag == "high" else "yellow"
        )
    text.append("\n")
    text.append(f"placed {date_time(row.placed_at)} via ", style="dim")
    text.append_text(safe_line(detail.channel, "dim", 20))
    text.append(f" · v{row.version} · updated {date_time(row.updated_at)} by ", style="dim")
    text.append_text(safe_line(row.updated_by or "—", "dim", 30))
    return text


def alerts(detail: OrderDetail) -> Text | None:
    """What needs the operator's eye first: risk reasons, PO box, hold, flags, customer note."""
    row = detail.row
    lines: list[Text] = []
    if row.risk_score:
        line = Text(
            f"⚑ Risk {row.risk_score}: ",
            style="bold red" if row.risk_flag == "high" else "bold yellow",
        )
        line.append_text(safe("; ".join(row.risk_reasons) or "no reasons recorded"))
        lines.append(line)
    for label, address in (("Ship-to", row.shipping_address), ("Bill-to", detail.billing_address)):
        if address is not None and any(is_po_box(x) for x in (address.line1, address.line2) if x):
            lines.append(
                Text(
                    f"⚠ {label} address is a PO box: only the postal service delivers there",
                    style="bold yellow",
                )
            )
            break
    if row.hold_reason is not None:
        line = Text(f"⏸ Held: {row.hold_reason.value.replace('_', ' ')}", style="bold yellow")
        if detail.hold_note:
            line.append(" — ")
            line.append_text(safe(detail.hold_note, keep_newlines=True))
        if detail.held_from is not None:
            line.append(f" (from {detail.held_from.value})", style="dim")
        lines.append(line)
    for flag in detail.flags:  # left by an import or a check (e.g. an unknown SKU)
        line = Text("⚑ Flag: ", style="bold yellow")
        line.append_text(safe(flag, keep_newlines=True))
        lines.append(line)
    if detail.note.strip():
        line = Text("✎ Customer note: ", style="bold")
        line.append_text(safe(detail.note.strip(), keep_newlines=True))
        lines.append(line)
    return Text("\n").join(lines) if lines else None


def address_block(address: AddressView | None, *, same_as: AddressView | None = None) -> Text:
    if address is None:
        return Text("—", style="dim")
    if same_as is not None and address == same_as:
        return Text("same as shipping", style="dim")
    text = Text("\n").join(safe_line(line) for line in address.lines())
    if address.phone:
        text.append("\n")
        text.append_text(safe_line(address.phone, "dim"))
    return text


def customer_block(detail: OrderDetail) -> Text:
    row = detail.row
    text = safe_line(row.customer.name or "—", "bold")
    text.append("\n")
    text.append_text(
        safe_line(row.customer.email or "no e-mail address", "" if row.customer.email else "italic")
    )
    text.append(f"\npays by {detail.payment_method}", style="dim")
    if detail.terms_accepted:
        text.append(" · terms accepted", style="dim")
    text.append(f"\nships {detail.shipping_method}", style="dim")
    return text


def lines_table(detail: OrderDetail) -> Table:
    table = _table(
        ("SKU", "n"),
        ("Item", ""),
        ("Qty", "r"),
        ("Packed", "r"),
        ("Shipped", "r"),
        ("Vendor", "n"),
        ("Bin", "n"),
    )
    for line in detail.lines:
        done = line.shipped >= line.quantity
        table.add_row(
            safe_line(line.sku, width=18),
            safe_line(line.name),
            Text(str(line.quantity)),
            Text(str(line.packed), style="green" if line.packed >= line.quantity else ""),
            Text(str(line.shipped), style="green" if done else ""),
            safe_line(line.vendor or "—", width=16),
            safe_line(line.bin or "—", width=10),
        )
    return table


def totals(detail: OrderDetail) -> Text:
    currency = detail.row.currency
    text = Text.assemble(
        "subtotal ",
        money_text(detail.subtotal, currency),
        "  shipping ",
        money_text(detail.shipping_total, currency),
        "  tax ",
        money_text(detail.tax_total, currency),
        "  total ",
        (money(detail.row.total, currency), "bold"),
        style="",
    )
    return text


def payments_table(detail: OrderDetail) -> RenderableType:
    if not detail.payments:
        return Text("no payments yet", style="dim italic")
    table = _table(("When", "n"), ("Kind", "n"), ("Amount", "r"), ("State", "n"), ("By", ""))
    for p in detail.payments:
        by = safe_line(p.actor or "—")
        if p.reason:
            by.append(" · ")
            by.append_text(safe_line(p.reason))
        table.add_row(
            Text(date_time(p.at)),
            Text(f"{p.kind} ({p.method})"),
            money_text(p.amount, detail.row.currency),
            Text(p.state, style="green" if p.state == "approved" else "yellow"),
            by,
        )
    return table


def shipments_table(detail: OrderDetail) -> RenderableType:
    if not detail.row.shipments:
        return Text("no shipments yet", style="dim italic")
    table = _table(
        ("Carrier", "n"), ("Tracking", "n"), ("Shipped", "n"), ("Expected", "n"), ("Lines", "")
    )
    for s in detail.row.shipments:
        table.add_row(
            safe_line(s.carrier, width=12),
            safe_line(s.tracking, width=34),
            Text(date_long(s.shipped_at) if s.shipped_at else "—"),
            Text(s.expected_delivery.isoformat() if s.expected_delivery else "—"),
            safe_line(", ".join(f"{sku}×{qty}" for sku, qty in s.lines)),
        )
    return table


def purchase_orders_table(detail: OrderDetail) -> RenderableType:
    if not detail.purchase_orders:
        return Text("no purchase orders", style="dim italic")
    table = _table(("PO", "n"), ("Vendor", "n"), ("Status", "n"), ("Lines", ""))
    for po in detail.purchase_orders:
        table.add_row(
            safe_line(po.number, width=16),
            safe_line(po.vendor, width=24),
            Text(po.status),
            safe_line(", ".join(f"{sku}×{qty}" for sku, qty in po.lines)),
        )
    return table


def returns_table(detail: OrderDetail) -> RenderableType:
    """Each return (RMA) on the order: what was asked back, what came back and where to."""
    if not detail.returns:
        return Text("no returns", style="dim italic")
    table = _table(("RMA", "n"), ("Status", "n"), ("Lines", ""), ("Reason", ""))
    for ret in detail.returns:
        lines = ", ".join(
            f"{ln.sku}×{ln.quantity}"
            + (f" ({ln.received} in, {ln.disposition.replace('_', ' ')})" if ln.received else "")
            for ln in ret.lines
        )
        status = ret.status
        if ret.exchange_order is not None:
            status += f" → #{ret.exchange_order}"
        table.add_row(
            Text(ret.rma), Text(status), safe_line(lines), safe_line(ret.reason, width=30)
        )
    return table


@dataclass(frozen=True)
class _Moment:
    at: datetime
    rank: int
    entry: HistoryEntry | NotificationView


def timeline(detail: OrderDetail, workflow: Workflow) -> RenderableType:
    """Status changes, memos and the messages they sent, oldest first."""
    moments = [_Moment(h.at, i * 2, h) for i, h in enumerate(detail.history)]
    moments += [_Moment(n.created_at, i * 2 + 1, n) for i, n in enumerate(detail.notifications)]
    moments.sort(key=lambda m: (m.at, isinstance(m.entry, NotificationView), m.rank))
    if not moments:
        return Text("no history", style="dim italic")
    parts: list[Text] = []
    for moment in moments:
        entry = moment.entry
        when = Text(date_time(moment.at) + "  ", style="dim")
        if isinstance(entry, HistoryEntry):
            line = when
            line.append_text(safe_line(entry.actor or "—", "bold", 20))
            line.append("  ")
            if entry.kind == "status":
                if entry.from_status is not None:
                    line.append_text(status_text(workflow, entry.from_status))
                    line.append(" → ")
                if entry.to_status is not None:
                    line.append_text(status_text(workflow, entry.to_status))
                if entry.reason:
                    line.append(f" ({entry.reason.replace('_', ' ')})", style="yellow")
            else:
                line.append(entry.kind, style="italic")
            parts.append(line)
            if entry.comment:
                comment = Text("    comment to customer: ", style="cyan")
                comment.append_text(safe(entry.comment, keep_newlines=True))
                parts.append(comment)
            if entry.memo:
                memo = Text("    staff memo: ", style="magenta")
                memo.append_text(safe(entry.memo, keep_newlines=True))
                parts.append(memo)
        else:
            line = when
            mark = "✉" if entry.channel == "email" else "↗"
            line.append(f"{mark} {entry.channel} {entry.event}", style="")
            if entry.channel == "email":
                line.append(" to ")
                line.append_text(safe_line(entry.to or "—", width=40))
            line.append("  ")
            line.append(entry.state, style=MAIL_STATE_STYLE.get(entry.state, ""))
            if entry.last_error:
                line.append(" — ")
                line.append_text(safe_line(entry.last_error, "red", 60))
            parts.append(line)
    return Group(*parts)
