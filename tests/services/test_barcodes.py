"""Scan parsing: what a keyboard-wedge scanner or an operator can type into the scan field."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.barcodes import (
    COMMAND_CODES,
    GS,
    MAX_SCAN_LENGTH,
    Command,
    Kind,
    Scan,
    ScanError,
    gtin_check_digit,
    is_valid_gtin,
    make_gtin,
    parse_scan,
    printable,
    to_gtin14,
)

# Published examples (GS1, Wikipedia, ISBN agency); each checked against the mod-10 rule.
PUBLISHED = [
    ("4006381333931", "EAN-13"),
    ("9780306406157", "EAN-13"),  # ISBN-13 978-0-306-40615-7
    ("036000291452", "UPC-A"),
    ("96385074", "EAN-8"),
    ("10012345678902", "GTIN-14"),
    ("09506000134352", "GTIN-14"),  # the GS1 General Specifications example GTIN
]
GS1_GTIN = "09506000134352"
SSCC = "106141411234567897"  # GS1 SSCC example

digits = st.text(alphabet="0123456789", min_size=1)
bodies = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)
# GS1 CSET 82 without parentheses, so the "(AI)value" form stays unambiguous.
CSET82 = "!\"%&'*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def error(raw: str) -> str:
    with pytest.raises(ScanError) as info:
        parse_scan(raw)
    return str(info.value)


# --- check digits -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "symbology"), PUBLISHED)
def test_published_gtins_are_valid(code: str, symbology: str) -> None:
    assert is_valid_gtin(code)
    assert gtin_check_digit(code[:-1]) == int(code[-1])
    assert make_gtin(code[:-1]) == code
    scan = parse_scan(code)
    assert scan == Scan(
        raw=code, kind=Kind.PRODUCT, code=code, symbology=symbology, gtin14=code.zfill(14)
    )


@pytest.mark.parametrize(("code", "symbology"), PUBLISHED)
def test_every_wrong_check_digit_is_refused(code: str, symbology: str) -> None:
    for wrong in "0123456789".replace(code[-1], ""):
        bad = code[:-1] + wrong
        assert not is_valid_gtin(bad)
        message = error(bad)
        assert message == f"{bad}: check digit should be {code[-1]}, not {wrong} ({symbology})"


def test_check_digit_message_from_the_brief() -> None:
    assert error("0123456789013") == "0123456789013: check digit should be 2, not 3 (EAN-13)"


@pytest.mark.parametrize("body", ["", "123456", "12345678", "abcdefg", "１２３４５６７", "²²²²²²²"])
def test_gtin_check_digit_refuses_wrong_bodies(body: str) -> None:
    with pytest.raises(ValueError):
        gtin_check_digit(body)


@pytest.mark.parametrize(
    "code", ["", "4006381333931 ", "400638133393", "40063813339311x", "٣" * 13]
)
def test_is_valid_gtin_is_false_for_non_gtins(code: str) -> None:
    assert not is_valid_gtin(code)


def test_to_gtin14() -> None:
    assert to_gtin14("036000291452") == "00036000291452"
    assert to_gtin14("96385074") == "00000096385074"
    assert to_gtin14("10012345678902") == "10012345678902"
    with pytest.raises(ValueError):
        to_gtin14("12345")


@given(bodies)
def test_make_gtin_is_always_valid(body: str) -> None:
    gtin = make_gtin(body)
    assert is_valid_gtin(gtin)
    assert is_valid_gtin(to_gtin14(gtin))


@given(bodies, st.data())
def test_changing_any_single_digit_invalidates(body: str, data: st.DataObject) -> None:
    gtin = make_gtin(body)
    index = data.draw(st.integers(0, len(gtin) - 1))
    digit = data.draw(st.sampled_from("0123456789".replace(gtin[index], "")))
    assert not is_valid_gtin(gtin[:index] + digit + gtin[index + 1 :])


# --- GS1 ----------------------------------------------------------------------------------


def test_gs1_standard_example() -> None:
    assert is_valid_gtin(GS1_GTIN)
    raw = f"]C101{GS1_GTIN}10ABC123{GS}21SER42\r"
    assert parse_scan(raw) == Scan(
        raw=raw,
        kind=Kind.GS1,
        code=GS1_GTIN,
        symbology="GS1-128",
        gtin14=GS1_GTIN,
        lot="ABC123",
        serial="SER42",
    )


@pytest.mark.parametrize("standin", ["~", "|", "<GS>"])
def test_gs1_with_a_stand_in_for_gs(standin: str) -> None:
    scan = parse_scan(f"]C101{GS1_GTIN}10ABC123{standin}21SER42", gs_standin=standin)
    assert (scan.code, scan.lot, scan.serial) == (GS1_GTIN, "ABC123", "SER42")


def test_gs1_human_readable_form() -> None:
    scan = parse_scan(f"(01){GS1_GTIN}(17)260731(10)ABC123")
    assert scan.kind is Kind.GS1
    assert (scan.code, scan.lot, scan.expiry) == (GS1_GTIN, "ABC123", date(2026, 7, 31))
    spaced = parse_scan(f"(01) {GS1_GTIN} (10) ABC123")
    assert (spaced.code, spaced.lot) == (GS1_GTIN, "ABC123")


@pytest.mark.parametrize(
    ("yymmdd", "expiry"),
    [("250200", date(2025, 2, 28)), ("240200", date(2024, 2, 29)), ("261231", date(2026, 12, 31))],
)
def test_gs1_expiry_day_00_is_the_last_day_of_the_month(yymmdd: str, expiry: date) -> None:
    assert parse_scan(f"]C101{GS1_GTIN}17{yymmdd}10L1").expiry == expiry


def test_gs1_without_aim_identifier() -> None:
    scan = parse_scan(f"01{GS1_GTIN}10ABC{GS}3012")
    assert (scan.kind, scan.code, scan.lot, scan.quantity) == (Kind.GS1, GS1_GTIN, "ABC", 12)
    assert parse_scan(f"{GS}01{GS1_GTIN}21X").serial == "X"  # FNC1 sent as a leading GS
    # A plain GTIN-14 stays a GTIN, and without aim_optional the long form is a SKU.
    assert parse_scan(GS1_GTIN).kind is Kind.PRODUCT
    assert parse_scan(f"01{GS1_GTIN}10ABC", aim_optional=False).symbology == "internal"
    # "01" + an invalid GTIN is more likely a long numeric SKU.
    assert parse_scan("0109506000134353999").symbology == "internal"


def test_gs1_counts_dates_and_sscc() -> None:
    scan = parse_scan(f"]C102{GS1_GTIN}3724{GS}1126010115261231")
    assert (scan.code, scan.quantity, scan.expiry) == (GS1_GTIN, 24, None)
    sscc = parse_scan(f"]C100{SSCC}")
    assert (sscc.kind, sscc.code, sscc.symbology, sscc.gtin14) == (Kind.GS1, SSCC, "SSCC", "")


def test_gs1_other_aim_carriers() -> None:
    assert parse_scan(f"]d201{GS1_GTIN}21X").symbology == "GS1 DataMatrix"
    # A non-GS1 identifier is dropped: "]E0" is what scanners put before an EAN-13.
    assert parse_scan("]E04006381333931").code == "4006381333931"
    assert parse_scan("]C0PL:ORDER:7").order_number == 7


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (f"]C101{GS1_GTIN[:-1]}3", "AI 01 (GTIN) 09506000134353: check digit should be 2, not 3"),
        (f"]C102{GS1_GTIN[:-1]}9", "AI 02"),
        ("]C10010614141123456789010A", "AI 00 (SSCC)"),
        (f"]C101{GS1_GTIN}9912", "unsupported application identifier 99"),
        (f"(01){GS1_GTIN}(3103)000123", "unsupported application identifier (3103)"),
        ("]C1010950600013", "AI 01 (GTIN) is cut short: 10 of 14 characters"),
        (f"]C101{GS1_GTIN}1726", "AI 17 (expiry date) is cut short"),
        (f"]C101{GS1_GTIN}171301", "AI 17 (expiry date) is cut short"),
        (f"]C101{GS1_GTIN}17251301", "251301 is not a date"),
        (f"]C101{GS1_GTIN}17250230", "250230 is not a date"),
        (f"]C101{GS1_GTIN}15250001", "AI 15 (best before date): 250001 is not a date"),
        (f"]C101{GS1_GTIN}10{'A' * 21}", "AI 10 (lot) is 21 characters, at most 20 allowed"),
        (f"]C101{GS1_GTIN}21{GS}", "AI 21 (serial) is empty"),
        (f"]C101{GS1_GTIN}10A B", "AI 10 (lot) may not contain ' '"),
        (f"]C101{GS1_GTIN}30123456789", "AI 30 (count) is 9 characters"),
        (f"]C101{GS1_GTIN}300", "AI 30 (count) is 0"),
        (f"]C101{GS1_GTIN}30x", "AI 30 (count) must be digits only"),
        (f"]C101{GS1_GTIN}305{GS}375", "quantity given twice"),
        (f"]C101{GS1_GTIN}10A{GS}10B", "AI 10 (lot) is given twice"),
        (f"]C101{GS1_GTIN}02{GS1_GTIN}", "AI 01 and AI 02 both give a GTIN"),
        ("]C110ABC", "no GTIN (AI 01) or SSCC (AI 00)"),
        ("]C1", "no data after the GS1 identifier"),
        (f"({GS1_GTIN}", "expected an (AI)"),
        (f"(01){GS1_GTIN}0", "AI 01 (GTIN) is 15 characters, exactly 14 allowed"),
        (f"01{GS1_GTIN}9912", "unsupported application identifier 99"),
    ],
)
def test_gs1_errors_say_which_ai_and_why(raw: str, reason: str) -> None:
    message = error(raw)
    assert reason in message
    assert message.startswith(printable(raw)[:20])
    assert GS not in message


@given(
    gtin_body=st.text(alphabet="0123456789", min_size=13, max_size=13),
    lot=st.none() | st.text(alphabet=CSET82, min_size=1, max_size=20),
    serial=st.none() | st.text(alphabet=CSET82, min_size=1, max_size=20),
    count=st.none() | st.integers(1, 99_999_999),
    expiry=st.none() | st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    order=st.randoms(use_true_random=False),
    separator=st.sampled_from([GS, "~", "|"]),
    aim=st.booleans(),
)
def test_gs1_round_trip(
    gtin_body: str,
    lot: str | None,
    serial: str | None,
    count: int | None,
    expiry: date | None,
    order: random.Random,
    separator: str,
    aim: bool,
) -> None:
    gtin = make_gtin(gtin_body)
    variable = [("10", lot), ("21", serial), ("30", None if count is None else str(count))]
    fields = [(ai, value) for ai, value in variable if value is not None]
    if expiry is not None:
        fields.append(("17", expiry.strftime("%y%m%d")))
    order.shuffle(fields)
    fields.insert(0, ("01", gtin))
    standin = "" if separator == GS else separator
    expected = (gtin, lot or "", serial or "", count or 1, expiry)

    element_string = "".join(
        ai + value + (separator if ai in ("10", "21", "30") else "") for ai, value in fields
    ).removesuffix(separator)
    if aim or len(fields) > 1:  # a bare "01" + GTIN alone is not recognised as GS1
        scan = parse_scan(("]C1" if aim else "") + element_string, gs_standin=standin)
        assert scan.kind is Kind.GS1
        assert (scan.code, scan.lot, scan.serial, scan.quantity, scan.expiry) == expected

    human = "".join(f"({ai}){value}" for ai, value in fields)
    scan = parse_scan(human)
    assert (scan.code, scan.lot, scan.serial, scan.quantity, scan.expiry) == expected


# --- quantity, commands, orders -----------------------------------------------------------


def test_quantity_prefix() -> None:
    scan = parse_scan("5*4006381333931")
    assert (scan.kind, scan.code, scan.quantity, scan.raw) == (
        Kind.PRODUCT,
        "4006381333931",
        5,
        "5*4006381333931",
    )
    assert parse_scan("12 * SKU-1").quantity == 12
    assert parse_scan("9999*SKU-1").quantity == 9999
    assert parse_scan(f"3*]C101{GS1_GTIN}10L*1").quantity == 3
    assert parse_scan(f"]C101{GS1_GTIN}10L*1").lot == "L*1"  # "*" inside GS1 is data
    assert parse_scan("5*\n") == Scan(raw="5*\n", kind=Kind.QUANTITY, quantity=5)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0*SKU-1", "from 1 to 9999"),
        ("-1*SKU-1", "from 1 to 9999"),
        ("abc*SKU-1", "from 1 to 9999"),
        ("10000*SKU-1", "from 1 to 9999"),
        ("*SKU-1", "from 1 to 9999"),
        ("²*SKU-1", "from 1 to 9999"),
        ("2*3*SKU-1", "quantity given twice"),
        (f"2*]C101{GS1_GTIN}302", "quantity given twice"),
        ("2*PL:UNDO", "a quantity can only go with a product"),
        ("2*#1042", "a quantity can only go with a product"),
        ("2*SKU*1", "is not a barcode Packline knows (it contains '*')"),
    ],
)
def test_bad_quantities(raw: str, reason: str) -> None:
    assert reason in error(raw)


@pytest.mark.parametrize("code", [*COMMAND_CODES, "pl:next", "Pl:Validate", " PL:UNDO \r\n"])
def test_commands_are_case_insensitive(code: str) -> None:
    scan = parse_scan(code)
    assert scan.kind is Kind.COMMAND
    assert scan.command is COMMAND_CODES[code.strip().upper()]


def test_command_codes() -> None:
    assert COMMAND_CODES["PL:NEXT"] is Command.NEXT_PACKAGE
    assert set(COMMAND_CODES.values()) == set(Command)
    assert "not a Packline command" in error("PL:SHIP")
    # "ı".upper() == "I": a look-alike must not become a command
    assert "not a Packline command" in error("pl:valıdate")


@pytest.mark.parametrize(
    ("raw", "number"),
    [("PL:ORDER:1042", 1042), ("pl:order:7", 7), ("#1042", 1042), ("# 0042", 42)],
)
def test_order_slips(raw: str, number: int) -> None:
    scan = parse_scan(raw)
    assert (scan.kind, scan.order_number) == (Kind.ORDER, number)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("PL:ORDER:", "order number is missing"),
        ("#", "order number is missing"),
        ("PL:ORDER:10x", "digits only"),
        ("#-5", "digits only"),
        ("#٣", "digits only"),
        ("#0", "no such order number"),
        ("#" + "9" * 19, "no such order number"),
    ],
)
def test_bad_order_slips(raw: str, reason: str) -> None:
    assert reason in error(raw)


# --- internal codes and garbage -----------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["SKU-1042", "ab_12.3/x+y", "12345", "123456789012345", "01234567890AB", "x" * 64]
)
def test_internal_codes(code: str) -> None:
    assert parse_scan(code) == Scan(raw=code, kind=Kind.PRODUCT, code=code, symbology="internal")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty scan"),
        ("  \r", "empty scan"),
        ("x" * 200, "scan is 200 characters long, at most 128 allowed: " + "x" * 30 + "…"),
        ("\x1b[31mSKU", "<ESC>[31mSKU contains control characters"),
        ("SKU\t1", "SKU<TAB>1 contains control characters"),
        ("SKU-1\r\n\r\n", "contains control characters"),  # only one line ending is stripped
        ("\x9b31m", "\\x9b31m contains control characters"),
        ("SKU 1", '"SKU 1" is not a barcode Packline knows (it contains a space)'),
        ("x" * 65, "internal codes are at most 64 characters"),
        ("SKÜ-1", "(it contains 'Ü')"),
        ("SKU\xa01", "(it contains '\\xa0')"),
        ("4006381333931\u202e", "(it contains '\\u202e')"),
        (f"SKU{GS}1", "(it contains '<GS>')"),
        ("SKU~1", "(it contains '~')"),
        ("40063813339€1", "(it contains '€')"),
        ("１２３４５６７８", "not a barcode Packline knows"),
    ],
)
def test_garbage_is_refused(raw: str, reason: str) -> None:
    message = error(raw)
    assert reason in message
    assert not any(ch in message for ch in "\x1b\x9b\t\r\n\x1d\u202e")


def test_max_length_is_allowed() -> None:
    raw = f"]C101{GS1_GTIN}10{'A' * 20}{GS}21{'S' * 20}{GS}".ljust(MAX_SCAN_LENGTH, GS)
    assert parse_scan(raw).serial == "S" * 20
    assert "129 characters" in error(raw + GS)


@pytest.mark.parametrize("standin", ["A", "7", "GS"])
def test_stand_in_must_not_be_alphanumeric(standin: str) -> None:
    with pytest.raises(ValueError):
        parse_scan("SKU-1", gs_standin=standin)


def test_printable() -> None:
    assert printable(f"a{GS}b") == "a<GS>b"
    assert printable("\x1b[2J\x07\x7f") == "<ESC>[2J\\x07\\x7f"
    assert printable("\u200b\U000e0001") == "\\u200b\\U000e0001"
    assert printable("SKU-Ü €") == "SKU-Ü €"


@given(
    st.text()
    | st.lists(st.sampled_from(["0", "1", "7", "9", GS, "~", "*", "(", ")", "]C1", "#", " "])).map(
        "".join
    )
    | st.builds(lambda s: "01" + GS1_GTIN + s, st.text(alphabet="0123456789ABC~*" + GS)),
    st.sampled_from(["", "~", "|", "\x1c"]),
    st.booleans(),
)
@example("²*x", "", True)
@example("#²", "", True)
@example("]C117000000", "", True)
@example(f"]C101{GS1_GTIN}11991300", "", True)
def test_parse_scan_only_raises_scan_error(raw: str, standin: str, aim_optional: bool) -> None:
    try:
        scan = parse_scan(raw, gs_standin=standin, aim_optional=aim_optional)
    except ScanError as e:
        assert str(e)
        assert all(ch.isprintable() for ch in str(e))
    else:
        assert scan.raw == raw
        assert scan.quantity >= 1
        if scan.kind in (Kind.PRODUCT, Kind.GS1):
            assert scan.code
        if scan.gtin14:
            assert is_valid_gtin(scan.gtin14)
