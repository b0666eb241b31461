"""Tracking numbers: published samples, typo detection, garbage input, explicit carriers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.carriers import (
    KNOWN_CARRIERS,
    UNCHECKED,
    InvalidTracking,
    Tracking,
    detect,
    generate,
    normalise,
    tracking_url,
    validate,
)

# Each checked by hand against the published algorithm as well as by the code under test.
PUBLISHED: list[tuple[str, str, str]] = [
    # UPS's own example, and samples from jkeen/tracking_number_data
    ("1Z999AA10123456784", "ups", "UPS 1Z"),
    ("1Z5R89390357567127", "ups", "UPS 1Z"),
    ("1Z879E930346834440", "ups", "UPS 1Z"),
    ("1Z410E7W0392751591", "ups", "UPS 1Z"),
    ("1Z8V92A70367203024", "ups", "UPS 1Z"),
    ("1Z12345E6605272234", "ups", "UPS 1Z"),  # UPS developer kit test number
    # FedEx's worked example; tracking_number_data; FedEx Track API sandbox numbers
    ("012345678983", "fedex", "FedEx Express 12"),
    ("986578788855", "fedex", "FedEx Express 12"),
    ("477179081230", "fedex", "FedEx Express 12"),
    ("799531274483", "fedex", "FedEx Express 12"),
    ("790535312317", "fedex", "FedEx Express 12"),
    ("974367662710", "fedex", "FedEx Express 12"),
    ("797806677146", "fedex", "FedEx Express 12"),
    ("568838414941", "fedex", "FedEx Express 12"),
    ("0414 4176 0228 964", "fedex", "FedEx Ground 15"),
    ("5682 8361 0012 000", "fedex", "FedEx Ground 15"),
    ("5682 8361 0012 734", "fedex", "FedEx Ground 15"),
    ("449044304137821", "fedex", "FedEx Ground 15"),
    ("149331877648230", "fedex", "FedEx Ground 15"),
    ("122816215025810", "fedex", "FedEx Ground 15"),
    ("9611020987654312345672", "fedex", "FedEx Ground 96"),
    ("9611804027471600040302", "fedex", "FedEx Ground 96"),  # Neodynamic "96" sample
    # USPS samples (tracking_number_data and its issue threads)
    ("0307 1790 0005 2348 3741", "usps", "USPS 20"),
    ("7112 3456 7891 2345 6787", "usps", "USPS 20"),
    ("9505 5110 6960 5048 6006 24", "usps", "USPS IMpb 22"),
    ("9101 1234 5678 9000 0000 13", "usps", "USPS IMpb 22"),
    ("9400 1112 0108 0805 4830 16", "usps", "USPS IMpb 22"),
    ("9361 2898 7870 0317 6337 95", "usps", "USPS IMpb 22"),
    ("9405803699300124287899", "usps", "USPS IMpb 22"),
    ("9400100000000000000006", "usps", "USPS IMpb 22"),
    ("92748931507708513018050063", "usps", "USPS IMpb 26"),
    # UPU S10: the standard's examples
    ("EC123456785US", "usps", "UPU S10"),
    ("RA123456785US", "usps", "UPU S10"),
    ("RB123456785GB", "post", "UPU S10"),
    ("AA473124829GB", "post", "UPU S10"),
    ("RB123456785CV", "post", "UPU S10"),
    # DHL Express air waybills
    ("3318810025", "dhl", "DHL Express"),
    ("8487135506", "dhl", "DHL Express"),
    ("1099255990", "dhl", "DHL Express"),
    ("3821724944", "dhl", "DHL Express"),
]

# IMpb barcodes read with their "420" + ZIP routing prefix: (scan, tracking number).
PUBLISHED_420: list[tuple[str, str]] = [
    ("420 22153 9101026837331000039521", "9101026837331000039521"),
    ("4201002334249200190132607600833457", "9200190132607600833457"),
    ("4201028200009261290113185417468510", "9261290113185417468510"),
    ("4201028212169270490119521303389129", "9270490119521303389129"),
    ("420967849405510200829415553590", "9405510200829415553590"),
    ("420940059405510200828480912387", "9405510200828480912387"),
]

SERVICES: dict[str, tuple[str, ...]] = {
    "ups": ("UPS 1Z",),
    "fedex": ("FedEx Express 12", "FedEx Ground 15", "FedEx Ground 96"),
    "usps": ("USPS 20", "USPS IMpb 22", "USPS IMpb 26", "UPU S10"),
    "dhl": ("DHL Express",),
    "post": ("UPU S10",),
}
FORMS = [(carrier, service) for carrier, services in SERVICES.items() for service in services]
DIGITS = "0123456789"
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --- an independent reading of the published algorithms ---------------------------------------

UPS_LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "23456789012345678901234567", strict=True))


def ups_check(n: str) -> str:
    values = [int(UPS_LETTERS.get(c, c)) for c in n[2:17]]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return str((10 - total % 10) % 10)


def fedex_express_check(n: str) -> str:
    remainder = sum(int(d) * int(w) for d, w in zip(n[:11], "31731731731", strict=True)) % 11
    return "0" if remainder == 10 else str(remainder)


def mod10_31(body: str) -> str:
    """GS1: weight 3 on the digit next to the check digit, then alternating."""
    odd = sum(int(d) for d in body[::-1][0::2])
    even = sum(int(d) for d in body[::-1][1::2])
    return str((10 - (3 * odd + even) % 10) % 10)


def s10_check(n: str) -> str:
    total = sum(int(d) * w for d, w in zip(n[2:10], (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    check = 11 - total % 11
    return "0" if check == 10 else "5" if check == 11 else str(check)


@dataclass(frozen=True)
class Form:
    checked: range  # positions the check digit protects
    check_at: int
    expected: Callable[[str], str]
    catches_every_substitution: bool  # weights coprime to the modulus, no folded remainders


def form(service: str, n: str) -> Form:
    last = len(n) - 1
    if service == "UPS 1Z":
        return Form(range(2, 17), 17, ups_check, False)  # weight 2: 0<->5; letters alias digits
    if service == "FedEx Express 12":
        return Form(range(11), 11, fedex_express_check, False)  # remainders 0 and 10 both give 0
    if service == "FedEx Ground 96":
        return Form(range(7, 21), 21, lambda v: mod10_31(v[7:21]), True)
    if service == "UPU S10":
        return Form(range(2, 10), 10, s10_check, False)  # sums = 0 and 6 (mod 11) both give 5
    if service == "DHL Express":
        return Form(range(9), 9, lambda v: str(int(v[:9]) % 7), False)  # 0<->7, 1<->8, 2<->9
    return Form(range(last), last, lambda v: mod10_31(v[:-1]), True)  # FedEx 15, USPS


def samples(generated_per_form: int) -> list[str]:
    """Published numbers plus seeded generated ones: validated in the tests, not at collection."""
    rng = random.Random(20261120)
    made = [generate(c, rng, s) for c, s in FORMS for _ in range(generated_per_form)]
    return [number.replace(" ", "") for number, _, _ in PUBLISHED] + made


def error(raw: str, carrier: str | None = None) -> str:
    with pytest.raises(InvalidTracking) as info:
        validate(raw, carrier)
    return str(info.value)


def assert_not_accepted_as(variant: str, original: Tracking) -> None:
    """A typo may only get through as another form: a USPS 22 whose "9x" prefix became "96"
    reads as FedEx Ground 96, whose check digit does not cover the prefix."""
    try:
        got = validate(variant)
    except InvalidTracking:
        return
    assert got.service != original.service, (variant, got)


# --- published numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "carrier", "service"), PUBLISHED)
def test_published_numbers_are_accepted(raw: str, carrier: str, service: str) -> None:
    tracking = validate(raw)
    assert (tracking.carrier, tracking.service) == (carrier, service)
    assert tracking.number == raw.replace(" ", "")
    assert tracking.url == tracking_url(carrier, tracking.number)
    assert tracking.number in tracking.url
    assert tracking.country == (raw[-2:] if service == "UPU S10" else "")
    assert detect(raw)[0] == (carrier, service)


@pytest.mark.parametrize(("raw", "carrier", "service"), PUBLISHED)
def test_published_numbers_agree_with_the_reference_algorithms(
    raw: str, carrier: str, service: str
) -> None:
    n = raw.replace(" ", "")
    f = form(service, n)
    assert n[f.check_at] == f.expected(n)


def test_fedex_ground_96_check_covers_only_the_15_digit_ground_number() -> None:
    # The alternative reading (GS1 over all 21 digits) would want a 3 and a 9 here.
    for n in ("9611020987654312345672", "9611804027471600040302"):
        assert mod10_31(n[:21]) != n[21]
        assert validate(n[7:]).service == "FedEx Ground 15"  # the same check, as a Ground number


def test_ups_letters_use_the_published_mapping() -> None:
    assert [UPS_LETTERS[c] for c in "AHIJSZ"] == ["2", "9", "0", "1", "0", "7"]
    assert validate("1z999aa10123456784").number == "1Z999AA10123456784"


# --- typos ------------------------------------------------------------------------------------


def test_a_wrong_check_digit_names_carrier_and_expected_digit() -> None:
    assert error("1Z999AA10123456785") == (
        "tracking number 1Z999AA10123456785 fails the UPS check digit (expected 4)"
    )
    assert error("EC123456784US") == (
        "tracking number EC123456784US fails the UPU S10 check digit (expected 5)"
    )
    assert "fails the FedEx Express check digit (expected 3)" in error("012345678984")
    assert "fails the DHL Express check digit (expected 5)" in error("3318810026")


LABELS = {
    "UPS 1Z": "UPS",
    "FedEx Express 12": "FedEx Express",
    "FedEx Ground 15": "FedEx Ground",
    "FedEx Ground 96": "FedEx Ground",
    "USPS 20": "USPS",
    "USPS IMpb 22": "USPS",
    "USPS IMpb 26": "USPS",
    "UPU S10": "UPU S10",
    "DHL Express": "DHL Express",
}


def one_digit_off(n: str, at: int) -> list[str]:
    """The digit at `at` one up and one down (9 -> 0 and 0 -> 9 wrap): the commonest typo."""
    return [n[:at] + str((int(n[at]) + step) % 10) + n[at + 1 :] for step in (1, -1)]


@pytest.mark.parametrize(("raw", "carrier", "service"), PUBLISHED)
def test_published_numbers_one_digit_off_are_all_refused(
    raw: str, carrier: str, service: str
) -> None:
    """Every published example with its check digit one off: refused by detection and with
    the carrier named, the message naming the check that failed and the digit it wanted."""
    n = raw.replace(" ", "")
    f = form(service, n)
    for variant in one_digit_off(n, f.check_at):
        assert error(variant) == (
            f"tracking number {variant} fails the {LABELS[service]} check digit "
            f"(expected {n[f.check_at]})"
        )
        assert "check digit" in error(variant, carrier)


@pytest.mark.parametrize(("scan", "number"), PUBLISHED_420)
def test_published_420_scans_one_digit_off_are_all_refused(scan: str, number: str) -> None:
    for variant in one_digit_off(scan, len(scan) - 1):
        assert "fails the USPS check digit" in error(variant)
        assert "fails the USPS check digit" in error(variant, "usps")


@pytest.mark.parametrize("n", samples(30))
def test_every_other_check_digit_is_refused(n: str) -> None:
    """No form has a second reading that could take a wrong check digit in (the 22-digit 96
    form is FedEx only), so every other character in the check position is refused."""
    tracking = validate(n)
    f = form(tracking.service, n)
    others = [c for c in (ALNUM if tracking.service == "UPS 1Z" else DIGITS) if c != n[f.check_at]]
    for c in others:
        variant = n[: f.check_at] + c + n[f.check_at + 1 :]
        with pytest.raises(InvalidTracking):
            validate(variant)
        with pytest.raises(InvalidTracking):
            validate(variant, tracking.carrier)


@pytest.mark.parametrize("n", samples(30))
def test_single_substitutions_are_caught_as_far_as_the_algorithm_can(n: str) -> None:
    tracking = validate(n)
    f = form(tracking.service, n)
    for i in f.checked:
        alphabet = ALNUM if tracking.service == "UPS 1Z" and i < 10 else DIGITS
        for c in alphabet:
            if c == n[i]:
                continue
            variant = n[:i] + c + n[i + 1 :]
            if variant[f.check_at] == f.expected(variant):  # a blind spot of the algorithm
                assert not f.catches_every_substitution, variant
                assert validate(variant).service == tracking.service
            else:
                assert_not_accepted_as(variant, tracking)


def test_documented_blind_spots_really_exist() -> None:
    """Check digits are not magic: these typos pass, as the algorithms predict."""
    assert validate("3388810025").carrier == "dhl"  # 1 -> 8 changes the number by 7 * 10^6
    assert validate("1Z949AA10123456784").carrier == "ups"  # 9 -> 4 at a doubled position
    assert validate("1Z999KA10123456784").carrier == "ups"  # K is worth what A is


def test_a_96_number_failing_the_fedex_check_is_refused_as_fedex() -> None:
    base = "961102098765431234567"
    failing = [base + d for d in DIGITS if d != mod10_31(base[7:])]
    assert len(failing) == 9
    for n in failing:
        assert "fails the FedEx Ground check digit (expected 2)" in error(n)


def test_a_96_number_is_not_read_as_usps_even_when_the_usps_check_would_pass() -> None:
    """A typo in a FedEx 96 check digit used to slip through as a USPS IMpb 22 number."""
    base = "961102098765431234567"
    n = base + mod10_31(base)  # the digit a GS1 check over all 21 digits wants: 3, not 2
    assert detect(n) == [("fedex", "FedEx Ground 96")]
    assert "fails the FedEx Ground check digit (expected 2)" in error(n)
    assert "fails the FedEx Ground check digit" in error(n, "fedex")
    # The operator may still vouch for it as USPS: recorded as given, nothing checked.
    assert validate(n, "usps").service == UNCHECKED


# --- USPS routing prefix ----------------------------------------------------------------------


@pytest.mark.parametrize(("scan", "number"), PUBLISHED_420)
def test_published_420_zip_scans_keep_only_the_tracking_number(scan: str, number: str) -> None:
    tracking = validate(scan)
    assert (tracking.carrier, tracking.service, tracking.number) == ("usps", "USPS IMpb 22", number)
    assert tracking.url == "https://tools.usps.com/go/TrackConfirmAction?tLabels=" + number
    assert validate(scan, "USPS") == tracking


@pytest.mark.parametrize("zip_code", ["10023", "100233424"])
@pytest.mark.parametrize("service", ["USPS IMpb 22", "USPS IMpb 26"])
def test_420_zip_prefix_is_removed_before_checking(zip_code: str, service: str) -> None:
    rng = random.Random(f"{zip_code}{service}")
    checked = 0
    for _ in range(40):
        body = generate("usps", rng, service)
        scan = "420" + zip_code + body
        if len(detect(scan)) > 1:  # 34 digits can split two ways; covered below
            continue
        checked += 1
        tracking = validate(scan)
        assert (tracking.service, tracking.number) == (service, body)
        last = scan[-1]
        for d in DIGITS.replace(last, ""):
            message = error(scan[:-1] + d)
            assert message.startswith(f"tracking number {scan[:-1] + d} fails the USPS check")
    assert checked >= 30


def test_420_zip_plus_4_is_preferred_when_a_scan_splits_both_ways() -> None:
    body = "9200190132607600833457"
    scan = "420" + "10023" + "9300" + body  # "93" after the ZIP could start an IMpb 26 as well
    assert detect(scan) == [("usps", "USPS IMpb 22"), ("usps", "USPS IMpb 26")]
    assert validate(scan).number == body


def test_the_zip_is_not_covered_by_the_check_digit() -> None:
    assert validate("420 10024 3424 9200190132607600833457").number == "9200190132607600833457"


def test_420_prefix_needs_an_impb_after_the_zip() -> None:
    assert detect("42010023" + "8101026837331000039521") == []
    assert "no known carrier" in error("420100233424" + "8200190132607600833457")


# --- garbage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" - -- ", "empty"),
        ("1Z999AA1\t0123456784", "control character"),
        ("1Z999AA10123456784\n", "control character"),
        ("\x00", "control character"),
        ("1Z999AA10123456784\x7f", "control character"),
        ("9" * 200, "at most 40"),
        ("1Z999AA1.0123456784", "'.'"),
        ("#1Z999AA10123456784", "'#'"),
        ("1Z999AA1012345678٤", "'٤'"),  # an Arabic-Indic digit is not a digit on a label
        ("ﬁ1234567", "'ﬁ'"),  # upper-cases to ASCII "FI", yet is not what the label says
    ],
)
def test_garbage_is_refused_with_a_specific_message(raw: str, words: str) -> None:
    message = error(raw)
    assert words in message
    assert len(message) < 200
    assert "\n" not in message and "\t" not in message


def test_unknown_shapes_ask_for_the_carrier() -> None:
    message = error("C11031500001879")
    assert "C11031500001879" in message
    assert "no known carrier" in message
    assert "--carrier" in message


def test_near_misses_say_what_is_wrong() -> None:
    assert "18 characters, this one has 17" in error("1Z999AA1012345678")
    assert "XX is not a country code" in error("RB123456785XX")


@given(st.text())
def test_any_text_is_a_tracking_or_a_refusal(raw: str) -> None:
    try:
        tracking = validate(raw)
    except InvalidTracking as exc:
        assert str(exc)
    else:
        assert tracking.number.isalnum() and tracking.number.isascii()


@given(st.text(alphabet="0123456789 -1ZzUSGB420\t", max_size=45))
def test_near_valid_text_is_a_tracking_or_a_refusal(raw: str) -> None:
    try:
        tracking = validate(raw)
    except InvalidTracking:
        return
    assert (tracking.carrier, tracking.service) in detect(raw)


@given(raw=st.text(max_size=50), carrier=st.one_of(st.none(), st.text(max_size=40)))
def test_any_carrier_is_a_tracking_or_a_refusal(raw: str, carrier: str | None) -> None:
    try:
        tracking = validate(raw, carrier)
    except InvalidTracking:
        return
    if carrier is not None and carrier.strip(" "):
        assert tracking.carrier == carrier.strip(" ").lower()


@given(st.text())
def test_detect_and_normalise_never_raise(raw: str) -> None:
    assert isinstance(detect(raw), list)
    assert normalise(normalise(raw)) == normalise(raw)


# --- explicit carriers ------------------------------------------------------------------------


def test_an_unknown_carrier_records_the_number_as_given() -> None:
    tracking = validate("c110-3150-0001-879", carrier="OnTrac")
    assert tracking == Tracking("C11031500001879", "ontrac", UNCHECKED, "")


def test_a_known_carrier_with_an_unknown_form_keeps_its_tracking_link() -> None:
    tracking = validate("C11031500001879", carrier="UPS")
    assert tracking == Tracking(
        "C11031500001879", "ups", UNCHECKED, "https://www.ups.com/track?tracknum=C11031500001879"
    )
    # a valid number of another carrier is the operator's call
    assert validate("1Z999AA10123456784", carrier="fedex").service == UNCHECKED


def test_a_known_carrier_with_its_own_form_still_needs_the_check_digit() -> None:
    assert "fails the UPS check digit (expected 4)" in error("1Z999AA10123456785", "ups")
    assert "fails the FedEx Express" in error("012345678984", "FedEx")
    assert validate("1Z999AA10123456784", "Ups").service == "UPS 1Z"


def test_s10_numbers_are_checked_for_any_postal_carrier() -> None:
    assert validate("RB123456785GB", "usps") == Tracking(
        "RB123456785GB",
        "usps",
        "UPU S10",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=RB123456785GB",
        "GB",
    )
    assert validate("EC123456785US", "post").carrier == "post"
    assert "UPU S10 check digit" in error("RB123456786GB", "post")
    assert validate("RB123456786GB", "royalmail").service == UNCHECKED


def test_blank_carrier_means_detect() -> None:
    assert validate("3318810025", "").carrier == "dhl"
    assert validate("3318810025", "  ").carrier == "dhl"


@pytest.mark.parametrize("carrier", ["x", "a" * 33, "fed ex", "ups!", "dhl\n", "ünd"])
def test_invalid_carrier_names_are_refused(carrier: str) -> None:
    assert "carrier name" in error("C11031500001879", carrier)


@pytest.mark.parametrize("carrier", ["xy", "a" * 32, "Royal_Mail", "la-poste", "DPD2"])
def test_carrier_names_of_letters_digits_underscore_dash(carrier: str) -> None:
    assert validate("C11031500001879", carrier).carrier == carrier.lower()


@pytest.mark.parametrize("raw", ["12345", "A1", "1Z"])
def test_an_explicit_carrier_still_needs_six_characters(raw: str) -> None:
    assert "too short" in error(raw, "ontrac")


# --- links and generated numbers --------------------------------------------------------------


def test_tracking_urls() -> None:
    assert tracking_url("ups", "1Z999AA10123456784") == (
        "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    assert tracking_url("FedEx", "012345678983") == (
        "https://www.fedex.com/fedextrack/?trknbr=012345678983"
    )
    assert tracking_url("usps", "9400100000000000000006") == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000006"
    )
    assert tracking_url("dhl", "3318810025") == (
        "https://www.dhl.com/en/express/tracking.html?AWB=3318810025"
    )
    assert tracking_url("post", "RB123456785GB") == (
        "https://www.17track.net/en/track?nums=RB123456785GB"
    )
    assert tracking_url("ontrac", "C11031500001879") == ""
    assert set(KNOWN_CARRIERS) == set(SERVICES)
    assert all(tracking_url(c, "X1") for c in KNOWN_CARRIERS)


@given(seed=st.integers(), shape=st.sampled_from(FORMS))
def test_generated_numbers_validate_as_their_carrier(seed: int, shape: tuple[str, str]) -> None:
    carrier, service = shape
    number = generate(carrier, random.Random(seed), service)
    assert number == generate(carrier, random.Random(seed), service)
    tracking = validate(number)
    assert (tracking.carrier, tracking.service, tracking.number) == (carrier, service, number)
    assert validate(number, carrier) == tracking
    if service == "UPU S10":
        assert (tracking.country == "US") == (carrier == "usps")


@given(seed=st.integers(), carrier=st.sampled_from(KNOWN_CARRIERS))
def test_generate_picks_one_of_the_carriers_forms(seed: int, carrier: str) -> None:
    tracking = validate(generate(carrier, random.Random(seed)))
    assert tracking.carrier == carrier
    assert tracking.service in SERVICES[carrier]


def test_generate_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="ontrac"):
        generate("ontrac", random.Random(1))
    with pytest.raises(ValueError, match="UPS 1Z"):
        generate("fedex", random.Random(1), "UPS 1Z")
