"""The installed `packline` in a real terminal (tmux, 80×24), driven by keys as a person
types them, with the result read back through the CLI's JSON.

Nothing sleeps blindly: every step waits until the expected text is on the pane.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.tmux import PACKLINE, Terminal, cli, seeded_shop

pytestmark = pytest.mark.e2e


@pytest.fixture
def terminal_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    yield seeded_shop(tmp_path)


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
        while term.exited() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert term.exited() == 0, "q did not quit"
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


def test_a_database_that_cannot_be_opened_closes_the_console_with_one_line(
    tmp_path: Path,
) -> None:
    """The queue's frame paints before the database is opened; a failure then closes the
    app and leaves the reason on the terminal, exit 1, no traceback."""
    env, _ = seeded_shop(tmp_path, orders=0)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00garbage" * 500)
    term = Terminal([str(PACKLINE), "--db", str(garbage)], env)
    try:
        deadline = time.monotonic() + 30
        while term.exited() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        screen = term.transcript()
        assert term.exited() == 1, screen
        said = "".join(screen.splitlines())  # the line wraps at 80 columns
        assert "packline: cannot open database" in said, screen
        assert "file is not a database" in said, screen
        assert "Traceback" not in screen
    finally:
        term.kill()
