"""`packline notify ...`: the outbox from a shell, and the worker without the console.

Most commands run in-process through click's runner (fast); the long-running worker runs
as the real program in a subprocess and is stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from services.statuses import Status
from tests.services.test_notify_support import (
    SENDER,
    STAFF,
    free_port,
    new_order,
    notify_settings,
    open_shop,
    smtp_server,
)

ROOT = Path(__file__).resolve().parents[2]
RUN = ("notify", "run")


def invoke(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    base = {"PACKLINE_OPERATOR": "cli-tester", "PACKLINE_SMTP_HOST": "127.0.0.1"}
    return CliRunner().invoke(cli, ["--db", db, *args], env={**base, **(env or {})})


def make_shop(db: str, port: int, orders: list[tuple[str, bool]]) -> list[int]:
    """Orders (e-mail, notify) moved to processing; returns their numbers."""

    async def build() -> list[int]:
        shop = await open_shop(notify_settings(db, port))
        try:
            numbers = []
            for address, notify in orders:
                number = await new_order(shop, email=address)
                await shop.orders.set_status(number, Status.PROCESSING, notify=notify)
                numbers.append(number)
            return numbers
        finally:
            await shop.close()

    return asyncio.run(build())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite'}"


def test_list_retry_discard_set_recipient(db: str) -> None:
    numbers = make_shop(db, free_port(), [("", True), ("a@example.org", True), ("b@x.org", True)])
    listed = invoke(db, "notify", "list", "--json")
    assert listed.exit_code == 0, listed.output
    everything = json.loads(listed.stdout)
    # each order: the staff's new-order notice, then the processing e-mail; newest first
    assert [(e["order"], e["event"]) for e in everything] == [
        (n, event) for n in numbers[::-1] for event in ("processing", "new_order_staff")
    ]
    assert {e["to"] for e in everything if e["event"] == "new_order_staff"} == {STAFF}
    entries = [e for e in everything if e["event"] == "processing"]
    assert set(entries[0]) >= {"id", "order", "event", "channel", "to", "state", "error"}
    dead, queued_a, queued_b = entries[::-1]
    assert (dead["state"], dead["to"], dead["event"]) == ("dead", "", "processing")
    assert "no recipient" in dead["error"]

    only_dead = json.loads(invoke(db, "notify", "list", "--state", "dead", "--json").stdout)
    assert [e["id"] for e in only_dead] == [dead["id"]]
    text = invoke(db, "notify", "list", "--order", str(numbers[0]))
    assert (
        text.exit_code == 0 and "no recipient" in text.stdout and "a@example.org" not in text.stdout
    )

    refused = invoke(db, "notify", "retry", str(dead["id"]))
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "has no recipient" in refused.stderr
    as_json = invoke(db, "notify", "retry", str(dead["id"]), "--json")
    assert as_json.exit_code == 1 and "has no recipient" in json.loads(as_json.stdout)["error"]

    bad = invoke(db, "notify", "set-recipient", str(dead["id"]), "not an address")
    assert bad.exit_code == 1 and "not an e-mail address" in bad.stderr
    fixed = invoke(db, "notify", "set-recipient", str(dead["id"]), "ada@example.org", "--json")
    assert fixed.exit_code == 0, fixed.output
    assert (json.loads(fixed.stdout)["state"], json.loads(fixed.stdout)["to"]) == (
        "queued",
        "ada@example.org",
    )

    gone = invoke(db, "notify", "discard", str(queued_b["id"]))
    assert gone.exit_code == 0 and "discarded; now dead" in gone.stdout
    assert invoke(db, "notify", "retry", str(queued_b["id"])).exit_code == 0

    assert invoke(db, "notify", "retry", "99999").exit_code == 1
    assert "no notification 99999" in invoke(db, "notify", "retry", "99999").stderr
    assert invoke(db, "notify", "retry", "abc").exit_code == 2
    assert invoke(db, "notify", "list", "--state", "bogus").exit_code == 2
    assert queued_a["state"] == "queued"


def test_run_once_and_all(db: str) -> None:
    port = free_port()
    make_shop(db, port, [("a@example.org", True), ("b@example.org", True)])
    env = {"PACKLINE_SMTP_PORT": str(port), "PACKLINE_SMTP_FROM": SENDER}
    down = invoke(db, "notify", "run", "--once", "--json", env=env)
    assert down.exit_code == 0, down.output
    report: dict[str, Any] = json.loads(down.stdout)
    assert (report["sent"], report["failed"]) == (0, 4)  # 2 changes, 2 staff notices
    assert "cannot reach the mail server" in report["errors"][0]
    with smtp_server(port) as (_, inbox):
        waiting = invoke(db, "notify", "run", "--once", env=env)
        assert waiting.stdout.startswith("sent 0, failed 0")  # still backing off
        now = invoke(db, "notify", "run", "--once", "--all", env=env)
        assert now.exit_code == 0 and now.stdout.startswith("sent 4, failed 0"), now.output
        assert sorted(r for m in inbox.messages for r in m.rcpt) == [
            "a@example.org",
            "b@example.org",
            STAFF,
            STAFF,
        ]


def test_login_from_the_environment_never_shown(db: str) -> None:
    """SMTP credentials come from the environment; a refused login is retried later and its
    error, the report and the outbox listing never contain the password."""
    password = "env-Secret-77"
    with smtp_server(login=("shop", password)) as (port, inbox):
        make_shop(db, port, [("a@example.org", True)])
        env = {
            "PACKLINE_SMTP_PORT": str(port),
            "PACKLINE_SMTP_FROM": SENDER,
            "PACKLINE_SMTP_USER": "shop",
            "PACKLINE_SMTP_PASSWORD": "wrong-" + password,
        }
        refused = invoke(db, "notify", "run", "--once", env=env)
        assert refused.exit_code == 0, refused.output
        assert refused.stdout.startswith("sent 0, failed 2") and "login refused" in refused.stdout
        listed = invoke(db, "notify", "list", "--json", env=env)
        assert "login refused" in listed.stdout
        for text in (refused.output, listed.output):
            assert password not in text
        env["PACKLINE_SMTP_PASSWORD"] = password
        sent = invoke(db, "notify", "run", "--once", "--all", env=env)
        assert sent.stdout.startswith("sent 2, failed 0"), sent.output
        assert password not in sent.output
        assert sorted(m.rcpt[0] for m in inbox.messages) == ["a@example.org", STAFF]


def test_run_until_sigterm(db: str) -> None:
    with smtp_server() as (port, inbox):
        make_shop(db, port, [("a@example.org", True)])
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")},
            "PACKLINE_SMTP_HOST": "127.0.0.1",
            "PACKLINE_SMTP_PORT": str(port),
            "PACKLINE_SMTP_FROM": SENDER,
            "PACKLINE_NOTIFY_POLL_SECONDS": "0.2",
        }
        worker = subprocess.Popen(
            [sys.executable, "-c", "from console.cli import main; main()", "--db", db, *RUN],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while len(inbox.messages) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sorted(m.rcpt[0] for m in inbox.messages) == ["a@example.org", STAFF]
            make_shop(db, port, [("b@example.org", True)])  # picked up by polling
            while len(inbox.messages) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(inbox.customers()) == 2 and len(inbox.to(STAFF)) == 2
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=20)
        assert worker.returncode == 0, err
        assert "delivering notifications from" in err
