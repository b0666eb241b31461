"""`packline ship`, `packline shipments …` and `packline print …` through the real entry
point, on a seeded SQLite file, as scripts use them."""

from __future__ import annotations

import json
import os
import pty
import random
import select
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services import carriers
from tests.cli.test_cli import EXE, ok_json, packline


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ship") / "shop.sqlite"
    report = ok_json(
        "seed", "--orders", "500", "--seed", "7", "--anchor", "2026-11-20", db=str(path)
    )
    assert report["orders"] == 500
    return str(path)


@pytest.fixture(scope="module")
def ready_numbers(seeded: str) -> list[str]:
    """ready_to_ship orders; each test takes its own (indexes 0-2 are the first test's)."""
    rows = ok_json("orders", "list", "--status", "ready_to_ship", "--limit", "100", db=seeded)
    assert len(rows) >= 11, "the seed makes ready_to_ship orders"
    return [str(r["number"]) for r in rows]


def tracking(seed: int, carrier: str = "ups") -> str:
    return carriers.generate(carrier, random.Random(1000 + seed))


def test_ship_in_two_parts_then_delete_one(seeded: str, ready_numbers: list[str]) -> None:
    shown = (ok_json("orders", "show", n, db=seeded) for n in ready_numbers[:3])
    order = next(d for d in shown if len(d["lines"]) >= 2)
    n = str(order["number"])
    first_line = order["lines"][0]
    t1, t2 = tracking(1), tracking(2, "fedex")
    # Relative to the real clock the CLI runs on: a fixed date here went stale once passed.
    expected = (datetime.now(UTC).date() + timedelta(days=4)).isoformat()
    part = ok_json(
        "ship",
        f"#{n}",
        "--tracking",
        t1,
        "--line",
        f"{first_line['sku']}={first_line['quantity']}",
        "--comment",
        "First box, expected Tuesday.",
        "--memo",
        "rest waits for the vendor",
        "--expected",
        expected,
        "--notify",
        db=seeded,
    )
    assert part["status"] == "partially_shipped"
    assert part["shipment"]["tracking"] == t1 and part["shipment"]["carrier"] == "ups"
    assert part["shipment"]["lines"] == [
        {"sku": first_line["sku"], "quantity": first_line["quantity"]}
    ]
    assert part["shipment"]["expected_delivery"] == expected
    assert part["history"][-1]["memo"] == "rest waits for the vendor"
    assert [x["event"] for x in part["notifications"] if x["channel"] == "email"][-1] == (
        "partially_shipped"
    )

    rest = packline("ship", n, "--tracking", t2, db=seeded)
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.startswith(f"#{n} is now shipped: fedex {t2}")

    undone = ok_json("shipments", "delete", n, t2, "--reason", "wrong box", db=seeded)
    assert undone["status"] == "partially_shipped"
    assert undone["deleted_shipment"]["delete_reason"] == "wrong box"
    back = ok_json("shipments", "delete", n, t1, "--reason", "typo", db=seeded)
    assert back["status"] == "ready_to_ship"
    assert all(line["shipped"] == 0 for line in back["lines"])
    listed = packline("shipments", "list", n, db=seeded).stdout
    assert "DELETED: wrong box" in listed and "DELETED: typo" in listed


def test_refusals_exit_1_with_one_line_and_change_nothing(
    seeded: str, ready_numbers: list[str]
) -> None:
    n = ready_numbers[3]
    before = ok_json("orders", "show", n, db=seeded)
    line = before["lines"][0]
    # a processing order whose stock lines are not packed yet (the shop packs first)
    listed = ok_json("orders", "list", "--status", "processing", "--limit", "50", db=seeded)
    shown = (ok_json("orders", "show", str(r["number"]), db=seeded) for r in listed)
    unpacked = next(
        d
        for d in shown
        if all(ln["fulfillment"] == "stock" and ln["packed"] == 0 for ln in d["lines"])
    )
    p = str(unpacked["number"])
    p_line = unpacked["lines"][0]
    good = tracking(3)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    for args, words in [
        (("ship", n, "--tracking", bad), "fails the UPS check digit"),
        (("ship", n, "--tracking", "C11031500001879"), "matches no known carrier"),
        (("ship", n, "--tracking", good, "--line", "PL-NOPE=1"), "is not on order"),
        (
            ("ship", n, "--tracking", good, "--line", f"{line['sku']}={line['quantity'] + 1}"),
            f"{line['quantity']} ordered",
        ),
        (("ship", p, "--tracking", good), "pack it first"),
        (("ship", p, "--tracking", good, "--line", f"{p_line['sku']}=1"), "pack them first"),
        (("shipments", "delete", n, good, "--reason", "x"), "no shipment with tracking"),
    ]:
        result = packline(*args, db=seeded)
        assert result.returncode == 1, (args, result.stderr)
        assert words in result.stderr and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    as_json = packline("ship", n, "--tracking", bad, "--json", db=seeded)
    assert as_json.returncode == 1
    assert "check digit" in json.loads(as_json.stdout)["error"]
    assert ok_json("orders", "show", n, db=seeded) == before
    assert ok_json("orders", "show", p, db=seeded) == unpacked


def test_a_number_of_no_known_pattern_ships_with_an_explicit_carrier(
    seeded: str, ready_numbers: list[str]
) -> None:
    n = ready_numbers[8]
    done = ok_json(
        "ship",
        n,
        "--tracking",
        "c110-3150-0001-879",
        "--carrier",
        "OnTrac",
        "--no-notify",
        db=seeded,
    )
    assert done["status"] == "shipped"
    assert (done["shipment"]["carrier"], done["shipment"]["tracking"]) == (
        "ontrac",
        "C11031500001879",
    )
    assert not [x for x in done["notifications"] if x["event"] == "shipped"]  # --no-notify


def test_usage_errors_exit_2(seeded: str) -> None:
    for args in (
        ("ship", "1001"),  # no --tracking
        ("ship", "1001", "--tracking", tracking(4), "--line", "PL-10002=0"),
        ("ship", "1001", "--tracking", tracking(4), "--expected", "24/11/2026"),
        ("shipments", "delete", "1001", tracking(4)),  # no --reason
    ):
        assert packline(*args, db=seeded).returncode == 2, args


def test_a_duplicate_needs_confirmation(seeded: str, ready_numbers: list[str]) -> None:
    first, second = ready_numbers[4], ready_numbers[5]
    shared = tracking(5, "usps")
    ok_json("ship", first, "--tracking", shared, db=seeded)
    before = ok_json("orders", "show", second, db=seeded)
    refused = packline("ship", second, "--tracking", shared, db=seeded)
    assert refused.returncode == 1 and f"order #{first}" in refused.stderr
    assert "--confirm-duplicate" in refused.stderr  # the warning says how to confirm
    assert ok_json("orders", "show", second, db=seeded) == before
    done = ok_json("ship", second, "--tracking", shared, "--confirm-duplicate", db=seeded)
    assert done["status"] == "shipped"


def at_a_terminal(*args: str, db: str, answer: str) -> tuple[int, str]:
    """Run packline on a pseudo-terminal; answer its y/N question with `answer`."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
    env.update({"PACKLINE_OPERATOR": "cli-tester", "TERM": "dumb"})
    proc = subprocess.Popen(
        [EXE, "--db", db, *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    out, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the program has ended and closed the terminal
                    break
                out += chunk
                if not answered and b"[y/N]" in out:
                    os.write(master, answer.encode() + b"\n")
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, out.decode(errors="replace")


def test_a_duplicate_is_asked_about_at_a_terminal(seeded: str, ready_numbers: list[str]) -> None:
    first, second = ready_numbers[9], ready_numbers[10]
    shared = tracking(8, "dhl")
    ok_json("ship", first, "--tracking", shared, db=seeded)
    before = ok_json("orders", "show", second, db=seeded)
    code, out = at_a_terminal("ship", second, "--tracking", shared, db=seeded, answer="n")
    assert code == 1, out
    assert f"warning: tracking number {shared} is already used on order #{first}" in out
    assert ok_json("orders", "show", second, db=seeded) == before
    code, out = at_a_terminal("ship", second, "--tracking", shared, db=seeded, answer="y")
    assert code == 0, out
    assert f"#{second} is now shipped: dhl {shared}" in out


class RawPrinter:
    """A port-9100 printer on 127.0.0.1 in a thread: keeps each connection's bytes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.jobs: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                self.jobs.append(data)

    def close(self) -> None:
        self.sock.close()


def test_print_slips_and_labels(seeded: str, ready_numbers: list[str], tmp_path: Path) -> None:
    ta, tb = tracking(6), tracking(7, "dhl")
    a = ok_json("ship", ready_numbers[6], "--tracking", ta, db=seeded)
    b = ok_json("ship", ready_numbers[7], "--tracking", tb, db=seeded)
    refs = [str(a["number"]), f"#{b['number']}"]
    out = tmp_path / "docs"
    slips = ok_json("print", "slip", *refs, "--printer", f"file:{out}", db=seeded)
    assert [j["order"] for j in slips] == [a["number"], b["number"]]
    slip_text = (out / f"packing-slip-{a['number']}.txt").read_text()
    assert f"PL:ORDER:{a['number']}" in slip_text and a["lines"][0]["sku"] in slip_text
    assert "<svg" in (out / f"packing-slip-{a['number']}.html").read_text()

    invoices = ok_json("print", "invoice", *refs, "--printer", f"file:{out}", db=seeded)
    assert [j["order"] for j in invoices] == [a["number"], b["number"]]
    invoice_files = [Path(f) for j in invoices for f in j["files"]]
    text = next(
        f
        for f in invoice_files
        if f.name.startswith(f"invoice-{a['number']}") and f.suffix == ".txt"
    ).read_text()
    assert f"PL:ORDER:{a['number']}" in text and a["lines"][0]["sku"] in text

    files = ok_json("print", "label", *refs, "--printer", f"file:{out}", db=seeded)
    printer = RawPrinter()
    try:
        sent = packline(
            "print", "label", *refs, "--printer", f"tcp:127.0.0.1:{printer.port}", db=seeded
        )
        assert sent.returncode == 0, sent.stderr
    finally:
        printer.close()
    printer.thread.join(timeout=5)
    assert printer.jobs == [Path(j["files"][0]).read_bytes() for j in files]
    assert printer.jobs[0].startswith(b"^XA") and ta.encode() in printer.jobs[0]


def test_print_needs_a_printer(seeded: str) -> None:
    result = packline("print", "slip", "1001", "--json", db=seeded)
    assert result.returncode == 1
    assert "no printer configured" in json.loads(result.stdout)["error"]


def test_auto_complete(seeded: str) -> None:
    off = ok_json("shipments", "auto-complete", db=seeded)
    assert off["enabled"] is False and off["completed"] == []
    on = packline(
        "shipments",
        "auto-complete",
        "--json",
        db=seeded,
        env={"PACKLINE_AUTO_COMPLETE_DAYS": "1"},
    )
    assert on.returncode == 0, on.stderr
    report = json.loads(on.stdout)
    assert report["enabled"] and report["days"] == 1
    assert report["completed"], "the seed has orders shipped days ago"
    assert all("days ago" in c["why"] for c in report["completed"])
