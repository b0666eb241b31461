"""Where an import's file is read, checked and turned into rows: a worker process for a big
file (a real second core: the importing process only writes), the importing process's
own thread for a small one (a process costs more to start than such a file to read).

Both give the writer (services/imports.py) the same `Batch`es, in file order: the
orders the reader refused, and the rest as rows (services/import_rows.py), or, when the
writer asks for them (a batch holding orders already imported, which follow their
channel instead), as the checked orders themselves.

The worker is a fresh interpreter (`python -m services.import_worker`, never a fork:
the console imports from a process with threads) talking over its stdin/stdout in
length-prefixed pickles. It reads at most two batches ahead of the writer, so memory
stays flat and a change of mode (rows or checked orders) takes effect soon. A refusal of
the whole file (not CSV, a missing column) comes back as the same InvalidInput; anything
else the worker raises is raised again here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from services.errors import InvalidInput
from services.import_formats import (
    CsvRows,
    ImportedOrder,
    Rejected,
    read_generic_csv,
    read_json,
)
from services.import_rows import (
    Facts,
    Product,
    Ready,
    Rows,
    build_rows,
    check_batch,
    follow_facts,
    share_strings,
)
from services.shopify_csv import read as read_shopify

Format = Literal["shopify", "csv", "json"]
# Files from this size on are read by a worker process (about 8,000 Shopify rows): below
# it, starting one (~0.3 s) costs more than it saves.
PROCESS_MIN_BYTES = 2_000_000
AHEAD = 2  # batches the worker may read ahead of the writer
_ROOT = str(Path(__file__).resolve().parents[1])  # where `services` is, for the worker


@dataclass
class Plan:
    """What a reader needs to know: the file, and how to check and build its orders."""

    path: str
    fmt: Format
    channel: str
    catalogue: dict[str, Product]
    unknown_sku: str
    source: str  # the file's name, as the history memo says it
    operator: str
    sqlite: bool
    batch: int


@dataclass
class Batch:
    """One batch of the file, in order: what was refused, and the rest (their keys and
    follow facts, and unless the writer said otherwise, their rows); the checked orders
    themselves only when the writer asks (`ready_of`)."""

    seq: int
    refused: list[Rejected]
    keys: list[tuple[str, str]]  # (channel, order name)
    facts: list[Facts] | None  # None with rows: then from the checked orders if need be
    rows: Rows | None
    ready: list[Ready] | None = None


class _Relay:
    """The reader's progress, kept for the writer to pass on between batches (a screen's
    callback must not be called from a reader thread)."""

    def __init__(self) -> None:
        self.seen: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self.seen = (done, total)


def open_reader(
    plan: Plan, relay: _Relay
) -> tuple[CsvRows | None, Iterator[ImportedOrder | Rejected]]:
    """The file's orders one by one (InvalidInput: not a file of the format)."""
    file = Path(plan.path)
    if plan.fmt == "shopify":
        return read_shopify(file, plan.channel, relay)
    if plan.fmt == "csv":
        return read_generic_csv(file, plan.channel, relay)
    return None, iter(read_json(file, plan.channel))


def chunked(
    items: Iterable[ImportedOrder | Rejected], size: int
) -> Iterator[list[ImportedOrder | Rejected]]:
    """Batches of `size` orders (rejections ride along), read lazily from the file."""
    out: list[ImportedOrder | Rejected] = []
    orders = 0
    for item in items:
        out.append(item)
        if isinstance(item, ImportedOrder):
            orders += 1
            if orders >= size:
                yield out
                out, orders = [], 0
    if out:
        yield out


class _Maker:
    """Batches from a reader: checked, and built as rows unless checked orders are wanted."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.relay = _Relay()
        self.rows_read, items = open_reader(plan, self.relay)
        self.chunks = chunked(items, plan.batch)
        self.seq = 0
        self.last_ready: list[Ready] = []

    def next(self, want_rows: bool, keep_ready: bool) -> Batch | None:
        chunk = next(self.chunks, None)
        if chunk is None:
            return None
        plan = self.plan
        ready, refused = check_batch(chunk, plan.catalogue, plan.unknown_sku)
        self.last_ready = ready
        self.seq += 1
        keys = [r.key for r in ready]
        rows, facts = None, None
        if want_rows:
            rows = build_rows(ready, source=plan.source, operator=plan.operator, sqlite=plan.sqlite)
        else:
            facts = [follow_facts(r) for r in ready]
        return Batch(self.seq, refused, keys, facts, rows, ready if keep_ready else None)

    def close(self) -> None:
        if self.rows_read is not None:
            self.rows_read.close()


class ThreadSource:
    """The file read in a thread of this process, one batch ahead of the writer."""

    def __init__(self, maker: _Maker) -> None:
        self.maker = maker
        self.ahead: asyncio.Future[Batch | None] | None = None
        self.rows: int | None = None
        self.error = ""

    @classmethod
    async def open(cls, plan: Plan) -> ThreadSource:
        return cls(await asyncio.to_thread(_Maker, plan))

    @property
    def progress(self) -> tuple[int, int] | None:
        return self.maker.relay.seen

    def _read(self, want_rows: bool) -> asyncio.Future[Batch | None]:
        return asyncio.ensure_future(asyncio.to_thread(self.maker.next, want_rows, True))

    async def next(self, want_rows: bool) -> Batch | None:
        if self.ahead is None:
            self.ahead = self._read(want_rows)
        batch = await self.ahead
        self.ahead = self._read(want_rows) if batch is not None else None
        if batch is None:
            self._finish()
        return batch

    async def ready_of(self, batch: Batch) -> list[Ready]:
        assert batch.ready is not None
        return batch.ready

    def _finish(self) -> None:
        rows_read = self.maker.rows_read
        if rows_read is not None:
            self.rows, self.error = rows_read.rows, rows_read.error

    async def close(self) -> None:
        if self.ahead is not None:
            with contextlib.suppress(Exception):
                await self.ahead
        self._finish()
        await asyncio.to_thread(self.maker.close)


class WorkerFailed(RuntimeError):
    """The worker process ended without saying why (its last words are in the message)."""


class ProcessSource:
    """The file read by a worker process (see the module docstring)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.to_worker = proc.stdin
        self.from_worker = proc.stdout
        self.stash: deque[tuple[Any, ...]] = deque()
        self.stderr = bytearray()
        self.drain = asyncio.ensure_future(self._drain(proc.stderr))
        self.progress: tuple[int, int] | None = None
        self.rows: int | None = None
        self.error = ""
        self.done = 0
        self.ended = False

    @classmethod
    async def open(cls, plan: Plan) -> ProcessSource:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.import_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        source = cls(proc)
        try:
            source._send(("start", plan))
            reply = await source._recv()
            if reply[0] == "refused":
                raise InvalidInput(reply[1])
            if reply[0] != "open":
                source._fail(reply)
            for _ in range(AHEAD):
                source._send(("next", True, 0))
        except BaseException:
            await source.close()
            raise
        return source

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            self.stderr += chunk
            del self.stderr[:-8192]

    def _send(self, message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.to_worker.write(len(data).to_bytes(8, "little") + data)

    async def _recv(self) -> tuple[Any, ...]:
        try:
            head = await self.from_worker.readexactly(8)
            message: tuple[Any, ...] = pickle.loads(
                await self.from_worker.readexactly(int.from_bytes(head, "little"))
            )
        except asyncio.IncompleteReadError:
            await self.proc.wait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.drain, 5)
            words = self.stderr.decode(errors="replace").strip()
            raise WorkerFailed(
                f"the import worker stopped (exit status {self.proc.returncode})"
                + (f": {words.splitlines()[-1]}" if words else "")
            ) from None
        if message[0] == "error":
            self._fail(message)
        return message

    def _fail(self, message: tuple[Any, ...]) -> None:
        if message[0] == "error" and isinstance(message[1], BaseException):
            raise message[1]
        raise WorkerFailed(f"the import worker said {message!r:.300}")

    async def next(self, want_rows: bool) -> Batch | None:
        if self.ended:
            return None
        message = self.stash.popleft() if self.stash else await self._recv()
        if message[0] == "end":
            self.ended = True
            self.rows, self.error, self.progress = message[1], message[2], message[3]
            return None
        _, seq, refused, keys, facts, rows, progress = message
        self.progress = progress
        self.done = seq - 1
        self._send(("next", want_rows, self.done))
        await self.to_worker.drain()
        return Batch(seq, refused, keys, facts, rows)

    async def ready_of(self, batch: Batch) -> list[Ready]:
        if batch.ready is None:
            self._send(("ready", batch.seq))
            await self.to_worker.drain()
            while (message := await self._recv())[0] != "ready":
                self.stash.append(message)
            batch.ready = message[2]
        return batch.ready

    async def close(self) -> None:
        if not self.ended:  # the import stopped half-way: the worker may be mid-write
            self._kill()
        with contextlib.suppress(Exception):
            self._send(("stop",))
            self.to_worker.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), 5)
        except TimeoutError:
            self._kill()
            await self.proc.wait()
        except asyncio.CancelledError:
            self._kill()
            self.drain.cancel()
            raise
        # Both pipes read to their end, so the transport is closed before the loop may end.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(self.from_worker.read(), self.drain), 5)
        self.drain.cancel()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


async def open_source(plan: Plan, *, worker: bool) -> ThreadSource | ProcessSource:
    """The file's batches, read by a worker process or in a thread of this one (also when
    no worker could be started: nothing has been read or written yet then)."""
    if worker:
        try:
            return await ProcessSource.open(plan)
        except (OSError, WorkerFailed):
            pass
    return await ThreadSource.open(plan)


# -- the worker process ------------------------------------------------------------------------


def _serve(inp: BinaryIO, out: BinaryIO) -> None:
    def send(message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
        out.flush()

    def recv() -> tuple[Any, ...] | None:
        head = inp.read(8)
        if len(head) < 8:
            return None
        message: tuple[Any, ...] = pickle.loads(inp.read(int.from_bytes(head, "little")))
        return message

    start = recv()
    if start is None:
        return
    plan: Plan = start[1]
    try:
        maker = _Maker(plan)
    except InvalidInput as exc:
        send(("refused", str(exc)))
        return
    send(("open",))
    kept: dict[int, list[Ready]] = {}
    try:
        while (message := recv()) is not None:
            if message[0] == "next":
                _, want_rows, done = message
                for seq in [s for s in kept if s <= done]:
                    del kept[seq]
                batch = maker.next(want_rows, keep_ready=False)
                if batch is None:
                    rows_read = maker.rows_read
                    rows = rows_read.rows if rows_read is not None else None
                    error = rows_read.error if rows_read is not None else ""
                    send(("end", rows, error, maker.relay.seen))
                    continue
                kept[batch.seq] = maker.last_ready
                b = batch
                if b.rows is not None:
                    share_strings(b.rows)
                send(("batch", b.seq, b.refused, b.keys, b.facts, b.rows, maker.relay.seen))
            elif message[0] == "ready":
                send(("ready", message[1], kept.pop(message[1])))
            else:
                break
    finally:
        maker.close()


def main() -> None:
    """The worker: stdin and stdout carry the messages; anything printed goes to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        _serve(sys.stdin.buffer, out)
    except BaseException as exc:
        try:
            data = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(Exception):
            out.write(len(data).to_bytes(8, "little") + data)
            out.flush()
        raise


if __name__ == "__main__":
    main()
