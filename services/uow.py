"""Unit of work: one transaction, committed once, with the database's failures translated.

A write unit of work starts with BEGIN IMMEDIATE on SQLite and locks the order row
on PostgreSQL, so concurrent writers queue instead of overwriting each other. The
order's version column (SQLAlchemy's version_id_col) is the last line of defence:
an UPDATE that finds another version raises Conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from services.db import Database, describe_connect_error
from services.errors import Busy, Conflict, DatabaseError, NotFound, Refused
from services.models import AuditLog, Counter, Order, StatusEvent

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_ref(ref: str | int) -> int:
    """`1042`, `#1042` and ` #1042 ` all name order 1042."""
    text = str(ref).strip().lstrip("#").strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFound(f"{str(ref)!r} is not an order number (try 1042 or #1042)")
    return int(text)


class UnitOfWork:
    def __init__(
        self, db: Database, *, write: bool, clock: Clock, actor: str, inline: bool = False
    ) -> None:
        """`inline`: a write of a few short statements, run on the event loop's thread
        once SQLite's write lock is held (a pack scan); see services.sqlite_connection."""
        self.db = db
        self.write = write
        self.clock = clock
        self.actor = actor
        factory = db.read_session
        if write:
            factory = db.inline_write_session if inline else db.write_session
        self.session: AsyncSession = factory()
        self._committed = False
        self._touched: set[int] = set()

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # A read ends with close() alone: the pool rolls its connection back on return,
            # and an explicit rollback would first expire every object it loaded (a few ms
            # for a page of a hundred orders, for nothing: the views are already built).
            if not self._committed and self.write:
                await self.session.rollback()
        finally:
            await self.session.close()
        if exc is not None and not isinstance(exc, Refused):
            translated = translate(self.db, exc)
            if translated is not None:
                raise translated from exc

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except StaleDataError as exc:
            raise Conflict("the order was changed by another operator meanwhile; reload") from exc
        self._committed = True

    # -- lookups shared by every service ---------------------------------------------

    async def order(
        self, ref: str | int, *, for_update: bool = False, expected_version: int | None = None
    ) -> Order:
        number = parse_ref(ref)
        stmt = (
            select(Order)
            .where(Order.number == number)
            .options(
                selectinload(Order.lines),
                selectinload(Order.customer),
                selectinload(Order.shipping_address),
                selectinload(Order.billing_address),
            )
        )
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update(of=Order)
        order = (await self.session.execute(stmt)).scalar_one_or_none()
        if order is None:
            raise NotFound(f"no order #{number}")
        if expected_version is not None and order.version != expected_version:
            raise conflict_for(order)
        return order

    async def next_number(self, name: str, start: int) -> int:
        """Gap-free counter: the row lock (or SQLite's write lock) serializes allocation."""
        result = await self.session.execute(
            update(Counter)
            .where(Counter.name == name)
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        )
        value = result.scalar_one_or_none()
        if value is None:
            self.session.add(Counter(name=name, value=start))
            await self.session.flush()
            return start
        return int(value)

    def audit(self, action: str, entity: str, entity_id: int | None, **detail: Any) -> None:
        self.session.add(
            AuditLog(
                at=self.clock(),
                actor=self.actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                detail=detail,
            )
        )

    def note(self, order: Order, memo: str, *, kind: str = "memo", last_memo: bool = False) -> None:
        """A history row that changes no status (a memo, a purchasing or return step);
        `last_memo` also shows it in the queue's memo column. The order is touched."""
        if last_memo:
            order.last_memo = memo
        self.touch(order)
        self.session.add(
            StatusEvent(
                order_id=order.id,
                kind=kind,
                from_status=order.status,
                to_status=order.status,
                actor=self.actor,
                at=self.clock(),
                memo=memo,
            )
        )

    def touch(self, order: Order) -> None:
        """Mark the order changed by us now: one new version per unit of work.

        Every change to an order goes through here; the UPDATE still carries
        WHERE version = <as read>, so a concurrent writer makes it fail (Conflict).
        """
        order.updated_at = self.clock()
        order.updated_by = self.actor
        if order.id is None or order.id not in self._touched:
            if order.id is not None:
                self._touched.add(order.id)
            order.version = (order.version or 0) + 1


def conflict_for(order: Order) -> Conflict:
    when = order.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    who = order.updated_by or "another operator"
    return Conflict(
        f"order #{order.number} was changed by {who} at {when} (now version {order.version}); "
        "reload and try again",
        by=order.updated_by,
        at=order.updated_at,
        version=order.version,
    )


def translate(db: Database, exc: BaseException) -> Refused | DatabaseError | None:
    """Database failures an operator can act on, in words; None leaves the exception alone."""
    if isinstance(exc, StaleDataError):
        return Conflict("the order was changed by another operator meanwhile; reload")
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        if "locked" in text or "busy" in text:
            return Busy("the database is busy (another operator is writing); try again")
        return DatabaseError(describe_connect_error(db, exc))
    if isinstance(exc, IntegrityError):
        return None
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseError(describe_connect_error(db, exc))
    if isinstance(exc, OSError | TimeoutError):
        return DatabaseError(describe_connect_error(db, exc))
    return None
