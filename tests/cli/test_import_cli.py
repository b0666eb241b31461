"""`packline import`, `export`, `stock`, `edit` and `new-order` through the real installed
entry point, as scripts use them: JSON on stdout, exit codes per DESIGN §4."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import ok_json, packline
from tests.services.import_support import SHOPIFY, SHOPIFY_LATER


@pytest.fixture
def shop(tmp_path: Path) -> str:
    db = str(tmp_path / "shop.sqlite")
    report = ok_json("seed", "--orders", "0", "--seed", "1", "--anchor", "2026-11-20", db=db)
    assert report["products"] == 200
    return db


def test_import_twice_then_follow_the_channel(shop: str) -> None:
    first = packline("import", "shopify", str(SHOPIFY), "--json", db=shop)
    assert first.returncode == 1  # three orders refused, the others in
    report = json.loads(first.stdout)
    assert [c["order"] for c in report["created"]] == [
        "#1001",
        "#1002",
        "#1003",
        "#1005",
        "#1006",
        "#1008",
    ]
    assert [r["where"] for r in report["rejected"]] == ["lines 9-10", "line 14", "lines 17-18"]
    assert report["ok"] is False and report["rows"] == 15

    again = packline("import", "shopify", str(SHOPIFY), db=shop)
    assert again.returncode == 1
    assert "0 new, 0 updated from the channel, 6 unchanged, 3 refused" in again.stdout
    assert "refused #1004 (lines 9-10): line 10: Lineitem quantity '1.5'" in again.stdout

    later = json.loads(packline("import", "shopify", str(SHOPIFY_LATER), "--json", db=shop).stdout)
    assert {u["order"]: u["change"] for u in later["updated"]}["#1003"] == "canceled"
    number = {c["order"]: c["number"] for c in report["created"]}["#1001"]
    detail = ok_json("orders", "show", str(number), db=shop)
    assert detail["status"] == "shipped"
    assert detail["history"][-1]["actor"] == "channel:shopify"


def test_a_file_that_is_not_an_export(shop: str, tmp_path: Path) -> None:
    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = packline("import", "shopify", str(bad), "--json", db=shop)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": "photo.csv is not a Shopify order export file: it holds binary data"
    }
    plain = packline("import", "csv", str(bad), db=shop)
    assert plain.returncode == 1 and plain.stdout == ""
    assert (
        plain.stderr.strip() == "packline: photo.csv is not a CSV order file: it holds binary data"
    )
    missing = packline("import", "json", str(tmp_path / "nope.json"), db=shop)
    assert missing.returncode == 2  # usage: no such file


def test_export_and_import_elsewhere(shop: str, tmp_path: Path) -> None:
    packline("import", "shopify", str(SHOPIFY), db=shop)
    out = tmp_path / "out.csv"
    report = ok_json("export", "csv", str(out), "--status", "shipped", db=shop)
    assert report["orders"] == 1 and report["rows"] == 1
    everything = ok_json("export", "csv", str(out), "--since", "2026-11-18", db=shop)
    assert everything["orders"] == 6
    bad = packline("export", "csv", str(out), "--status", "lost", "--json", db=shop)
    assert bad.returncode == 1 and "unknown status 'lost'" in json.loads(bad.stdout)["error"]

    other = str(tmp_path / "other.sqlite")
    ok_json("seed", "--orders", "0", "--seed", "1", db=other)
    back = ok_json("import", "shopify", str(out), db=other)
    assert back["ok"] and len(back["created"]) == 6


def test_stock_and_edit_and_a_manual_order(shop: str) -> None:
    row = ok_json("stock", "set", "PL-10002", "main", "4", "--bin", "Z-9", db=shop)
    assert (row["warehouse"], row["on_hand"], row["bin"]) == ("MAIN", 4, "Z-9")
    ok_json("stock", "set", "PL-10002", "EAST", "0", db=shop)
    rows = ok_json("stock", "list", "--sku", "PL-10002", db=shop)
    assert [(r["warehouse"], r["available"]) for r in rows] == [("MAIN", 4), ("EAST", 0)]
    text = packline("stock", "list", "--sku", "PL-10002", db=shop)
    assert "Z-9" in text.stdout and text.returncode == 0

    made = ok_json(
        "new-order",
        "--email",
        "walk@example.org",
        "--name",
        "Walk In",
        "--ship",
        "1 Main St|Springfield|'01101|US",
        "--line",
        "PL-10002=3",
        db=shop,
    )
    number = str(made["number"])
    assert made["status"] == "new" and made["lines"][0]["quantity"] == 3
    assert made["shipping_address"]["postal_code"] == "'01101"  # typed text is kept as typed

    ok_json("orders", "set-status", number, "processing", db=shop)
    lines = ok_json("stock", "order", number, db=shop)
    assert lines[0]["text"] == "1 in MAIN, 0 in EAST" and lines[0]["reserved"] == 3

    edited = ok_json("edit", number, "--set", "PL-10002=5", "--customer", "x@example.org", db=shop)
    assert edited["order"]["status"] == "backorder"
    assert (
        edited["stock"] == "to backorder: not enough stock for PL-10002 ×2 (1 in MAIN, 0 in EAST)"
    )
    refused = packline("edit", number, "--add", "NOPE=1", db=shop)
    assert refused.returncode == 1 and "unknown SKU 'NOPE'" in refused.stderr
    usage = packline("edit", number, "--add", "PL-10002=1.5", db=shop)
    assert usage.returncode == 2
    stale = packline("edit", number, "--add", "PL-10003=1", "--if-version", "1", "--json", db=shop)
    assert stale.returncode == 1 and "reload" in json.loads(stale.stdout)["error"]
    nothing = packline("stock", "set", "NOPE", "MAIN", "1", db=shop)
    assert nothing.returncode == 1 and "no product with SKU 'NOPE'" in nothing.stderr


def test_a_drop_folder(shop: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(SHOPIFY, drop / "orders.csv")
    (drop / "good.csv").write_text(
        "order,sku,quantity,ship_name,ship_city,ship_country\nW-1,PL-10002,1,Ann,Oslo,NO\n"
    )
    (drop / "upload.csv.part").write_text("still coming")
    result = packline("import", "watch", str(drop), "--once", "--settle", "0", "--json", db=shop)
    assert result.returncode == 1  # one file had refused orders
    moved = {Path(r["file"]).name: r for r in json.loads(result.stdout)}
    assert moved["good.csv"]["ok"] and not moved["orders.csv"]["ok"]
    assert (drop / "done" / "good.csv").exists()
    assert (drop / "failed" / "orders.csv").exists()
    report = json.loads((drop / "failed" / "orders.csv.report.json").read_text())
    assert [r["order"] for r in report["rejected"]] == ["#1004", "#1007", "#1009"]
    assert (drop / "upload.csv.part").exists()  # not ours to take
    # Fixed and dropped again: what went in the first time stays unchanged.
    shutil.copy(drop / "failed" / "orders.csv", drop / "orders.csv")
    again = packline("import", "watch", str(drop), "--once", "--settle", "0", db=shop)
    assert "0 new" in again.stdout and "6 unchanged" in again.stdout
    assert (drop / "failed" / "orders.1.csv").exists()
    (tmp_path / "empty").mkdir()
    empty = packline("import", "watch", str(tmp_path / "empty"), "--once", "--settle", "0", db=shop)
    assert empty.returncode == 0 and "nothing to import" in empty.stdout
