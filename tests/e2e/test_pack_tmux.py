"""The pack screen in a real terminal: `packline pack REF` in tmux (80×24), a scanner's
burst typed into the pty by ONE `tmux send-keys` call (no wait between keys or scans),
the result read back through `packline orders show REF --json`; and a SIGKILL in the
middle of an order, after which the scans are all there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PACKLINE = Path(sys.executable).parent / "packline"
TMUX = shutil.which("tmux")
WRONG = "614141000043"  # a real code; not on the chosen order (checked below)


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
    env.update(
        TZ="UTC",
        TERM="xterm-256color",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        PACKLINE_OPERATOR="e2e",
    )
    return env


def cli(env: dict[str, str], db: Path, *args: str, ok: bool = True) -> Any:
    result = subprocess.run(
        [str(PACKLINE), "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


class Pane:
    """One tmux session whose pane runs packline itself (exec'd: its pid is packline's)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        assert TMUX is not None
        self.name = f"packline-pack-{uuid.uuid4().hex[:8]}"
        self.env = env
        shell = "exec " + " ".join(shlex.quote(part) for part in command)
        self.tmux("new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", shell)

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, *args], capture_output=True, text=True, env=self.env, timeout=10, check=False
        ).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def type(self, text: str) -> None:
        """All of `text` in one send-keys call: "\\r" is the scanner's Enter."""
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def wait_for(self, wanted: str, limit: float = 30.0) -> str:
        deadline = time.monotonic() + limit
        while True:
            screen = self.text()
            if wanted in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} did not appear; the pane shows:\n{screen}")
            time.sleep(0.05)

    def pid(self) -> int:
        return int(self.tmux("list-panes", "-t", self.name, "-F", "#{pane_pid}").split()[0])

    def kill(self) -> None:
        self.tmux("kill-session", "-t", self.name)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    if TMUX is None:
        pytest.skip("tmux is not installed")
    if not PACKLINE.exists():
        pytest.skip(f"the packline console script is not installed at {PACKLINE}")
    env = env_for(tmp_path)
    db = tmp_path / "shop.sqlite"
    cli(env, db, "seed", "--orders", "50", "--anchor", "2026-11-20")
    yield env, db


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
    pane = Pane([str(PACKLINE), "--db", str(db), "pack", str(number)], env)
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
    pane = Pane(command, env)
    try:
        pane.wait_for("scan ›")
        pane.type("".join(f"{code}\r" for code in codes[:first]))
        pane.wait_for(f"{first}/{total} units")
        os.kill(pane.pid(), signal.SIGKILL)  # no leave(), no clean shutdown
    finally:
        pane.kill()
    assert sum(packed(env, db, number).values()) == first
    again = Pane(command, env)
    try:
        screen = again.wait_for("resumed packing")
        assert f"{first}/{total} units" in screen
        again.type("".join(f"{code}\r" for code in codes[first:]))
        again.wait_for(f"{total}/{total} units")
    finally:
        again.kill()
    assert sum(packed(env, db, number).values()) == total
