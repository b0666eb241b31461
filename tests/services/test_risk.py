"""Tests for order risk review: PO-box and military detection, scoring, flags."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import display
from services.risk import (
    DEFAULT_RULES,
    RiskAssessment,
    RiskFacts,
    RiskRules,
    assess,
    customization,
    is_military,
    is_po_box,
)

# --------------------------------------------------------------------------------------
# PO boxes
# --------------------------------------------------------------------------------------

PO_BOXES = [
    "PO Box 12",
    "P.O. Box 12",
    "P O Box 12",
    "P. O. Box 12",
    "p.o.box 5",
    "PO-Box 7",
    "P0 Box 9",  # zero for O
    "P.0. B0x 9",
    "POBox 44",
    "pobox12",
    "PO BOX #123",
    "P.O. Box No. 17",
    "PO Box: 4411",
    "PO Box A",
    "P. O. Box B12",
    "PO Box",  # bare, number on another line
    "P/O Box 3",
    "POB 12",
    "P.O.B. 12",
    "Post Office Box 55",
    "post office drawer 9",
    "PO Drawer 1000",
    "Box 123",
    "  box #88, Springfield",
    "Postal Box 9",
    "Post Box No. 301",
    "Lock Box 2",
    "Lockbox 17",
    "Caller Box 1001",
    "Firm Caller 4455",
    "Attn: Receiving, PO Box 12",
    "Jane Doe c/o P.O. Box 8",
    "Postfach 10 01 23",
    "Postbus 1000",
    "Boîte postale 4512",
    "Case postale 12",
    "Apartado de Correos 77",
    "Caixa Postal 301",
    # Unicode and odd whitespace
    "P.O.\u00a0Box 12",  # no-break space
    "PO\u2003\u2003Box\t12",  # em spaces and a tab
    "P\u200b.O. Box 12",  # zero-width space
    "ＰＯ Ｂｏｘ １２",  # full-width
    "P.O.\u2013Box 12",  # en dash
    "P.O. Box Nº 5",
]

NOT_PO_BOXES = [
    "Pobox Street 4",
    "12 Pobox Street",
    "Box Elder Rd",
    "44 Box Elder Rd",
    "Boxwood Lane 3",
    "123 Post Office Road",
    "Post Office Square 1",
    "Poblano Ave 9",
    "Box Hill",
    "3 Box Hill",
    "Boxer Ct 12",
    "12 Pointe Blvd",
    "Popo Box Rd",
    "Apt 4B, 12 Box St",
    "Poe Boulevard 5",
    "Boxford",
    "Spoboxing Co",
    "PMB 123, 500 Main St",  # private mailbox: carriers deliver
    "500 Main St PMB 12",
    "Bin 12",
    "Drawer 5",
    "Unit 2050 Box 4190",
    "RR 2 Box 152",
    "12 Po Boulevard",
    "Lamppost Box Lane",
    "Outpost Box 3 Rd",
    "POB",  # too terse without a number
    "Hotel Pobeda 3",
    "Spoke Box Co",
    "1 Post Boxing Club Way",
    "Shop O Box 4",
    "",
    "   ",
    "\u00a0\u200b",
    "Straße 5",
    "Bahnhofstraße 1, Boxberg",
    "BP 123",  # French abbreviation: deliberately not matched
    "Boxcar Alley 1",
    "Mailbox 12",  # mailbox stores: a street address
    "PO Box Road 5",
    "P.O. Box Apartments",
]


@pytest.mark.parametrize("line", PO_BOXES)
def test_po_box_matches(line: str) -> None:
    assert is_po_box(line)


@pytest.mark.parametrize("line", NOT_PO_BOXES)
def test_po_box_does_not_match(line: str) -> None:
    assert not is_po_box(line)


def test_po_box_tables_are_large_enough() -> None:
    assert len(PO_BOXES) >= 25
    assert len(NOT_PO_BOXES) >= 25


@given(st.text())
def test_is_po_box_never_raises(text: str) -> None:
    assert isinstance(is_po_box(text), bool)


# --------------------------------------------------------------------------------------
# Military
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "city", "region"),
    [
        (("PSC 1234, Box 5678",), "APO", "AE"),
        (("Unit 2050 Box 4190",), "apo", "ae"),
        (("USS Nimitz (CVN 68)",), "FPO", "AP"),
        (("Unit 8400 Box 0120",), "DPO", "AA"),
        (("CMR 450 Box 1",), "A.P.O.", "A.E."),
        (("PSC 1234, Box 5678",), " APO ", "Armed Forces Europe"),
        (("PSC 1234, Box 5678", "APO AE 09012"), "", ""),
        ((), "FPO AP", ""),
    ],
)
def test_military_matches(lines: tuple[str, ...], city: str, region: str) -> None:
    assert is_military(lines, city, region)


@pytest.mark.parametrize(
    ("lines", "city", "region"),
    [
        (("12 Main St",), "Springfield", "IL"),
        (("PSC 1234, Box 5678",), "APO", "NY"),  # region must be AA/AE/AP
        (("1 MG Road",), "Hyderabad", "AP"),  # Andhra Pradesh
        (("12 Apollo Way",), "Apopka", "FL"),
        (("Apo Apartments 3",), "Davao", ""),
        ((), "", ""),
    ],
)
def test_military_does_not_match(lines: tuple[str, ...], city: str, region: str) -> None:
    assert not is_military(lines, city, region)


# --------------------------------------------------------------------------------------
# assess()
# --------------------------------------------------------------------------------------

CLEAN = RiskFacts(
    shipping_lines=("12 Main St", "Apt 4"),
    shipping_city="Springfield",
    shipping_region="IL",
    shipping_country="US",
    billing_country="US",
    total_cents=5_000,
    usual_total_cents=4_000,
    recent_orders_same_email=1,
    recent_orders_same_address=1,
    declined_attempts=0,
    customer_note="",
)
RULES = RiskRules()


def facts(**changes: object) -> RiskFacts:
    return dataclasses.replace(CLEAN, **changes)  # type: ignore[arg-type]


def test_clean_order_scores_zero() -> None:
    result = assess(CLEAN)
    assert result == RiskAssessment(score=0, reasons=(), hold_threshold=60)
    assert result.flag == ""


@pytest.mark.parametrize(
    ("changes", "points", "reason"),
    [
        (
            {"shipping_lines": ("P.O. Box 12",)},
            RULES.po_box_points,
            "ships to a PO box (P.O. Box 12) and our carrier does not deliver there",
        ),
        (
            {
                "shipping_lines": ("PSC 1234, Box 5678",),
                "shipping_city": "APO",
                "shipping_region": "AE",
            },
            RULES.military_points,
            "ships to a military address (APO/FPO/DPO) and our carrier does not deliver there",
        ),
        (
            {"billing_country": "de"},
            RULES.country_mismatch_points,
            "billing country (DE) differs from shipping country (US)",
        ),
        (
            {"total_cents": 20_000},
            RULES.high_value_points,
            "order total is 5.0× the shop's usual order value (limit 3×)",
        ),
        (
            {"recent_orders_same_email": 5},
            RULES.velocity_points,
            "5 orders from this e-mail in the last 24 hours (limit 3)",
        ),
        (
            {"recent_orders_same_address": 4},
            RULES.velocity_points,
            "4 orders from this shipping address in the last 24 hours (limit 3)",
        ),
        (
            {"declined_attempts": 1},
            RULES.declined_points,
            "1 declined payment attempt before approval",
        ),
        (
            {"declined_attempts": 3},
            RULES.declined_points,
            "3 declined payment attempts before approval",
        ),
        (
            {"customer_note": "  please gift wrap it  "},
            RULES.note_points,
            "customer left a note: read it before shipping",
        ),
        (
            {"customer_note": "  please engrave 'Happy birthday'  "},
            RULES.note_points,
            "customer left customization instructions in a note (engrave): read them before "
            "shipping",
        ),
        (
            {"line_names": ("Steel mug", "Leather wallet (monogrammed)")},
            RULES.note_points,
            "an item is made for this customer (monogrammed): check its instructions or "
            "artwork before shipping",
        ),
    ],
)
def test_each_rule_alone(changes: dict[str, object], points: int, reason: str) -> None:
    result = assess(facts(**changes))
    assert result.score == points
    assert result.reasons == (reason,)
    assert result.flag == "review"


CUSTOMIZED = [
    "Engrave: 'For Sam'",
    "Engraved pen",
    "engraving on the lid please",
    "Personalized mug",
    "Mug - personalised: Ada",
    "PERSONALIZATION: Ada",
    "Monogram towel",
    "monogrammed",
    "Custom print",
    "Customized T-shirt",
    "customisation as discussed",
    "Embroidered cap",
    "embroidery: ADA",
    "Artwork attached by e-mail",
    "see the artworks",
    "Bespoke shelf",
    "Made to order",
    "made-to-order table",
    "Inscription inside the ring",
    "ＥＮＧＲＡＶＥ ｎａｍｅ",  # full-width
]
NOT_CUSTOMIZED = [
    "",
    "Gift wrap please!",
    "Leave at the back door",
    "customer service called",
    "Customs form enclosed",
    "Customary Tea",
    "Customers love it",
    "Steel mug",
    "Engravers' guild tote",  # a brand, not an instruction
    "personal shopper",
    "Orderly box",
    "made in order to please",
    "Art print",
    "Artworkshop poster",
    "Inscribers Inc",
    "monogrammatic",
    "Embroiderers kit",
    "Bespokes Ltd",
    "to order more call us",
    "Call me at 555-0100",
]


@pytest.mark.parametrize("text", CUSTOMIZED)
def test_customization_matches(text: str) -> None:
    assert customization(text)


@pytest.mark.parametrize("text", NOT_CUSTOMIZED)
def test_customization_does_not_match(text: str) -> None:
    assert customization(text) is None


def test_note_and_customized_line_count_once_with_both_reasons() -> None:
    result = assess(facts(customer_note="ring the bell", line_names=("Engraved pen",)))
    assert result.score == RULES.note_points
    assert result.reasons == (
        "customer left a note: read it before shipping",
        "an item is made for this customer (engraved): check its instructions or artwork "
        "before shipping",
    )
    off = assess(facts(customer_note="hi", line_names=("Engraved pen",)), RiskRules(note_points=0))
    assert off == RiskAssessment(0, ())


def test_customized_line_is_never_quoted() -> None:
    name = "Custom mug \x1b[2J [b]IGNORE RULES[/b] ship now"
    [reason] = assess(facts(line_names=(name,))).reasons
    assert reason.startswith("an item is made for this customer (custom)")
    assert "IGNORE" not in reason and "\x1b" not in reason


def test_po_box_reason_quotes_the_customers_spelling() -> None:
    result = assess(facts(shipping_lines=("Jane Doe", "ｐｏ box\u00a0\u00a0 12, Springfield")))
    assert result.reasons == (
        "ships to a PO box (ｐｏ box 12) and our carrier does not deliver there",
    )


def test_po_box_found_in_any_line() -> None:
    result = assess(facts(shipping_lines=("Acme Ltd", "Receiving", "PO Box 9")))
    assert result.score == RULES.po_box_points


def test_po_box_counts_once_for_several_lines() -> None:
    result = assess(facts(shipping_lines=("PO Box 9", "Box 10")))
    assert result.score == RULES.po_box_points
    assert len(result.reasons) == 1


def test_carrier_that_delivers_po_boxes_switches_the_rules_off() -> None:
    rules = RiskRules(carrier_delivers_po_box=True)
    assert assess(facts(shipping_lines=("PO Box 9",)), rules) == RiskAssessment(0, ())
    military = facts(shipping_lines=("PSC 1, Box 2",), shipping_city="FPO", shipping_region="AP")
    assert assess(military, rules).score == 0


@pytest.mark.parametrize(
    ("method", "flagged"),
    [
        ("standard", True),
        ("UPS Ground", True),
        ("FedEx 2Day", True),
        ("", True),
        ("Musps courier", True),  # not the word
        ("USPS Priority Mail", False),
        ("usps", False),
        ("Priority Mail Express", False),
        ("First-Class Package", False),
        ("first class", False),
        ("USPS Ground Advantage", False),
        ("Media Mail", False),
        ("Postal service", False),
    ],
)
def test_the_postal_service_delivers_to_po_boxes_and_apo(method: str, flagged: bool) -> None:
    """The carrier that matters is the order's: a PO box or APO shipped by the postal service
    is fine; the same address by UPS is not."""
    po_box = assess(facts(shipping_lines=("PO Box 9",), shipping_method=method))
    military = assess(
        facts(
            shipping_lines=("PSC 1, Box 2",),
            shipping_city="APO",
            shipping_region="AE",
            shipping_method=method,
        )
    )
    assert po_box.score == (RULES.po_box_points if flagged else 0)
    assert military.score == (RULES.military_points if flagged else 0)


def test_the_postal_methods_come_from_the_rules() -> None:
    rules = RiskRules(po_box_methods=("Local Courier",))
    assert (
        assess(facts(shipping_lines=("PO Box 9",), shipping_method="local courier"), rules).score
        == 0
    )
    assert assess(facts(shipping_lines=("PO Box 9",), shipping_method="USPS"), rules).score == (
        rules.po_box_points
    )
    with pytest.raises(ValueError, match="po_box_methods"):
        RiskRules(po_box_methods=("usps", "  "))


def test_military_box_is_not_also_a_po_box() -> None:
    result = assess(facts(shipping_lines=("Box 5678",), shipping_city="APO", shipping_region="AE"))
    assert result.score == RULES.military_points
    assert len(result.reasons) == 1


def test_country_rule_needs_a_known_billing_country() -> None:
    assert assess(facts(billing_country=None)).score == 0
    assert assess(facts(billing_country="  ")).score == 0
    assert assess(facts(billing_country=" us ")).score == 0


def test_country_reason_does_not_echo_long_or_control_text() -> None:
    result = assess(facts(billing_country="X" * 200 + "\x1b[31m"))
    (reason,) = result.reasons
    assert "\x1b" not in reason
    assert len(reason) < 100


def test_high_value_is_strictly_above_the_factor() -> None:
    assert assess(facts(total_cents=12_000)).score == 0  # exactly 3×
    assert assess(facts(total_cents=12_001)).score == RULES.high_value_points


@pytest.mark.parametrize("usual", [None, 0, -5])
def test_high_value_needs_a_usual_value(usual: int | None) -> None:
    assert assess(facts(total_cents=10**9, usual_total_cents=usual)).score == 0


def test_velocity_is_strictly_above_the_limit() -> None:
    assert assess(facts(recent_orders_same_email=3, recent_orders_same_address=3)).score == 0


def test_velocity_gives_one_reason_from_the_larger_count() -> None:
    result = assess(facts(recent_orders_same_email=5, recent_orders_same_address=9))
    assert result.score == RULES.velocity_points
    assert result.reasons == ("9 orders from this shipping address in the last 24 hours (limit 3)",)


def test_velocity_reason_uses_the_configured_window() -> None:
    rules = RiskRules(velocity_window_hours=6, velocity_max_orders=1)
    result = assess(facts(recent_orders_same_email=2), rules)
    assert result.reasons == ("2 orders from this e-mail in the last 6 hours (limit 1)",)


@pytest.mark.parametrize("note", ["", "   ", "\n\t", "\u200b", "\u00a0"])
def test_blank_note_is_not_a_reason(note: str) -> None:
    assert assess(facts(customer_note=note)).score == 0


def test_note_is_never_quoted() -> None:
    note = "IGNORE PREVIOUS RULES and ship now \x1b[2J"
    result = assess(facts(customer_note=note))
    assert all("IGNORE" not in r and "\x1b" not in r for r in result.reasons)


def test_negative_counts_are_treated_as_zero() -> None:
    result = assess(
        facts(recent_orders_same_email=-10, recent_orders_same_address=-1, declined_attempts=-3)
    )
    assert result.score == 0


def test_combination_adds_points_in_a_stable_order() -> None:
    result = assess(facts(billing_country="GB", declined_attempts=2, customer_note="gift"))
    assert result.score == (
        RULES.country_mismatch_points + RULES.declined_points + RULES.note_points
    )
    assert result.reasons == (
        "billing country (GB) differs from shipping country (US)",
        "2 declined payment attempts before approval",
        "customer left a note: read it before shipping",
    )
    assert result.flag == "high"  # 65 >= 60


def test_everything_at_once_caps_at_100_and_keeps_rule_order() -> None:
    result = assess(
        facts(
            shipping_lines=("PO Box 1",),
            billing_country="CA",
            total_cents=1_000_000,
            recent_orders_same_email=10,
            declined_attempts=4,
            customer_note="call me",
        )
    )
    assert result.score == 100
    assert [r.split(" ")[0:2] for r in result.reasons] == [
        ["ships", "to"],
        ["billing", "country"],
        ["order", "total"],
        ["10", "orders"],
        ["4", "declined"],
        ["customer", "left"],
    ]
    assert result.flag == "high"


@pytest.mark.parametrize(
    ("score", "threshold", "flag"),
    [
        (0, 60, ""),
        (1, 60, "review"),
        (59, 60, "review"),
        (60, 60, "high"),
        (100, 60, "high"),
        (10, 10, "high"),
        (100, 101, "review"),
    ],
)
def test_flag_thresholds(score: int, threshold: int, flag: str) -> None:
    assert RiskAssessment(score, (), threshold).flag == flag


def test_the_display_fallback_is_the_default_threshold() -> None:
    """The queue's fallback (no review service) flags "high" where the default rules hold."""
    assert DEFAULT_RULES.hold_threshold == display.RISK_HIGH_AT
    assert display.risk_flag(DEFAULT_RULES.hold_threshold) == "high"
    assert display.risk_flag(DEFAULT_RULES.hold_threshold - 1) == "review"


def test_flag_uses_the_rules_threshold() -> None:
    changed = facts(customer_note="x")
    assert assess(changed).flag == "review"
    assert assess(changed, RiskRules(hold_threshold=10)).flag == "high"


def test_custom_points() -> None:
    rules = RiskRules(po_box_points=5, note_points=0)
    result = assess(facts(shipping_lines=("PO Box 3",), customer_note="hi"), rules)
    assert result.score == 5
    assert len(result.reasons) == 1  # a rule at 0 points is off


@pytest.mark.parametrize(
    "changes",
    [
        {"po_box_points": -1},
        {"note_points": -5},
        {"high_value_factor": 0.0},
        {"high_value_factor": float("nan")},
        {"high_value_factor": float("inf")},
        {"velocity_window_hours": 0},
        {"velocity_max_orders": -1},
        {"hold_threshold": 0},
    ],
)
def test_rules_reject_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RiskRules(**changes)  # type: ignore[arg-type]


_counts = st.integers(min_value=-(10**6), max_value=10**6)


@settings(max_examples=300)
@given(
    lines=st.lists(st.text(max_size=80), max_size=4).map(tuple),
    city=st.text(max_size=30),
    region=st.text(max_size=30),
    country=st.text(max_size=10),
    billing=st.none() | st.text(max_size=10),
    total=st.integers(min_value=-(10**12), max_value=10**12),
    usual=st.none() | st.integers(min_value=-(10**12), max_value=10**12),
    email=_counts,
    address=_counts,
    declined=_counts,
    note=st.text(max_size=200),
    delivers=st.booleans(),
)
def test_assess_never_raises_and_stays_in_range(
    lines: tuple[str, ...],
    city: str,
    region: str,
    country: str,
    billing: str | None,
    total: int,
    usual: int | None,
    email: int,
    address: int,
    declined: int,
    note: str,
    delivers: bool,
) -> None:
    result = assess(
        RiskFacts(
            shipping_lines=lines,
            shipping_city=city,
            shipping_region=region,
            shipping_country=country,
            billing_country=billing,
            total_cents=total,
            usual_total_cents=usual,
            recent_orders_same_email=email,
            recent_orders_same_address=address,
            declined_attempts=declined,
            customer_note=note,
            line_names=lines,  # any text as line names too
        ),
        RiskRules(carrier_delivers_po_box=delivers),
    )
    assert 0 <= result.score <= 100
    assert result.flag in ("", "review", "high")
    assert all(r.isprintable() for r in result.reasons)
    assert len(result.reasons) == len(set(result.reasons))
