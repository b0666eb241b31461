"""Two operators over real SSH on one shared database: a throwaway OpenSSH server on
127.0.0.1 (key login, ForceCommand runs the console), the real `ssh` client in two tmux
panes of 80×24 — one a 256-colour terminal, one a 16-colour `xterm` — driven by keys only.

The operator is the SSH login (LOGNAME, set by sshd) unless the session sets
PACKLINE_OPERATOR (here through AcceptEnv). They race on one order: both open a memo on
the same version, the second save is refused with who changed it and when, the typed
text stays, reload + save adds it. A status change in one pane shows up in the other
within about a second (live updates), and the CLI's JSON has exactly what was saved.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.tmux import PACKLINE, Terminal, cli, isolated_env, require_terminal
from tests.sshd import SshServer, running_sshd

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], str, SshServer]]:
    require_terminal()
    env = isolated_env(tmp_path)
    if request.param == "sqlite":
        db = str(tmp_path / "shop.sqlite")
    else:  # the same console on PostgreSQL: live updates by LISTEN/NOTIFY
        from tests.conftest import _pg_database

        db = _pg_database(request.getfixturevalue("pg_template"))
    cli(env, db, "seed", "--orders", "30", "--anchor", "2026-11-20")
    home = tmp_path / "remote-home"
    home.mkdir()
    remote_env = {
        "TZ": "UTC",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    with running_sshd(
        force_command=f"{shlex.quote(str(PACKLINE))} --db {shlex.quote(db)}",
        set_env=remote_env,
        extra_config=("AcceptEnv PACKLINE_OPERATOR",),
    ) as server:
        yield env, db, server


def over_ssh(server: SshServer, env: dict[str, str], term: str, *options: str) -> Terminal:
    """`ssh -tt` in a tmux pane whose terminal type is `term` (sent to the server)."""
    command = ["env", f"TERM={term}", *server.ssh_command(tty=True)]
    command[command.index("ssh") + 1 : command.index("ssh") + 1] = list(options)
    return Terminal(command, env, (80, 24))


def open_order(term: Terminal, number: int) -> None:
    term.wait_for("orders · sort date", limit=60)
    term.keys("/")
    term.type(str(number))
    term.keys("Enter")
    term.wait_for(f"search {number}")
    term.keys("Enter")
    term.wait_for(f"Order #{number}")


def test_two_operators_over_ssh_race_on_one_order(
    shop: tuple[dict[str, str], str, SshServer],
) -> None:
    env, db, server = shop
    [order] = cli(env, db, "orders", "list", "--status", "new", "--limit", "1", "--json")
    number = order["number"]
    me = server.user  # the SSH login is the operator when nothing else is said
    first = over_ssh(server, env, "xterm-256color")
    second = over_ssh(server, env, "xterm", "-o", "SetEnv=PACKLINE_OPERATOR=lee")
    try:
        open_order(first, number)
        open_order(second, number)
        # Each pane got the colours its terminal type can show: 256 in one, 16 in the other.
        painted = first.tmux("capture-pane", "-p", "-e", "-t", first.name)
        plain = second.tmux("capture-pane", "-p", "-e", "-t", second.name)
        assert "38;5;" in painted or "48;5;" in painted
        assert not any(code in plain for code in ("38;5;", "48;5;", "38;2;", "48;2;"))
        assert "\x1b[" in plain  # ... and still colours (the 16 ANSI ones)
        # Both start a memo on the same version of the order.
        for term in (first, second):
            term.keys("m")
            term.wait_for(f"Staff memo for #{number}")
        # ctrl+s is a priority binding: it would overtake keys still queued for the text
        # area over a slow link, so each save waits until the text is on screen.
        first.type(f"boxed by {me}")
        first.wait_for(f"boxed by {me}")
        first.keys("C-s")
        first.wait_for(f"memo added to #{number}")
        second.type("lee checked the address")
        second.wait_for("lee checked the address")
        second.keys("C-s")
        seen = second.wait_for("Changed by someone else")
        assert f"was changed by {me} at" in seen.replace("\n", " ")
        second.keys("Enter")  # Reload
        second.wait_for("save again to add your memo")
        assert "lee checked the address" in second.text()  # what was typed is still there
        second.keys("C-s")
        second.wait_for(f"memo added to #{number}")
        # The first pane hears of lee's memo by itself (its order screen reloads) ...
        first.wait_for("changed by lee", limit=10)
        # ... and a status change there appears in the other pane, no key pressed there.
        first.keys("s")
        first.wait_for(f"Set status of #{number}")
        first.wait_for("Processing")
        first.keys("C-s")
        first.wait_for(f"#{number} is now Processing")
        started = time.monotonic()
        second.wait_for(f"Order #{number}  Processing", limit=10)
        assert time.monotonic() - started < 5  # about a second, on a busy test machine
        for term in (first, second):
            term.keys("Escape")
            term.wait_for(f"search {number} · sort date")
            term.keys("q")
        deadline = time.monotonic() + 15
        while None in (first.exited(), second.exited()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (first.exited(), second.exited()) == (0, 0), (
            "q did not end the SSH sessions:\n" + first.transcript() + "\n" + second.transcript()
        )
    finally:
        first.kill()
        second.kill()
    detail = cli(env, db, "orders", "show", str(number), "--json")
    memos = [(h["actor"], h["memo"]) for h in detail["history"] if h["memo"]]
    assert memos == [(me, f"boxed by {me}"), ("lee", "lee checked the address")]
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["actor"]) == ("new", "processing", me)
    assert detail["status"] == "processing"
