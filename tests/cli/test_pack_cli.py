"""`packline scan`, `pick-list` and `packages` through the real installed entry point."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from services.container import Services
from services.settings import load_settings
from services.statuses import Status
from tests.cli.test_cli import ok_json, packline
from tests.services.test_packing_support import (
    NOT_ON_ORDER,
    SERIAL_UPC,
    UPC_A,
    UPC_A_2,
    order_to_pack,
    seed_shop,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[int]]:
    """A seeded SQLite file with five processing, paid orders to pack (one per test, so
    the tests stay independent under xdist) and a new one."""
    path = str(tmp_path_factory.mktemp("pack") / "shop.sqlite")

    async def make() -> list[int]:
        s = await Services.open(load_settings(db=path, operator="setup"))
        try:
            await seed_shop(s)
            lines = (("PL-10002", 2), ("PL-10003", 1), ("PL-10000", 1))
            numbers = [await order_to_pack(s, lines) for _ in range(5)]
            return [*numbers, await order_to_pack(s, lines, status=Status.NEW)]
        finally:
            await s.close()

    return path, asyncio.run(make())


def test_scan_packs_refuses_and_finishes(shop: tuple[str, list[int]]) -> None:
    db, (number, *_rest) = shop
    codes = [UPC_A, "0" + UPC_A, UPC_A, NOT_ON_ORDER, "5*", "\x1b[2J", "PL:UNDO", UPC_A]
    result = packline("scan", str(number), *codes, "--json", db=db)
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    outcomes = [r["outcome"] for r in out["results"]]
    assert outcomes == [
        "accepted",
        "accepted",
        "refused",
        "refused",
        "accepted",
        "refused",
        "accepted",  # undo of the pending 5*
        "refused",  # PL-10002 is complete
    ]
    assert out["error"].startswith("4 of 8 scans refused; first: 614141000029: all 2 of")
    assert out["session"]["operator"] == "cli-tester"
    assert out["progress"]["lines"][0]["packed"] == 2
    # The rest, with the serial, in a second run: the claim was released by the first.
    plain = packline("scan", f"#{number}", UPC_A_2, SERIAL_UPC, "SN 77", "PL:VALIDATE", db=db)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert re.fullmatch(f"#{number}: pack session [0-9]+ started by cli-tester", lines[0])
    assert lines[1].split()[0] == "accepted" and lines[2].split()[0] == "needs_serial"
    assert lines[4] == f"finished        #{number} is packed in 1 package and ready to ship"
    detail = ok_json("orders", "show", str(number), db=db)
    assert detail["status"] == "ready_to_ship"
    assert [(ln["sku"], ln["packed"]) for ln in detail["lines"]] == [
        ("PL-10002", 2),
        ("PL-10003", 1),
        ("PL-10000", 1),
    ]
    again = packline("scan", str(number), UPC_A, db=db)
    assert again.returncode == 1
    assert again.stderr == (
        f"packline: order #{number} cannot be packed: it is already packed (ready_to_ship)\n"
    )


def test_scan_can_split_the_rest_to_a_backorder(shop: tuple[str, list[int]]) -> None:
    db, numbers = shop
    number = numbers[1]
    out = ok_json("scan", str(number), "2*" + UPC_A, "PL:VALIDATE", "--split-backorder", db=db)
    assert [r["outcome"] for r in out["results"]] == [
        "accepted",
        "offer_backorder",
        "finished",
    ]
    child = out["results"][-1]["backorder_number"]
    assert out["results"][-1]["backorder"] == [
        {"sku": "PL-10003", "quantity": 1},
        {"sku": "PL-10000", "quantity": 1},
    ]
    assert ok_json("orders", "show", str(child), db=db)["status"] == "backorder"


def test_a_claim_held_elsewhere_is_refused(shop: tuple[str, list[int]]) -> None:
    db, numbers = shop
    number = numbers[2]
    held = packline("scan", str(number), UPC_A, "--keep-claim", db=db)
    assert held.returncode == 0, held.stderr
    other = packline("scan", str(number), UPC_A, "--json", db=db, env={"PACKLINE_OPERATOR": "eve"})
    assert other.returncode == 1
    assert json.loads(other.stdout)["error"].startswith(
        f"order #{number} is being packed by cli-tester (claimed until"
    )
    # The holder's next run resumes its session and keeps it.
    mine = ok_json("scan", str(number), UPC_A, db=db)
    assert mine["session"]["resumed"] is True
    assert mine["progress"]["lines"][0]["packed"] == 2


def test_packages_and_weights(shop: tuple[str, list[int]]) -> None:
    db, numbers = shop
    number = numbers[3]
    ok_json("scan", str(number), UPC_A, "PL:NEXT", UPC_A, db=db)
    packages = ok_json("packages", str(number), "--weight", "1=1.25kg", "--weight", "2=300", db=db)
    assert [(p["number"], p["weight_grams"], p["units"]) for p in packages] == [
        (1, 1250, 1),
        (2, 300, 1),
    ]
    plain = packline("packages", str(number), db=db)
    assert plain.stdout.splitlines() == [
        "package 1       1,250 g  PL-10002 ×1",
        "package 2         300 g  PL-10002 ×1",
    ]
    for bad in ("1=-5", "1=1.0005kg"):
        usage = packline("packages", str(number), "--weight", bad, db=db)
        assert usage.returncode == 2, bad
    missing = packline("packages", str(number), "--weight", "7=100", "--json", db=db)
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {
        "error": f"order #{number} has no package 7 (it has packages 1 to 2)"
    }


def test_pick_list_text_json_and_html(shop: tuple[str, list[int]], tmp_path: Path) -> None:
    db, numbers = shop
    number, new = numbers[4], numbers[5]
    page = tmp_path / "pick.html"
    text = packline("pick-list", str(number), f"#{new}", "--html", str(page), db=db)
    assert text.returncode == 0, text.stderr
    body = text.stdout.splitlines()
    assert body[0] == f"Packline Demo Shop - Pick list for 1 order: #{number}"
    header = next(i for i, ln in enumerate(body) if ln.startswith("WH "))
    assert [ln.split()[:4] for ln in body[header + 1 : header + 4]] == [
        ["MAIN", "A-01-1", "PL-10000", "1"],
        ["MAIN", "C-01-3", "PL-10002", "2"],
        ["MAIN", "D-01-4", "PL-10003", "1"],
    ]
    assert f"#{new}: order #{new} cannot be packed: it is new" in text.stdout
    assert body[-1] == f"(HTML written to {page})"
    assert "<table>" in page.read_text()
    data = ok_json("pick-list", str(number), db=db)
    assert data["orders"] == [number] and data["units"] == 4
    unknown = packline("pick-list", "424242", db=db)
    assert (unknown.returncode, unknown.stderr) == (1, "packline: no order #424242\n")
