"""The pack screen in a real terminal: `packline pack REF` in tmux (80×24), a scanner's
burst typed into the pty by ONE `tmux send-keys` call (no wait between keys or scans),
the result read back through `packline orders show REF --json`; and a SIGKILL in the
middle of an order, after which the scans are all there.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.tmux import PACKLINE, Terminal, cli, seeded_shop

pytestmark = pytest.mark.e2e

WRONG = "614141000043"  # a real code; not on the chosen order (checked below)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    yield seeded_shop(tmp_path)


def packable_order(env: dict[str, str], db: Path) -> tuple[int, list[dict[str, Any]]]:
    """A processing order with stock lines that all have a barcode (the seed makes one)."""
    rows = cli(env, db, "orders", "list", "--status", "processing", "--limit", "100", "--json")
    for row in rows:
        number = row["number"]
        probe = cli(env, db, "scan", str(number), f"PL:ORDER:{number}", "--json", ok=False)
        lines = probe.get("progress", {}).get("lines", [])
        stock = [ln for ln in lines if ln["fulfillment"] == "stock"]
        if stock and all(ln["barcode"] and ln["barcode"] != WRONG for ln in lines):
            return number, stock
    pytest.skip("the seed has no processing order to pack")


def units(number: int, stock: list[dict[str, Any]]) -> list[str]:
    """Each unit to pack as the scanner types it: the code, then a serial if it takes one."""
    out = []
    for ln in stock:
        for i in range(ln["remaining"]):
            serial = f"\rSN-{number}-{ln['sku']}-{i}" if ln["serialized"] else ""
            out.append(ln["barcode"] + serial)
    return out


def packed(env: dict[str, str], db: Path, number: int) -> dict[str, int]:
    detail = cli(env, db, "orders", "show", str(number), "--json")
    return {ln["sku"]: ln["packed"] for ln in detail["lines"]}


def test_a_burst_through_the_pty_packs_exactly_what_was_ordered(
    shop: tuple[dict[str, str], Path],
) -> None:
    env, db = shop
    number, stock = packable_order(env, db)
    codes = units(number, stock)
    extra = stock[-1]["barcode"] + ("\rSN-extra" if stock[-1]["serialized"] else "")
    burst = [*codes[:1], WRONG, *codes[1:], extra]  # one wrong, one more than ordered
    total = len(codes)
    pane = Terminal([str(PACKLINE), "--db", str(db), "pack", str(number)], env)
    try:
        pane.wait_for(f"Packing #{number}")
        pane.wait_for("scan ›")
        pane.type("".join(f"{code}\r" for code in burst))
        pane.wait_for(f"{total}/{total} units")
        time.sleep(0.5)  # the extra scan comes last; let it be answered too
        pane.wait_for("✗")
    finally:
        pane.kill()
    expected = {ln["sku"]: ln["packed"] + ln["remaining"] for ln in stock}
    now = packed(env, db, number)
    assert {sku: now[sku] for sku in expected} == expected


def test_killed_mid_order_the_scans_are_there_after_reopening(
    shop: tuple[dict[str, str], Path],
) -> None:
    env, db = shop
    number, stock = packable_order(env, db)
    codes = units(number, stock)
    if len(codes) < 2:
        pytest.skip("the order to pack has a single unit")
    total, first = len(codes), len(codes) // 2
    command = [str(PACKLINE), "--db", str(db), "pack", str(number)]
    pane = Terminal(command, env)
    try:
        pane.wait_for("scan ›")
        pane.type("".join(f"{code}\r" for code in codes[:first]))
        pane.wait_for(f"{first}/{total} units")
        os.kill(pane.pid(), signal.SIGKILL)  # no leave(), no clean shutdown
    finally:
        pane.kill()
    assert sum(packed(env, db, number).values()) == first
    again = Terminal(command, env)
    try:
        screen = again.wait_for("resumed packing")
        assert f"{first}/{total} units" in screen
        again.type("".join(f"{code}\r" for code in codes[first:]))
        again.wait_for(f"{total}/{total} units")
    finally:
        again.kill()
    assert sum(packed(env, db, number).values()) == total
