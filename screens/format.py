"""How values look on screen: dates, money, statuses, risk, and untrusted text as `Text`.

Every piece of text that came from outside (customers, vendors, files, other operators)
goes through `safe()` or `safe_line()`: a `rich.text.Text` (never parsed as markup) whose
control characters are shown as visible symbols.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from screens.untrusted import one_line, visible
from services.display import RISK_HIGH_AT, money, risk_flag
from services.statuses import PaymentStatus, Status
from services.workflow import Workflow

STATUS_STYLE: dict[Status, str] = {
    Status.NEW: "bold cyan",
    Status.PROCESSING: "blue",
    Status.HELD: "bold yellow",
    Status.BACKORDER: "magenta",
    Status.READY_TO_SHIP: "bold green",
    Status.PARTIALLY_SHIPPED: "green",
    Status.SHIPPED: "green",
    Status.COMPLETE: "dim",
    Status.CANCELED: "dim red",
    Status.RETURN_REQUESTED: "yellow",
    Status.RETURNED: "dim",
}

PAYMENT_LABEL: dict[PaymentStatus, str] = {
    PaymentStatus.UNPAID: "unpaid",
    PaymentStatus.AUTHORIZED: "authorized",
    PaymentStatus.PAID: "paid",
    PaymentStatus.PARTIALLY_REFUNDED: "part refund",
    PaymentStatus.REFUNDED: "refunded",
    PaymentStatus.DECLINED: "declined",
    PaymentStatus.VOIDED: "voided",
}

PAYMENT_STYLE: dict[PaymentStatus, str] = {
    PaymentStatus.UNPAID: "yellow",
    PaymentStatus.AUTHORIZED: "cyan",
    PaymentStatus.PAID: "green",
    PaymentStatus.PARTIALLY_REFUNDED: "magenta",
    PaymentStatus.REFUNDED: "magenta",
    PaymentStatus.DECLINED: "bold red",
    PaymentStatus.VOIDED: "dim",
}


def safe(value: object, style: str = "", *, keep_newlines: bool = False) -> Text:
    """Untrusted text as literal Text: no markup, control characters visible."""
    return Text(visible("" if value is None else value, keep_newlines=keep_newlines), style=style)


def safe_line(value: object, style: str = "", width: int | None = None) -> Text:
    """One line of untrusted text (newlines and tabs made visible), optionally cut."""
    return Text(one_line("" if value is None else value, width), style=style)


def local(value: datetime) -> datetime:
    """Show times in the operator's time zone (the database keeps UTC)."""
    return value.astimezone() if value.tzinfo is not None else value


def date_short(value: datetime) -> str:
    return local(value).strftime("%b %d")


def date_long(value: datetime) -> str:
    return local(value).strftime("%Y-%m-%d")


def date_time(value: datetime) -> str:
    return local(value).strftime("%Y-%m-%d %H:%M")


def status_text(workflow: Workflow, status: Status) -> Text:
    return Text(workflow.labels.get(status, status.value), style=STATUS_STYLE.get(status, ""))


def payment_text(status: PaymentStatus) -> Text:
    return Text(PAYMENT_LABEL.get(status, status.value), style=PAYMENT_STYLE.get(status, ""))


def money_text(cents: int, currency: str) -> Text:
    return Text(money(cents, currency))


def risk_text(score: int, high_at: int = RISK_HIGH_AT) -> Text:
    """`high_at`: the shop's hold threshold, as the row carries it (`OrderRow.risk_high_at`)."""
    flag = risk_flag(score, high_at)
    if flag == "high":
        return Text(f"⚑{score}", style="bold red")
    if flag == "review":
        return Text(f"?{score}", style="yellow")
    return Text("")
