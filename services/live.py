"""Live updates: one feed per console that tells its screens which orders other people changed.

How it hears of changes:

- PostgreSQL: LISTEN on `live_signal.CHANNEL` on a connection of its own; every write
  that touches an order sends NOTIFY when it commits, so a change is seen within a
  round trip. A safety check every `safety_seconds` catches writes that bypass the ORM
  (and anything missed while the listening connection was being re-opened).
- SQLite: a change token (latest `orders.updated_at`, highest order id, highest history,
  audit and scan ids: five index lookups, microseconds) polled every `poll_seconds`.

Either way, what changed is then read from small index range scans: orders updated since
the last report (re-read a few seconds back, since PostgreSQL's commit order need not
follow the timestamps), status-history rows after the last one seen (so a screen moves
its per-status counts without counting again) and audit rows after the last one seen
(every action names its order there, whatever the clock of the process that wrote it
said: a console whose clock is behind, or data stamped in the future, is still heard).
What was reported is remembered, so nothing is reported twice. A screen never reloads
the whole queue: it patches counts and refetches the rows it shows only when one of them
changed.

`subscribe()` is an async context manager: on entry the feed has its baseline, so a
screen that subscribes and then loads its data misses nothing in between.

`hold_off()` asks the feed to look in a pause: the pack screen calls it on every scan and
`resume()` once the answer is drawn, so a check (a few queries, and every screen following
the feed told) comes between scans, not in the middle of one; never more than HOLD_AT_MOST
seconds late.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from services.changes import Changes, FeedItem, LinkState, OrderStamp, StatusMove
from services.db import Database, describe_connect_error
from services.live_signal import CHANNEL
from services.models import AuditLog, Order, ScanEvent, StatusEvent
from services.statuses import Status
from services.uow import Clock, utcnow

POLL_SECONDS = 0.5  # SQLite: how often the token is read
SAFETY_SECONDS = 5.0  # PostgreSQL: a check even without NOTIFY
RETRY_SECONDS = 2.0  # after the database went away
OVERLAP = timedelta(seconds=10)  # orders re-read before the newest change seen
EVENT_SLACK = 500  # history ids re-read below the highest seen (PostgreSQL id gaps)
STOP_SECONDS = 5.0  # stop() waits this long for the background task to end
HOLD_AT_MOST = 2.0  # hold_off() delays a check by no more than this
MAX_ROWS = 1_000  # more changed rows than this at once: overflow, reload instead

Token = tuple[datetime | None, int, int, int, int]


class _IdWindow:
    """Rows of an id-ordered table already reported. PostgreSQL hands out ids before
    commit, so a lower id may become visible after a higher one: the last EVENT_SLACK ids
    are read again and the ones already seen skipped (the baseline reads them too)."""

    def __init__(self) -> None:
        self.high = 0
        self.seen: set[int] = set()

    def low(self, newest: int, baseline: bool) -> int:
        return max((newest if baseline else self.high) - EVENT_SLACK, 0)

    def first_time(self, row_id: int) -> bool:
        if row_id in self.seen:
            return False
        self.seen.add(row_id)
        return True

    def advance(self, newest: int) -> None:
        self.high = max(self.high, newest)
        floor = self.high - EVENT_SLACK
        self.seen = {i for i in self.seen if i > floor}

    def skip_to(self, newest: int) -> None:
        """After an overflow: carry on from `newest` (the reader reloads everything)."""
        self.high = newest
        self.seen = set(range(max(newest - EVENT_SLACK, 0) + 1, newest + 1))


class Subscription:
    """What `ChangeFeed.subscribe()` yields: an async iterator of `Changes | LinkState`."""

    def __init__(self, queue: asyncio.Queue[FeedItem]) -> None:
        self._queue = queue

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> FeedItem:
        return await self._queue.get()

    def pending(self) -> list[FeedItem]:
        """Items already waiting (tests; a screen catching up after a pause)."""
        items: list[FeedItem] = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


class ChangeFeed:
    """Changes made by anyone (other consoles, the CLI, this console) as they commit."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = POLL_SECONDS,
        safety_seconds: float = SAFETY_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.safety_seconds = safety_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._token: Token | None = None
        self._since: datetime | None = None  # newest updated_at reported
        self._seen_orders: dict[tuple[int, int], datetime] = {}  # (number, version) -> at
        self._history = _IdWindow()  # status_events rows seen
        self._audit = _IdWindow()  # audit_log rows seen
        self._scans = _IdWindow()  # scan_events rows seen
        self._strict = False  # after an overflow: no overlap once
        self._subscribers: set[asyncio.Queue[FeedItem]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._listener: Any = None  # asyncpg.Connection while listening
        self._wake = asyncio.Event()
        self._stopping = False
        self.notifications = 0  # NOTIFYs heard (tests, the bench)
        self.sleeping = False  # between checks: no query of ours in flight
        self._busy_until = 0.0  # time.monotonic() before which checks wait (hold_off)
        self._resumed = asyncio.Event()  # set by resume() and stop(): a held check may go

    @property
    def listening(self) -> bool:
        """True while a PostgreSQL LISTEN connection is open."""
        return self._listener is not None and not self._listener.is_closed()

    # -- one check ------------------------------------------------------------------------

    async def baseline(self) -> None:
        """Start from now: what is already in the database is not reported."""
        await self._scan(report=False)

    async def changes(self, *, force: bool = False) -> Changes:
        """What changed since the last call (or the baseline); cheap when nothing did.

        `force` skips the token and reads the change windows (a NOTIFY said something
        committed, and a late commit on PostgreSQL need not move the token).
        """
        if self._token is None:
            await self.baseline()
            return Changes()
        return await self._scan(report=True, force=force)

    async def _read_token(self, session: Any) -> Token:
        latest = select(func.max(Order.updated_at)).scalar_subquery()
        highest = select(func.max(Order.id)).scalar_subquery()
        history = select(func.max(StatusEvent.id)).scalar_subquery()
        audit = select(func.max(AuditLog.id)).scalar_subquery()
        scans = select(func.max(ScanEvent.id)).scalar_subquery()
        row = (await session.execute(select(latest, highest, history, audit, scans))).one()
        return row[0], int(row[1] or 0), int(row[2] or 0), int(row[3] or 0), int(row[4] or 0)

    async def _scan(self, *, report: bool, force: bool = False) -> Changes:
        baseline = not report
        async with self.db.read_session() as session:
            token = await self._read_token(session)
            if report and not force and token == self._token:
                return Changes()
            self._token = token
            orders, timed_out = await self._changed_orders(session, token)
            moves, moves_out = await self._moves(session, token[2], baseline=baseline)
            audited, audit_out = await self._audited(session, token[3], baseline=baseline)
            packed, scans_out = await self._scanned(session, token[4], baseline=baseline)
            if report:
                # Orders the history or the audit log name but the time window missed (a
                # clock behind the newest updated_at): read their stamps by number.
                missing = (audited | {m.number for m in moves}) - {o.number for o in orders}
                orders += await self._stamps(session, missing)
        if baseline:
            return Changes()
        return Changes(
            orders=tuple(orders),
            moves=tuple(moves),
            packed=frozenset(packed),
            overflow=timed_out or moves_out or audit_out or scans_out,
        )

    def _fresh(
        self, number: int, version: int, status: Status, at: datetime, by: str | None
    ) -> OrderStamp | None:
        key = (number, version)
        if key in self._seen_orders:
            return None
        self._seen_orders[key] = at
        return OrderStamp(number, version, status, at, by or "")

    async def _stamps(self, session: Any, numbers: set[int]) -> list[OrderStamp]:
        if not numbers:
            return []
        rows = await session.execute(
            select(Order.number, Order.version, Order.status, Order.updated_at, Order.updated_by)
            .where(Order.number.in_(sorted(numbers)[:MAX_ROWS]))
            .order_by(Order.number)
        )
        found = (self._fresh(int(n), int(v), st, at, by) for n, v, st, at, by in rows.all())
        return [stamp for stamp in found if stamp is not None]

    async def _changed_orders(self, session: Any, token: Token) -> tuple[list[OrderStamp], bool]:
        newest = token[0]
        if newest is None:
            return [], False
        since = self._since
        stmt = select(Order.number, Order.version, Order.status, Order.updated_at, Order.updated_by)
        if since is not None:
            stmt = stmt.where(
                Order.updated_at > since if self._strict else Order.updated_at >= since - OVERLAP
            )
        else:  # the baseline: only the recent past needs remembering
            stmt = stmt.where(Order.updated_at >= newest - OVERLAP)
        rows = (
            await session.execute(stmt.order_by(Order.updated_at, Order.id).limit(MAX_ROWS + 1))
        ).all()
        self._strict = False
        if len(rows) > MAX_ROWS:
            self._since = max(newest, since) if since else newest
            self._seen_orders.clear()
            self._strict = True
            return [], True
        fresh: list[OrderStamp] = []
        for number, version, status, at, by in rows:
            stamp = self._fresh(int(number), int(version), status, at, by)
            if stamp is not None:
                fresh.append(stamp)
        if self._since is None or newest > self._since:
            self._since = newest
        floor = self._since - OVERLAP
        self._seen_orders = {k: at for k, at in self._seen_orders.items() if at >= floor}
        return fresh, False

    async def _moves(
        self, session: Any, newest: int, *, baseline: bool
    ) -> tuple[list[StatusMove], bool]:
        window = self._history
        rows = (
            await session.execute(
                select(
                    StatusEvent.id,
                    Order.number,
                    StatusEvent.from_status,
                    StatusEvent.to_status,
                    StatusEvent.actor,
                )
                .join(Order, Order.id == StatusEvent.order_id)
                .where(StatusEvent.id > window.low(newest, baseline), StatusEvent.kind == "status")
                .order_by(StatusEvent.id)
                .limit(MAX_ROWS + 1)
            )
        ).all()
        if len(rows) > MAX_ROWS:
            window.skip_to(newest)
            return [], True
        moves = [
            StatusMove(int(number), from_status, to_status, actor or "")
            for event_id, number, from_status, to_status, actor in rows
            if window.first_time(int(event_id)) and to_status is not None
        ]
        window.advance(newest)
        return moves, False

    async def _audited(self, session: Any, newest: int, *, baseline: bool) -> tuple[set[int], bool]:
        """Orders named by audit rows since the last check: every action is audited with
        the order's number, whatever the clock of the process that wrote it said."""
        window = self._audit
        rows = (
            await session.execute(
                select(AuditLog.id, AuditLog.entity_id)
                .where(AuditLog.id > window.low(newest, baseline), AuditLog.entity == "order")
                .order_by(AuditLog.id)
                .limit(MAX_ROWS + 1)
            )
        ).all()
        if len(rows) > MAX_ROWS:
            window.skip_to(newest)
            return set(), True
        numbers = {
            int(number)
            for audit_id, number in rows
            if window.first_time(int(audit_id)) and number is not None
        }
        window.advance(newest)
        return numbers, False

    async def _scanned(self, session: Any, newest: int, *, baseline: bool) -> tuple[set[int], bool]:
        """Orders scanned into since the last check (packing does not touch the order row,
        but an open order shows what is packed)."""
        window = self._scans
        rows = (
            await session.execute(
                select(ScanEvent.id, Order.number)
                .join(Order, Order.id == ScanEvent.order_id)
                .where(ScanEvent.id > window.low(newest, baseline), ScanEvent.accepted.is_(True))
                .order_by(ScanEvent.id)
                .limit(MAX_ROWS + 1)
            )
        ).all()
        if len(rows) > MAX_ROWS:
            window.skip_to(newest)
            return set(), True
        numbers = {int(number) for scan_id, number in rows if window.first_time(int(scan_id))}
        window.advance(newest)
        return numbers, False

    # -- subscribers ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """Changes as they come, until the block ends; the baseline is taken on entry."""
        queue: asyncio.Queue[FeedItem] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            if self._task is None or self._task.done():
                loop = asyncio.get_running_loop()
                self._ready = loop.create_future()
                self._task = asyncio.create_task(self._run(), name="packline live feed")
            assert self._ready is not None
            await asyncio.shield(self._ready)
            yield Subscription(queue)
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers:
                await self.stop()

    async def stop(self) -> None:
        """End the background task and close the listening connection."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            # Asked, not cancelled: a query cancelled half-way leaves a pooled connection
            # to be reset during shutdown (a traceback on the operator's terminal). The
            # loop ends at its next wait; a task stuck in a driver call is cancelled.
            # wait(), not `await task`: our own cancellation still propagates.
            self._stopping = True
            self._wake.set()
            self.resume()  # a check held off for a scan goes now, and ends
            await asyncio.wait([task], timeout=STOP_SECONDS)
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=1)
        self._stopping = False
        self._wake.clear()
        await self._close_listener()

    def _publish(self, item: FeedItem) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(item)

    def _set_ready(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def _run(self) -> None:
        up = True
        first = True
        force = False
        while not self._stopping:
            try:
                if not self.db.is_sqlite and not self.listening:
                    await self._open_listener()
                    force = True  # what committed while nobody listened
                if first:
                    await self.baseline()
                    first = False
                    force = False
                    self._set_ready()
                await self._until_quiet()
                changes = await self.changes(force=force)
                if not up:
                    up = True
                    self._publish(LinkState(True, "database reachable again", at=self.clock()))
                if changes:
                    self._publish(changes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: say so once, keep trying
                self._set_ready()  # a screen must not hang on a dead database
                await self._close_listener()
                if up:
                    up = False
                    self._publish(LinkState(False, _describe(self.db, exc), at=self.clock()))
                await self._pause(self.retry_seconds)
                force = True
                continue
            force = await self._wait()

    async def _wait(self) -> bool:
        """Sleep until the next check; True when the windows must be read whatever the
        token says (a NOTIFY, PostgreSQL's safety check). stop() wakes it too."""
        if self.db.is_sqlite:
            await self._pause(self.poll_seconds)
            return False
        await self._pause(self.safety_seconds)
        return True

    async def _pause(self, seconds: float) -> None:
        """Until `seconds` pass or something sets `_wake` (NOTIFY, a dropped listener,
        stop())."""
        self.sleeping = True
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        finally:
            self.sleeping = False
        self._wake.clear()

    def check_now(self) -> None:
        """Check at once rather than at the next poll (as a NOTIFY does)."""
        self._wake.set()

    def hold_off(self, seconds: float) -> None:
        """Make the next check wait until `seconds` from now have passed quietly, or
        resume() is called."""
        self._busy_until = max(self._busy_until, time.monotonic() + seconds)
        self._resumed.clear()

    def resume(self) -> None:
        """The work that held the feed off is done: check when due."""
        self._busy_until = 0.0
        self._resumed.set()

    async def _until_quiet(self) -> None:
        """Until no hold_off() is pending, or HOLD_AT_MOST seconds have passed. Woken by
        resume() (a scan answered), not by polling: the wait costs the scans nothing."""
        deadline = time.monotonic() + HOLD_AT_MOST
        while not self._stopping:
            wait = min(self._busy_until, deadline) - time.monotonic()
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resumed.wait(), wait)

    # -- PostgreSQL LISTEN ----------------------------------------------------------------

    async def _open_listener(self) -> None:
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL consoles need it

        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=10)
        await conn.add_listener(CHANNEL, self._notified)
        # A dropped connection wakes the loop, which reconnects and reads what it missed.
        conn.add_termination_listener(self._notified)
        self._listener = conn

    def _notified(self, *_args: object) -> None:
        self.notifications += 1
        self._wake.set()

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


def _describe(db: Database, exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith("cannot open database"):
        return text
    return describe_connect_error(db, exc)
