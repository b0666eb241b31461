"""`packline po ...` through the real entry point, on a seeded SQLite file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from services import carriers
from tests.cli.test_cli import packline
from tests.services.test_purchasing_support import acks

SHIP = "7 Compiler Court|Arlington|22201|US"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A seeded catalogue; EDI files go to edi/ next to it."""
    folder = tmp_path_factory.mktemp("po")
    db = str(folder / "shop.sqlite")
    env = {"PACKLINE_EDI_DIR": str(folder / "edi")}
    seeded = packline("seed", "--orders", "0", "--seed", "1", "--anchor", "2026-11-20", db=db)
    assert seeded.returncode == 0, seeded.stderr
    return {"db": db, "edi": env["PACKLINE_EDI_DIR"], "dir": str(folder)}


def run(shop: dict[str, str], *args: str) -> Any:
    result = packline(*args, "--json", db=shop["db"], env={"PACKLINE_EDI_DIR": shop["edi"]})
    assert result.returncode == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def order(shop: dict[str, str], *lines: str) -> int:
    args = ["new-order", "--name", "Grace Hopper", "--email", "grace@example.org", "--ship", SHIP]
    for line in lines:
        args += ["--line", line]
    return int(run(shop, *args)["number"])


def test_plan_create_with_override_send_list_and_show(shop: dict[str, str]) -> None:
    n = order(shop, "PL-10031=1", "PL-10001=2", "PL-10002=1")
    plan = run(shop, "po", "plan", str(n))
    selected = {ln["sku"]: ln["selected"] for ln in plan["lines"]}
    assert selected == {"PL-10031": "GLOBEX", "PL-10001": "INITECH", "PL-10002": None}
    result = run(shop, "po", "create", f"#{n}", "--vendor", "PL-10031=ACME", "--send")
    assert result["status"] == "processing"
    vendors = {po["vendor_code"]: po for po in result["purchase_orders"]}
    assert set(vendors) == {"ACME", "INITECH"}
    assert all(po["status"] == "sent" for po in vendors.values())
    edi = next(s for s in result["sent"] if s["via"] == "edi")
    assert Path(edi["detail"]).read_text().startswith("ISA*00*")
    listed = run(shop, "po", "list", "--status", "sent", "--order", str(n))
    assert sorted(p["number"] for p in listed) == sorted(result["created"])
    shown = run(shop, "po", "show", vendors["ACME"]["number"])
    assert shown["lines"][0]["vendor_sku"] == "ACM-22006"
    detail = run(shop, "orders", "show", str(n))
    assert {p["vendor"] for p in detail["purchase_orders"]} == {
        "Acme Auto Supply",
        "Initech Distribution",
    }
    # Human output is one line per PO.
    text = packline("po", "list", "--order", str(n), db=shop["db"])
    assert text.returncode == 0 and text.stdout.count("\n") == 2


def test_refusals_and_usage_errors(shop: dict[str, str]) -> None:
    refused = packline("po", "create", "99999", db=shop["db"])
    assert refused.returncode == 1 and refused.stderr.strip() == "packline: no order #99999"
    n = order(shop, "PL-10031=1")
    bad = packline("po", "create", str(n), "--vendor", "PL-10031=NORTH", "--json", db=shop["db"])
    assert bad.returncode == 1
    assert json.loads(bad.stdout) == {
        "error": "vendor 'NORTH' does not supply PL-10031 (its vendors: INITECH, ACME, GLOBEX)"
    }
    usage = packline("po", "create", str(n), "--vendor", "PL-10031", db=shop["db"])
    assert usage.returncode == 2
    status = packline("po", "list", "--status", "lost", db=shop["db"])
    assert status.returncode == 2


def test_send_without_edi_dir_is_partial_and_says_why(shop: dict[str, str]) -> None:
    n = order(shop, "PL-10017=1", "PL-10033=1")  # NORTH (EDI), ACME (e-mail)
    result = packline("po", "create", str(n), "--send", "--json", db=shop["db"])
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert "PACKLINE_EDI_DIR is not set" in data["error"]
    assert {p["vendor_code"]: p["status"] for p in data["purchase_orders"]} == {
        "ACME": "sent",
        "NORTH": "draft",
    }
    north = next(p["number"] for p in data["purchase_orders"] if p["vendor_code"] == "NORTH")
    again = packline("po", "send", north, db=shop["db"], env={"PACKLINE_EDI_DIR": shop["edi"]})
    assert again.returncode == 0, again.stderr
    assert f"{north} sent to NORTH by edi" in again.stdout


def test_import_file_partial_then_idempotent(shop: dict[str, str]) -> None:
    n = order(shop, "PL-10033=1")
    (po,) = run(shop, "po", "create", str(n), "--send")["purchase_orders"]
    number = carriers.generate("ups", random.Random(77))
    good = Path(shop["dir"]) / "good.csv"
    good.write_text(f"po,tracking,carrier\n{po['number']},{number},ups\n")
    bad = Path(shop["dir"]) / "bad.csv"
    bad.write_text("po,tracking\nPO1,\x1b[31mX\n")
    mixed = packline("po", "import", str(good), str(bad), db=shop["db"])
    assert mixed.returncode == 1
    assert f"{po['number']} #{n} ups {number} shipped" in mixed.stdout
    assert "bad.csv line 2 (PO PO1): unknown PO 'PO1'" in mixed.stderr
    assert "\x1b" not in mixed.stdout + mixed.stderr
    again = run(shop, "po", "import", str(good))
    assert again["created"] == 0 and again["unchanged"] == 1
    assert run(shop, "orders", "show", str(n))["status"] == "shipped"
    assert run(shop, "po", "show", po["number"])["status"] == "shipped"


def test_vendors_list_and_change(shop: dict[str, str]) -> None:
    vendors = {v["code"]: v for v in run(shop, "po", "vendors")}
    assert vendors["NORTH"]["method"] == "edi" and vendors["NORTH"]["edi_id"] == "NORTHWIND01"
    assert vendors["INITECH"]["email"] == ""
    bad = packline("po", "vendor", "UMBRA", "--email", "nope", db=shop["db"])
    assert bad.returncode == 1 and "not an e-mail address" in bad.stderr
    changed = run(shop, "po", "vendor", "umbra", "--lead-time", "9")
    assert changed["lead_time_days"] == 9 and changed["code"] == "UMBRA"
    text = packline("po", "vendors", db=shop["db"])
    assert text.returncode == 0 and "HOOLI" in text.stdout and "by hand" in text.stdout


def test_watch_collects_the_drop_folder_once_and_refuses_with_nothing_set(
    shop: dict[str, str],
) -> None:
    n = order(shop, "PL-10033=1")
    (po,) = run(shop, "po", "create", str(n), "--send")["purchase_orders"]
    drop = Path(shop["dir"]) / "drop"
    drop.mkdir()
    number = carriers.generate("ups", random.Random(78))
    (drop / "vendor.csv").write_text(f"po,tracking,carrier\n{po['number']},{number},ups\n")
    env = {"PACKLINE_EDI_DIR": shop["edi"], "PACKLINE_PURCHASING__DROP_DIR": str(drop)}
    once = packline("po", "watch", "--once", "--json", db=shop["db"], env=env)
    assert once.returncode == 0, once.stderr
    (line,) = once.stdout.splitlines()  # one JSON line per round
    assert json.loads(line)["created"] == 1
    assert [p.name for p in (drop / "processed").iterdir()] == ["vendor.csv"]
    assert run(shop, "orders", "show", str(n))["status"] == "shipped"
    unset = packline("po", "watch", "--once", db=shop["db"])
    assert unset.returncode == 1
    assert "nothing to collect: set purchasing.drop_dir" in unset.stderr


def test_import_ships_a_backordered_orders_vendor_line_in_one_go(shop: dict[str, str]) -> None:
    """Our stock line is short (backorder); the vendor's file brings two packages for its
    line: both go in, the order waits on for stock, and resumes once the stock is in."""
    n = order(shop, "PL-10033=2", "PL-10002=50000")
    (po,) = run(shop, "po", "create", str(n), "--send")["purchase_orders"]
    assert run(shop, "orders", "show", str(n))["status"] == "backorder"
    t1, t2 = (carriers.generate("ups", random.Random(seed)) for seed in (81, 82))
    csv_file = Path(shop["dir"]) / "backorder.csv"
    csv_file.write_text(
        f"po,tracking,carrier,sku,qty\n{po['number']},{t1},ups,PL-10033,1\n"
        f"{po['number']},{t2},ups,PL-10033,1\n"
    )
    report = run(shop, "po", "import", str(csv_file))
    assert report["created"] == 2 and report["errors"] == []
    shown = run(shop, "orders", "show", str(n))
    assert shown["status"] == "backorder"
    moves = [(h["from"], h["to"]) for h in shown["history"] if h["kind"] == "status"]
    assert ("backorder", "partially_shipped") in moves and moves[-1] == (
        "partially_shipped",
        "backorder",
    )
    assert run(shop, "po", "show", po["number"])["status"] == "shipped"
    again = run(shop, "po", "import", str(csv_file))
    assert again["created"] == 0 and again["unchanged"] == 2
    run(shop, "stock", "set", "PL-10002", "MAIN", "60000")
    assert run(shop, "orders", "set-status", str(n), "processing")["status"] == "processing"


def test_mark_acknowledged_then_received_and_list_by_status(shop: dict[str, str]) -> None:
    n = order(shop, "PL-10033=1")
    (po,) = run(shop, "po", "create", str(n), "--send")["purchase_orders"]
    assert po["can_mark"] == ["acknowledged", "canceled"]
    marked = run(shop, "po", "mark", po["number"], "acknowledged", "--note", "ships Monday")
    assert [p["status"] for p in marked["purchase_orders"]] == ["acknowledged"]
    listed = run(shop, "po", "list", "--status", "acknowledged")
    assert [p["number"] for p in listed] == [po["number"]]
    early = packline("po", "mark", po["number"], "received", db=shop["db"])
    assert early.returncode == 1
    assert early.stderr.strip() == (
        f"packline: PO {po['number']} is acknowledged; it can go to shipped, canceled"
    )
    number = carriers.generate("ups", random.Random(83))
    ship = Path(shop["dir"]) / "ack.csv"
    ship.write_text(f"po,tracking\n{po['number']},{number}\n")
    assert run(shop, "po", "import", str(ship))["created"] == 1
    text = packline("po", "mark", po["number"], "RECEIVED", db=shop["db"])
    assert text.returncode == 0, text.stderr
    assert f"{po['number']}  #{n}  ACME (email)  received" in text.stdout
    assert run(shop, "po", "show", po["number"])["can_mark"] == []
    assert po["number"] in [p["number"] for p in run(shop, "po", "list", "--status", "received")]


def test_import_855_acknowledges_and_reports_a_rejection(shop: dict[str, str]) -> None:
    first, second = order(shop, "PL-10017=1"), order(shop, "PL-10017=1")
    env = {"PACKLINE_EDI_DIR": shop["edi"]}
    pos = []
    for n in (first, second):
        created = packline("po", "create", str(n), "--send", "--json", db=shop["db"], env=env)
        assert created.returncode == 0, created.stderr
        pos.append(json.loads(created.stdout)["created"][0])
    file = Path(shop["dir"]) / "north.855"
    file.write_text(acks([(pos[0], "AD"), (pos[1], "RJ")]))
    result = packline("po", "import", str(file), db=shop["db"])
    assert result.returncode == 1
    assert f"{pos[0]} #{first} acknowledged (855 AD)" in result.stdout
    assert f"north.855 line 8 (PO {pos[1]}): the vendor rejected the PO" in result.stderr
    assert run(shop, "po", "show", pos[0])["status"] == "acknowledged"
    assert run(shop, "po", "show", pos[1])["status"] == "sent"
    file.write_text(acks([(pos[0], "AD")]))
    again = run(shop, "po", "import", str(file))
    assert again["acknowledged"] == [{"po": pos[0], "order": first, "kind": "AD", "new": False}]
    assert again["errors"] == []
    # The vendor thinks again; its 855 arrives in the drop folder that `po watch` collects.
    drop = Path(shop["dir"]) / "drop855"
    drop.mkdir()
    (drop / "north2.855").write_text(acks([(pos[1], "AK")], control=10))
    env = {**env, "PACKLINE_PURCHASING__DROP_DIR": str(drop)}
    watched = packline("po", "watch", "--once", db=shop["db"], env=env)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == f"{pos[1]} #{second} acknowledged (855 AK)\n"
    assert [p.name for p in (drop / "processed").iterdir()] == ["north2.855"]
    assert run(shop, "po", "show", pos[1])["status"] == "acknowledged"
