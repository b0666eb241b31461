"""Packing at the bench: one order, one scan at a time, every scan saved as it happens.

`start(ref)` claims the order for this operator (a pack session whose `claimed_until` every
scan pushes forward), so two packers never pack one order at once; a claim left behind by
a crashed console or a dropped SSH link expires and can be taken. `scan(ref, raw,
session_id=)` is one short transaction: it decides what the code means for this order,
writes a `scan_events` row (accepted or refused, with the message) and the line's `packed`
count, and returns a `ScanResult` the screen draws directly.

The journal (`scan_events`) is the crash-safe state. How to read it:

- accepted, with a line, quantity > 0: units packed (with the serial of a serialised unit);
- accepted, with a line, quantity < 0: an undo of such a row (same line, package, serial);
- accepted, with a line, quantity = 0: a serialised product scanned, its serial awaited;
- accepted, no line, quantity > 0: a quantity prefix ("5*") scanned on its own;
- accepted, no line, quantity = 0: a command, a slip, or a cancelled serial/quantity;
- not accepted: refused; counted nowhere, whatever its quantity says.

A pending state (serial awaited, quantity prefix) is the order's latest accepted row, so
it survives a crash and any later accepted row resolves it. Refused scans change nothing,
a pending state included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from services.backorders import split_off
from services.barcodes import Command, Kind, Scan, ScanError, parse_scan, printable
from services.claim_views import ClaimView
from services.db import Database
from services.errors import InvalidInput, NotFound, Refused
from services.live_signal import CHANNEL as LIVE_CHANNEL
from services.models import (
    Order,
    OrderLine,
    Package,
    PackSession,
    Product,
    ProductBarcode,
    ScanEvent,
)
from services.orders import OrderService, facts_of
from services.pack_errors import NothingToPack as NothingToPack
from services.pack_errors import NotPackable as NotPackable
from services.pack_errors import PackClaimed as PackClaimed
from services.pack_errors import SessionMismatch as SessionMismatch
from services.picking import Location, first_barcodes, locate
from services.roles import Action, Roles
from services.settings import Settings
from services.statuses import Fulfillment, Status
from services.uow import Clock, UnitOfWork, parse_ref, utcnow
from services.views import (
    PackageView,
    PackLineView,
    PackProgress,
    PackSessionView,
    ScanOutcome,
    ScanResult,
)
from services.workflow import PACKABLE, LineFacts, Request, pack_refusal

OUT = ScanOutcome
UNDO_CODE = "PL:UNDO"
NEXT_CODE = "PL:NEXT"
VALIDATE_CODE = "PL:VALIDATE"
ABORT_CODE = "PL:ABORT"
MAX_JOURNAL_CODE = 300  # scan_events.code
MAX_SERIAL = 100  # scan_events.serial
MAX_GRAMS = 1_000_000  # one tonne: more is a typo
CLAIM_STEP = timedelta(seconds=30)
NEXT_ATTEMPTS = 5  # next_to_pack: orders tried before saying there is nothing to pack
CATALOGUE_TTL = 60.0  # seconds a scan may use the cached codes, serial flags and bins
CATALOGUE_CACHE_SIZE = 256  # orders
_GTIN_LENGTHS = (8, 12, 13, 14)


_LINES = cast(Table, OrderLine.__table__)
_SET_PACKED = (
    update(_LINES).where(_LINES.c.id == bindparam("pl_line")).values(packed=bindparam("pl_packed"))
)
_JOURNAL_INSERT = insert(cast(Table, ScanEvent.__table__))


def _journal_code(raw: str) -> str:
    """What a scan_events row keeps: the scan exactly, unless the column cannot hold it."""
    text = raw
    for ending in ("\r\n", "\r", "\n"):  # the scanner's Enter is not part of the code
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    try:
        text.encode("utf-8")
        storable = "\x00" not in text  # PostgreSQL text cannot hold NUL
    except UnicodeEncodeError:
        storable = False
    if not storable:
        text = printable(text)
    if len(text) > MAX_JOURNAL_CODE:
        text = text[: MAX_JOURNAL_CODE - 1] + "…"
    return text


def _shown(raw: str, limit: int = 48) -> str:
    """The scan as a message may quote it: printable and short."""
    text = raw.strip(" \r\n")
    text = printable(text[:limit]) + ("…" if len(text) > limit else "")
    return text or "(empty scan)"


def _gtin_forms(gtin14: str) -> list[str]:
    """The stored spellings a GTIN-14 may have: itself and its shorter zero-padded forms."""
    return [gtin14[-n:] for n in _GTIN_LENGTHS if not gtin14[:-n].strip("0")]


def _as_gtin14(code: str) -> str | None:
    if code.isascii() and code.isdigit() and len(code) in _GTIN_LENGTHS:
        return code.zfill(14)
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class _Catalogue:
    """What a scan needs to know about the order's products; changes rarely, so cached."""

    line_ids: tuple[int, ...]  # the lines it was built for
    serialized: dict[int, bool]  # product id -> serialised
    gtins: dict[str, int]  # GTIN-14 -> product id (this order's products)
    codes: dict[str, int]  # upper-cased internal code or SKU -> product id
    barcode: dict[int, str]  # product id -> the code the screen shows
    where: dict[int, Location]  # line id -> bin


@dataclass(frozen=True)
class _Pending:
    """The order's latest accepted journal row, when it leaves a state for the next scan."""

    line_id: int | None
    quantity: int

    @staticmethod
    def of(line_id: int | None, quantity: int) -> _Pending | None:
        waiting = quantity == 0 if line_id is not None else quantity > 0
        return _Pending(line_id, quantity) if waiting else None


@dataclass
class _Ctx:
    """Everything one scan decides on, loaded at the start of its transaction."""

    uow: UnitOfWork
    raw: str
    order: Order
    session: PackSession | None
    lines: list[OrderLine]
    cat: _Catalogue
    package_no: int
    pending: _Pending | None
    journal: list[dict[str, Any]] = field(default_factory=list)  # scan_events rows to write
    notified: bool = False  # PostgreSQL: this transaction's NOTIFY is sent

    async def commit(self) -> None:
        """Write the journal rows and commit.

        Core statements on the table, not the ORM's bulk insert or its flush: a scan is
        the hottest path in the console, and their machinery cost more than the SQL.
        """
        if self.journal:
            await self.uow.session.execute(_JOURNAL_INSERT, self.journal)
        await self.uow.commit()

    async def add_packed(self, line: OrderLine, delta: int) -> None:
        """`line.packed += delta`, written now by primary key (so later statements of
        this transaction see it, as an autoflush did) and left clean in the session."""
        packed = line.packed + delta
        session = self.uow.session
        await session.execute(_SET_PACKED, {"pl_line": line.id, "pl_packed": packed})
        set_committed_value(line, "packed", packed)
        if not self.notified and not self.uow.db.is_sqlite:
            # What live_signal's OrderLine update event does for an ORM flush: consoles
            # following the live feed hear of the scan when it commits.
            self.notified = True
            await session.execute(select(func.pg_notify(LIVE_CHANNEL, "")))

    @property
    def pending_line(self) -> OrderLine | None:
        p = self.pending
        if p is None or p.line_id is None:
            return None
        return next((ln for ln in self.lines if ln.id == p.line_id), None)

    @property
    def pending_quantity(self) -> int | None:
        p = self.pending
        return p.quantity if p is not None and p.line_id is None else None

    def line_view(self, ln: OrderLine) -> PackLineView:
        pid = ln.product_id
        loc = self.cat.where.get(ln.id)
        return PackLineView(
            line_id=ln.id,
            sku=ln.sku,
            name=ln.name,
            barcode=self.cat.barcode.get(pid, "") if pid is not None else "",
            bin=loc.bin if loc else "",
            ordered=ln.quantity,
            packed=ln.packed,
            shipped=ln.shipped,
            fulfillment=ln.fulfillment.value,
            serialized=self.cat.serialized.get(pid, False) if pid is not None else False,
        )

    def progress(self) -> PackProgress:
        pending = self.pending_line
        return PackProgress(
            order_number=self.order.number,
            status=self.order.status,
            lines=tuple(self.line_view(ln) for ln in self.lines),
            package_no=self.package_no,
            pending_serial=pending.sku if pending else None,
            pending_quantity=self.pending_quantity,
        )


class PackService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        settings: Settings,
        *,
        operator: str,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.orders = orders
        self.workflow = orders.workflow
        self.settings = settings
        self.operator = operator
        self.clock = clock
        self.claim_for = timedelta(minutes=settings.pack_claim_minutes)
        self.roles = Roles.from_config(settings.roles)
        # order id -> (expires at, in time.monotonic(); the catalogue of its lines)
        self._catalogues: dict[int, tuple[float, _Catalogue]] = {}
        self._load_statements: dict[tuple[bool, bool], Select[Any]] = {}

    def _uow(self, write: bool = False, *, inline: bool = False) -> UnitOfWork:
        return UnitOfWork(
            self.db, write=write, clock=self.clock, actor=self.operator, inline=inline
        )

    # -- sessions -------------------------------------------------------------------------

    async def start(self, ref: str | int, *, take_over: bool = False) -> PackSessionView:
        """Open or resume this operator's pack session on the order, claiming it.

        Resumes the operator's own open session (after a crash the counts, the current
        package and a pending serial are all in the database); takes over a session whose
        claim has expired; refuses with PackClaimed while another packer's claim is live,
        unless `take_over` (managers only: `Action.TAKE_OVER_PACK`) breaks it. A claim that
        changes hands marks the order changed, so the other packer's screen hears of it.
        """
        if take_over:
            self.roles.check(Action.TAKE_OVER_PACK, self.operator)
        number = parse_ref(ref)
        async with self._uow(write=True) as uow:
            order = await uow.order(number, for_update=True)
            view = await self._start_in(uow, order, take_over=take_over)
            await uow.commit()
        return view

    async def next_to_pack(self) -> PackSessionView:
        """The next order for this packer, claimed: each packer gets a different one.

        This operator's own live claim first (a console that lost its link); else the
        oldest processing order with units left to pack that nobody is packing. On
        PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so packers asking
        at once never wait on, or get, each other's order; SQLite's write transaction is
        exclusive, which makes finding and claiming one atomic step there.
        """
        async with self._uow(write=True) as uow:
            now = uow.clock()
            mine = await uow.session.execute(
                select(Order.number)
                .join(PackSession, PackSession.order_id == Order.id)
                .where(
                    PackSession.operator == uow.actor,
                    PackSession.finished_at.is_(None),
                    PackSession.claimed_until > now,
                    Order.status.in_(PACKABLE),
                )
                .order_by(PackSession.id)
                .limit(1)
            )
            number = mine.scalar_one_or_none()
            tried: list[int] = []
            for _attempt in range(NEXT_ATTEMPTS):
                if number is None:
                    number = await self._unclaimed(uow, now, tried)
                if number is None:
                    break
                tried.append(number)
                order = await uow.order(number, for_update=True)
                number = None
                if pack_refusal(facts_of(order)):
                    continue
                try:
                    view = await self._start_in(uow, order, take_over=False)
                except PackClaimed:  # claimed by someone who committed after our snapshot
                    continue
                await uow.commit()
                return view
        raise NothingToPack("nothing to pack: no processing order is waiting unclaimed")

    async def _unclaimed(self, uow: UnitOfWork, now: datetime, tried: list[int]) -> int | None:
        """The oldest unclaimed order with units to pack, row-locked (one: a packer locking
        several would hide them all from the others)."""
        claimed = (
            select(PackSession.id)
            .where(
                PackSession.order_id == Order.id,
                PackSession.finished_at.is_(None),
                PackSession.claimed_until > now,
            )
            .exists()
        )
        to_pack = (
            select(OrderLine.id)
            .where(
                OrderLine.order_id == Order.id,
                OrderLine.fulfillment == Fulfillment.STOCK,
                OrderLine.packed + OrderLine.shipped < OrderLine.quantity,
            )
            .exists()
        )
        stmt = (
            select(Order.number)
            .where(Order.status.in_(PACKABLE), ~claimed, to_pack, Order.number.not_in(tried))
            .order_by(Order.placed_at, Order.id)
            .limit(1)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True, of=Order)
        return (await uow.session.execute(stmt)).scalar_one_or_none()

    async def claims(self) -> tuple[ClaimView, ...]:
        """Every live claim, oldest first (who is packing what, and until when)."""
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(Order.number, PackSession.id, PackSession.operator)
                .add_columns(PackSession.started_at, PackSession.claimed_until)
                .join(Order, Order.id == PackSession.order_id)
                .where(
                    PackSession.finished_at.is_(None),
                    PackSession.claimed_until > uow.clock(),
                )
                .order_by(PackSession.started_at, PackSession.id)
            )
            return tuple(
                ClaimView(
                    order_number=number,
                    session_id=sid,
                    operator=who,
                    started_at=started,
                    claimed_until=until,
                )
                for number, sid, who, started, until in rows.all()
            )

    async def session_ended(self, ref: str | int, *, session_id: int) -> str | None:
        """None while this session still holds the order; else why it ended, for its screen
        (taken over by a manager, finished, left)."""
        number = parse_ref(ref)
        async with self._uow() as uow:
            ctx = await self._load(uow, number, session_id, raw="")
            assert ctx.session is not None
            if ctx.session.finished_at is None:
                return None
            return await self._ended_message(ctx)

    async def _start_in(self, uow: UnitOfWork, order: Order, *, take_over: bool) -> PackSessionView:
        number = order.number
        problem = pack_refusal(facts_of(order))
        if problem:
            raise NotPackable(problem)
        session, resumed, took_over = await self._claim(uow, order, take_over=take_over)
        if took_over is not None:
            uow.touch(order)
        if await self._package_no(uow, order.id) == 0:
            uow.session.add(
                Package(order_id=order.id, number=1, created_at=uow.clock(), created_by=uow.actor)
            )
        await uow.session.flush()
        self._catalogues.pop(order.id, None)  # opening an order reads the catalogue afresh
        action = "pack.resume" if resumed else "pack.start"
        if took_over is not None and take_over:
            action = "pack.take_over"
        uow.audit(action, "order", number, session=session.id, took_over_from=took_over)
        ctx = await self._load(uow, number, session.id, raw="")
        return PackSessionView(
            session_id=session.id,
            order_number=number,
            operator=session.operator,
            claimed_until=session.claimed_until or uow.clock(),
            resumed=resumed,
            took_over_from=took_over,
            customer=order.customer.name if order.customer else "",
            progress=ctx.progress(),
            packages=await self._packages(uow, order),
        )

    async def _claim(
        self, uow: UnitOfWork, order: Order, *, take_over: bool = False
    ) -> tuple[PackSession, bool, str | None]:
        """This operator's session on the order: (session, resumed, taken over from whom).

        `take_over=True` breaks a live claim of someone else: the hook for a manager
        takeover, which must check the role before asking for it.
        """
        now = uow.clock()
        open_sessions = list(
            (
                await uow.session.execute(
                    select(PackSession)
                    .where(PackSession.order_id == order.id, PackSession.finished_at.is_(None))
                    .order_by(PackSession.id)
                )
            ).scalars()
        )
        mine = next((p for p in open_sessions if p.operator == uow.actor), None)
        took_over: str | None = None
        for other in open_sessions:
            if other is mine:
                continue
            live = other.claimed_until is not None and other.claimed_until > now
            if live and not take_over:
                assert other.claimed_until is not None
                until = other.claimed_until
                raise PackClaimed(
                    f"order #{order.number} is being packed by {other.operator} "
                    f"(claimed until {until:%H:%M:%S} UTC, "
                    f"{self.settings.pack_claim_minutes:g} minutes after their last scan)",
                    holder=other.operator,
                    until=until,
                    session_id=other.id,
                )
            other.finished_at = now
            other.claimed_until = None
            took_over = other.operator
        resumed = mine is not None
        if mine is None:
            mine = PackSession(order_id=order.id, operator=uow.actor, started_at=now)
            uow.session.add(mine)
        mine.claimed_until = now + self.claim_for
        return mine, resumed, took_over

    async def leave(self, ref: str | int, *, session_id: int) -> None:
        """Release the claim without a scan (the packer closed the screen); keeps everything."""
        number = parse_ref(ref)
        async with self._uow(write=True) as uow:
            ctx = await self._load(uow, number, session_id, raw="")
            assert ctx.session is not None
            if ctx.session.finished_at is None:
                self._end(ctx)
                uow.audit("pack.leave", "order", number, session=session_id)
                await uow.commit()

    async def progress(self, ref: str | int) -> PackProgress:
        """The order's packing state, read only (no session, no claim)."""
        async with self._uow() as uow:
            return (await self._load(uow, parse_ref(ref), None, raw="")).progress()

    # -- scanning -------------------------------------------------------------------------

    async def scan(self, ref: str | int, raw: str, *, session_id: int) -> ScanResult:
        """One scan, decided and saved in one short transaction; never raises for its text.

        Raises only when the session is not this operator's session on this order.
        """
        number = parse_ref(ref)
        async with self._uow(write=True, inline=True) as uow:
            ctx = await self._load(uow, number, session_id, raw=raw)
            result = await self._decide(ctx)
            await ctx.commit()
        return result

    async def undo(self, ref: str | int, *, session_id: int) -> ScanResult:
        return await self.scan(ref, UNDO_CODE, session_id=session_id)

    async def next_package(self, ref: str | int, *, session_id: int) -> ScanResult:
        return await self.scan(ref, NEXT_CODE, session_id=session_id)

    async def validate(self, ref: str | int, *, session_id: int) -> ScanResult:
        return await self.scan(ref, VALIDATE_CODE, session_id=session_id)

    async def abort(self, ref: str | int, *, session_id: int) -> ScanResult:
        return await self.scan(ref, ABORT_CODE, session_id=session_id)

    async def _decide(self, ctx: _Ctx) -> ScanResult:
        session = ctx.session
        assert session is not None
        order = ctx.order
        if session.finished_at is not None:
            return self._answer(ctx, OUT.REFUSED, await self._ended_message(ctx))
        problem = pack_refusal(facts_of(order))
        if problem:
            return self._answer(ctx, OUT.REFUSED, f"{problem}; packing stopped")
        self._extend_claim(ctx)
        if ctx.pending_line is not None:
            return await self._serial_scan(ctx, ctx.pending_line)
        try:
            scan = parse_scan(
                ctx.raw,
                gs_standin=self.settings.scan_gs_standin,
                aim_optional=self.settings.scan_aim_optional,
            )
        except ScanError as exc:
            return self._answer(ctx, OUT.REFUSED, str(exc))
        if scan.kind is Kind.COMMAND:
            assert scan.command is not None
            return await self._command(ctx, scan.command)
        if scan.kind is Kind.ORDER:
            return await self._slip(ctx, scan)
        if scan.kind is Kind.QUANTITY:
            return self._answer(
                ctx,
                OUT.ACCEPTED,
                f"{scan.quantity}×: the next product scanned counts {scan.quantity}",
                quantity=scan.quantity,
            )
        return await self._pack(ctx, scan)

    async def _ended_message(self, ctx: _Ctx) -> str:
        order = ctx.order
        holder = (
            await ctx.uow.session.execute(
                select(PackSession.operator)
                .where(PackSession.order_id == order.id, PackSession.finished_at.is_(None))
                .limit(1)
            )
        ).scalar_one_or_none()
        if holder is not None and holder != ctx.uow.actor:
            return f"order #{order.number} is now being packed by {holder}; this session ended"
        if order.status is Status.READY_TO_SHIP:
            return f"order #{order.number} is packed (ready_to_ship); this session ended"
        return f"this pack session of #{order.number} has ended: open the order again"

    # -- products -------------------------------------------------------------------------

    def _lines_for(self, ctx: _Ctx, scan: Scan) -> list[OrderLine]:
        """This order's lines the scanned code names (by GTIN-14, internal code or SKU)."""
        pid: int | None = None
        if scan.gtin14:
            pid = ctx.cat.gtins.get(scan.gtin14)
        if pid is None and scan.code.isascii():
            pid = ctx.cat.codes.get(scan.code.upper())
        if pid is not None:
            return [ln for ln in ctx.lines if ln.product_id == pid]
        upper = scan.code.upper() if scan.code.isascii() else scan.code
        return [ln for ln in ctx.lines if ln.sku.upper() == upper]

    async def _what_is(self, ctx: _Ctx, scan: Scan) -> str:
        """For a code not on this order: which product it is, if any (a hint for the packer)."""
        s = ctx.uow.session
        stmt = select(Product.sku, Product.name).join(
            ProductBarcode, ProductBarcode.product_id == Product.id
        )
        if scan.gtin14:
            stmt = stmt.where(ProductBarcode.code.in_(_gtin_forms(scan.gtin14)))
        else:
            stmt = stmt.where(ProductBarcode.code == scan.code)
        row = (await s.execute(stmt.limit(1))).first()
        if row is None and not scan.gtin14:
            row = (
                await s.execute(
                    select(Product.sku, Product.name).where(Product.sku == scan.code).limit(1)
                )
            ).first()
        if row is None:
            return "no product has this code"
        return f"it is {printable(row[0])} {printable(row[1])}"

    async def _pack(self, ctx: _Ctx, scan: Scan) -> ScanResult:
        code = printable(scan.code)
        if scan.kind is Kind.GS1 and not scan.gtin14:
            return self._answer(
                ctx, OUT.REFUSED, f"{code}: an SSCC names a shipping container, not a product"
            )
        quantity = scan.quantity
        if ctx.pending_quantity is not None:
            if scan.quantity != 1:
                return self._answer(
                    ctx,
                    OUT.REFUSED,
                    f"{_shown(ctx.raw)}: quantity given twice ({ctx.pending_quantity}* was "
                    "scanned just before)",
                )
            quantity = ctx.pending_quantity
        today = ctx.uow.clock().date()
        if scan.expiry is not None and scan.expiry < today:
            return self._answer(
                ctx, OUT.REFUSED, f"{code}: expired on {scan.expiry.isoformat()}", quantity=quantity
            )
        candidates = self._lines_for(ctx, scan)
        if not candidates:
            hint = await self._what_is(ctx, scan)
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"{code} is not on order #{ctx.order.number} ({hint})",
                quantity=quantity,
            )
        stock = [ln for ln in candidates if ln.fulfillment is Fulfillment.STOCK]
        if not stock:
            ln = candidates[0]
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"{code}: {printable(ln.sku)} ships from the vendor (drop-ship); "
                "it is not packed here",
                line=ln,
                quantity=quantity,
            )
        line = next((ln for ln in stock if self._room(ln) >= quantity), None)
        if line is None:
            ordered = sum(ln.quantity - ln.shipped for ln in stock)
            packed = sum(ln.packed for ln in stock)
            room = sum(self._room(ln) for ln in stock)
            sku = printable(stock[0].sku)
            why = (
                f"all {ordered} of {sku} are already packed"
                if room == 0
                else f"{quantity} is more than the {room} of {sku} still to pack "
                f"({packed} of {ordered} packed)"
            )
            return self._answer(
                ctx, OUT.REFUSED, f"{code}: {why}", line=stock[0], quantity=quantity
            )
        sku = printable(line.sku)
        if line.product_id is not None and ctx.cat.serialized.get(line.product_id, False):
            if quantity != 1:
                return self._answer(
                    ctx,
                    OUT.REFUSED,
                    f"{code}: {sku} is serialised: scan its units one at a time, each with "
                    "its serial number",
                    line=line,
                    quantity=quantity,
                )
            if not scan.serial:
                return self._answer(
                    ctx, OUT.NEEDS_SERIAL, f"{sku}: now scan its serial number", line=line
                )
            used = await self._serial_used(ctx, line, scan.serial)
            if used is not None:
                return self._answer(ctx, OUT.REFUSED, used, line=line, quantity=1)
        return await self._count(ctx, line, quantity, serial=scan.serial or None)

    @staticmethod
    def _room(line: OrderLine) -> int:
        return max(line.quantity - line.packed - line.shipped, 0)

    async def _serial_used(self, ctx: _Ctx, line: OrderLine, serial: str) -> str | None:
        """The refusal when this serial of this product is already packed (any order)."""
        net = func.sum(ScanEvent.quantity)
        row = (
            await ctx.uow.session.execute(
                select(Order.number)
                .select_from(ScanEvent)
                .join(OrderLine, OrderLine.id == ScanEvent.order_line_id)
                .join(Order, Order.id == ScanEvent.order_id)
                .where(
                    ScanEvent.serial == serial,
                    ScanEvent.accepted.is_(True),
                    OrderLine.product_id == line.product_id,
                )
                .group_by(Order.number)
                .having(net > 0)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        where = "this order" if row[0] == ctx.order.number else f"order #{row[0]}"
        return f"serial {printable(serial)} of {printable(line.sku)} is already packed on {where}"

    async def _serial_scan(self, ctx: _Ctx, line: OrderLine) -> ScanResult:
        """The scan after a serialised product: its serial (or undo / abort)."""
        sku = printable(line.sku)
        first = f"scan the serial number of {sku} first (or undo)"
        serial = ctx.raw.strip(" \r\n")
        try:
            scan: Scan | None = parse_scan(
                ctx.raw,
                gs_standin=self.settings.scan_gs_standin,
                aim_optional=self.settings.scan_aim_optional,
            )
        except ScanError:
            scan = None  # not a code Packline knows: it may well be a serial
        if scan is not None:
            if scan.kind is Kind.COMMAND and scan.command in (Command.UNDO, Command.ABORT):
                assert scan.command is not None
                return await self._command(ctx, scan.command)
            if scan.kind in (Kind.COMMAND, Kind.ORDER, Kind.QUANTITY):
                return self._answer(ctx, OUT.REFUSED, f"{_shown(ctx.raw)}: {first}", line=line)
            named = self._lines_for(ctx, scan)
            if scan.kind is Kind.GS1:
                if line not in named:
                    return self._answer(ctx, OUT.REFUSED, f"{_shown(ctx.raw)}: {first}", line=line)
                if not scan.serial:
                    return self._answer(
                        ctx,
                        OUT.REFUSED,
                        f"{printable(scan.code)} is {sku} again: scan its serial number",
                        line=line,
                    )
                serial = scan.serial
            elif named:
                return self._answer(
                    ctx,
                    OUT.REFUSED,
                    f"{printable(scan.code)} is a product barcode: scan the serial number of {sku}",
                    line=line,
                )
        if not serial:
            return self._answer(ctx, OUT.REFUSED, f"empty scan: {first}", line=line)
        if len(serial) > MAX_SERIAL:
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"{_shown(serial)}: a serial number is at most {MAX_SERIAL} characters",
                line=line,
            )
        if printable(serial) != serial:
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"{_shown(serial)}: a serial number cannot contain control characters",
                line=line,
            )
        used = await self._serial_used(ctx, line, serial)
        if used is not None:
            return self._answer(ctx, OUT.REFUSED, used, line=line, quantity=1)
        if self._room(line) < 1:  # cannot happen while the serial is pending; be sure
            return self._answer(
                ctx, OUT.REFUSED, f"all {line.quantity} of {sku} are already packed", line=line
            )
        return await self._count(ctx, line, 1, serial=serial)

    async def _count(
        self, ctx: _Ctx, line: OrderLine, quantity: int, *, serial: str | None
    ) -> ScanResult:
        await ctx.add_packed(line, quantity)
        sku = printable(line.sku)
        message = f"{sku}: {line.packed} of {line.quantity - line.shipped} packed"
        if serial:
            message += f" (serial {printable(serial)})"
        if quantity != 1:
            message = f"+{quantity} " + message
        outcome = OUT.ACCEPTED
        if not self._unpacked(ctx):
            if self.settings.pack_finish == "auto":
                finished, why = await self._try_finish(ctx)
                # The unit counts either way; only the status change may be refused (unpaid).
                outcome = OUT.FINISHED if finished else OUT.ACCEPTED
                message += "; " + why
            else:
                message += "; everything is packed: scan validate to finish"
        return self._answer(ctx, outcome, message, line=line, quantity=quantity, serial=serial)

    # -- commands -------------------------------------------------------------------------

    async def _command(self, ctx: _Ctx, command: Command) -> ScanResult:
        if command is Command.UNDO:
            return await self._undo(ctx)
        if command is Command.ABORT:
            self._end(ctx)
            p = ctx.progress()
            return self._answer(
                ctx,
                OUT.ABORTED,
                f"stopped packing #{ctx.order.number}; {p.units_packed} of {p.units_to_pack} "
                "units stay packed",
            )
        pending = ctx.pending_line
        if pending is not None:  # only undo and abort get past a pending serial
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"scan the serial number of {printable(pending.sku)} first (or undo)",
                line=pending,
            )
        if command is Command.NEXT_PACKAGE:
            return await self._next_package(ctx)
        return await self._validate(ctx)

    async def _undo(self, ctx: _Ctx) -> ScanResult:
        pending, pending_line = ctx.pending, ctx.pending_line
        if pending is not None:
            what = (
                f"the serial number of {printable(pending_line.sku)}"
                if pending_line is not None
                else f"the quantity {pending.quantity}×"
            )
            return self._answer(ctx, OUT.ACCEPTED, f"undone: no longer waiting for {what}")
        assert ctx.session is not None
        rows = (
            await ctx.uow.session.execute(
                select(ScanEvent)
                .where(
                    ScanEvent.session_id == ctx.session.id,
                    ScanEvent.accepted.is_(True),
                    ScanEvent.order_line_id.is_not(None),
                    ScanEvent.quantity != 0,
                )
                .order_by(ScanEvent.id)
            )
        ).scalars()
        stack: list[ScanEvent] = []
        for row in rows:
            if row.quantity > 0:
                stack.append(row)
            elif stack:
                stack.pop()
        if not stack:
            return self._answer(ctx, OUT.REFUSED, "nothing to undo in this session")
        last = stack[-1]
        line = next(ln for ln in ctx.lines if ln.id == last.order_line_id)
        await ctx.add_packed(line, -last.quantity)
        sku = printable(line.sku)
        serial = f" (serial {printable(last.serial)})" if last.serial else ""
        return self._answer(
            ctx,
            OUT.ACCEPTED,
            f"undone: {last.quantity} × {sku}{serial} taken out of package {last.package_no}; "
            f"{line.packed} of {line.quantity - line.shipped} packed",
            line=line,
            quantity=-last.quantity,
            serial=last.serial,
            package_no=last.package_no,
        )

    async def _next_package(self, ctx: _Ctx) -> ScanResult:
        current = ctx.package_no
        units = (
            await ctx.uow.session.execute(
                select(func.coalesce(func.sum(ScanEvent.quantity), 0)).where(
                    ScanEvent.order_id == ctx.order.id,
                    ScanEvent.accepted.is_(True),
                    ScanEvent.order_line_id.is_not(None),
                    ScanEvent.package_no == current,
                )
            )
        ).scalar_one()
        if int(units) <= 0:
            return self._answer(
                ctx, OUT.REFUSED, f"package {current} is still empty: pack something into it first"
            )
        ctx.package_no = current + 1
        ctx.uow.session.add(
            Package(
                order_id=ctx.order.id,
                number=ctx.package_no,
                created_at=ctx.uow.clock(),
                created_by=ctx.uow.actor,
            )
        )
        return self._answer(
            ctx, OUT.ACCEPTED, f"package {ctx.package_no} started ({current} closed)"
        )

    def _unpacked(self, ctx: _Ctx) -> list[tuple[str, int]]:
        return [
            (ln.sku, self._room(ln))
            for ln in ctx.lines
            if ln.fulfillment is Fulfillment.STOCK and self._room(ln) > 0
        ]

    def _split_problem(self, ctx: _Ctx) -> str | None:
        """Why a part-packed order cannot be split and finished: nothing packed, or unpaid
        (the ready_to_ship guard asked as if everything were packed)."""
        if not any(ln.packed > 0 for ln in ctx.lines if ln.fulfillment is Fulfillment.STOCK):
            return f"nothing is packed on #{ctx.order.number} yet"
        facts = facts_of(ctx.order)
        packed = tuple(
            LineFacts(
                sku=ln.sku,
                quantity=ln.quantity,
                packed=ln.quantity - ln.shipped,
                shipped=ln.shipped,
                fulfillment=ln.fulfillment,
            )
            for ln in facts.lines
        )
        return self.workflow.why_not(replace(facts, lines=packed), Request(Status.READY_TO_SHIP))

    async def _validate(self, ctx: _Ctx) -> ScanResult:
        rest = self._unpacked(ctx)
        if not rest:
            finished, message = await self._try_finish(ctx)
            return self._answer(ctx, OUT.FINISHED if finished else OUT.REFUSED, message)
        problem = self._split_problem(ctx)
        if problem:
            return self._answer(ctx, OUT.REFUSED, problem)
        listed = ", ".join(f"{printable(sku)} ×{qty}" for sku, qty in rest)
        units = sum(qty for _, qty in rest)
        return self._answer(
            ctx,
            OUT.OFFER_BACKORDER,
            f"{_plural(units, 'unit')} not packed ({listed}): split them off to a backorder "
            f"and finish #{ctx.order.number}?",
            backorder=tuple(rest),
        )

    async def _try_finish(self, ctx: _Ctx) -> tuple[bool, str]:
        """Everything is packed: to ready_to_ship and end the session; (done, message).

        Not done only when the workflow refuses (unpaid): the message is its reason.
        """
        order = ctx.order
        if order.status is Status.PARTIALLY_SHIPPED:  # the rest ships as it is: no new status
            self._end(ctx)
            return True, (
                f"#{order.number} is packed in {_plural(ctx.package_no, 'package')}; it stays "
                "partially_shipped until these go out"
            )
        if Status.READY_TO_SHIP in self.workflow.disabled:
            self._end(ctx)
            return True, (
                f"#{order.number} is packed (ready_to_ship is switched off in this shop: "
                f"it stays {order.status.value})"
            )
        problem = self.workflow.why_not(facts_of(order), Request(Status.READY_TO_SHIP))
        if problem:
            return False, problem
        packages = ctx.package_no
        await self.orders.apply_transition(
            ctx.uow,
            order,
            Request(Status.READY_TO_SHIP),
            notify=self.settings.pack_notify_ready,
            payload={"packages": packages},
        )
        self._end(ctx)
        return True, (
            f"#{order.number} is packed in {_plural(packages, 'package')} and ready to ship"
        )

    def _extend_claim(self, ctx: _Ctx) -> None:
        """Push the claim to claim_for after now; written at most every CLAIM_STEP, which
        spares most scans an UPDATE and moves the expiry by seconds in ten minutes."""
        assert ctx.session is not None
        until = ctx.uow.clock() + self.claim_for
        current = ctx.session.claimed_until
        if current is None or current < until - CLAIM_STEP:
            ctx.session.claimed_until = until

    def _end(self, ctx: _Ctx) -> None:
        assert ctx.session is not None
        ctx.session.finished_at = ctx.uow.clock()
        ctx.session.claimed_until = None

    # -- the split ------------------------------------------------------------------------

    async def split_backorder(
        self, ref: str | int, *, session_id: int, notify: bool = False
    ) -> ScanResult:
        """Confirm the offer of a validate scan: the unpacked rest becomes a new order.

        The new order (status backorder) takes the unpacked units of every stock line, at
        their prices, and the same customer and addresses; this order keeps what is packed
        (plus shipping, tax and its payments: money already taken stays where it was taken;
        the backorder's payment status is copied, as it was paid with this order), goes to
        ready_to_ship, and the session ends. Both orders' histories record the split.
        """
        number = parse_ref(ref)
        async with self._uow(write=True) as uow:
            ctx = await self._load(uow, number, session_id, raw=VALIDATE_CODE, full=True)
            result = await self._split(ctx, notify=notify)
            await ctx.commit()
        return result

    async def _split(self, ctx: _Ctx, *, notify: bool) -> ScanResult:
        session = ctx.session
        assert session is not None
        if session.finished_at is not None:
            return self._answer(ctx, OUT.REFUSED, await self._ended_message(ctx))
        problem = pack_refusal(facts_of(ctx.order))
        if problem:
            return self._answer(ctx, OUT.REFUSED, problem)
        if ctx.pending_line is not None:
            return self._answer(
                ctx,
                OUT.REFUSED,
                f"scan the serial number of {printable(ctx.pending_line.sku)} first (or undo)",
            )
        rest = self._unpacked(ctx)
        if not rest:
            finished, message = await self._try_finish(ctx)
            return self._answer(ctx, OUT.FINISHED if finished else OUT.REFUSED, message)
        problem = self._split_problem(ctx)
        if problem:
            return self._answer(ctx, OUT.REFUSED, problem)
        child = await split_off(
            ctx.uow,
            ctx.order,
            {
                ln.id: self._room(ln)
                for ln in ctx.lines
                if ln.fulfillment is Fulfillment.STOCK and self._room(ln) > 0
            },
            orders=self.orders,
            why="split while packing",
            notify=notify,
        )
        listed = ", ".join(f"{printable(sku)} ×{qty}" for sku, qty in rest)
        finished, message = await self._try_finish(ctx)
        if not finished:  # checked above; a guard added later must not half-split silently
            raise Refused(message)
        result = self._answer(
            ctx,
            OUT.FINISHED,
            f"{listed} split off to backorder #{child.number}; {message}",
            backorder=tuple(rest),
        )
        return replace(result, backorder_number=child.number)

    # -- slips ----------------------------------------------------------------------------

    async def _slip(self, ctx: _Ctx, scan: Scan) -> ScanResult:
        assert scan.order_number is not None
        if scan.order_number == ctx.order.number:
            return self._answer(
                ctx, OUT.ACCEPTED, f"this is #{ctx.order.number}'s slip: packing it"
            )
        exists = (
            await ctx.uow.session.execute(select(Order.id).where(Order.number == scan.order_number))
        ).scalar_one_or_none()
        if exists is None:
            return self._answer(
                ctx, OUT.REFUSED, f"{_shown(ctx.raw)}: no order #{scan.order_number}"
            )
        return self._answer(
            ctx,
            OUT.OPEN_ORDER,
            f"open order #{scan.order_number}",
            open_order=scan.order_number,
        )

    # -- packages -------------------------------------------------------------------------

    async def packages(self, ref: str | int) -> tuple[PackageView, ...]:
        """The order's packages, each with what went into it and its weight."""
        async with self._uow() as uow:
            order = await uow.order(ref)
            return await self._packages(uow, order)

    async def set_package_weight(self, ref: str | int, package_no: int, grams: int) -> PackageView:
        """Record what a package weighs (the scale's reading, in grams)."""
        if isinstance(grams, bool) or not isinstance(grams, int) or not 1 <= grams <= MAX_GRAMS:
            raise InvalidInput(f"a weight is a whole number of grams from 1 to {MAX_GRAMS:,}")
        async with self._uow(write=True) as uow:
            order = await uow.order(ref, for_update=True)
            if order.status is Status.CANCELED:
                raise InvalidInput(f"order #{order.number} is canceled")
            package = (
                await uow.session.execute(
                    select(Package).where(
                        Package.order_id == order.id, Package.number == package_no
                    )
                )
            ).scalar_one_or_none()
            if package is None:
                count = await self._package_no(uow, order.id)
                have = f"it has packages 1 to {count}" if count else "it has no packages yet"
                raise NotFound(f"order #{order.number} has no package {package_no} ({have})")
            before = package.weight_grams
            package.weight_grams = grams
            uow.audit(
                "package.weight",
                "order",
                order.number,
                package=package_no,
                grams=grams,
                before=before,
            )
            await uow.session.flush()
            view = next(p for p in await self._packages(uow, order) if p.number == package_no)
            await uow.commit()
        return view

    async def _packages(self, uow: UnitOfWork, order: Order) -> tuple[PackageView, ...]:
        s = uow.session
        skus = {ln.id: ln.sku for ln in order.lines}
        contents: dict[int, list[tuple[str, int]]] = {}
        for package_no, line_id, units in (
            await s.execute(
                select(ScanEvent.package_no, ScanEvent.order_line_id, func.sum(ScanEvent.quantity))
                .where(
                    ScanEvent.order_id == order.id,
                    ScanEvent.accepted.is_(True),
                    ScanEvent.order_line_id.is_not(None),
                )
                .group_by(ScanEvent.package_no, ScanEvent.order_line_id)
                .order_by(ScanEvent.package_no, ScanEvent.order_line_id)
            )
        ).all():
            if int(units) > 0 and line_id is not None:
                contents.setdefault(package_no, []).append((skus.get(line_id, "?"), int(units)))
        return tuple(
            PackageView(
                number=p.number,
                weight_grams=p.weight_grams,
                items=tuple(contents.get(p.number, ())),
                created_at=p.created_at,
                created_by=p.created_by,
            )
            for p in (
                await s.execute(
                    select(Package).where(Package.order_id == order.id).order_by(Package.number)
                )
            ).scalars()
        )

    # -- loading and answering ------------------------------------------------------------

    async def _package_no(self, uow: UnitOfWork, order_id: int) -> int:
        value = (
            await uow.session.execute(
                select(func.max(Package.number)).where(Package.order_id == order_id)
            )
        ).scalar()
        return int(value or 0)

    async def _load(
        self,
        uow: UnitOfWork,
        number: int,
        session_id: int | None,
        *,
        raw: str,
        full: bool = False,
    ) -> _Ctx:
        """The order, its lines, the session and the journal's state, in one statement.

        One statement because each costs a round trip (aiosqlite: several thread hand-offs),
        and a scan must be persisted within milliseconds. `full` also loads the customer and
        addresses (start, split). The order row is locked on PostgreSQL, as status changes
        lock it; SQLite's write transaction is already exclusive.
        """
        stmt = self._load_statement(full=full, lock=uow.write and not self.db.is_sqlite)
        params = {"pl_number": number, "pl_session": session_id or 0}
        row = (await uow.session.execute(stmt, params)).unique().one_or_none()
        if row is None:
            raise NotFound(f"no order #{number}")
        order, session, package_no, last_line, last_quantity = row
        if session_id is not None:
            if session is None:
                raise SessionMismatch(f"no pack session {session_id} on order #{number}")
            if session.operator != uow.actor:
                raise SessionMismatch(
                    f"pack session {session_id} belongs to {session.operator}, not {uow.actor}"
                )
        lines = list(order.lines)
        return _Ctx(
            uow=uow,
            raw=raw,
            order=order,
            session=session,
            lines=lines,
            cat=await self._catalogue(uow, order, lines),
            package_no=max(int(package_no or 0), 1),
            pending=(
                _Pending.of(last_line, int(last_quantity)) if last_quantity is not None else None
            ),
        )

    def _load_statement(self, *, full: bool, lock: bool) -> Select[Any]:
        """Built once per shape: constructing this select costs more than running it."""
        key = (full, lock)
        stmt = self._load_statements.get(key)
        if stmt is not None:
            return stmt
        latest = (
            select(ScanEvent.id)
            .where(ScanEvent.order_id == Order.id, ScanEvent.accepted.is_(True))
            .order_by(ScanEvent.id.desc())
            .limit(1)
            .correlate(Order)
            .scalar_subquery()
        )
        stmt = (
            select(
                Order,
                PackSession,
                select(func.max(Package.number))
                .where(Package.order_id == Order.id)
                .correlate(Order)
                .scalar_subquery(),
                select(ScanEvent.order_line_id)
                .where(ScanEvent.id == latest)
                .correlate(Order)
                .scalar_subquery(),
                select(ScanEvent.quantity)
                .where(ScanEvent.id == latest)
                .correlate(Order)
                .scalar_subquery(),
            )
            .outerjoin(
                PackSession,
                and_(
                    PackSession.id == bindparam("pl_session"),
                    PackSession.order_id == Order.id,
                ),
            )
            .where(Order.number == bindparam("pl_number"))
            .options(joinedload(Order.lines))
        )
        if full:
            stmt = stmt.options(
                selectinload(Order.customer),
                selectinload(Order.shipping_address),
                selectinload(Order.billing_address),
            )
        if lock:
            stmt = stmt.with_for_update(of=Order)
        self._load_statements[key] = stmt
        return stmt

    async def _catalogue(self, uow: UnitOfWork, order: Order, lines: list[OrderLine]) -> _Catalogue:
        """The order's product codes, serial flags and bins, from the cache when fresh.

        A barcode added to a product while its order is being packed is known within
        CATALOGUE_TTL seconds, or at once when the order is opened again (start refreshes).
        """
        line_ids = tuple(ln.id for ln in lines)
        cached = self._catalogues.get(order.id)
        if cached is not None and cached[0] > time.monotonic() and cached[1].line_ids == line_ids:
            return cached[1]
        s = uow.session
        pids = {ln.product_id for ln in lines if ln.product_id is not None}
        serialized: dict[int, bool] = {}
        gtins: dict[str, int] = {}
        codes: dict[str, int] = {}
        if pids:
            for pid, is_serial, sku, code in (
                await s.execute(
                    select(Product.id, Product.serialized, Product.sku, ProductBarcode.code)
                    .outerjoin(ProductBarcode, ProductBarcode.product_id == Product.id)
                    .where(Product.id.in_(pids))
                )
            ).all():
                serialized[pid] = bool(is_serial)
                codes.setdefault(sku.upper(), pid)
                if code is not None:
                    gtin = _as_gtin14(code)
                    if gtin is not None:
                        gtins.setdefault(gtin, pid)
                    codes.setdefault(code.upper(), pid)
        cat = _Catalogue(
            line_ids=line_ids,
            serialized=serialized,
            gtins=gtins,
            codes=codes,
            barcode=await first_barcodes(s, pids),
            where=await locate(s, [order], lines),
        )
        if len(self._catalogues) >= CATALOGUE_CACHE_SIZE:
            self._catalogues.clear()
        self._catalogues[order.id] = (time.monotonic() + CATALOGUE_TTL, cat)
        return cat

    def _answer(
        self,
        ctx: _Ctx,
        outcome: ScanOutcome,
        message: str,
        *,
        line: OrderLine | None = None,
        quantity: int = 0,
        serial: str | None = None,
        package_no: int | None = None,
        open_order: int | None = None,
        backorder: tuple[tuple[str, int], ...] = (),
    ) -> ScanResult:
        """Journal the scan (one scan_events row) and build the answer from the new state."""
        accepted = outcome is not OUT.REFUSED
        event: dict[str, Any] = {
            "session_id": ctx.session.id if ctx.session else None,
            "order_id": ctx.order.id,
            "code": _journal_code(ctx.raw),
            "order_line_id": line.id if line is not None else None,
            "quantity": quantity,
            "accepted": accepted,
            "message": message,
            "package_no": package_no or ctx.package_no,
            "serial": serial,
            "actor": ctx.uow.actor,
            "at": ctx.uow.clock(),
        }
        ctx.journal.append(event)
        if accepted:
            ctx.pending = _Pending.of(event["order_line_id"], quantity)
        counted = quantity if accepted and line is not None else 0
        return ScanResult(
            outcome=outcome,
            message=message,
            code=_shown(ctx.raw),
            progress=ctx.progress(),
            session_id=ctx.session.id if ctx.session else 0,
            line=ctx.line_view(line) if line is not None else None,
            counted=counted,
            serial=serial,
            open_order=open_order,
            backorder=backorder,
        )
