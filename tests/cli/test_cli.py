"""The CLI through its real entry point (the installed `packline` script), as scripts use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXE = shutil.which("packline", path=str(Path(sys.executable).parent)) or "packline"


def packline(
    *args: str, db: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PACKLINE_")}
    full_env.update({"PACKLINE_OPERATOR": "cli-tester", **(env or {})})
    cmd = [EXE, *(["--db", db] if db else []), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env=full_env, stdin=subprocess.DEVNULL
    )


def ok_json(*args: str, db: str) -> Any:
    result = packline(*args, "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "shop.sqlite"
    first = packline("db", "upgrade", db=str(path))
    assert first.returncode == 0 and "schema upgraded from empty to" in first.stdout
    again = packline("db", "upgrade", db=str(path))
    assert "schema is current" in again.stdout
    report = ok_json(
        "seed", "--orders", "40", "--seed", "3", "--anchor", "2026-11-20", db=str(path)
    )
    assert report["orders"] == 40 and report["first_number"] == 1001
    return str(path)


def first_new(db: str) -> dict[str, Any]:
    rows = ok_json("orders", "list", "--status", "new", "--limit", "1", db=db)
    assert rows, "the seed makes new orders"
    return rows[0]


def test_list_and_show_json_contract(seeded: str) -> None:
    rows = ok_json("orders", "list", "--limit", "5", db=seeded)
    assert len(rows) == 5
    for key in (
        "number",
        "status",
        "payment_status",
        "customer",
        "shipping_address",
        "total",
        "memo",
        "risk",
        "shipments",
    ):
        assert key in rows[0]
    number = rows[0]["number"]
    detail = ok_json("orders", "show", f"#{number}", db=seeded)
    for key in (
        "number",
        "status",
        "payment_status",
        "customer",
        "shipping_address",
        "lines",
        "shipments",
        "purchase_orders",
        "returns",
        "history",
        "notifications",
        "risk",
    ):
        assert key in detail, key
    assert set(detail["customer"]) >= {"name", "email"}
    assert set(detail["lines"][0]) >= {
        "sku",
        "barcode",
        "name",
        "quantity",
        "packed",
        "shipped",
        "vendor",
    }
    assert set(detail["history"][0]) >= {"from", "to", "at", "actor", "comment", "memo"}
    assert set(detail["risk"]) >= {"score", "reasons"}
    # search by number, and a status filter
    found = ok_json("orders", "list", "--search", f"#{number}", db=seeded)
    assert [r["number"] for r in found] == [number]
    shipped = ok_json("orders", "list", "--status", "shipped", db=seeded)
    assert all(r["status"] == "shipped" for r in shipped)


def test_plain_output_is_readable(seeded: str) -> None:
    result = packline("orders", "list", "--limit", "3", db=seeded)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split()[:3] == ["#", "placed", "status"]


def test_illegal_transition_exits_1_with_one_line_and_changes_nothing(seeded: str) -> None:
    order = first_new(seeded)
    n = order["number"]
    before = ok_json("orders", "show", str(n), db=seeded)
    result = packline("orders", "set-status", str(n), "complete", "--memo", "x", db=seeded)
    assert result.returncode == 1
    assert result.stderr == (
        f"packline: order #{n} is new; it can go to processing, held, backorder or canceled\n"
    )
    assert result.stdout == ""
    as_json = packline("orders", "set-status", str(n), "complete", "--json", db=seeded)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {
        "error": f"order #{n} is new; it can go to processing, held, backorder or canceled"
    }
    assert ok_json("orders", "show", str(n), db=seeded) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orders", "show", "99999"), "no order #99999"),
        (("orders", "show", "abc"), "is not an order number"),
        (("orders", "set-status", "1001", "bogus"), "unknown status 'bogus'"),
        (("orders", "set-status", "1001", "held", "--reason", "nope"), "unknown hold reason"),
        (("orders", "memo", "1001", "  "), "a memo needs some text"),
    ],
)
def test_refusals(seeded: str, args: tuple[str, ...], message: str) -> None:
    result = packline(*args, db=seeded)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_set_status_with_comment_memo_and_email(seeded: str) -> None:
    n = first_new(seeded)["number"]
    detail = ok_json(
        "orders",
        "set-status",
        str(n),
        "processing",
        "--comment",
        "Thank you for your order!",
        "--memo",
        "deliver by Friday",
        "--notify",
        db=seeded,
    )
    assert detail["status"] == "processing"
    assert detail["memo"] == "deliver by Friday"
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["actor"]) == ("new", "processing", "cli-tester")
    assert last["comment"] == "Thank you for your order!"
    emails = [
        x for x in detail["notifications"] if x["channel"] == "email" and x["event"] == "processing"
    ]
    assert len(emails) == 1 and emails[0]["state"] in ("queued", "dead")


def test_hold_needs_reason_and_note_then_release(seeded: str) -> None:
    n = str(first_new(seeded)["number"])
    assert "needs a reason" in packline("orders", "set-status", n, "held", db=seeded).stderr
    assert (
        "needs a note"
        in packline("orders", "set-status", n, "held", "--reason", "other", db=seeded).stderr
    )
    held = ok_json(
        "orders",
        "set-status",
        n,
        "held",
        "--reason",
        "other",
        "--note",
        "artwork missing",
        db=seeded,
    )
    assert held["hold"] == {"reason": "other", "note": "artwork missing", "from": "new"}
    released = ok_json("orders", "set-status", n, "new", db=seeded)
    assert released["status"] == "new" and released["hold"] is None


def test_stale_version_is_refused(seeded: str) -> None:
    order = first_new(seeded)
    n, version = str(order["number"]), order["version"]
    ok_json("orders", "memo", n, "customer called", "--if-version", str(version), db=seeded)
    result = packline(
        "orders", "set-status", n, "processing", "--if-version", str(version), db=seeded
    )
    assert result.returncode == 1
    assert f"order #{n} was changed by cli-tester at" in result.stderr
    assert ok_json("orders", "show", n, db=seeded)["status"] == "new"


def test_states_prints_table_and_mermaid(seeded: str) -> None:
    text = packline("states", db=seeded).stdout
    assert "new" in text and "-> processing, held, backorder, canceled" in text
    assert "stateDiagram-v2" in text and "    shipped --> complete" in text
    data = ok_json("states", db=seeded)
    assert data["transitions"]["new"] == ["processing", "held", "backorder", "canceled"]
    assert data["transitions"]["canceled"] == []


def test_config_file_renames_and_switches_off(seeded: str, tmp_path: Path) -> None:
    config = tmp_path / "packline.toml"
    config.write_text('[statuses]\ndisabled = ["backorder"]\nlabels = { held = "On Hold" }\n')
    data = ok_json("--config", str(config), "states", db=seeded)
    assert "backorder" not in data["transitions"]["new"]
    assert {"name": "held", "label": "On Hold"} in data["statuses"]
    broken = tmp_path / "broken.toml"
    broken.write_text("[statuses\n")
    result = packline("--config", str(broken), "states", db=seeded)
    assert result.returncode == 1 and "invalid configuration" in result.stderr


def test_database_that_cannot_be_opened(tmp_path: Path) -> None:
    not_a_db = tmp_path / "garbage.sqlite"
    not_a_db.write_bytes(b"\x00garbage" * 500)
    for url, expected in [
        (str(not_a_db), "file is not a database"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot open database"),
        ("mysql://somewhere/db", "unsupported database"),
        (str(tmp_path / "garbage.sqlite" / "x.sqlite"), "garbage.sqlite is not a directory"),
    ]:
        result = packline("orders", "list", db=url)
        assert result.returncode == 1, url
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_usage_error_exits_2(seeded: str) -> None:
    assert packline("orders", "list", "--limit", "0", db=seeded).returncode == 2
    assert packline("orders", "frobnicate", db=seeded).returncode == 2


def test_environment_variable_selects_the_database(seeded: str) -> None:
    result = packline("orders", "list", "--limit", "1", "--json", env={"PACKLINE_DB": seeded})
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 1


@pytest.mark.postgres
def test_every_command_on_postgresql(pg_template: tuple[object, str]) -> None:
    from tests.conftest import _pg_database

    url = _pg_database(pg_template)
    assert packline("db", "upgrade", db=url).returncode == 0
    ok_json("seed", "--orders", "15", "--anchor", "2026-11-20", db=url)
    n = str(first_new(url)["number"])
    ok_json("orders", "show", n, db=url)
    ok_json("orders", "memo", n, "from postgres", db=url)
    detail = ok_json("orders", "set-status", n, "processing", "--notify", db=url)
    assert detail["status"] == "processing"
    assert ok_json("orders", "list", "--search", n, db=url)[0]["number"] == int(n)
    assert packline("orders", "set-status", n, "returned", db=url).returncode == 1
    assert ok_json("states", db=url)["transitions"]["new"]


def test_sub_command_modules_load_only_when_run_and_names_match() -> None:
    """`packline X` imports X's module alone (start-up is import time); each name in
    `_GROUPS` is the one the command's module gives it."""
    import click

    from console.cli import _GROUPS, cli, command_name, load_command

    assert set(_GROUPS) <= set(cli.lazy.values())
    for dotted in _GROUPS:
        command = load_command(dotted)
        assert isinstance(command, click.Command)
        assert command.name == command_name(dotted), dotted
    probe = (
        "import sys; from console.cli import main; sys.argv = ['packline', 'states', '--json'];"
        "\ntry: main()\nexcept SystemExit: pass\n"
        "loaded = [m for m in sys.modules if m.startswith(('console.cli_', 'sqlalchemy'))]\n"
        "print(loaded, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_keys_lists_every_binding_id_the_config_can_remap() -> None:
    from click.testing import CliRunner

    from console.app import PacklineApp, binding_ids, keyed
    from console.cli import cli

    result = CliRunner().invoke(cli, ["keys", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["id"] for r in rows} == binding_ids((PacklineApp, *keyed()))
    assert {
        "where": "OrderScreen",
        "key": "v",
        "id": "order.vendor_pos",
        "does": "Vendor POs",
    } in rows
