"""Payment status derivation, exhaustively; and amounts as operators type them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.amounts import parse_amount, parse_line_spec
from services.errors import InvalidInput
from services.payment_state import derive_status, refund_source, tally
from services.statuses import PaymentStatus as P

TOTAL = 10_000


@dataclass(frozen=True)
class Row:
    kind: str
    amount: int
    state: str = "approved"


# A canonical way to reach each status (total 100.00).
REACH: dict[P, tuple[Row, ...]] = {
    P.UNPAID: (),
    P.AUTHORIZED: (Row("authorize", TOTAL),),
    P.PAID: (Row("charge", TOTAL),),
    P.PARTIALLY_REFUNDED: (Row("charge", TOTAL), Row("refund", 2_500)),
    P.REFUNDED: (Row("charge", TOTAL), Row("refund", TOTAL)),
    P.DECLINED: (Row("charge", TOTAL, "declined"),),
    P.VOIDED: (Row("authorize", TOTAL), Row("void", TOTAL)),
}

# Every event a payment row can add.
EVENTS: dict[str, Row] = {
    "authorize": Row("authorize", TOTAL),
    "authorize declined": Row("authorize", TOTAL, "declined"),
    "capture": Row("capture", TOTAL),
    "capture declined": Row("capture", TOTAL, "declined"),
    "charge": Row("charge", TOTAL),
    "charge part": Row("charge", 4_000),
    "charge declined": Row("charge", TOTAL, "declined"),
    "refund part": Row("refund", 2_500),
    "refund all": Row("refund", TOTAL),
    "refund declined": Row("refund", 2_500, "declined"),
    "void": Row("void", TOTAL),
    "void declined": Row("void", TOTAL, "declined"),
}

# (status, event) -> status. Every pair is listed; the derivation must be total (never crash)
# even for events the service would refuse (a refund of an unpaid order is refused there).
EXPECTED: dict[tuple[P, str], P] = {
    # unpaid
    (P.UNPAID, "authorize"): P.AUTHORIZED,
    (P.UNPAID, "authorize declined"): P.DECLINED,
    (P.UNPAID, "capture"): P.PAID,
    (P.UNPAID, "capture declined"): P.DECLINED,
    (P.UNPAID, "charge"): P.PAID,
    (P.UNPAID, "charge part"): P.UNPAID,  # a balance is due
    (P.UNPAID, "charge declined"): P.DECLINED,
    (P.UNPAID, "refund part"): P.REFUNDED,  # money out with none in: nothing left to keep
    (P.UNPAID, "refund all"): P.REFUNDED,
    (P.UNPAID, "refund declined"): P.UNPAID,
    (P.UNPAID, "void"): P.VOIDED,
    (P.UNPAID, "void declined"): P.UNPAID,
    # authorized
    (P.AUTHORIZED, "authorize"): P.AUTHORIZED,
    (P.AUTHORIZED, "authorize declined"): P.AUTHORIZED,
    (P.AUTHORIZED, "capture"): P.PAID,
    (P.AUTHORIZED, "capture declined"): P.AUTHORIZED,
    (P.AUTHORIZED, "charge"): P.PAID,
    (P.AUTHORIZED, "charge part"): P.AUTHORIZED,
    (P.AUTHORIZED, "charge declined"): P.AUTHORIZED,
    (P.AUTHORIZED, "refund part"): P.REFUNDED,
    (P.AUTHORIZED, "refund all"): P.REFUNDED,
    (P.AUTHORIZED, "refund declined"): P.AUTHORIZED,
    (P.AUTHORIZED, "void"): P.VOIDED,
    (P.AUTHORIZED, "void declined"): P.AUTHORIZED,
    # paid
    (P.PAID, "authorize"): P.PAID,
    (P.PAID, "authorize declined"): P.PAID,
    (P.PAID, "capture"): P.PAID,
    (P.PAID, "capture declined"): P.PAID,
    (P.PAID, "charge"): P.PAID,
    (P.PAID, "charge part"): P.PAID,
    (P.PAID, "charge declined"): P.PAID,
    (P.PAID, "refund part"): P.PARTIALLY_REFUNDED,
    (P.PAID, "refund all"): P.REFUNDED,
    (P.PAID, "refund declined"): P.PAID,
    (P.PAID, "void"): P.VOIDED,  # the charge is voided before it settled
    (P.PAID, "void declined"): P.PAID,
    # partially refunded
    (P.PARTIALLY_REFUNDED, "authorize"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "authorize declined"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "capture"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "capture declined"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "charge"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "charge part"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "charge declined"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "refund part"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "refund all"): P.REFUNDED,
    (P.PARTIALLY_REFUNDED, "refund declined"): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, "void"): P.REFUNDED,  # nothing captured stands; refunds remain
    (P.PARTIALLY_REFUNDED, "void declined"): P.PARTIALLY_REFUNDED,
    # refunded
    (P.REFUNDED, "authorize"): P.REFUNDED,
    (P.REFUNDED, "authorize declined"): P.REFUNDED,
    (P.REFUNDED, "capture"): P.PARTIALLY_REFUNDED,
    (P.REFUNDED, "capture declined"): P.REFUNDED,
    (P.REFUNDED, "charge"): P.PARTIALLY_REFUNDED,
    (P.REFUNDED, "charge part"): P.PARTIALLY_REFUNDED,
    (P.REFUNDED, "charge declined"): P.REFUNDED,
    (P.REFUNDED, "refund part"): P.REFUNDED,
    (P.REFUNDED, "refund all"): P.REFUNDED,
    (P.REFUNDED, "refund declined"): P.REFUNDED,
    (P.REFUNDED, "void"): P.REFUNDED,
    (P.REFUNDED, "void declined"): P.REFUNDED,
    # declined
    (P.DECLINED, "authorize"): P.AUTHORIZED,
    (P.DECLINED, "authorize declined"): P.DECLINED,
    (P.DECLINED, "capture"): P.PAID,
    (P.DECLINED, "capture declined"): P.DECLINED,
    (P.DECLINED, "charge"): P.PAID,
    (P.DECLINED, "charge part"): P.UNPAID,
    (P.DECLINED, "charge declined"): P.DECLINED,
    (P.DECLINED, "refund part"): P.REFUNDED,
    (P.DECLINED, "refund all"): P.REFUNDED,
    (P.DECLINED, "refund declined"): P.DECLINED,
    (P.DECLINED, "void"): P.VOIDED,
    (P.DECLINED, "void declined"): P.DECLINED,
    # voided
    (P.VOIDED, "authorize"): P.AUTHORIZED,
    (P.VOIDED, "authorize declined"): P.DECLINED,
    (P.VOIDED, "capture"): P.PAID,
    (P.VOIDED, "capture declined"): P.DECLINED,
    (P.VOIDED, "charge"): P.PAID,
    (P.VOIDED, "charge part"): P.UNPAID,
    (P.VOIDED, "charge declined"): P.DECLINED,
    (P.VOIDED, "refund part"): P.REFUNDED,
    (P.VOIDED, "refund all"): P.REFUNDED,
    (P.VOIDED, "refund declined"): P.VOIDED,
    (P.VOIDED, "void"): P.VOIDED,
    (P.VOIDED, "void declined"): P.VOIDED,
}


def test_the_table_covers_every_status_and_event() -> None:
    assert {s for s, _ in EXPECTED} == set(P)
    assert set(EXPECTED) == {(s, e) for s in P for e in EVENTS}


@pytest.mark.parametrize("status", list(P))
def test_each_status_is_reached_by_its_canonical_rows(status: P) -> None:
    assert derive_status(REACH[status], TOTAL) is status


@pytest.mark.parametrize(("status", "event"), sorted(EXPECTED))
def test_every_transition(status: P, event: str) -> None:
    rows = (*REACH[status], EVENTS[event])
    assert derive_status(rows, TOTAL) is EXPECTED[(status, event)]


@pytest.mark.parametrize("state", ["error", "unknown", "pending"])
@pytest.mark.parametrize("status", list(P))
def test_unsettled_rows_never_move_the_status(status: P, state: str) -> None:
    for kind in ("authorize", "capture", "charge", "refund", "void"):
        rows = (*REACH[status], Row(kind, TOTAL, state))
        assert derive_status(rows, TOTAL) is status


def test_partial_charges_add_up_to_paid() -> None:
    rows = [Row("charge", 4_000)]
    assert derive_status(rows, TOTAL) is P.UNPAID
    rows.append(Row("charge", 6_000))
    assert derive_status(rows, TOTAL) is P.PAID
    t = tally(rows)
    assert t.captured == TOTAL and [rem for _, rem in t.captures] == [4_000, 6_000]
    assert refund_source(t) == (rows[1], 6_000)  # refunds go back to the newest first
    rows.append(Row("refund", 5_000))
    assert [rem for _, rem in tally(rows).captures] == [4_000, 1_000]
    assert derive_status(rows, TOTAL) is P.PARTIALLY_REFUNDED
    rows.append(Row("refund", 3_000))  # the newest has 1,000 left; the rest from the older
    t = tally(rows)
    assert [rem for _, rem in t.captures] == [2_000, 0]
    assert refund_source(t) == (rows[0], 2_000)
    rows.append(Row("refund", 2_000))
    assert refund_source(tally(rows)) is None
    assert derive_status(rows, TOTAL) is P.REFUNDED


# -- properties over any sequence of rows -----------------------------------------------------

KINDS = st.sampled_from(["authorize", "capture", "charge", "refund", "void"])
STATES = st.sampled_from(["approved", "declined", "error", "unknown", "pending"])
ROWS = st.lists(
    st.builds(Row, kind=KINDS, amount=st.integers(min_value=1, max_value=20_000), state=STATES),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(rows=ROWS, total=st.integers(min_value=0, max_value=20_000))
def test_properties_of_any_history(rows: list[Row], total: int) -> None:
    status = derive_status(rows, total)
    t = tally(rows)
    approved = [r for r in rows if r.state == "approved"]
    # What each status promises about the money.
    if status is P.PAID:
        assert t.captured >= total and t.refunded == 0 and t.captured > 0
    if status is P.PARTIALLY_REFUNDED:
        assert 0 < t.refunded < t.captured
    if status is P.REFUNDED:
        assert t.refunded >= t.captured and t.refunded + t.captured > 0
    if status is P.AUTHORIZED:
        assert t.authorized > 0
    if status is P.DECLINED:
        assert any(r.state == "declined" for r in rows)
    if status is P.VOIDED:
        assert any(r.kind == "void" for r in approved)
    if not approved and not any(r.state == "declined" for r in rows):
        assert status is P.UNPAID
    # Money never goes negative; what is left to refund is what was captured, less refunds.
    assert t.captured >= 0 and t.refunded >= 0
    left = sum(rem for _, rem in t.captures)
    assert max(t.captured - t.refunded, 0) <= left <= t.captured
    # Rows that did not settle do not count, wherever they sit in the history.
    settled = [r for r in rows if r.state in ("approved", "declined")]
    assert derive_status(settled, total) is status


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, refund=st.integers(min_value=1, max_value=20_000))
def test_an_approved_refund_never_makes_an_order_more_paid(rows: list[Row], refund: int) -> None:
    order = [P.REFUNDED, P.PARTIALLY_REFUNDED, P.PAID]
    before = derive_status(rows, 10_000)
    after = derive_status([*rows, Row("refund", refund)], 10_000)
    if before in order:
        assert after in order and order.index(after) <= order.index(before)


# -- amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.50", 1250),
        ("$12.50", 1250),
        (" $ 12.5 ", 1250),
        ("12", 1200),
        ("12.", 1200),
        (".5", 50),
        ("0.29", 29),
        ("1,250.00", 125_000),
        ("+3", 300),
        ("€7.10", 710),
        ("12.500", 1250),  # trailing zeros are not extra precision
    ],
)
def test_amounts(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-5", "negative"),
        ("$-5.00", "negative"),
        ("\u22125", "negative"),  # the typographic minus sign
        ("12.505", "more than two decimal places"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("abc", "not an amount"),
        ("", "not an amount"),
        ("1e3", "not an amount"),
        ("NaN", "not an amount"),
        ("12,50", "not an amount"),
        ("1,2345", "not an amount"),
        ("١٢", "not an amount"),  # Arabic-Indic digits
        ("12 50", "not an amount"),
        ("99999999999", "too large"),
    ],
)
def test_bad_amounts_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        parse_amount(text)


def test_line_specs() -> None:
    assert parse_line_spec("PL-10001=2") == ("PL-10001", 2)
    assert parse_line_spec(" A=B=3 ") == ("A=B", 3)
    for bad in ("PL-10001", "=2", "PL-10001=0", "PL-10001=-1", "PL-10001=x", "PL=1.5"):
        with pytest.raises(InvalidInput):
            parse_line_spec(bad)
