"""`packline pay ...` and `packline review` through the installed entry point, on seeded
data; the card gateway is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import packline
from tests.services.test_payments_support import KEY, FakeGateway, Step, fake_gateway

MANUAL = {"PACKLINE_PAYMENT_GATEWAY": "manual"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pay") / "shop.sqlite"
    seeded = packline(
        "seed", "--orders", "150", "--seed", "3", "--anchor", "2026-11-20", "--json", db=str(path)
    )
    assert seeded.returncode == 0, seeded.stderr
    return str(path)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with fake_gateway() as gw:
        yield gw


_taken: set[int] = set()


def pick(db: str, where: str, *, take: bool = True) -> int:
    """An order of the seed matching `where` that no other test here has used (`take=False`:
    for a test that leaves it as it was)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT number FROM orders WHERE {where} ORDER BY number").fetchall()
    for (number,) in rows:
        if number not in _taken:
            if take:
                _taken.add(number)
            return int(number)
    raise AssertionError(f"the seed has no more orders where {where}")


def run_json(*args: str, db: str, env: dict[str, str] | None = None, code: int = 0) -> Any:
    result = packline(*args, "--json", db=db, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


UNPAID_CARD = "status = 'new' AND payment_status = 'unpaid' AND payment_method = 'card'"
PAID_CARD = "status = 'new' AND payment_status = 'paid' AND payment_method = 'card'"
# Complete, paid by card, with a stock line that shipped (restockable).
SHIPPED_STOCK = (
    "status = 'complete' AND payment_status = 'paid' AND payment_method = 'card' AND id IN "
    "(SELECT order_id FROM order_lines WHERE fulfillment = 'stock' AND shipped > 0)"
)


def test_no_gateway_is_refused_with_how_to_set_one_up(shop: str) -> None:
    n = str(pick(shop, UNPAID_CARD, take=False))
    before = run_json("orders", "show", n, db=shop)
    result = packline("pay", "charge", n, db=shop)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("packline: no payment gateway is configured")
    assert "PACKLINE_PAYMENT_GATEWAY=http" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    error = run_json("pay", "charge", n, db=shop, code=1)
    assert set(error) == {"error"} and "PACKLINE_PAYMENT_URL" in error["error"]
    assert run_json("orders", "show", n, db=shop) == before


def test_charge_then_refund_by_line_shows_in_order_json(shop: str) -> None:
    n = str(pick(shop, UNPAID_CARD))
    charged = run_json("pay", "charge", n, db=shop, env=MANUAL)
    assert charged["outcome"] == "approved" and charged["payment_status"] == "paid"
    assert "error" not in charged
    detail = run_json("orders", "show", n, db=shop)
    sku = detail["lines"][0]["sku"]
    refund = run_json(
        "pay", "refund", n, "--line", f"{sku}=1", "--reason", "scratched", db=shop, env=MANUAL
    )
    assert refund["payment"]["lines"][0]["sku"] == sku
    assert refund["payment"]["reason"] == "scratched"
    shown = run_json("orders", "show", n, db=shop)
    assert shown["payment_status"] == "partially_refunded"
    [refund_row] = [p for p in shown["payments"] if p["kind"] == "refund"]
    assert refund_row["lines"] == [
        {
            "sku": sku,
            "line_id": refund_row["lines"][0]["line_id"],
            "quantity": 1,
            "amount": detail["lines"][0]["unit_price"],
            "restock": False,
            "warehouse": None,
        }
    ]
    text = packline("pay", "show", n, db=shop)
    assert text.returncode == 0 and "payment partially_refunded" in text.stdout


def test_refund_with_restock_on_shipped_goods(shop: str) -> None:
    n = str(pick(shop, SHIPPED_STOCK))
    detail = run_json("orders", "show", n, db=shop)
    line = next(ln for ln in detail["lines"] if ln["fulfillment"] == "stock" and ln["shipped"])
    result = packline(
        "pay", "refund", n, "--line", f"{line['sku']}=1", "--restock", db=shop, env=MANUAL
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refunded ")
    assert f"put 1 × {line['sku']} back in stock at" in result.stdout


BAD_INPUT: list[tuple[tuple[str, ...], str]] = [
    (("pay", "charge", "{n}", "--amount", "-5"), "is negative"),
    (("pay", "charge", "{n}", "--amount", "12.505"), "more than two decimal places"),
    (("pay", "refund", "{n}", "--line", "PL-10002"), "should look like SKU=QTY"),
    (("pay", "refund", "{n}", "--amount", "100000"), "more than the"),
    (("pay", "charge", "{n}"), "already paid"),
]


def test_bad_input_exits_1_and_changes_nothing(shop: str) -> None:
    n = str(pick(shop, "status = 'complete' AND payment_status = 'paid' AND total < 10000000"))
    before = run_json("orders", "show", n, db=shop)
    for args, message in BAD_INPUT:
        result = packline(*(a.format(n=n) for a in args), db=shop, env=MANUAL)
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr, args
    assert run_json("orders", "show", n, db=shop) == before


def test_refusals_say_why_and_change_nothing(shop: str) -> None:
    """Refund on an unpaid order, a refund over what was captured, charging a canceled
    order, a malformed amount: exit 1 with the reason, the order as it was."""
    unpaid = str(pick(shop, "status = 'shipped' AND payment_status = 'unpaid'"))  # on terms
    canceled = str(pick(shop, "status = 'canceled' AND payment_status = 'unpaid'"))
    before = {n: run_json("orders", "show", n, db=shop) for n in (unpaid, canceled)}
    partly = run_json("pay", "record", unpaid, "--amount", "5", "--method", "terms", db=shop)
    assert (partly["payment"]["amount"], partly["payment_status"]) == (500, "unpaid")
    after_charge = run_json("orders", "show", unpaid, db=shop)
    attempts = [
        (("pay", "refund", canceled), "no captured payment to refund"),
        (("pay", "refund", unpaid, "--amount", "5.01"), "more than the $5.00 that can still"),
        (("pay", "refund", unpaid, "--line", "PL-NOPE=1"), "is not on order"),
        (("pay", "charge", canceled), "is canceled; it cannot be charged"),
        (("pay", "charge", unpaid, "--amount", "abc"), "is not an amount"),
        (("pay", "charge", unpaid, "--amount", "0"), "more than zero"),
        (("pay", "refund", unpaid, "--amount", "-1"), "is negative"),
    ]
    for args, why in attempts:
        result = packline(*args, db=shop, env=MANUAL)
        assert result.returncode == 1 and why in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert run_json("orders", "show", canceled, db=shop) == before[canceled]
    assert run_json("orders", "show", unpaid, db=shop) == after_charge
    assert [p["amount"] for p in after_charge["payments"]] == [500]


def test_usage_errors_exit_2(shop: str) -> None:
    result = packline("pay", "record", "1001", "--amount", "5", "--method", "bitcoin", db=shop)
    assert result.returncode == 2


def test_cancel_offers_the_refund_and_the_refund_works(shop: str) -> None:
    n = str(pick(shop, PAID_CARD))
    result = packline("orders", "set-status", n, "canceled", db=shop)
    assert result.returncode == 0, result.stderr
    first, hint = result.stdout.splitlines()
    assert first == f"#{n} is now canceled"
    assert hint.startswith("paid $") and hint.endswith(f"refund with `packline pay refund {n}`")
    refund = packline("pay", "refund", n, "--reason", "canceled", db=shop, env=MANUAL)
    assert refund.returncode == 0, refund.stderr
    assert run_json("orders", "show", n, db=shop)["payment_status"] == "refunded"


def test_a_packer_cannot_refund(shop: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('roles = { maria = "manager", sam = "packer" }\n')
    n = str(pick(shop, PAID_CARD))
    env = {**MANUAL, "PACKLINE_CONFIG": str(config), "PACKLINE_OPERATOR": "sam"}
    result = packline("pay", "refund", n, db=shop, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "packline: sorry sam: refunds need the manager role (you are a packer); "
        "maria is a manager\n"
    )
    env["PACKLINE_OPERATOR"] = "maria"
    assert packline("pay", "refund", n, "--amount", "1", db=shop, env=env).returncode == 0


def test_review(shop: str) -> None:
    n = str(pick(shop, "status = 'new'"))
    view = run_json("review", n, db=shop)
    assert set(view) >= {"number", "risk", "facts", "shipping_address", "note"}
    assert set(view["risk"]) == {"score", "reasons", "flag"}
    assert view["facts"]["usual_total"] > 0  # 150 orders of history
    shown = run_json("orders", "show", n, db=shop)
    assert shown["risk"] == view["risk"]  # score, reasons and flag
    text = packline("review", n, db=shop)
    assert text.returncode == 0 and text.stdout.startswith(f"#{n}  ")


def test_accept_terms_refusals(shop: str) -> None:
    paid_cod = str(pick(shop, "payment_method = 'cod' AND payment_status = 'paid'"))
    result = packline("pay", "accept-terms", paid_cod, db=shop)
    assert result.returncode == 1 and "already paid" in result.stderr
    card = str(pick(shop, PAID_CARD))
    result = packline("pay", "accept-terms", card, "--json", db=shop)
    assert result.returncode == 1
    assert "only orders on terms or COD" in json.loads(result.stdout)["error"]


def test_card_gateway_decline_then_approve(shop: str, gateway: FakeGateway) -> None:
    n = str(pick(shop, UNPAID_CARD))
    env = {
        "PACKLINE_PAYMENT_GATEWAY": "http",
        "PACKLINE_PAYMENT_URL": gateway.url,
        "PACKLINE_PAYMENT_KEY": KEY,
    }
    gateway.then(Step("decline", reason="card expired"))
    declined = packline("pay", "charge", n, db=shop, env=env)
    assert declined.returncode == 1
    assert declined.stderr.startswith("packline: declined: the gateway declined the charge")
    assert "card expired" in declined.stderr
    approved = run_json("pay", "charge", n, db=shop, env=env)
    assert approved["outcome"] == "approved"
    assert approved["payment"]["gateway_ref"].startswith("ch_")
    assert len(gateway.performed) == 1
    as_json = json.loads(packline("orders", "show", n, "--json", db=shop).stdout)
    assert [(p["kind"], p["state"]) for p in as_json["payments"]] == [
        ("charge", "declined"),
        ("charge", "approved"),
    ]
