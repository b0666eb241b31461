"""`packline return ...`: returns and exchanges (RMA) from a shell.

    packline return open REF --line SKU=QTY ... --reason TEXT [--comment T] [--notify]
    packline return receive RMA [--line CODE=QTY ...] [--scan CODE ...]
                                [--write-off CODE[=QTY] ...] [--no-restock] [--no-refund]
    packline return exchange RMA [--line SKU=QTY ...]
    packline return cancel RMA --reason TEXT
    packline return list [REF] [--status requested|received|canceled]
    packline return show RMA

A CODE is a SKU or a barcode of the product (what a scanner reads). Exit codes as
everywhere (DESIGN §4): 0 done, 1 refused (one line on stderr, or {"error": ...} with
--json), 2 usage. A receipt whose refund could not be made still exits 0 (the goods are
in): the note says so and gives the command that refunds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from screens.untrusted import one_line, visible
from services.amounts import parse_line_spec
from services.errors import InvalidInput

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.return_views import ReturnResult, ReturnView

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _pairs(specs: tuple[str, ...], as_json: bool) -> list[tuple[str, int]]:
    from console.cli import fail

    try:
        return [parse_line_spec(spec) for spec in specs]
    except InvalidInput as exc:
        fail(str(exc), as_json=as_json, code=2)


def _describe(r: ReturnView) -> str:
    what = ", ".join(
        f"{visible(ln.sku)} ×{ln.quantity}"
        + (f" (received {ln.received}, {ln.disposition})" if ln.disposition else "")
        for ln in r.lines
    )
    ex = f", exchange #{r.exchange_order}" if r.exchange_order else ""
    return f"{r.rma} of #{r.order_number}: {r.status}{ex}; {what}; {r.value_text}"


def _finish(result: ReturnResult, as_json: bool, verb: str) -> None:
    from console.cli import emit

    if as_json:
        emit(result.to_json())
        return
    r = result.return_
    click.echo(f"{r.rma} {verb}: #{r.order_number} is now {result.order.status.value}")
    click.echo(f"  {_describe(r)}")
    click.echo(f"  reason: {one_line(r.reason)}")
    if result.refund is not None:
        click.echo(f"  refund: {visible(result.refund.message)}")
    if result.exchange is not None:
        ex = result.exchange
        click.echo(
            f"  exchange order #{ex.number}: {ex.status.value}, {ex.row.items} items, "
            f"{ex.row.total_text} due"
        )
    for note in result.notes:
        click.echo(f"  note: {visible(note)}")


@click.group("return")
def return_group() -> None:
    """Returns and exchanges: ask goods back, receive them, refund, exchange."""


@return_group.command("open")
@click.argument("ref")
@click.option(
    "--line", "lines", multiple=True, required=True, metavar="SKU=QTY", help="Goods asked back."
)
@click.option("--reason", required=True, help="Why the customer sends them back.")
@click.option("--comment", default="", help="For the customer (history and the e-mail).")
@click.option("--notify/--no-notify", default=False, show_default=True, help="E-mail them.")
@click.option("--if-version", "if_version", type=int, default=None)
@json_option
@click.pass_obj
def return_open(
    ctx: Context,
    ref: str,
    lines: tuple[str, ...],
    reason: str,
    comment: str,
    notify: bool,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Open a return (RMA) on shipped order REF: the order goes to return_requested."""
    from console.cli import run

    pairs = _pairs(lines, as_json)

    async def body(s: Services) -> ReturnResult:
        return await s.returns.open(
            ref,
            pairs,
            reason=reason,
            comment=comment,
            notify=notify,
            expected_version=if_version,
        )

    _finish(run(ctx, body, as_json=as_json), as_json, "opened")


@return_group.command("receive")
@click.argument("rma")
@click.option("--line", "lines", multiple=True, metavar="CODE=QTY", help="Units that came back.")
@click.option("--scan", "scans", multiple=True, metavar="CODE", help="One unit scanned (repeat).")
@click.option(
    "--write-off",
    "write_offs",
    multiple=True,
    metavar="CODE[=QTY]",
    help="Units that came back unsellable (not restocked).",
)
@click.option("--restock/--no-restock", default=True, show_default=True)
@click.option("--refund/--no-refund", default=True, show_default=True)
@click.option("--notify/--no-notify", default=False, show_default=True, help="E-mail them.")
@click.option("--memo", default="", help="Staff note with the receipt.")
@json_option
@click.pass_obj
def return_receive(
    ctx: Context,
    rma: str,
    lines: tuple[str, ...],
    scans: tuple[str, ...],
    write_offs: tuple[str, ...],
    restock: bool,
    refund: bool,
    notify: bool,
    memo: str,
    as_json: bool,
) -> None:
    """The goods of RMA are in: restock or write off, refund, order -> returned.

    With no --line/--scan/--write-off, everything asked back came back."""
    from console.cli import run
    from services.return_views import Receipt

    keep = None if restock else False  # None: restock what is our stock
    receipts: list[Receipt] = [
        Receipt(code, qty, restock=keep) for code, qty in _pairs(lines, as_json)
    ]
    receipts += [Receipt(code.strip(), 1, restock=keep) for code in scans if code.strip()]
    off = _pairs(tuple(w if "=" in w else f"{w}=1" for w in write_offs), as_json)
    receipts += [Receipt(code, qty, restock=False) for code, qty in off]

    async def body(s: Services) -> ReturnResult:
        return await s.returns.receive(
            rma, receipts, restock=restock, refund=refund, notify=notify, memo=memo
        )

    _finish(run(ctx, body, as_json=as_json), as_json, "received")


@return_group.command("exchange")
@click.argument("rma")
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="SKU=QTY",
    help="Replacement products (default: the same as asked back).",
)
@click.option("--notify/--no-notify", default=False, show_default=True, help="Confirm by e-mail.")
@json_option
@click.pass_obj
def return_exchange(
    ctx: Context, rma: str, lines: tuple[str, ...], notify: bool, as_json: bool
) -> None:
    """Make the linked replacement order for RMA, paid by the goods coming back."""
    from console.cli import run

    pairs = _pairs(lines, as_json)

    async def body(s: Services) -> ReturnResult:
        return await s.returns.exchange(rma, pairs, notify=notify)

    _finish(run(ctx, body, as_json=as_json), as_json, "exchanged")


@return_group.command("cancel")
@click.argument("rma")
@click.option("--reason", required=True, help="Why (in the history).")
@json_option
@click.pass_obj
def return_cancel(ctx: Context, rma: str, reason: str, as_json: bool) -> None:
    """Withdraw RMA before anything came back; the order goes back to where it was."""
    from console.cli import run

    async def body(s: Services) -> ReturnResult:
        return await s.returns.cancel(rma, reason=reason)

    _finish(run(ctx, body, as_json=as_json), as_json, "canceled")


@return_group.command("list")
@click.argument("ref", required=False)
@click.option(
    "--status",
    type=click.Choice(["requested", "received", "canceled"]),
    default=None,
    help="Only returns in this state (requested: expected back).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@click.pass_obj
def return_list(
    ctx: Context, ref: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Returns of order REF, or of every order, newest first."""
    from console.cli import emit, run

    async def body(s: Services) -> tuple[ReturnView, ...]:
        if ref is not None:
            rows = await s.returns.for_order(ref)
            return tuple(r for r in rows if status is None or r.status == status)
        return await s.returns.list_returns(status=status, limit=limit)

    rows = run(ctx, body, as_json=as_json)
    if as_json:
        emit([r.to_json() for r in rows])
        return
    for r in rows:
        click.echo(f"{_describe(r)}  ({one_line(r.reason)[:60]})")


@return_group.command("show")
@click.argument("rma")
@json_option
@click.pass_obj
def return_show(ctx: Context, rma: str, as_json: bool) -> None:
    """One return in full."""
    from console.cli import emit, run

    async def body(s: Services) -> ReturnView:
        return await s.returns.get(rma)

    r = run(ctx, body, as_json=as_json)
    if as_json:
        emit(r.to_json())
        return
    click.echo(_describe(r))
    click.echo(f"  reason: {one_line(r.reason)}")
    click.echo(f"  opened {r.created_at:%Y-%m-%d %H:%M} by {visible(r.created_by)}")
    if r.received_at is not None:
        click.echo(f"  received {r.received_at:%Y-%m-%d %H:%M}")
