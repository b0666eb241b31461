"""`packline ship`, `packline shipments ...` and `packline print ...`: shipping from a shell.

Exit codes as everywhere (DESIGN §4): 0 done; 1 refused (an invalid or duplicate tracking
number, more than was ordered, unpacked lines, an order that cannot ship, a printer that
cannot print), one line on stderr or `{"error": ...}` with --json; 2 usage error.
A tracking number already used on another order is confirmed with --confirm-duplicate or,
at a terminal, by answering the question `ship` asks; a script gets the refusal.
Helpers from console.cli are imported inside the commands: console.cli imports this module
while it registers its groups.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import one_line, visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.views import AutoCompleteReport, Document, PrintJob, ShipResult

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _parse_lines(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, int], ...]:
    out = []
    for raw in values:
        sku, sep, qty = raw.rpartition("=")
        if not sep or not sku.strip() or not qty.strip().isdigit() or int(qty) < 1:
            raise click.BadParameter(f"{raw!r} is not SKU=QTY with a quantity of 1 or more")
        out.append((sku.strip(), int(qty)))
    return tuple(out)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _lines_text(lines: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{visible(sku)} x{qty}" for sku, qty in lines)


@click.command("ship")
@click.argument("ref")
@click.option("--tracking", required=True, help="Tracking number (check digit is verified).")
@click.option("--carrier", default=None, help="ups, fedex, usps, dhl, post … (default: detect).")
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="SKU=QTY",
    callback=_parse_lines,
    help="What this shipment carries (repeat; default: everything packed and not shipped).",
)
@click.option("--ship-date", type=DATE, default=None, help="YYYY-MM-DD (default: today).")
@click.option("--expected", type=DATE, default=None, help="Expected delivery, YYYY-MM-DD.")
@click.option("--comment", default="", help="Message to the customer (in the e-mail).")
@click.option("--memo", default="", help="Staff-only memo.")
@click.option(
    "--notify/--no-notify",
    default=False,
    show_default=True,
    help="Send the customer the shipped / partially shipped e-mail.",
)
@click.option(
    "--confirm-duplicate",
    is_flag=True,
    help="Ship even though another order already has this tracking number.",
)
@click.option("--if-version", "if_version", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ship_cmd(
    ctx: Context,
    ref: str,
    tracking: str,
    carrier: str | None,
    lines: tuple[tuple[str, int], ...],
    ship_date: datetime | None,
    expected: datetime | None,
    comment: str,
    memo: str,
    notify: bool,
    confirm_duplicate: bool,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Record a shipment of order REF; the status follows (partially_shipped / shipped)."""
    from console.cli import emit, run
    from services.shipping import DuplicateTracking, NewShipment

    new = NewShipment(
        tracking=tracking,
        carrier=carrier,
        lines=lines,
        ship_date=_day(ship_date),
        expected_delivery=_day(expected),
        comment=comment,
        memo=memo,
        notify=notify,
        confirm_duplicate=confirm_duplicate,
    )

    # Someone at a terminal is asked; a script (no terminal, or --json) gets the refusal.
    ask = not (confirm_duplicate or as_json) and sys.stdin.isatty() and sys.stderr.isatty()

    async def body(s: Services) -> ShipResult:
        try:
            return await s.shipping.ship(ref, new, expected_version=if_version)
        except DuplicateTracking as exc:  # nothing was written
            if not ask:
                raise
            click.echo(f"warning: {visible(str(exc))}", err=True)
            if not click.confirm("Ship it with this tracking number anyway?", err=True):
                raise
        again = replace(new, confirm_duplicate=True)
        return await s.shipping.ship(ref, again, expected_version=if_version)

    result = run(ctx, body, as_json=as_json)
    if as_json:
        emit(result.to_json())
        return
    sh = result.shipment
    click.echo(
        f"#{result.order.number} is now {result.order.status.value}: "
        f"{visible(sh.carrier)} {visible(sh.tracking)} ({_lines_text(sh.lines)})"
        + (" (customer e-mail queued)" if notify else "")
    )
    if sh.url:
        click.echo(f"  {visible(sh.url)}")


@click.group("shipments")
def shipments_group() -> None:
    """List and delete shipments; complete delivered orders."""


@shipments_group.command("list")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def shipments_list(ctx: Context, ref: str, as_json: bool) -> None:
    """Every shipment of order REF, deleted ones included."""
    from console.cli import emit, run

    async def body(s: Services) -> Any:
        return await s.shipping.shipments(ref)

    records = run(ctx, body, as_json=as_json)
    if as_json:
        emit([r.to_json() for r in records])
        return
    if not records:
        click.echo("no shipments")
    for r in records:
        gone = f"  DELETED: {one_line(r.delete_reason, 60)}" if r.deleted_at else ""
        click.echo(
            f"{r.shipped_at:%Y-%m-%d}  {visible(r.carrier):<6} {visible(r.tracking):<24} "
            f"{_lines_text(r.lines)}{gone}"
        )


@shipments_group.command("delete")
@click.argument("ref")
@click.argument("tracking")
@click.option("--reason", required=True, help="Why (kept in the history and audit log).")
@click.option("--if-version", "if_version", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def shipments_delete(
    ctx: Context, ref: str, tracking: str, reason: str, if_version: int | None, as_json: bool
) -> None:
    """Delete a shipment entered by mistake: its lines go back to packed, the status back."""
    from console.cli import emit, run

    async def body(s: Services) -> ShipResult:
        return await s.shipping.delete_shipment(
            ref, tracking, reason=reason, expected_version=if_version
        )

    result = run(ctx, body, as_json=as_json)
    if as_json:
        emit(result.to_json())
        return
    click.echo(
        f"shipment {visible(result.shipment.tracking)} deleted; "
        f"#{result.order.number} is now {result.order.status.value}"
    )


@shipments_group.command("auto-complete")
@click.option(
    "--notify/--no-notify", default=False, show_default=True, help="Send the complete e-mail."
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def shipments_auto_complete(ctx: Context, notify: bool, limit: int, as_json: bool) -> None:
    """Complete shipped orders: N days after shipping (auto_complete_days) and, with a
    tracking service (tracking_url), when the carrier reports them delivered."""
    from console.cli import emit, run

    async def body(s: Services) -> AutoCompleteReport:
        return await s.shipping.auto_complete(notify=notify, limit=limit)

    report = run(ctx, body, as_json=as_json)
    if as_json:
        emit(report.to_json())
        return
    if not report.enabled:
        click.echo("auto-complete is off: set auto_complete_days or tracking_url")
        return
    click.echo(f"checked {report.checked}, completed {len(report.completed)}")
    for number, why in report.completed:
        click.echo(f"  #{number} complete: {one_line(why)}")
    for number, why in report.skipped:
        click.echo(f"  #{number} skipped: {one_line(why)}")
    for number, error in report.errors:
        click.echo(f"  #{number} error: {one_line(error)}")


@click.group("print")
def print_group() -> None:
    """Print invoices, packing slips and shipping labels (printer: file:, lp:, tcp:)."""


printer_option = click.option(
    "--printer",
    default=None,
    metavar="SPEC",
    help="file:DIR, lp:QUEUE or tcp:HOST:PORT (default: the printer setting).",
)


def _print(
    ctx: Context,
    kind: str,
    refs: tuple[str, ...],
    printer: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    from console.cli import emit, run

    async def body(s: Services) -> list[PrintJob]:
        s.printing.printer(printer)  # a bad or missing printer is refused before rendering
        docs: list[Document] = await s.documents.render(kind, list(refs), **options)
        return await s.printing.print(docs, printer=printer)

    jobs = run(ctx, body, as_json=as_json)
    if as_json:
        emit([j.to_json() for j in jobs])
        return
    for j in jobs:
        where = ", ".join(visible(f) for f in j.files) or visible(j.printer)
        click.echo(f"{j.document}: {j.format}, {j.size} bytes -> {where}")


@print_group.command("invoice")
@click.argument("refs", nargs=-1, required=True)
@click.option(
    "--combined", is_flag=True, help="One invoice per order even when lines ship differently."
)
@printer_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def print_invoice(
    ctx: Context, refs: tuple[str, ...], combined: bool, printer: str | None, as_json: bool
) -> None:
    """Invoices of one or more orders (split by delivery method unless --combined)."""
    _print(ctx, "invoice", refs, printer, as_json, split=not combined)


@print_group.command("slip")
@click.argument("refs", nargs=-1, required=True)
@printer_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def print_slip(ctx: Context, refs: tuple[str, ...], printer: str | None, as_json: bool) -> None:
    """Packing slips of one or more orders, with the order barcode."""
    _print(ctx, "slip", refs, printer, as_json)


@print_group.command("label")
@click.argument("refs", nargs=-1, required=True)
@click.option("--tracking", default=None, help="Only the shipment with this tracking number.")
@printer_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def print_label(
    ctx: Context, refs: tuple[str, ...], tracking: str | None, printer: str | None, as_json: bool
) -> None:
    """4×6 ZPL shipping labels: one per shipment of each order."""
    _print(ctx, "label", refs, printer, as_json, tracking=tracking)
