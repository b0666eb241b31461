"""Money, dates and risk as plain text: shared by the views, documents and screens.

Kept apart from the view dataclasses (services.views, ~50 ms to import) so the console's
first frame, which formats nothing yet but imports these helpers, does not pay for them.
"""

from __future__ import annotations

from datetime import date, datetime

RISK_REVIEW_AT = 1
# Only a fallback: the queue flags "high" from the shop's own hold threshold (the review
# service sets OrderService.risk_high_at from the `[risk]` settings). Equal to
# risk.DEFAULT_HOLD_THRESHOLD (a test keeps them so); not imported from there, since the
# console's first frame imports this module and services.risk compiles its patterns.
RISK_HIGH_AT = 60
RMA_PREFIX = "RMA-"


def money(cents: int, currency: str = "USD") -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}.get(currency, "")
    text = f"{sign}{symbol}{whole:,}.{frac:02d}"
    return text if symbol else f"{text} {currency}"


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def risk_flag(score: int, high_at: int = RISK_HIGH_AT) -> str:
    if score >= high_at:
        return "high"
    return "review" if score >= RISK_REVIEW_AT else ""


def rma_name(return_id: int) -> str:
    """A return's name as staff and customers see it (returns.id 17 is RMA-17)."""
    return f"{RMA_PREFIX}{return_id}"
