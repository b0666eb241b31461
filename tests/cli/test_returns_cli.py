"""`packline return ...` through the installed entry point on a seeded SQLite file, refunds
through the manual gateway."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from tests.cli.test_cli import packline

MANUAL = {"PACKLINE_PAYMENT_GATEWAY": "manual"}
# Shipped, paid by card, a stock line shipped: a return can be asked and refunded.
SHIPPED = (
    "o.status IN ('shipped', 'complete') AND o.payment_status = 'paid' "
    "AND o.id NOT IN (SELECT order_id FROM returns)"
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("returns") / "shop.sqlite"
    seeded = packline(
        "seed", "--orders", "120", "--seed", "5", "--anchor", "2026-11-20", "--json", db=str(path)
    )
    assert seeded.returncode == 0, seeded.stderr
    return str(path)


_taken: set[int] = set()


def pick(db: str) -> tuple[int, str, int]:
    """An unused shipped order, one of its shipped stock lines' SKU and units shipped."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT o.number, l.sku, l.shipped FROM orders o JOIN order_lines l "
            f"ON l.order_id = o.id WHERE {SHIPPED} "
            "AND l.fulfillment = 'stock' AND l.shipped > 0 ORDER BY o.number, l.id"
        ).fetchall()
    for number, sku, shipped in rows:
        if number not in _taken:
            _taken.add(number)
            return int(number), str(sku), int(shipped)
    raise AssertionError("the seed has no more shipped orders")


def run_json(*args: str, db: str, code: int = 0) -> Any:
    result = packline(*args, "--json", db=db, env=MANUAL)
    assert result.returncode == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_open_receive_refund_as_json(shop: str) -> None:
    n, sku, _shipped = pick(shop)
    opened = run_json(
        "return", "open", str(n), "--line", f"{sku}=1", "--reason", "broken \x1b[31m", db=shop
    )
    rma = opened["return"]["rma"]
    assert opened["order"]["status"] == "return_requested"
    assert opened["return"]["reason"] == "broken \x1b[31m"  # stored exactly; JSON is safe

    shown = run_json("return", "show", rma, db=shop)
    assert shown["status"] == "requested" and shown["order"] == n

    got = run_json("return", "receive", rma, "--scan", sku, "--notify", db=shop)
    assert got["return"]["status"] == "received"
    assert got["return"]["lines"][0]["disposition"] == "restock"
    assert got["order"]["status"] == "returned"
    assert got["refund"] is not None and got["refund"]["outcome"] == "approved"

    listed = run_json("return", "list", str(n), db=shop)
    assert [r["rma"] for r in listed] == [rma]
    order = run_json("orders", "show", str(n), db=shop)
    assert order["status"] == "returned"
    [summary] = order["returns"]
    assert (summary["rma"], summary["status"], summary["reason"]) == (
        rma,
        "received",
        "broken \x1b[31m",
    )
    assert summary == run_json("return", "show", rma, db=shop)  # one view of a return
    assert [
        (ln["sku"], ln["quantity"], ln["received"], ln["disposition"]) for ln in summary["lines"]
    ] == [(sku, 1, 1, "restock")]


def test_plain_text_is_one_line_per_fact_and_safe(shop: str) -> None:
    n, sku, _ = pick(shop)
    result = packline(
        "return", "open", str(n), "--line", f"{sku}=1", "--reason", "bad\x1b]0;x\x07", db=shop
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "return_requested" in result.stdout
    rma = result.stdout.split()[0]
    shown = packline("orders", "show", str(n), db=shop)
    assert f"Return: {rma} requested ({sku}x1)" in shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    canceled = packline("return", "cancel", rma, "--reason", "kept it", db=shop)
    assert canceled.returncode == 0, canceled.stderr
    assert f"#{n} is now" in canceled.stdout


def test_refusals_exit_1_and_usage_errors_exit_2(shop: str) -> None:
    n, sku, shipped = pick(shop)
    too_many = packline(
        "return", "open", str(n), "--line", f"{sku}={shipped + 5}", "--reason", "x", db=shop
    )
    assert too_many.returncode == 1 and too_many.stdout == ""
    assert too_many.stderr.startswith("packline: only ") and "can be returned" in too_many.stderr
    missing = run_json("return", "receive", "RMA-99999", db=shop, code=1)
    assert missing == {"error": "no return RMA-99999"}
    bad_spec = packline("return", "open", str(n), "--line", "nope", "--reason", "x", db=shop)
    assert bad_spec.returncode == 2
    no_reason = packline("return", "open", str(n), "--line", f"{sku}=1", db=shop)
    assert no_reason.returncode == 2


def test_exchange_makes_a_linked_order(shop: str) -> None:
    n, sku, _ = pick(shop)
    opened = run_json("return", "open", str(n), "--line", f"{sku}=1", "--reason", "size", db=shop)
    rma = opened["return"]["rma"]
    ex = run_json("return", "exchange", rma, db=shop)
    new = ex["exchange"]
    assert new["channel"] == "exchange" and new["number"] != n
    assert [(ln["sku"], ln["quantity"]) for ln in new["lines"]] == [(sku, 1)]
    assert ex["return"]["exchange_order"] == new["number"]
