"""Printing: documents out through the `printer` setting (or a spec given per call).

    file:DIR         write each document's formats to DIR (created if missing)
    lp:QUEUE         `lp -d QUEUE`, the document on stdin (CUPS); `lp:` alone: the default
    tcp:HOST:PORT    raw bytes to a network printer (port 9100 label printers; PORT
                     defaults to 9100)

What each printer gets: a folder gets every format (html, txt, zpl); CUPS and raw TCP
get ZPL for labels (with `-o raw` for CUPS) and plain text for pages, since neither
renders HTML. Output is bytes exactly as rendered: ZPL is ASCII, text UTF-8.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.errors import InvalidInput, Refused
from services.settings import Settings
from services.views import Document, PrintJob

DEFAULT_RAW_PORT = 9100
FORMS = "file:DIR, lp:QUEUE or tcp:HOST:PORT"
_QUEUE = re.compile(r"[A-Za-z0-9_.@-]{1,127}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


class PrinterError(Refused):
    """The printer could not take the document; the message says what to check."""


@dataclass(frozen=True)
class PrinterSpec:
    kind: str  # file | lp | tcp
    target: str  # directory, queue ("" = CUPS default) or host
    port: int = 0

    @property
    def display(self) -> str:
        if self.kind == "tcp":
            return f"tcp:{self.target}:{self.port}"
        return f"{self.kind}:{self.target}"

    def format_for(self, doc: Document) -> str:
        """The one format a printer that takes one format gets."""
        for fmt in ("zpl", "txt", "html"):
            if fmt in doc.bodies:
                return fmt
        raise InvalidInput(f"{doc.name} has nothing to print")


def parse_printer(spec: str) -> PrinterSpec:
    """`file:DIR`, `lp:QUEUE` or `tcp:HOST[:PORT]`, or InvalidInput saying which forms work."""
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if not sep or kind not in ("file", "lp", "tcp"):
        raise InvalidInput(f"printer {text[:60]!r} is not a printer spec: use {FORMS}")
    if kind == "file":
        if not rest.strip():
            raise InvalidInput("printer file: needs a directory (file:DIR)")
        return PrinterSpec("file", rest.strip())
    if kind == "lp":
        queue = rest.strip()
        if queue and not _QUEUE.fullmatch(queue):
            raise InvalidInput(
                f"printer queue {queue[:60]!r} is not a CUPS queue name "
                "(letters, digits, '_', '-', '.', '@')"
            )
        return PrinterSpec("lp", queue)
    host, port_text = rest, ""
    if rest.startswith("["):  # [IPv6]:port
        end = rest.find("]")
        host, port_text = rest[: end + 1], rest[end + 2 :] if end > 0 else ""
    elif ":" in rest:
        host, _, port_text = rest.rpartition(":")
    if not _HOST.fullmatch(host):
        raise InvalidInput(f"printer host {host[:60]!r} is not a host name or address")
    port = DEFAULT_RAW_PORT
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise InvalidInput(f"printer port {port_text[:10]!r} must be a number from 1 to 65535")
        port = int(port_text)
    return PrinterSpec("tcp", host.strip("[]"), port)


class PrintService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def printer(self, spec: str | None = None) -> PrinterSpec:
        """The printer to use: `spec` if given, else the `printer` setting."""
        chosen = spec if spec is not None and spec.strip() else self.settings.printer
        if not chosen.strip():
            raise InvalidInput(
                f"no printer configured: set printer ({FORMS}) in the config file or "
                "PACKLINE_PRINTER, or pass --printer"
            )
        return parse_printer(chosen)

    async def print(
        self, docs: Sequence[Document], *, printer: str | None = None
    ) -> list[PrintJob]:
        """Send every document, in order; a failure says how many had already gone."""
        target = self.printer(printer)
        jobs: list[PrintJob] = []
        for doc in docs:
            try:
                jobs.append(await self._one(target, doc))
            except PrinterError as exc:
                if not jobs:
                    raise
                raise PrinterError(
                    f"{exc} ({len(jobs)} of {len(docs)} documents had been printed)"
                ) from exc
        return jobs

    async def _one(self, target: PrinterSpec, doc: Document) -> PrintJob:
        if target.kind == "file":
            return await asyncio.to_thread(self._to_files, target, doc)
        fmt = target.format_for(doc)
        data = doc.bodies[fmt].encode("utf-8")
        if target.kind == "lp":
            await self._to_lp(target, doc, data, raw=fmt == "zpl")
        else:
            await self._to_socket(target, data)
        return PrintJob(
            document=doc.name,
            kind=doc.kind,
            order_number=doc.order_number,
            printer=target.display,
            format=fmt,
            size=len(data),
        )

    @staticmethod
    def _to_files(target: PrinterSpec, doc: Document) -> PrintJob:
        folder = Path(target.target).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PrinterError(f"cannot create {folder}: {exc.strerror or exc}") from None
        files: list[str] = []
        size = 0
        parts = [(fmt, body.encode("utf-8")) for fmt, body in sorted(doc.bodies.items())]
        parts += sorted(doc.images.items())
        for fmt, data in parts:
            path = folder / f"{doc.name}.{fmt}"
            try:
                # Written whole or not at all: a reader never sees half a document.
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{doc.name}.", suffix=".tmp")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except OSError as exc:
                raise PrinterError(f"cannot write {path}: {exc.strerror or exc}") from None
            files.append(str(path))
            size += len(data)
        return PrintJob(
            document=doc.name,
            kind=doc.kind,
            order_number=doc.order_number,
            printer=target.display,
            format="+".join(sorted(doc.bodies)),
            size=size,
            files=tuple(files),
        )

    async def _to_lp(self, target: PrinterSpec, doc: Document, data: bytes, *, raw: bool) -> None:
        exe = shutil.which("lp")
        if exe is None:
            raise PrinterError(
                "cannot print to lp:" + target.target + ": the `lp` command is not installed "
                "(install the CUPS client, e.g. cups-client or cups-bsd), or print to file:DIR"
            )
        args = [exe, *(["-d", target.target] if target.target else []), "-t", doc.title]
        if raw:
            args += ["-o", "raw"]
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _out, err = await asyncio.wait_for(
                proc.communicate(data), timeout=self.settings.printer_timeout
            )
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PrinterError(
                f"lp did not finish within {self.settings.printer_timeout:g} s "
                f"(printer {target.display})"
            ) from None
        if proc.returncode != 0:
            why = " ".join(err.decode("utf-8", "replace").split())[:300] or "no message"
            raise PrinterError(f"lp failed for {target.display} (exit {proc.returncode}): {why}")

    async def _to_socket(self, target: PrinterSpec, data: bytes) -> None:
        timeout = self.settings.printer_timeout
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.target, target.port), timeout=timeout
            )
        except TimeoutError:
            raise PrinterError(
                f"printer {target.display} did not answer within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise PrinterError(
                f"printer {target.display} is unreachable: {exc.strerror or exc}"
            ) from None
        try:
            writer.write(data)
            await asyncio.wait_for(writer.drain(), timeout=timeout)
            writer.write_eof()
        except (OSError, TimeoutError) as exc:
            raise PrinterError(f"printer {target.display} stopped taking data: {exc}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=timeout)
