"""Order search through an index of terms, so it costs the same at 1k and 1M orders.

Each order contributes its number, the words of its customer's name, its e-mail
(whole, and its domain), SKUs and tracking numbers, lower-cased. A query
word matches a term it is a prefix of; every word of a query must match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import OrderSearchTerm

MAX_TERM = 200
_SPLIT = re.compile(r"[\s,;]+")
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


def query_words(query: str) -> list[str]:
    """Split a query into prefix words; a leading '#' on an order number is dropped."""
    words = []
    for raw in _SPLIT.split(normalize(query)):
        word = raw.lstrip("#")
        if word:
            words.append(word[:MAX_TERM])
    return words


def prefix_select(word: str) -> Select[int]:
    """Order ids having a term that starts with `word`: an index range scan."""
    high = word + "\U0010ffff"
    return select(OrderSearchTerm.order_id).where(
        OrderSearchTerm.term >= word, OrderSearchTerm.term < high
    )


async def reindex(session: AsyncSession, order_id: int, terms: set[str]) -> None:
    await session.execute(delete(OrderSearchTerm).where(OrderSearchTerm.order_id == order_id))
    session.add_all(OrderSearchTerm(term=t, order_id=order_id) for t in sorted(terms))


async def add_terms(session: AsyncSession, order_id: int, terms: Iterable[str]) -> None:
    """Add terms (e.g. a new tracking number) unless the order already has them."""
    wanted = {normalize(t)[:MAX_TERM] for t in terms if normalize(t)}
    if not wanted:
        return
    have = set(
        (
            await session.execute(
                select(OrderSearchTerm.term).where(
                    OrderSearchTerm.order_id == order_id, OrderSearchTerm.term.in_(wanted)
                )
            )
        ).scalars()
    )
    session.add_all(OrderSearchTerm(term=t, order_id=order_id) for t in sorted(wanted - have))
