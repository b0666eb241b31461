"""`packline pay ...` (charge, authorize, refund, void, record, accept-terms, show) and
`packline review REF`: the payment and review actions from a shell.

Exit codes as everywhere (DESIGN §4): 0 done (the gateway approved); 1 refused, or the
gateway declined, failed or did not answer — one line on stderr, or with --json the
whole result with an "error" key; 2 usage. Helpers from console.cli are imported inside
the commands: console.cli imports this module while it registers its groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import one_line, visible
from services.amounts import parse_amount, parse_line_spec
from services.display import money
from services.errors import InvalidInput
from services.statuses import PaymentMethod

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.views import OrderDetail, PaymentResult, PaymentSummary, ReviewView

MANUAL_METHODS = ["check", "cash", "cod", "terms"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
version_option = click.option(
    "--if-version",
    "if_version",
    type=int,
    default=None,
    help="Refuse if the order is no longer at this version.",
)


def _amount(text: str | None, as_json: bool) -> int | None:
    from console.cli import fail

    if text is None:
        return None
    try:
        return parse_amount(text)
    except InvalidInput as exc:
        fail(str(exc), as_json=as_json)


def _finish(result: PaymentResult, as_json: bool) -> None:
    """Print a payment result; anything but approved exits 1."""
    from console.cli import emit

    if as_json:
        emit(result.to_json())
    elif result.approved:
        click.echo(visible(result.message))
        for note in result.notes:
            click.echo(f"  {visible(note)}")
    else:
        click.echo(f"packline: {visible(result.message)}", err=True)
        for note in result.notes:
            click.echo(f"  {visible(note)}", err=True)
    if not result.approved:
        raise SystemExit(1)


@click.group("pay")
def pay_group() -> None:
    """Charge, refund, void; record money received by hand; accept payment terms."""


@pay_group.command("charge")
@click.argument("ref")
@click.option("--amount", default=None, help="Charge this much (default: what is due).")
@version_option
@json_option
@click.pass_obj
def pay_charge(
    ctx: Context, ref: str, amount: str | None, if_version: int | None, as_json: bool
) -> None:
    """Charge the card (captures an open authorization instead, if there is one)."""
    from console.cli import run

    cents = _amount(amount, as_json)

    async def body(s: Services) -> PaymentResult:
        return await s.payments.charge(ref, cents, expected_version=if_version)

    _finish(run(ctx, body, as_json=as_json), as_json)


@pay_group.command("authorize")
@click.argument("ref")
@click.option("--amount", default=None, help="Authorize this much (default: what is due).")
@version_option
@json_option
@click.pass_obj
def pay_authorize(
    ctx: Context, ref: str, amount: str | None, if_version: int | None, as_json: bool
) -> None:
    """Put a hold on the card; `pay charge` captures it later."""
    from console.cli import run

    cents = _amount(amount, as_json)

    async def body(s: Services) -> PaymentResult:
        return await s.payments.authorize(ref, cents, expected_version=if_version)

    _finish(run(ctx, body, as_json=as_json), as_json)


@pay_group.command("refund")
@click.argument("ref")
@click.option("--amount", default=None, help="Refund this much (default: everything).")
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="SKU=QTY",
    help="Refund these goods at their unit price (repeatable).",
)
@click.option("--restock", is_flag=True, help="Put the refunded goods back in stock.")
@click.option("--reason", default="", help="Why (kept with the refund; in the e-mail).")
@click.option(
    "--notify/--no-notify",
    default=False,
    show_default=True,
    help="Send the customer the refund e-mail.",
)
@version_option
@json_option
@click.pass_obj
def pay_refund(
    ctx: Context,
    ref: str,
    amount: str | None,
    lines: tuple[str, ...],
    restock: bool,
    reason: str,
    notify: bool,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Refund in full, an amount, or by line (needs the manager role)."""
    from console.cli import fail, run

    cents = _amount(amount, as_json)
    try:
        specs = [parse_line_spec(text) for text in lines]
    except InvalidInput as exc:
        fail(str(exc), as_json=as_json)

    async def body(s: Services) -> PaymentResult:
        return await s.payments.refund(
            ref,
            amount=cents,
            lines=specs,
            restock=restock,
            reason=reason,
            notify=notify,
            expected_version=if_version,
        )

    _finish(run(ctx, body, as_json=as_json), as_json)


@pay_group.command("void")
@click.argument("ref")
@click.option("--reason", default="", help="Why.")
@version_option
@json_option
@click.pass_obj
def pay_void(ctx: Context, ref: str, reason: str, if_version: int | None, as_json: bool) -> None:
    """Void an open authorization or an untouched charge (needs the manager role)."""
    from console.cli import run

    async def body(s: Services) -> PaymentResult:
        return await s.payments.void(ref, reason=reason, expected_version=if_version)

    _finish(run(ctx, body, as_json=as_json), as_json)


@pay_group.command("record")
@click.argument("ref")
@click.option("--amount", required=True, help="How much came in.")
@click.option("--method", type=click.Choice(MANUAL_METHODS), required=True)
@click.option("--note", default="", help="E.g. the check number.")
@version_option
@json_option
@click.pass_obj
def pay_record(
    ctx: Context,
    ref: str,
    amount: str,
    method: str,
    note: str,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Record money received by hand; releases a payment hold once paid in full."""
    from console.cli import run

    cents = _amount(amount, as_json) or 0  # required by click; parse_amount refuses 0

    async def body(s: Services) -> PaymentResult:
        return await s.payments.record(
            ref, cents, PaymentMethod(method), note=note, expected_version=if_version
        )

    _finish(run(ctx, body, as_json=as_json), as_json)


@pay_group.command("accept-terms")
@click.argument("ref")
@click.option("--memo", default="", help="Staff memo (e.g. who approved the account).")
@version_option
@json_option
@click.pass_obj
def pay_accept_terms(
    ctx: Context, ref: str, memo: str, if_version: int | None, as_json: bool
) -> None:
    """Accept payment later for a terms or COD order (needs the manager role)."""
    from console.cli import emit, run

    async def body(s: Services) -> OrderDetail:
        return await s.payments.accept_terms(ref, memo=memo, expected_version=if_version)

    detail = run(ctx, body, as_json=as_json)
    if as_json:
        emit(detail.to_json())
    else:
        held = f" ({detail.row.hold_reason.value})" if detail.row.hold_reason else ""
        click.echo(f"#{detail.number}: payment terms accepted; it is {detail.status.value}{held}")


@pay_group.command("show")
@click.argument("ref")
@json_option
@click.pass_obj
def pay_show(ctx: Context, ref: str, as_json: bool) -> None:
    """What is paid, due and refundable, and what to do next."""
    from console.cli import emit, run

    async def body(s: Services) -> PaymentSummary:
        return await s.payments.summary(ref)

    summary = run(ctx, body, as_json=as_json)
    if as_json:
        emit(summary.to_json())
        return
    m = summary.money
    click.echo(
        f"#{summary.number}  payment {summary.status.value}  by {summary.method}"
        + ("  (terms accepted)" if summary.terms_accepted else "")
    )
    click.echo(
        f"total {m(summary.total)}  captured {m(summary.captured)}  "
        f"refunded {m(summary.refunded)}  due {m(summary.balance_due)}"
        + (f"  authorized {m(summary.authorized)}" if summary.authorized else "")
    )
    for ln in summary.refundable_lines:
        click.echo(
            f"  {one_line(ln.sku, 16):<16} x{ln.quantity:<3} at {m(ln.unit_price):>10}  "
            f"refunded {ln.refunded}  refundable {ln.refundable}  restockable {ln.restockable}"
        )
    if summary.next_step:
        click.echo(f"next: {visible(summary.next_step)}")


@click.command("review")
@click.argument("ref")
@json_option
@click.pass_obj
def review_cmd(ctx: Context, ref: str, as_json: bool) -> None:
    """Re-assess an order's risk: the score, its reasons, and what to read before shipping."""
    from console.cli import emit, run

    async def body(s: Services) -> ReviewView:
        return await s.review.review(ref)

    view = run(ctx, body, as_json=as_json)
    if as_json:
        emit(view.to_json())
        return
    _print_review(view)


def _print_review(v: ReviewView) -> None:
    flag = {"high": "  HIGH: hold it", "review": "  look before shipping"}.get(v.flag, "")
    held = f" ({v.hold_reason.value})" if v.hold_reason else ""
    click.echo(f"#{v.number}  {v.status.value}{held}  risk {v.score}/100{flag}")
    if v.previous_score != v.score:
        click.echo(f"  (was {v.previous_score})")
    for reason in v.reasons:
        click.echo(f"  - {visible(reason)}")
    lines: list[tuple[str, Any]] = [
        ("ship to", v.shipping_address),
        ("bill to", v.billing_address),
    ]
    for label, address in lines:
        if address is not None:
            click.echo(f"{label}: " + " / ".join(visible(x) for x in address.lines()))
    click.echo(f"e-mail: {visible(v.email)}")
    if v.note:
        click.echo("customer note:")
        click.echo("  " + visible(v.note, keep_newlines=True).replace("\n", "\n  "))
    usual = "n/a (not enough orders yet)"
    if v.usual_total is not None:
        usual = _money(v.usual_total, v.currency)
    click.echo(
        f"total {_money(v.total, v.currency)}, usual {usual}; in the last {v.window_hours} h: "
        f"{v.recent_same_email} from this e-mail, {v.recent_same_address} to this address; "
        f"declined attempts {v.declined_attempts}"
    )
    if v.flag == "high" and v.status.value != "held":
        click.echo(
            f"hold it: packline orders set-status {v.number} held --reason high_risk "
            f'--note "risk {v.score}"'
        )


def _money(cents: int, currency: str) -> str:
    return money(cents, currency)
