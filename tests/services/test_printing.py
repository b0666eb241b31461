"""Printing through real channels: a TCP listener on 127.0.0.1 playing a port-9100 label
printer (ZPL must arrive byte for byte), a folder, and `lp` (missing, and a stand-in
program on PATH that keeps what it was given)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.container import Services
from services.errors import InvalidInput
from services.printing import PrinterError, PrinterSpec, PrintService, parse_printer
from services.settings import load_settings
from services.shipping import NewShipment
from services.views import Document
from tests.conftest import FixedClock
from tests.services.test_shipping_support import (
    STOCK_A,
    STOCK_B,
    ready_order,
    seed_catalogue,
    tracking,
)


@pytest.fixture
async def shop(sqlite_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    services = await Services.open(load_settings(db=sqlite_url, operator="tester"), clock=clock)
    await seed_catalogue(services)
    try:
        yield services
    finally:
        await services.close()


class Listener:
    """A raw TCP printer: keeps each connection's bytes, in order."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.spec = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.append(await reader.read())  # until the sender closes
        writer.close()

    async def __aenter__(self) -> Listener:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.spec = f"tcp:127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_zpl_reaches_a_tcp_printer_byte_for_byte(shop: Services) -> None:
    numbers = []
    for seed in (50, 51):
        number = await ready_order(
            shop, lines=((STOCK_A, 1), (STOCK_B, 1)), name="Zoë Ünïcode ^XZ~JA"
        )
        await shop.shipping.ship(number, NewShipment(tracking=tracking("ups", seed)))
        numbers.append(number)
    labels = await shop.documents.labels(numbers)
    async with Listener() as printer:
        jobs = await shop.printing.print(labels, printer=printer.spec)
        for _ in range(50):
            if len(printer.received) == len(labels):
                break
            await asyncio.sleep(0.02)
    assert printer.received == [d.bodies["zpl"].encode("ascii") for d in labels]
    assert [(j.format, j.size, j.printer) for j in jobs] == [
        ("zpl", len(d.bodies["zpl"]), printer.spec) for d in labels
    ]


async def test_a_printer_that_is_not_there_is_refused(shop: Services) -> None:
    async with Listener() as gone:
        spec = gone.spec
    doc = Document(kind="label", order_number=1, name="l", title="t", bodies={"zpl": "^XA^XZ"})
    with pytest.raises(PrinterError, match="unreachable"):
        await shop.printing.print([doc], printer=spec)


async def test_file_printer_writes_every_format(shop: Services, tmp_path: Path) -> None:
    number = await ready_order(shop)
    docs = await shop.documents.invoices([number])
    out = tmp_path / "new" / "folder"
    jobs = await shop.printing.print(docs, printer=f"file:{out}")
    (job,) = jobs
    assert sorted(Path(f).name for f in job.files) == [
        f"invoice-{number}.barcode.png",
        f"invoice-{number}.html",
        f"invoice-{number}.txt",
    ]
    for fmt, body in docs[0].bodies.items():
        assert (out / f"invoice-{number}.{fmt}").read_text(encoding="utf-8") == body
    png = (out / f"invoice-{number}.barcode.png").read_bytes()
    assert png == docs[0].images["barcode.png"] and png.startswith(b"\x89PNG")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


async def test_lp_missing_says_so(
    shop: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without lp
    doc = Document(kind="invoice", order_number=1, name="i", title="t", bodies={"txt": "x"})
    with pytest.raises(PrinterError, match="`lp` command is not installed"):
        await shop.printing.print([doc], printer="lp:office")


def fake_lp(folder: Path, *, fail: bool = False) -> None:
    """A stand-in `lp` on PATH: writes its arguments and stdin where the test can read them."""
    script = folder / "lp"
    body = f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/args"\ncat > "{folder}/stdin"\n' + (
        'echo "lp: The printer or class does not exist." >&2\nexit 1\n' if fail else ""
    )
    script.write_text(body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


async def test_lp_gets_raw_zpl_and_text(
    shop: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_lp(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    number = await ready_order(shop)
    await shop.shipping.ship(number, NewShipment(tracking=tracking("fedex", 52)))
    (label,) = await shop.documents.labels([number])
    (job,) = await shop.printing.print([label], printer="lp:zebra_1")
    assert (tmp_path / "stdin").read_bytes() == label.bodies["zpl"].encode()
    args = (tmp_path / "args").read_text().split("\n")
    assert args[:2] == ["-d", "zebra_1"] and "-o" in args and "raw" in args
    assert job.format == "zpl"
    (slip,) = await shop.documents.packing_slips([number])
    await shop.printing.print([slip], printer="lp:office")
    assert (tmp_path / "stdin").read_text() == slip.bodies["txt"]  # CUPS prints text, not HTML
    assert "raw" not in (tmp_path / "args").read_text().split("\n")


async def test_lp_failure_is_reported(
    shop: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_lp(tmp_path, fail=True)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + "/bin:/usr/bin")
    doc = Document(kind="invoice", order_number=1, name="i", title="t", bodies={"txt": "x"})
    with pytest.raises(PrinterError, match="does not exist"):
        await shop.printing.print([doc], printer="lp:nope")


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("file:/tmp/out", PrinterSpec("file", "/tmp/out")),
        ("lp:office-2", PrinterSpec("lp", "office-2")),
        ("lp:", PrinterSpec("lp", "")),
        ("tcp:192.168.1.40:9100", PrinterSpec("tcp", "192.168.1.40", 9100)),
        ("tcp:zebra.local", PrinterSpec("tcp", "zebra.local", 9100)),
        ("TCP:[::1]:6101", PrinterSpec("tcp", "::1", 6101)),
    ],
)
def test_printer_specs(spec: str, parsed: PrinterSpec) -> None:
    assert parse_printer(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("zebra", "not a printer spec"),
        ("smb:x", "not a printer spec"),
        ("file:", "needs a directory"),
        ("lp:bad queue", "not a CUPS queue"),
        ("tcp:host:99999", "1 to 65535"),
        ("tcp:host:x", "1 to 65535"),
        ("tcp:bad host:9100", "not a host"),
    ],
)
def test_bad_printer_specs_are_refused(spec: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_printer(spec)


def test_no_printer_configured() -> None:
    service = PrintService(load_settings(db="sqlite+aiosqlite:///:memory:", printer=""))
    with pytest.raises(InvalidInput, match="no printer configured"):
        service.printer()
    configured = PrintService(load_settings(db="sqlite+aiosqlite:///:memory:", printer="lp:x"))
    assert configured.printer().display == "lp:x"
    assert configured.printer("file:/srv").display == "file:/srv"
