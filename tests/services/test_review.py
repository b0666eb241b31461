"""Order review against real rows (SQLite and PostgreSQL): the facts behind the score, the
automatic hold on arrival, and who may release it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from services.container import Services
from services.errors import ConfigError, InvalidInput
from services.models import Product
from services.orders import NewAddress, NewOrder
from services.roles import NotAllowed
from services.seed import seed_database
from services.settings import load_settings
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.services.import_support import by_ref
from tests.services.test_import_arrival import START, order_rows, write

HOME = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="Springfield",
    postal_code="62701",
    region="IL",
    country="US",
)
ROLES = {"maria": "manager", "sam": "packer"}


@pytest.fixture
async def shop(services: Services) -> Services:
    await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    return services


@asynccontextmanager
async def opened(db_url: str, clock: FixedClock, **settings: Any) -> AsyncIterator[Services]:
    base: dict[str, Any] = {"db": db_url, "operator": "tester"}
    base.update(settings)
    s = await Services.open(load_settings(**base), clock=clock)
    try:
        yield s
    finally:
        await s.close()


async def place(
    s: Services,
    *,
    email: str = "ada@example.org",
    shipping: NewAddress = HOME,
    billing: NewAddress | None = None,
    lines: tuple[tuple[str, int], ...] = (("PL-10002", 1),),
    note: str = "",
    shipping_method: str = "standard",
    hours_ago: float = 0,
    clock: FixedClock | None = None,
) -> int:
    placed = clock.now - timedelta(hours=hours_ago) if clock else None
    detail = await s.orders.create(
        NewOrder(
            customer_name="Ada Lovelace",
            email=email,
            shipping=shipping,
            billing=billing,
            lines=lines,
            note=note,
            shipping_method=shipping_method,
            placed_at=placed,
        )
    )
    return detail.number


async def test_usual_value_is_the_median_of_recent_orders(
    shop: Services, clock: FixedClock
) -> None:
    for i in range(11):  # PL-10002 is 22.99; one bigger order does not move the median
        qty = 3 if i == 5 else 1
        await place(
            shop,
            email=f"c{i}@example.org",
            lines=(("PL-10002", qty),),
            hours_ago=100 + i,
            clock=clock,
            shipping=NewAddress(name="C", line1=f"{i} Elm St", city="X", postal_code="1"),
        )
    big = await place(shop, lines=(("PL-10011", 1),), clock=clock)  # 215.99
    view = await shop.review.review(big)
    assert view.usual_total == 2299
    assert view.reasons == ("order total is 9.4× the shop's usual order value (limit 3×)",)
    assert view.score == 25 and view.flag == "review"
    assert view.to_json()["facts"]["usual_total"] == 2299


async def test_no_usual_value_before_there_is_history(shop: Services) -> None:
    big = await place(shop, lines=(("PL-10011", 5),))
    view = await shop.review.review(big)
    assert view.usual_total is None and view.score == 0


async def test_velocity_counts_the_window_by_email_and_by_address(
    shop: Services, clock: FixedClock
) -> None:
    # Outside the 24-hour window: not counted.
    await place(shop, email="x@example.org", hours_ago=30, clock=clock)
    for hours in (20, 10, 1):
        await place(shop, email="Fast@Example.org", hours_ago=hours, clock=clock)
    n = await place(shop, email="fast@example.org", clock=clock)
    view = await shop.review.review(n)
    assert view.recent_same_email == 4
    assert "4 orders from this e-mail in the last 24 hours (limit 3)" in view.reasons
    # Other e-mails, one address written three ways.
    spellings = ["9 Pine Road", "9 pine road.", "9  PINE  ROAD"]
    for i, line1 in enumerate(spellings):
        addr = NewAddress(name="P", line1=line1, city="Oak", postal_code="12 345", country="us")
        await place(shop, email=f"p{i}@example.org", shipping=addr, clock=clock)
    addr = NewAddress(name="P", line1="9 Pine Road", city="Oak", postal_code="12345")
    last = await place(shop, email="p9@example.org", shipping=addr, clock=clock)
    view = await shop.review.review(last)
    assert (view.recent_same_email, view.recent_same_address) == (1, 4)
    assert "4 orders from this shipping address in the last 24 hours (limit 3)" in view.reasons


async def test_a_po_box_by_the_postal_service_is_not_a_risk(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    po_box = NewAddress(name="A", line1="PO Box 12", city="Reno", postal_code="89501")
    by_ups = await place(shop, shipping=po_box, shipping_method="UPS Ground")
    by_post = await place(
        shop, email="post@example.org", shipping=po_box, shipping_method="USPS Priority Mail"
    )
    assert (await shop.orders.show(by_ups)).row.risk_score == 40
    assert (await shop.orders.show(by_post)).row.risk_score == 0
    async with opened(db_url, clock, risk={"po_box_methods": ["ups"]}) as s:
        assert (await s.review.review(by_ups)).score == 0
        assert (await s.review.review(by_post)).score == 40


async def test_risky_orders_are_held_as_they_arrive(shop: Services) -> None:
    abroad = NewAddress(name="A", line1="1 Rue X", city="Paris", postal_code="75001", country="FR")
    po_box = NewAddress(name="A", line1="P.O. Box 77", city="Reno", postal_code="89501")
    n = await place(shop, shipping=po_box, billing=abroad, note="gift wrap please")
    detail = await shop.orders.show(n)
    assert detail.status is Status.HELD and detail.row.hold_reason is HoldReason.HIGH_RISK
    assert detail.row.risk_score == 80
    assert detail.hold_note == "risk score 80 (hold at 60)"
    held = detail.history[-1]
    assert (held.from_status, held.to_status, held.actor) == (
        Status.NEW,
        Status.HELD,
        "risk review",
    )
    assert "ships to a PO box (P.O. Box 77)" in held.memo
    assert detail.to_json()["risk"] == {
        "score": 80,
        "reasons": list(detail.row.risk_reasons),
        "flag": "high",
    }
    calm = await place(shop, email="calm@example.org")
    detail = await shop.orders.show(calm)
    assert detail.status is Status.NEW and detail.row.risk_score == 0


async def test_releasing_a_risk_hold_needs_a_manager_and_a_reason(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    po_box = NewAddress(name="A", line1="PO Box 9", city="Reno", postal_code="89501")
    abroad = NewAddress(name="A", line1="1 Rue X", city="Paris", postal_code="75001", country="FR")
    n = await place(shop, shipping=po_box, billing=abroad)
    before = await shop.orders.show(n)
    assert before.status is Status.HELD

    async with opened(db_url, clock, operator="sam", roles=ROLES) as sam:
        with pytest.raises(NotAllowed) as refused:
            await sam.orders.set_status(n, Status.NEW, memo="looks fine to me")
        assert str(refused.value) == (
            "sorry sam: releasing a high-risk hold needs the manager role (you are a packer); "
            "maria is a manager"
        )
    async with opened(db_url, clock, operator="maria", roles=ROLES) as maria:
        with pytest.raises(InvalidInput, match="needs a recorded reason"):
            await maria.orders.set_status(n, Status.NEW)
        unchanged = await maria.orders.show(n)
        assert unchanged.version == before.version and unchanged.status is Status.HELD
        released = await maria.orders.set_status(
            n, Status.NEW, memo="called the customer: the PO box is right"
        )
    assert released.status is Status.NEW and released.row.hold_reason is None
    last = released.history[-1]
    assert (last.actor, last.memo) == ("maria", "called the customer: the PO box is right")


async def test_a_risky_order_is_canceled_without_a_manager(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    """Leaving a high-risk hold for canceled needs no manager: the desk cancels (a packer
    may cancel no order at all, risky or not: services/roles.py)."""
    po_box = NewAddress(name="A", line1="PO Box 9", city="Reno", postal_code="89501")
    abroad = NewAddress(name="A", line1="1 Rue X", city="Paris", postal_code="75001", country="FR")
    n = await place(shop, shipping=po_box, billing=abroad)
    assert (await shop.orders.show(n)).status is Status.HELD
    async with opened(db_url, clock, operator="sam", roles=ROLES) as sam:
        with pytest.raises(NotAllowed, match="canceling an order"):
            await sam.orders.set_status(n, Status.CANCELED)
    async with opened(db_url, clock, operator="kim", roles=ROLES) as kim:  # staff
        canceled = await kim.orders.set_status(n, Status.CANCELED)
    assert canceled.status is Status.CANCELED


async def test_risk_rules_come_from_the_config(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    strict = {"hold_threshold": 10, "note_points": 15}
    async with opened(db_url, clock, risk=strict) as s:
        n = await place(s, note="please engrave: FOR ADA")
        detail = await s.orders.show(n)
    assert detail.status is Status.HELD and detail.row.risk_score == 15
    # The default shop would not hold it; re-reviewing updates the score, never the status.
    view = await shop.review.review(n)
    assert (view.score, view.previous_score, view.status) == (10, 15, Status.HELD)
    for bad in ({"hold_treshold": 5}, {"hold_threshold": 0}, {"high_value_factor": -1}):
        with pytest.raises(ConfigError):
            load_settings(db=db_url, risk=bad)


async def test_review_shows_what_to_read(shop: Services) -> None:
    bill = NewAddress(name="Ada", line1="1 Bill St", city="Springfield", postal_code="62701")
    n = await place(shop, billing=bill, note="\x1b[31mcall me\x1b[0m")
    view = await shop.review.review(n)
    assert view.note == "\x1b[31mcall me\x1b[0m"  # stored and handed over exactly
    assert view.reasons == ("customer left a note: read it before shipping",)
    assert view.shipping_address is not None and view.shipping_address.line1 == HOME.line1
    assert view.billing_address is not None and view.billing_address.line1 == "1 Bill St"


async def test_customized_goods_are_a_reason_to_read_first(
    shop: Services, db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    """Customization instructions arrive in a line's name as well as in the note: one order
    placed by hand, and a whole import batch (the batch path fetches the lines at once)."""
    async with shop.db.write_session() as session:
        await session.execute(
            update(Product).where(Product.sku == "PL-10002").values(name="Engraved pen")
        )
        await session.commit()
    n = await place(shop, lines=(("PL-10002", 1), ("PL-10003", 1)))
    detail = await shop.orders.show(n)
    reason = (
        "an item is made for this customer (engraved): check its instructions or artwork "
        "before shipping"
    )
    assert detail.row.risk_reasons == (reason,) and detail.row.risk_flag == "review"
    plain = await place(shop, email="plain@example.org", lines=(("PL-10003", 1),))
    assert (await shop.review.review(plain)).reasons == ()

    rows = [
        order_rows(f"#C{i}", email=f"c{i}@example.org", at=START + timedelta(minutes=i))
        for i in range(3)
    ]
    rows[1][0]["Lineitem name"] = "Widget - personalised: ADA"
    rows[2][0]["Notes"] = "Monogram: A.L."
    source = write(tmp_path / "orders.csv", rows)
    async with opened(db_url, clock) as s:
        report = await s.imports.import_file(source, "shopify")
        assert not report.rejected and len(report.created) == 3
        got = {ref: tuple((await by_ref(s, ref)).risk_reasons or ()) for ref, _ in report.created}
        assert got["#C0"] == ()
        assert got["#C1"] == (
            "an item is made for this customer (personalised): check its instructions or "
            "artwork before shipping",
        )
        assert got["#C2"] == (
            "customer left customization instructions in a note (monogram): read them before "
            "shipping",
        )
        for ref, number in report.created:  # the one-order path agrees with the batch
            assert (await s.review.review(number)).reasons == got[ref], ref
