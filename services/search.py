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
from services.search_terms import MAX_TERM, normalize, other_terms, terms_for

__all__ = [
    "MAX_TERM",
    "add_terms",
    "normalize",
    "other_terms",
    "prefix_select",
    "query_words",
    "reindex",
    "terms_for",
]

_SPLIT = re.compile(r"[\s,;]+")


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
