"""Typing an order in by hand (services/order_entry.py) on a real SQLite file and a real
PostgreSQL server, and the edit screen's pure helpers (services/order_entry_spec.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.container import Services
from services.errors import NotFound
from services.models import Order
from services.order_entry_spec import (
    DraftAddress,
    DraftInvalid,
    EditRow,
    OrderDraft,
    edit_of,
    edit_preview,
    rebase,
)
from services.statuses import HoldReason, PaymentStatus, Status
from services.views import CustomerView, LineView, OrderDetail, OrderRow
from tests.conftest import FixedClock
from tests.services.test_returns_support import A, B, barcode_of, shop

HOME = DraftAddress(line1="1 Way", city="Oslo", postal_code="0150", country="no")


@pytest.fixture
async def s(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    async with shop(db_url, clock) as services:
        yield services


async def test_products_by_barcode_sku_or_name_with_stock(s: Services) -> None:
    code = await barcode_of(s, A)
    [hit] = await s.entry.find_products(code)
    assert hit.sku == A and hit.barcode == code
    assert hit.stock and "in MAIN" in hit.stock_text
    by_prefix = await s.entry.find_products(A[:6].lower())
    assert by_prefix and all(p.sku.startswith(A[:6]) for p in by_prefix)
    assert by_prefix[0].sku <= by_prefix[-1].sku
    by_name = await s.entry.find_products(hit.name.split()[0].upper())
    assert any(p.sku == A for p in by_name) or len(by_name) == 8
    assert await s.entry.find_products("%") == ()  # a wildcard is a character here
    assert (await s.entry.product(A)).sku == A
    with pytest.raises(NotFound, match="no product has SKU or barcode"):
        await s.entry.product("nothing-like-it")


async def test_create_checks_every_field_at_once_and_writes_nothing(s: Services) -> None:
    draft = OrderDraft(
        customer_name=" ",
        email="not an address",
        shipping=DraftAddress(country="Norway"),
        lines=(("NOPE", 1), (A, 0)),
        shipping_total="-3",
        payment_method="bitcoin",
    )
    with pytest.raises(DraftInvalid) as info:
        await s.entry.create(draft)
    assert set(info.value.errors) == {
        "customer_name",
        "email",
        "ship.line1",
        "ship.city",
        "ship.postal_code",
        "ship.country",
        "line:NOPE",
        f"line:{A}",
        "shipping_total",
        "payment_method",
    }
    assert "negative" in info.value.errors["shipping_total"]
    async with s.db.read_session() as session:
        assert (await session.execute(select(func.count()).select_from(Order))).scalar() == 0


async def test_create_goes_through_the_same_path_as_any_order(s: Services) -> None:
    draft = OrderDraft(
        customer_name="Jo <b>Nes</b>",
        email="jo@example.org",
        shipping=HOME,
        lines=((A, 2), (B, 1), (A, 1)),
        shipping_method="express",
        shipping_total="$7.99",
        payment_method="check",
        note="leave at the door\nthanks",
    )
    detail = await s.entry.create(draft)
    assert detail.status is Status.HELD  # paid by check: waits for the money, as any order
    assert detail.row.hold_reason is HoldReason.AWAITING_PAYMENT
    assert [(ln.sku, ln.quantity) for ln in detail.lines] == [(A, 3), (B, 1)]
    assert detail.shipping_method == "express" and detail.shipping_total == 799
    assert detail.row.customer.name == "Jo <b>Nes</b>" and detail.note == draft.note
    assert detail.row.shipping_address is not None
    assert detail.row.shipping_address.name == "Jo <b>Nes</b>"
    assert detail.row.shipping_address.country == "NO"

    [found] = await s.entry.find_customers("nes")
    assert found.email == "jo@example.org" and found.orders == 1
    assert found.address is not None and found.address.city == "Oslo"
    assert (await s.entry.find_customers("JO@EX"))[0].id == found.id
    assert await s.entry.find_customers("_") == ()


def _detail(lines: list[tuple[str, int, int]], subtotal: int) -> OrderDetail:
    row = OrderRow(
        number=1001,
        placed_at=datetime(2026, 11, 20, tzinfo=UTC),
        customer=CustomerView("Jo", "jo@example.org"),
        items=sum(q for _s, q, _p in lines),
        total=subtotal + 500,
        currency="USD",
        payment_status=PaymentStatus.UNPAID,
        status=Status.NEW,
        hold_reason=None,
        last_memo="",
        risk_score=0,
        risk_reasons=(),
        version=3,
        updated_at=datetime(2026, 11, 20, tzinfo=UTC),
        updated_by="x",
    )
    return OrderDetail(
        row=row,
        channel="manual",
        payment_method="card",
        terms_accepted=False,
        note="",
        shipping_method="standard",
        hold_note="",
        held_from=None,
        subtotal=subtotal,
        shipping_total=500,
        tax_total=0,
        billing_address=None,
        lines=tuple(
            LineView(i, sku, "", sku, q, p, 0, 0, 0, "stock", None, "")
            for i, (sku, q, p) in enumerate(lines)
        ),
        payments=(),
        purchase_orders=(),
        history=(),
        notifications=(),
    )


def test_preview_keeps_the_discount_and_edit_asks_only_for_changes() -> None:
    detail = _detail([("A", 2, 1000), ("B", 1, 500)], subtotal=2000)  # $5 discount
    rows = [
        EditRow("A", "", 1000, 3, 2),
        EditRow("B", "", 500, 1, 1),
        EditRow("C", "", 250, 2, 0),
    ]
    preview = edit_preview(detail, rows)
    assert (preview.subtotal, preview.total, preview.items) == (3500, 4000, 6)
    assert preview.difference == 1500 and "+$15.00" in preview.text()
    edit = edit_of(rows, customer_email="jo@example.org")
    assert edit.set == (("A", 3),) and edit.add == (("C", 2),) and edit.remove == ()
    assert edit.customer_email == "jo@example.org"


def test_rebase_keeps_my_changes_over_theirs_and_names_clashes() -> None:
    mine = [
        EditRow("A", "", 1000, 5, 2),  # I changed A
        EditRow("B", "", 500, 1, 1),  # untouched
        EditRow("C", "", 250, 1, 0),  # I added C
    ]
    fresh = [EditRow("A", "", 1000, 4, 4), EditRow("B", "", 500, 7, 7), EditRow("D", "", 1, 1, 1)]
    rows, clashes = rebase(mine, fresh)
    assert [(r.sku, r.quantity, r.original) for r in rows] == [
        ("A", 5, 4),
        ("B", 7, 7),
        ("C", 1, 0),
        ("D", 1, 1),
    ]
    assert clashes == ["A: 2 → 4 meanwhile; you set 5"]


def test_the_edit_screen_knows_what_the_edit_service_refuses() -> None:
    from services.order_edits import EDITABLE
    from services.order_entry_spec import NOT_EDITABLE

    assert not (EDITABLE & NOT_EDITABLE) and set(Status) == EDITABLE | NOT_EDITABLE
