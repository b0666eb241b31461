"""The real program in a real terminal: a tmux session per test, read back as text.

Shared by the end-to-end tests (console, pack screen, SSH). Nothing sleeps blindly:
`wait_for` polls the pane until the expected text is there, or fails showing the pane.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from signal import SIGCHLD
from typing import Any

import pytest

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
        PYTHONFAULTHANDLER="1",  # a crash leaves its traceback in the pane
    )
    return env


def cli(env: dict[str, str], db: Path, *args: str, ok: bool = True) -> Any:
    """`packline --db DB ARGS`: the parsed JSON with --json, else stdout."""
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


def require_terminal() -> None:
    if TMUX is None:
        pytest.skip("tmux is not installed")
    if not PACKLINE.exists():
        pytest.skip(f"the packline console script is not installed at {PACKLINE}")


def seeded_shop(home: Path, orders: int = 50) -> tuple[dict[str, str], Path]:
    """An isolated environment and a seeded SQLite shop in it."""
    require_terminal()
    env = isolated_env(home)
    db = home / "shop.sqlite"
    cli(env, db, "seed", "--orders", str(orders), "--anchor", "2026-11-20")
    return env, db


# Keep the pane after the program ends, so its last words (and exit status) can be read.
# In the config, so it holds from the first moment: a program may end at once.
CONFIG = "set-option -g remain-on-exit on\n"


class Terminal:
    """One tmux server and session whose pane runs one command (exec'd: the pane's pid is
    its pid). The server is the test's own (`-L`, no user config): tests running side by
    side, or anything else using tmux on the machine, share nothing with it."""

    def __init__(
        self, command: list[str], env: dict[str, str], size: tuple[int, int] = (80, 24)
    ) -> None:
        assert TMUX is not None
        self.name = f"packline-e2e-{uuid.uuid4().hex[:8]}"
        self.env = env
        width, height = size
        self.config = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".conf")[1])
        self.config.write_text(CONFIG)
        shell = "exec " + " ".join(shlex.quote(part) for part in command)
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell)

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        result = subprocess.run(
            [TMUX, "-L", self.name, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
            check=False,
        )
        return result.stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def transcript(self) -> str:
        """The pane with its scrollback: what a program printed as it ended may be there."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.name)

    def keys(self, *keys: str) -> None:
        """Named keys (Enter, Escape, C-e) as tmux spells them."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        """All of `text` in one send-keys call, literally ("\\r" is a scanner's Enter)."""
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

    def exited(self) -> int | None:
        """The program's exit status once it has ended (minus the signal that killed it, as
        subprocess says it), else None."""
        shown = "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
        out = self.tmux("list-panes", "-t", self.name, "-F", shown)
        dead, status, signal = [*out.strip().split(":"), "", ""][:3]
        if dead != "1":
            return None
        if signal.strip():
            return -int(signal)
        if not status.strip():
            # tmux (3.3a here) sometimes misses the SIGCHLD of a program that ended: the pane
            # is dead, the program a zombie, its status unread. Nudge the server to reap it
            # (a spare SIGCHLD is harmless: it waits for children that have ended, with
            # WNOHANG); the status is there on the next look.
            server = self.tmux("display-message", "-p", "#{pid}").strip()
            if server.isdigit():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(server), SIGCHLD)
            return None
        return int(status)

    def alive(self) -> bool:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.name, "has-session", "-t", self.name], capture_output=True
        )
        return done.returncode == 0

    def kill(self) -> None:
        if self.alive():
            self.tmux("kill-server")
        self.config.unlink(missing_ok=True)
