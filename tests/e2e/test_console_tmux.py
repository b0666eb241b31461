"""The installed `packline` in a real terminal (tmux, 80×24), driven by keys as a person
types them, with the result read back through the CLI's JSON.

Nothing sleeps blindly: every step waits until the expected text is on the pane.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
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


def isolated_env(home: Path) -> dict[str, str]:
    """No user config or data leaks in; times in UTC; a terminal that does colour."""
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


def cli(env: dict[str, str], db: Path, *args: str) -> Any:
    result = subprocess.run(
        [str(PACKLINE), "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


class Terminal:
    """One tmux session running one command in an 80×24 pty."""

    def __init__(self, command: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        assert TMUX is not None
        self.name = f"packline-e2e-{uuid.uuid4().hex[:8]}"
        self.env = env
        width, height = size
        shell = " ".join(shlex.quote(part) for part in command)
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell)

    def _tmux(self, *args: str) -> str:
        assert TMUX is not None
        result = subprocess.run(
            [TMUX, *args], capture_output=True, text=True, env=self.env, timeout=10, check=False
        )
        return result.stdout

    def text(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def wait_for(self, wanted: str, limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while True:
            screen = self.text()
            if wanted in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} did not appear; the pane shows:\n{screen}")
            time.sleep(0.05)

    def alive(self) -> bool:
        assert TMUX is not None
        return (
            subprocess.run(
                [TMUX, "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )

    def kill(self) -> None:
        if self.alive():
            self._tmux("kill-session", "-t", self.name)


@pytest.fixture
def terminal_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    if TMUX is None:
        pytest.skip("tmux is not installed")
    if not PACKLINE.exists():
        pytest.skip(f"the packline console script is not installed at {PACKLINE}")
    env = isolated_env(tmp_path)
    db = tmp_path / "shop.sqlite"
    cli(env, db, "seed", "--orders", "50", "--anchor", "2026-11-20")
    yield env, db


def test_set_processing_with_a_thank_you_and_email_in_a_real_terminal(
    terminal_env: tuple[dict[str, str], Path],
) -> None:
    env, db = terminal_env
    [order] = cli(env, db, "orders", "list", "--status", "new", "--limit", "1", "--json")
    number = order["number"]
    term = Terminal([str(PACKLINE), "--db", str(db)], env, (80, 24))
    try:
        term.wait_for("orders · sort date")  # the queue has painted its rows
        term.keys("/")
        term.type(str(number))
        term.keys("Enter")
        term.wait_for(f"search {number}")
        term.keys("Enter")  # open the only row
        term.wait_for(f"Order #{number}")
        term.keys("s")
        term.wait_for(f"Set status of #{number}")
        term.wait_for("Processing")  # the choices are in (first for a new order)
        term.keys("Tab")
        term.type("Thank you for your order!")
        term.keys("C-e")  # Save + Send Email
        screen = term.wait_for("customer e-mail queued")
        assert f"Order #{number}  Processing" in screen
        term.keys("Escape")
        term.wait_for(f"search {number} · sort date")  # back on the queue, search kept
        term.keys("q")
        deadline = time.monotonic() + 10
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not term.alive(), "q did not quit"
    finally:
        term.kill()
    detail = cli(env, db, "orders", "show", str(number), "--json")
    assert detail["status"] == "processing"
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["actor"]) == ("new", "processing", "e2e")
    assert last["comment"] == "Thank you for your order!"
    mails = [n for n in detail["notifications"] if n["channel"] == "email"]
    assert [(n["event"], n["to"]) for n in mails] == [("processing", order["customer"]["email"])]
    # Queued by the save; the console's own delivery worker may already have tried the
    # (absent) mail server, which leaves it failed and due for a retry, never lost.
    assert mails[0]["state"] in {"queued", "sending", "failed", "sent"}
