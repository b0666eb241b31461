"""Order risk review before shipping: a score, its reasons, and a queue flag.

Pure on purpose: the caller gathers the facts (counts, usual order value, payment
attempts) so the rules stay testable and the same everywhere the score is shown.

Address, note and line text is untrusted customer input. Reasons never echo it freely: a
PO-box reason quotes only the fragment the pattern matched, countries are cleaned and
truncated, a customization reason names only the word of our own list that matched, and
a customer note is never quoted at all.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CUSTOMIZATION_STEMS",
    "DEFAULT_RULES",
    "POSTAL_METHODS",
    "RiskAssessment",
    "RiskFacts",
    "RiskRules",
    "assess",
    "customization",
    "is_military",
    "is_po_box",
]

MAX_SCORE = 100
DEFAULT_HOLD_THRESHOLD = 60
_QUOTE_LIMIT = 40

# --------------------------------------------------------------------------------------
# Text normalization
# --------------------------------------------------------------------------------------


def _fold(text: str) -> tuple[str, list[int]]:
    """Fold text for matching and keep, per folded char, the index of its source char.

    Compatibility decomposition turns full-width letters, "º" and ligatures into plain
    letters; accents and invisible format characters (zero-width spaces) are dropped;
    every run of whitespace becomes one space and every dash a hyphen. The index map
    lets a reason quote the customer's own spelling of the matched fragment.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        for part in unicodedata.normalize("NFKD", char):
            category = unicodedata.category(part)
            if category in ("Mn", "Me", "Cf"):
                continue
            if part.isspace():
                if out and out[-1] == " ":
                    continue
                part = " "
            elif category == "Pd":
                part = "-"
            for folded in part.casefold():
                out.append(folded)
                origin.append(i)
    return "".join(out), origin


def _clean(text: str, limit: int = _QUOTE_LIMIT) -> str:
    """Make untrusted text safe to show in one line: printable only, single spaces, short."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    collapsed = " ".join(printable.split())
    if len(collapsed) > limit:
        collapsed = collapsed[: limit - 1].rstrip() + "…"
    return collapsed


# --------------------------------------------------------------------------------------
# PO boxes
# --------------------------------------------------------------------------------------
#
# Matching runs on folded text (see _fold): lower case, no accents, plain spaces/hyphens.
#
# A keyword alone is not enough: it must be followed by a box identifier (a number, or a
# letter as in "PO Box A" / "PO Box B12") or end the line / come before a comma. That
# is what keeps "Pobox Street", "PO Box Road"-style street names and "Box Elder Rd" out
# while still catching "POBox 12", "PO Box #12", "P.O. Box No. 7" and a bare "PO Box".
#
# Keyword boundaries are "no letter or digit before" and "no letter after" (digits may
# follow directly: "POBox12"), so "Spoboxing Co", "Popo Box Rd", "Boxwood Lane",
# "Boxer Ct", "Boxford" and "Poblano Ave" never match.
#
# Judgment calls:
# - "PO Box" family: P, optional separators (space . - /), O or a zero, separators, then
#   "box" (again O or zero). Covers "PO Box", "P.O. Box", "P O Box", "P. O. Box",
#   "PO-Box", "p.o.box", "P0 Box", "P/O Box" and the run-together "POBox".
# - "POB" / "P.O.B.": matched only before a number ("POB 12"); bare "POB" is too terse
#   to trust (it also means "place of birth").
# - "Post Office Box", "Post Box", "Postbox", "Postal Box": matched. "123 Post Office
#   Road" is not (no "box").
# - "PO Drawer" / "Post Office Drawer": matched (USPS drawer = PO box). Bare "Drawer 5"
#   is not: too generic.
# - "Box 123" with no "PO": matched only at the very start of a line and only with a
#   number, so "Box Hill", "Box Elder Rd" and "12 Box St" are not. Mid-line boxes
#   ("Unit 2050 Box 4190", "RR 2 Box 15", "PSC 1234, Box 5678") are not matched: they
#   are military unit boxes or rural-route boxes, which are different things.
# - "Lock Box" / "Lockbox", "Caller Box" and "Firm Caller": matched. They are USPS
#   pick-up services at the post office; a parcel carrier cannot deliver there.
# - "PMB" (private mailbox): NOT matched. It is a box at a street-address business
#   (e.g. a UPS Store) and carriers deliver there.
# - "Mailbox 12" / "Mail Box 12": NOT matched. Mailbox stores use the word for boxes at
#   a street address, like PMB.
# - "Bin 12": NOT matched. Used for warehouse bins and rural addresses alike; too noisy.
# - A few unambiguous non-English words: "Postfach", "Postbus", "Boîte postale",
#   "Case postale", "Caixa postal", "Apartado postal" / "Apartado de correos",
#   "Casilla postal" / "Casilla de correo(s)". The abbreviations "BP" and "CP" are NOT
#   matched: too short to tell from initials and unit codes.
# - "General Delivery" (held at the post office) is not a PO box and is not matched here.

_SEP = r"[ ./-]*"
_O = "[o0]"
_BOX = rf"b{_O}x"
_START = r"(?<![^\W_])"  # no letter or digit right before the keyword
_END = r"(?![^\W\d_])"  # no letter right after (a digit may follow: "POBox12")
_ID_LEAD = r"[ .:#-]*(?:(?:no|nr|number)(?![^\W\d_])[ .:#-]*)?"
_NUMBER = r"\d(?:[^\W_]|-)*"
_LETTER_ID = r"[a-z][0-9-]*(?![^\W_])"  # "PO Box A", "PO Box B12"
# A box identifier, or nothing more on the line (end, or a comma/semicolon next).
_ID_OR_END = rf"(?:{_ID_LEAD}(?:{_NUMBER}|{_LETTER_ID})|(?=[ .]*(?:[,;]|$)))"

_PO_KEYWORDS = "|".join(
    (
        rf"p{_SEP}{_O}{_SEP}(?:{_BOX}|drawer)",  # PO Box, P.O. Box, POBox, P0 Box, PO Drawer
        rf"post{_SEP}office{_SEP}(?:{_BOX}|drawer)",
        rf"post(?:al)?{_SEP}{_BOX}",  # Post Box, Postbox, Postal Box
        rf"lock{_SEP}{_BOX}",
        rf"caller{_SEP}{_BOX}",
        r"firm caller",
        r"postfach",
        r"postbus",
        r"(?:boite|case|caixa) postale?",
        r"apartado (?:postal|de correos)",
        r"casilla (?:postal|de correos?)",
    )
)

_PO_BOX_RE = re.compile(
    rf"{_START}(?:{_PO_KEYWORDS}){_END}{_ID_OR_END}"
    # POB / P.O.B.: only with a number.
    rf"|{_START}p{_SEP}{_O}{_SEP}b\.?{_END}{_ID_LEAD}{_NUMBER}"
    # "Box 123" at the start of a line, number required.
    rf"|^[ .,;:#-]*{_BOX}{_END}{_ID_LEAD}\d+",
    re.MULTILINE,
)


def _po_box_fragment(text: str) -> str | None:
    """The customer's own spelling of the first PO-box form in text, or None."""
    folded, origin = _fold(text)
    match = _PO_BOX_RE.search(folded)
    if match is None:
        return None
    start, end = match.span()
    # Trim leading punctuation/space eaten by the line-start form.
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    return _clean(text[origin[start] : origin[end - 1] + 1]) or "PO box"


def is_po_box(text: str) -> bool:
    """Whether an address line names a PO box (or a post-office pick-up like it).

    Parcel carriers other than the postal service cannot deliver there. Tuned for
    precision: a street that merely contains "Box" or "PO" must not trigger a hold.
    """
    return _po_box_fragment(text) is not None


# --------------------------------------------------------------------------------------
# Military (APO/FPO/DPO)
# --------------------------------------------------------------------------------------

_MILITARY_CITIES = frozenset({"apo", "fpo", "dpo"})
_MILITARY_REGIONS = frozenset({"aa", "ae", "ap"})
# "APO AE 09012" written into an address line instead of city/region.
_MILITARY_LINE_RE = re.compile(
    r"(?<![^\W_])[adf]\.? ?p\.? ?o\.?[ ,]+a\.? ?[aep]\.?(?![^\W_])",
)


def _letters(text: str) -> str:
    return "".join(c for c in _fold(text)[0] if c.isalnum())


def _is_military_region(region: str) -> bool:
    folded = " ".join(_fold(region)[0].replace(".", " ").split())
    # Shops send either the USPS code or the spelled-out "Armed Forces Europe" etc.
    return _letters(region) in _MILITARY_REGIONS or folded.startswith("armed forces")


def is_military(address_lines: Sequence[str], city: str, region: str) -> bool:
    """Whether the address is a US military post office (APO/FPO/DPO in AA/AE/AP).

    Only the postal service carries mail into that system. The region is required:
    "AP" alone is also Andhra Pradesh, and "APO" alone could be a typo.
    """
    if _letters(city) in _MILITARY_CITIES and _is_military_region(region):
        return True
    return any(_MILITARY_LINE_RE.search(_fold(line)[0]) for line in (*address_lines, city))


# --------------------------------------------------------------------------------------
# Carriers that deliver to PO boxes
# --------------------------------------------------------------------------------------
#
# The postal service delivers to PO boxes and APO/FPO/DPO; parcel carriers (UPS, FedEx,
# DHL ...) do not. An order whose shipping method names the postal service is not flagged
# for its address. Words are matched whole, case-insensitively, anywhere in the method.

POSTAL_METHODS: tuple[str, ...] = (
    "usps",
    "postal",
    "post office",
    "priority mail",
    "first class",
    "first-class",
    "ground advantage",
    "media mail",
    "parcel select",
)


def _by_post(method: str, postal: Sequence[str]) -> bool:
    folded = _fold(method)[0]
    for word in postal:
        needle = _fold(word)[0].strip()
        if needle and re.search(rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])", folded):
            return True
    return False


# --------------------------------------------------------------------------------------
# Customization instructions and artwork
# --------------------------------------------------------------------------------------
#
# Goods made or marked for this customer (an engraving, a monogram, a print of their
# artwork) need someone to read the instructions before the order ships. A shop has no
# field of its own for them: they arrive in the customer's note ("Engrave: 'For Sam'") or
# in an imported line's name ("Mug - personalized: Ada"). Whole words only, so "customer",
# "customs" and "Customary Tea" do not count.

_CUSTOM_RE = re.compile(
    r"(?<![^\W_])(?:"
    r"engrav(?:e|ed|es|ing)"
    r"|personali[sz](?:e|ed|es|ing|ation)"
    r"|monogram(?:s|med|ming)?"
    r"|custom(?:i[sz](?:e|ed|ing|ation))?"
    r"|embroider(?:y|ed|ing)?"
    r"|artworks?"
    r"|bespoke"
    r"|made[ -]to[ -]order"
    r"|inscri(?:be|bed|ption)"
    r")(?![^\W_])"
)
# What a database pre-filter looks for (case-insensitive substrings); `customization`
# decides on what it finds.
CUSTOMIZATION_STEMS = (
    "engrav",
    "personali",
    "monogram",
    "custom",
    "embroider",
    "artwork",
    "bespoke",
    "to order",
    "to-order",
    "inscri",
)


def customization(text: str) -> str | None:
    """The word of our list that says this text asks for customization, or None."""
    match = _CUSTOM_RE.search(_fold(text)[0])
    return match.group(0) if match else None


# --------------------------------------------------------------------------------------
# Rules, facts, assessment
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskRules:
    """A shop's risk settings. Validated here so a bad config fails at load, not mid-queue."""

    po_box_points: int = 40
    military_points: int = 30
    country_mismatch_points: int = 30
    high_value_factor: float = 3.0  # order total > factor × the shop's usual (median) value
    high_value_points: int = 25
    velocity_window_hours: int = 24
    velocity_max_orders: int = 3  # more than this many orders from one e-mail or address
    velocity_points: int = 20
    declined_points: int = 25  # a declined payment attempt before approval
    # Customer notes / customization instructions or artwork that need reading (once).
    note_points: int = 10
    hold_threshold: int = DEFAULT_HOLD_THRESHOLD  # score >= threshold → hold (high_risk)
    carrier_delivers_po_box: bool = False  # e.g. USPS does; our carrier may not
    # Shipping methods by the postal service (which does deliver there): see POSTAL_METHODS.
    po_box_methods: tuple[str, ...] = POSTAL_METHODS

    def __post_init__(self) -> None:
        points = {
            "po_box_points": self.po_box_points,
            "military_points": self.military_points,
            "country_mismatch_points": self.country_mismatch_points,
            "high_value_points": self.high_value_points,
            "velocity_points": self.velocity_points,
            "declined_points": self.declined_points,
            "note_points": self.note_points,
        }
        for name, value in points.items():
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        if not (math.isfinite(self.high_value_factor) and self.high_value_factor > 0):
            raise ValueError(
                f"high_value_factor must be a positive number, got {self.high_value_factor}"
            )
        if self.velocity_window_hours < 1:
            raise ValueError(
                f"velocity_window_hours must be 1 or more, got {self.velocity_window_hours}"
            )
        if self.velocity_max_orders < 0:
            raise ValueError(
                f"velocity_max_orders must be 0 or more, got {self.velocity_max_orders}"
            )
        if any(not isinstance(m, str) or not m.strip() for m in self.po_box_methods):
            raise ValueError('po_box_methods must be non-empty words (e.g. "usps")')
        if self.hold_threshold < 1:
            # 0 would mark every order, even a clean one, as high risk.
            raise ValueError(f"hold_threshold must be 1 or more, got {self.hold_threshold}")


DEFAULT_RULES = RiskRules()


@dataclass(frozen=True)
class RiskFacts:
    """What the caller knows about one order.

    Countries are ISO 3166-1 codes ("US"); compared case-insensitively. billing_country
    is None when the payment gateway did not report it. usual_total_cents is the shop's
    median order total, None until there is history. The recent_orders_* counts cover the
    rules' velocity window and include this order. Counts below zero are treated as zero.
    line_names are the names of the order's lines (only those that may name a
    customization are needed: see CUSTOMIZATION_STEMS).
    """

    shipping_lines: tuple[str, ...]
    shipping_city: str
    shipping_region: str
    shipping_country: str
    billing_country: str | None
    total_cents: int
    usual_total_cents: int | None
    recent_orders_same_email: int
    recent_orders_same_address: int
    declined_attempts: int
    customer_note: str
    line_names: tuple[str, ...] = ()
    shipping_method: str = ""  # as on the order ("standard", "USPS Priority Mail")


@dataclass(frozen=True)
class RiskAssessment:
    """The score (0..100) and operator-facing reasons, in a stable order."""

    score: int
    reasons: tuple[str, ...]
    hold_threshold: int = DEFAULT_HOLD_THRESHOLD  # copied from the rules that produced it

    @property
    def flag(self) -> str:
        """Queue flag: "high" (hold it), "review" (look first) or "" (nothing found)."""
        if self.score <= 0:
            return ""
        return "high" if self.score >= self.hold_threshold else "review"


def _country(code: str | None) -> str:
    return _fold(code)[0].strip() if code else ""


def _has_text(note: str) -> bool:
    return any(c.isprintable() and not c.isspace() for c in note)


def assess(facts: RiskFacts, rules: RiskRules = DEFAULT_RULES) -> RiskAssessment:
    """Score an order against the shop's rules.

    Each rule adds its points at most once (a rule at 0 points is off); the sum is capped
    at 100. Reasons follow the order of the rules so the same order always reads the same
    way.
    """
    score = 0
    reasons: list[str] = []

    def add(points: int, reason: str) -> None:
        nonlocal score
        # A rule the shop set to 0 points is switched off: no score, no noise.
        if points == 0:
            return
        score += points
        reasons.append(reason)

    military = is_military(facts.shipping_lines, facts.shipping_city, facts.shipping_region)
    by_post = _by_post(facts.shipping_method, rules.po_box_methods)
    if not (rules.carrier_delivers_po_box or by_post):
        # A military address's "Box 5678" is the unit's box, already covered below.
        lines = () if military else facts.shipping_lines
        fragment = next(filter(None, map(_po_box_fragment, lines)), None)
        if fragment is not None:
            add(
                rules.po_box_points,
                f"ships to a PO box ({fragment}) and our carrier does not deliver there",
            )
        if military:
            add(
                rules.military_points,
                "ships to a military address (APO/FPO/DPO) and our carrier does not deliver there",
            )

    shipping = _country(facts.shipping_country)
    billing = _country(facts.billing_country)
    if shipping and billing and shipping != billing:
        add(
            rules.country_mismatch_points,
            f"billing country ({_clean(billing.upper(), 20)}) differs from shipping country"
            f" ({_clean(shipping.upper(), 20)})",
        )

    usual = facts.usual_total_cents
    if usual is not None and usual > 0 and facts.total_cents > rules.high_value_factor * usual:
        ratio = facts.total_cents / usual
        add(
            rules.high_value_points,
            f"order total is {ratio:.1f}× the shop's usual order value"
            f" (limit {rules.high_value_factor:g}×)",
        )

    by_email = max(facts.recent_orders_same_email, 0)
    by_address = max(facts.recent_orders_same_address, 0)
    if max(by_email, by_address) > rules.velocity_max_orders:
        # One reason, from the busier source; a tie reads as the e-mail.
        count, source = by_email, "e-mail"
        if by_address > by_email:
            count, source = by_address, "shipping address"
        add(
            rules.velocity_points,
            f"{count} orders from this {source} in the last {rules.velocity_window_hours} hours"
            f" (limit {rules.velocity_max_orders})",
        )

    declined = max(facts.declined_attempts, 0)
    if declined:
        plural = "s" if declined != 1 else ""
        add(rules.declined_points, f"{declined} declined payment attempt{plural} before approval")

    # Something to read before shipping: one rule, its points once, a reason per source.
    reading: list[str] = []
    if _has_text(facts.customer_note):
        word = customization(facts.customer_note)
        reading.append(
            f"customer left customization instructions in a note ({word}): read them before "
            "shipping"
            if word
            else "customer left a note: read it before shipping"
        )
    word = next(filter(None, map(customization, facts.line_names)), None)
    if word:
        reading.append(
            f"an item is made for this customer ({word}): check its instructions or artwork "
            "before shipping"
        )
    if reading:
        add(rules.note_points, reading[0])
        if rules.note_points:
            reasons.extend(reading[1:])

    return RiskAssessment(
        score=min(score, MAX_SCORE),
        reasons=tuple(reasons),
        hold_threshold=rules.hold_threshold,
    )
