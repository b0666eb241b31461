"""Tracking numbers: catch a mistyped number before it reaches a customer e-mail.

A number is recognised by its shape (length, prefix, letters) and then confirmed by the check
digit its carrier publishes, so most typos are refused at the bench instead of producing a
tracking link that leads nowhere. Carriers whose formats are not known here (OnTrac, DPD, ...)
can still be recorded when the operator names the carrier explicitly.

Algorithms, and the published numbers they were checked against:

* UPS 1Z: mod 10 over characters 3-17, letters A-Z worth (ord - 63) % 10, odd positions x1
  and even positions x2 from the left (UPS's own description, e.g. 1Z999AA10123456784).
* FedEx Express 12: weights 1, 3, 7 from the right of the first 11 digits, sum mod 11, a
  remainder of 10 gives 0 (FedEx's worked example 012345678983).
* FedEx Ground 15: GS1 mod 10 (weights 3, 1 from the right of the body).
* FedEx Ground 96 (22 digits): "96" + 2-digit SCNC + 3-digit service + the 15-digit Ground
  number; the check digit covers only shipper ID and package number (the last 14 digits before
  it). A GS1 check over all 21 digits is also quoted in places but fails the published samples
  9611020987654312345672 and 9611804027471600040302, so it is not used. A 22-digit number
  starting 96 is read as FedEx only: USPS IMpb numbers start 91-95.
* USPS 20, IMpb 22 and 26: GS1 mod 10. A "420" + ZIP (5 or 9 digits) routing prefix, as read
  from the IMpb barcode, is removed: it is not part of the tracking number.
* UPU S10 (EC123456785US): weights 8, 6, 4, 2, 3, 5, 9, 7, check 11 - sum mod 11 with 10 -> 0
  and 11 -> 5; the last two letters must be an ISO 3166 country.
* DHL Express 10: the first nine digits as a number, mod 7.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

KNOWN_CARRIERS: tuple[str, ...] = ("ups", "fedex", "usps", "dhl", "post")

UNCHECKED = "unchecked"  # service of a number recorded as given, no check digit verified

_MAX_LENGTH = 40  # the longest known form, 420 + ZIP+4 + IMpb 26, has 38 characters
_MIN_UNCHECKED = 6  # shortest number accepted for a carrier whose formats are unknown

_UPS = "UPS 1Z"
_FEDEX_EXPRESS = "FedEx Express 12"
_FEDEX_GROUND = "FedEx Ground 15"
_FEDEX_96 = "FedEx Ground 96"
_USPS_20 = "USPS 20"
_USPS_22 = "USPS IMpb 22"
_USPS_26 = "USPS IMpb 26"
_S10 = "UPU S10"
_DHL = "DHL Express"

_SERVICES: dict[str, tuple[str, ...]] = {
    "ups": (_UPS,),
    "fedex": (_FEDEX_EXPRESS, _FEDEX_GROUND, _FEDEX_96),
    "usps": (_USPS_20, _USPS_22, _USPS_26, _S10),
    "dhl": (_DHL,),
    "post": (_S10,),
}

_URLS: dict[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={}",
    "post": "https://www.17track.net/en/track?nums={}",
}

# ISO 3166-1 alpha-2, as in tzdata's iso3166.tab (2023): the S10 suffix names the issuing
# post's country, so anything else there is a typo.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
_COUNTRIES = frozenset(_COUNTRY_CODES.split())
_FOREIGN_COUNTRIES = tuple(sorted(_COUNTRIES - {"US"}))

_UPS_RE = re.compile(r"1Z[0-9A-Z]{16}")
_S10_RE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_DIGITS_RE = re.compile(r"[0-9]+")
_ALNUM_RE = re.compile(r"[0-9A-Z]+")
_IMPB_AI_RE = re.compile(r"9[1-5]")  # IMpb channel application identifiers
_CARRIER_RE = re.compile(r"[A-Za-z0-9_-]{2,32}")
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ROUTING_PREFIXES = (12, 8)  # "420" + ZIP+4, then "420" + ZIP: ZIP+4 labels are the common ones
_SHOWN = 40  # characters of a long input quoted back in a message


class InvalidTracking(ValueError):
    """A tracking number the operator has to re-enter (or give the carrier for)."""


@dataclass(frozen=True)
class Tracking:
    number: str  # normalised; a USPS "420" + ZIP routing prefix is not part of it
    carrier: str  # lower-case carrier code
    service: str  # the form that was recognised, or UNCHECKED
    url: str  # public tracking page; "" for carriers without a known one
    country: str = ""  # issuing country of a UPU S10 number


@dataclass(frozen=True)
class _Match:
    """One reading of a number: the shape fits, the check digit is yet to be compared."""

    carrier: str
    service: str
    label: str  # carrier name as the operator knows it, for refusals
    number: str  # the tracking number proper, without a routing prefix
    check: str  # the character printed where the check digit belongs
    expected: int
    country: str = ""

    @property
    def passes(self) -> bool:
        return self.check == str(self.expected)


# --- check digits -----------------------------------------------------------------------------


def _gs1(body: str) -> int:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return -total % 10


def _ups(body: str) -> int:
    values = (int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body)
    total = sum(v * (1 if i % 2 == 0 else 2) for i, v in enumerate(values))
    return -total % 10


def _fedex_express(body: str) -> int:
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(body)))
    return total % 11 % 10


def _s10(body: str) -> int:
    total = sum(int(d) * w for d, w in zip(body, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _dhl(body: str) -> int:
    return int(body) % 7


# --- shapes -----------------------------------------------------------------------------------


def _last_digit(
    carrier: str, service: str, label: str, number: str, check: Callable[[str], int]
) -> _Match:
    return _Match(carrier, service, label, number, number[-1], check(number[:-1]))


def _matches(number: str) -> list[_Match]:
    """Every reading of an already normalised number, most likely first."""
    if _UPS_RE.fullmatch(number):
        return [_Match("ups", _UPS, "UPS", number, number[17], _ups(number[2:17]))]
    if _S10_RE.fullmatch(number) and number[11:] in _COUNTRIES:
        country = number[11:]
        carrier = "usps" if country == "US" else "post"
        return [_Match(carrier, _S10, "UPU S10", number, number[10], _s10(number[2:10]), country)]
    if not _DIGITS_RE.fullmatch(number):
        return []
    size = len(number)
    if size == 10:
        return [_last_digit("dhl", _DHL, "DHL Express", number, _dhl)]
    if size == 12:
        return [_last_digit("fedex", _FEDEX_EXPRESS, "FedEx Express", number, _fedex_express)]
    if size == 15:
        return [_last_digit("fedex", _FEDEX_GROUND, "FedEx Ground", number, _gs1)]
    if size == 20:
        return [_last_digit("usps", _USPS_20, "USPS", number, _gs1)]
    if size == 22:
        if not number.startswith("96"):
            return [_last_digit("usps", _USPS_22, "USPS", number, _gs1)]
        # "96" is FedEx Ground's application identifier, which USPS does not issue (its IMpb
        # numbers start 91-95). Reading it as USPS too would let a FedEx number with a wrong
        # check digit through whenever the 21 digits happen to pass USPS's check instead.
        ground = _gs1(number[7:21])
        return [_Match("fedex", _FEDEX_96, "FedEx Ground", number, number[21], ground)]
    if size == 26:
        return [_last_digit("usps", _USPS_26, "USPS", number, _gs1)]
    found: list[_Match] = []
    if number.startswith("420"):
        # Where the ZIP ends is only visible from the IMpb application identifier after it.
        for prefix in _ROUTING_PREFIXES:
            body = number[prefix:]
            if len(body) in (22, 26) and _IMPB_AI_RE.match(body):
                service = _USPS_22 if len(body) == 22 else _USPS_26
                found.append(_last_digit("usps", service, "USPS", body, _gs1))
    return found


def _near_miss(number: str) -> str:
    """A hint for shapes that are almost a known form, so the operator re-types, not overrides."""
    if number.startswith("1Z"):
        return f"; UPS numbers starting 1Z have 18 characters, this one has {len(number)}"
    if _S10_RE.fullmatch(number):
        return f"; it looks like a UPU S10 number, but {number[11:]} is not a country code"
    return ""


# --- public API -------------------------------------------------------------------------------


def normalise(raw: str) -> str:
    """Labels and e-mails group characters with spaces or dashes; neither is part of a number.

    Only ASCII letters are upper-cased, so look-alikes such as "ﬁ" stay foreign and are refused.
    """
    kept = (c for c in raw if unicodedata.category(c) not in ("Zs", "Pd"))
    return "".join(kept).translate(_ASCII_UPPER)


def detect(raw: str) -> list[tuple[str, str]]:
    """Which carriers a number could belong to, before any check digit is looked at."""
    return [(m.carrier, m.service) for m in _matches(normalise(raw))]


def validate(raw: str, carrier: str | None = None) -> Tracking:
    """Accept a number only if its check digit agrees, or if the operator vouches for the carrier.

    Without a carrier, readings are tried most likely first and the first whose check digit
    passes wins. With a carrier (None or spaces mean "detect"), only that carrier's forms are
    checked; a number in no known form of it is recorded as given, marked `UNCHECKED`.
    """
    wanted = _carrier_name(carrier)
    number = _clean(raw)
    matches = _matches(number)
    if wanted is not None:
        matches = [m for m in matches if _belongs(m, wanted)]
        if not matches:
            if len(number) < _MIN_UNCHECKED:
                raise InvalidTracking(
                    f"tracking number {number} is too short: "
                    f"tracking numbers have at least {_MIN_UNCHECKED} letters and digits"
                )
            return Tracking(number, wanted, UNCHECKED, tracking_url(wanted, number))
    elif not matches:
        raise InvalidTracking(
            f"tracking number {number} matches no known carrier{_near_miss(number)}; "
            f"check it, or give the carrier explicitly (e.g. --carrier ontrac)"
        )
    for match in matches:
        if match.passes:
            name = wanted or match.carrier
            return Tracking(
                match.number, name, match.service, tracking_url(name, match.number), match.country
            )
    first = matches[0]
    raise InvalidTracking(
        f"tracking number {number} fails the {first.label} check digit (expected {first.expected})"
    )


def tracking_url(carrier: str, number: str) -> str:
    """The public tracking page, or "" for a carrier without a known one."""
    template = _URLS.get(carrier.strip().lower())
    return "" if template is None else template.format(quote(normalise(number), safe=""))


def generate(carrier: str, rng: random.Random, service: str | None = None) -> str:
    """A realistic number with a correct check digit, for demo data and tests.

    Deterministic for a given `rng` state; `service` picks the form (default: any of the
    carrier's forms). Raises ValueError for carriers or services this module cannot check.
    """
    name = carrier.strip().lower()
    services = _SERVICES.get(name)
    if services is None:
        raise ValueError(f"no tracking number format is known for carrier {carrier!r}")
    chosen = rng.choice(services) if service is None else service
    if chosen not in services:
        raise ValueError(f"{name} has no service {chosen!r}; choose one of {', '.join(services)}")

    def digits(n: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(n))

    if chosen == _UPS:
        shipper = "".join(rng.choice(string.digits + string.ascii_uppercase) for _ in range(6))
        body = shipper + rng.choice(("01", "02", "03", "12", "13", "42", "66")) + digits(7)
        return f"1Z{body}{_ups(body)}"
    if chosen == _FEDEX_EXPRESS:
        body = digits(11)
        return f"{body}{_fedex_express(body)}"
    if chosen == _FEDEX_GROUND:
        body = digits(14)
        return f"{body}{_gs1(body)}"
    if chosen == _FEDEX_96:
        ground = digits(14)
        return f"96{rng.choice(('11', '12', '13'))}{digits(3)}{ground}{_gs1(ground)}"
    if chosen in (_USPS_20, _USPS_22, _USPS_26):
        size = {_USPS_20: 20, _USPS_22: 22, _USPS_26: 26}[chosen]
        leads = ("71", "73", "77", "81") if size == 20 else ("92", "93", "94", "95")
        body = rng.choice(leads) + digits(size - 3)
        return f"{body}{_gs1(body)}"
    if chosen == _S10:
        indicator = rng.choice("CELRV") + rng.choice(string.ascii_uppercase)
        country = "US" if name == "usps" else rng.choice(_FOREIGN_COUNTRIES)
        body = digits(8)
        return f"{indicator}{body}{_s10(body)}{country}"
    body = rng.choice("123456789") + digits(8)  # DHL Express
    return f"{body}{_dhl(body)}"


# --- helpers ----------------------------------------------------------------------------------


def _shown(text: str) -> str:
    """Quote operator input back safely: escapes control characters, keeps messages one line."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def _carrier_name(carrier: str | None) -> str | None:
    if carrier is None:
        return None
    name = carrier.strip(" ")  # only spaces: a pasted line break is a mistake worth showing
    if not name:
        return None
    if not _CARRIER_RE.fullmatch(name):
        raise InvalidTracking(
            f"carrier {_shown(carrier)} is not a valid carrier name: "
            f"use 2 to 32 letters, digits, '_' or '-'"
        )
    return name.lower()


def _clean(raw: str) -> str:
    """The normalised number, or a refusal that says what is wrong with the input."""
    if any(unicodedata.category(c) == "Cc" for c in raw):
        raise InvalidTracking(
            f"tracking number {_shown(raw)} contains a control character (a tab, line break or "
            f"similar); enter it again"
        )
    number = normalise(raw)
    if not number:
        raise InvalidTracking("tracking number is empty")
    if len(number) > _MAX_LENGTH:
        raise InvalidTracking(
            f"tracking number {_shown(number)} is {len(number)} characters long; "
            f"tracking numbers have at most {_MAX_LENGTH}"
        )
    if not _ALNUM_RE.fullmatch(number):
        bad = next(c for c in number if not _ALNUM_RE.fullmatch(c))
        raise InvalidTracking(
            f"tracking number {_shown(number)} contains {bad!r}: only letters and digits are "
            f"allowed (spaces and dashes are ignored)"
        )
    return number


def _belongs(match: _Match, carrier: str) -> bool:
    """S10 numbers are checked for any postal carrier: posts deliver each other's items."""
    return match.carrier == carrier or (match.service == _S10 and carrier in ("usps", "post"))
