"""Amounts and line specs as operators type them, turned into cents and quantities.

Money is integer minor units everywhere; parsing goes through Decimal so `0.29` is 29
cents, not 28.999…; anything negative, malformed or finer than a cent is refused with
the reason, before any service opens a transaction.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from services.errors import InvalidInput

MAX_AMOUNT = 10**12  # cents: ten billion in any currency is a typo

_AMOUNT = re.compile(
    r"(?P<sign>[-+\u2212]?)\s*(?P<symbol>[$€£]?)\s*(?P<sign2>[-+\u2212]?)\s*"
    r"(?P<number>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?|[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
)


def parse_amount(text: str, *, what: str = "amount") -> int:
    """`12.50`, `$12.50`, `1,250` or `12` in cents; refuses negative, malformed and
    over-precise amounts (more than two decimals) and zero, saying which."""
    raw = text.strip()
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        raise InvalidInput(f"{what} {raw[:40]!r} is not an amount (try 12.50 or $12.50)")
    if "-" in (match["sign"], match["sign2"]) or "\u2212" in (match["sign"], match["sign2"]):
        raise InvalidInput(f"{what} {raw[:40]!r} is negative; give a positive amount")
    number = match["number"].replace(",", "")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise InvalidInput(f"{what} {raw[:40]!r} is not an amount") from None
    if "." in number and len(number.partition(".")[2].rstrip("0")) > 2:
        raise InvalidInput(f"{what} {raw[:40]!r} has more than two decimal places")
    cents = int(value * 100)
    if cents <= 0:
        raise InvalidInput(f"{what} must be more than zero")
    if cents >= MAX_AMOUNT:
        raise InvalidInput(f"{what} {raw[:40]!r} is too large")
    return cents


def parse_line_spec(text: str) -> tuple[str, int]:
    """`SKU=QTY` (a refund by line): the SKU as written and a whole quantity of 1 or more."""
    sku, sep, qty = text.rpartition("=")
    sku = sku.strip()
    if not sep or not sku:
        raise InvalidInput(f"line {text[:60]!r} should look like SKU=QTY (e.g. PL-10001=1)")
    if not re.fullmatch(r"[0-9]{1,6}", qty.strip()) or int(qty) < 1:
        raise InvalidInput(f"quantity in {text[:60]!r} must be a whole number of 1 or more")
    return sku, int(qty)
