"""An order's search terms (see services/search.py), with no database import: an import's
worker process (services/import_worker.py) makes them too."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_TERM = 200
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


def normalize(text: str) -> str:
    return text.strip().casefold()


def terms_for(
    number: int,
    *,
    name: str = "",
    email: str = "",
    skus: Iterable[str] = (),
    trackings: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> set[str]:
    return {str(number)} | other_terms(
        name=name, email=email, skus=skus, trackings=trackings, extra=extra
    )


def other_terms(
    *,
    name: str = "",
    email: str = "",
    skus: Iterable[str] = (),
    trackings: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> set[str]:
    """An order's terms but its number (an import builds them before numbers are drawn)."""
    terms: set[str] = set()
    for word in _WORD.findall(name):
        terms.add(normalize(word))
    mail = normalize(email)
    if mail:
        # The whole address prefix-matches its local part; the domain is a term of its own.
        terms.add(mail)
        domain = mail.partition("@")[2]
        if domain:
            terms.add(domain)
    for value in (*skus, *trackings, *extra):
        cleaned = normalize(value)
        if cleaned:
            terms.add(cleaned)
    return {t[:MAX_TERM] for t in terms if t}
