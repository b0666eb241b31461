"""`packline po ...`: drop-ship purchase orders and vendor tracking from a shell.

Exit codes as everywhere (DESIGN §4): 0 done; 1 refused, one line on stderr or
`{"error": ...}` with --json; 2 usage error. Two commands do part of what was asked and
say so with exit 1: `po create --send` when a vendor could not be sent its PO (the POs
exist, that one stays draft) and `po import`/`import-dir`/`fetch` when some rows were not
applied (the rest were); with --json they print the full result plus an "error" key.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import visible
from services.statuses import POStatus

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.po_views import ImportReport, POPlan, POResult, PurchaseOrderView, VendorView

MARKABLE = [s.value for s in POStatus if s not in (POStatus.DRAFT, POStatus.SHIPPED)]


def _parse_vendors(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in values:
        sku, sep, vendor = raw.partition("=")
        if not sep or not sku.strip() or not vendor.strip():
            raise click.BadParameter(f"{raw!r} is not SKU=VENDOR (a vendor code such as ACME)")
        out[sku.strip()] = vendor.strip()
    return out


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _po_line(po: PurchaseOrderView) -> str:
    sent = f" ({po.sent_at:%Y-%m-%d %H:%M} UTC)" if po.sent_at else ""
    track = f" tracking {', '.join(visible(t) for t in po.tracking)}" if po.tracking else ""
    return (
        f"{visible(po.number)}  #{po.order_number}  {visible(po.vendor_code)} ({po.method})  "
        f"{po.status}{sent}  {len(po.lines)} line(s) {_money(po.total_cost)}{track}"
    )


def _partial(data: dict[str, Any], message: str, as_json: bool) -> None:
    """Some of it was done: print the result, then the problem, exit 1."""
    if as_json:
        click.echo(json.dumps({**data, "error": message}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"packline: {visible(message)}", err=True)
    sys.exit(1)


@click.group("po")
def po_group() -> None:
    """Drop-ship purchase orders: create, send, list; vendor tracking back in."""


@po_group.command("plan")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_plan(ctx: Context, ref: str, as_json: bool) -> None:
    """What order REF would order: each line's vendors (default marked *), cost, margin."""
    from console.cli import emit, run

    async def body(s: Services) -> POPlan:
        return await s.purchasing.plan(ref)

    plan = run(ctx, body, as_json=as_json)
    if as_json:
        emit(plan.to_json())
        return
    click.echo(f"#{plan.number} ({plan.status})")
    for ln in plan.lines:
        head = f"  {visible(ln.sku)} x{ln.quantity}  {visible(ln.name)}"
        if ln.fulfillment == "stock":
            click.echo(f"{head}  from stock" + (f"  ! {visible(ln.problem)}" if ln.problem else ""))
            continue
        click.echo(f"{head}  to order {ln.to_order} (on PO {ln.on_po}, shipped {ln.shipped})")
        if ln.problem:
            click.echo(f"    ! {visible(ln.problem)}")
        for c in ln.choices:
            mark = "*" if c.code == ln.selected else " "
            warn = f"  ({visible(c.send_problem)})" if c.send_problem else ""
            click.echo(
                f"   {mark} {visible(c.code)} {visible(c.vendor_sku)} cost {_money(c.cost)} "
                f"margin {_money(c.margin) if c.margin >= 0 else '-' + _money(-c.margin)} "
                f"[{c.method}]{warn}"
            )
    for po in plan.purchase_orders:
        click.echo(f"  {_po_line(po)}")
    if plan.why_not:
        click.echo(f"  nothing to order: {visible(plan.why_not)}")


@po_group.command("create")
@click.argument("ref")
@click.option(
    "--vendor",
    "vendors",
    multiple=True,
    metavar="SKU=VENDOR",
    callback=_parse_vendors,
    help="Order SKU from VENDOR (code or name) instead of its default (repeat).",
)
@click.option("--send", is_flag=True, help="Send each PO to its vendor (e-mail or EDI) now.")
@click.option("--if-version", "if_version", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_create(
    ctx: Context,
    ref: str,
    vendors: dict[str, str],
    send: bool,
    if_version: int | None,
    as_json: bool,
) -> None:
    """One PO per vendor for the drop-ship lines of order REF not yet ordered."""
    from console.cli import run

    async def body(s: Services) -> POResult:
        return await s.purchasing.create(
            ref, vendors=vendors, send=send, expected_version=if_version
        )

    _print_result(run(ctx, body, as_json=as_json), as_json)


def _print_result(result: POResult, as_json: bool) -> None:
    from console.cli import emit

    problems = "; ".join(f"{p.po or p.vendor}: {p.detail}" for p in result.problems)
    if as_json:
        if problems:
            _partial(result.to_json(), f"not sent: {problems}", as_json=True)
        emit(result.to_json())
        return
    if result.created:
        click.echo(
            f"#{result.order_number} is {result.status}; created {', '.join(result.created)}"
        )
    for out in result.sent:
        if out.ok:
            to = visible(out.detail)
            click.echo(f"  {visible(out.po)} sent to {visible(out.vendor)} by {out.via}: {to}")
    for po in result.purchase_orders:
        click.echo(f"  {_po_line(po)}")
    if problems:
        _partial({}, f"not sent: {problems}", as_json=False)


@po_group.command("send")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_send(ctx: Context, number: str, as_json: bool) -> None:
    """Send (or re-send) PO NUMBER to its vendor by e-mail or EDI."""
    from console.cli import run

    async def body(s: Services) -> POResult:
        return await s.purchasing.send(number)

    _print_result(run(ctx, body, as_json=as_json), as_json)


@po_group.command("mark")
@click.argument("number")
@click.argument("status", type=click.Choice(MARKABLE, case_sensitive=False))
@click.option("--note", default="", help="What the vendor said (staff-only history).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_mark(ctx: Context, number: str, status: str, note: str, as_json: bool) -> None:
    """Record by hand: sent (phoned/faxed), acknowledged, received, or canceled."""
    from console.cli import emit, run

    async def body(s: Services) -> POResult:
        return await s.purchasing.mark(number, POStatus(status.lower()), note=note)

    result = run(ctx, body, as_json=as_json)
    if as_json:
        emit(result.to_json())
        return
    for po in result.purchase_orders:
        click.echo(_po_line(po))


@po_group.command("cancel")
@click.argument("number")
@click.option("--reason", default="", help="Told to an e-mail vendor with the cancellation.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def po_cancel(click_ctx: click.Context, number: str, reason: str, as_json: bool) -> None:
    """Cancel PO NUMBER (its lines can be ordered again); same as `po mark N canceled`."""
    click_ctx.invoke(po_mark, number=number, status="canceled", note=reason, as_json=as_json)


@po_group.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in POStatus], case_sensitive=False), default=None
)
@click.option("--order", "ref", default=None, help="Only the POs of this order.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_list(ctx: Context, status: str | None, ref: str | None, limit: int, as_json: bool) -> None:
    """Purchase orders, newest first."""
    from console.cli import emit, run

    async def body(s: Services) -> list[PurchaseOrderView]:
        return await s.purchasing.find(
            status=POStatus(status.lower()) if status else None, ref=ref, limit=limit
        )

    pos = run(ctx, body, as_json=as_json)
    if as_json:
        emit([po.to_json() for po in pos])
        return
    for po in pos:
        click.echo(_po_line(po))


@po_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_show(ctx: Context, number: str, as_json: bool) -> None:
    """One PO with its lines."""
    from console.cli import emit, run

    async def body(s: Services) -> PurchaseOrderView:
        return await s.purchasing.get(number)

    po = run(ctx, body, as_json=as_json)
    if as_json:
        emit(po.to_json())
        return
    click.echo(_po_line(po))
    for ln in po.lines:
        click.echo(
            f"  {visible(ln.vendor_sku)} ({visible(ln.sku)}) x{ln.quantity} @ "
            f"{_money(ln.unit_cost)}  shipped {ln.shipped}  {visible(ln.name)}"
        )


def _print_report(report: ImportReport, as_json: bool) -> None:
    from console.cli import emit

    if report.problems:
        summary = (
            f"{len(report.problems)} row(s) not applied ({report.created} shipment(s) "
            f"created, {report.unchanged} already there): "
            + "; ".join(str(p) for p in report.problems[:20])
        )
        if as_json:
            _partial(report.to_json(), summary, as_json=True)
        for sh in report.shipments:
            click.echo(_shipment_line(sh))
        for ack in report.acknowledged:
            click.echo(_ack_line(ack))
        _partial({}, summary, as_json=False)
    if as_json:
        emit(report.to_json())
        return
    for sh in report.shipments:
        click.echo(_shipment_line(sh))
    for ack in report.acknowledged:
        click.echo(_ack_line(ack))
    if report.acknowledged and not report.shipments:
        new = sum(1 for a in report.acknowledged if a.new)
        click.echo(f"{new} PO(s) acknowledged, {len(report.acknowledged) - new} already were")
        return
    click.echo(f"{report.created} shipment(s) created, {report.unchanged} already there")


def _ack_line(ack: Any) -> str:
    state = "acknowledged" if ack.new else "already acknowledged"
    return f"{visible(ack.po)} #{ack.order_number} {state} (855 {visible(ack.kind)})"


def _shipment_line(sh: Any) -> str:
    what = ", ".join(f"{visible(sku)} x{q}" for sku, q in sh.lines)
    state = "shipped" if sh.new else "already there"
    return (
        f"{visible(sh.po)} #{sh.order_number} {visible(sh.carrier)} {visible(sh.tracking)} "
        f"{state}" + (f" ({what})" if what else "")
    )


@po_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_import(ctx: Context, files: tuple[str, ...], as_json: bool) -> None:
    """Vendor tracking from FILES: CSV (po, tracking[, carrier, sku, quantity]) or X12 856;
    X12 855 acknowledgments too (a sent PO becomes acknowledged).

    Each shipment goes through shipping (order status follows, customer e-mailed); a row
    with an unknown PO or SKU or a bad tracking number is reported with its line, the rest
    are applied; importing a file again changes nothing."""
    from console.cli import run

    async def body(s: Services) -> ImportReport:
        return await s.purchasing.import_files(list(files))

    _print_report(run(ctx, body, as_json=as_json), as_json)


@po_group.command("import-dir")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_import_dir(ctx: Context, folder: str | None, as_json: bool) -> None:
    """Import every file dropped in FOLDER (default: purchasing.drop_dir); files move to
    processed/ or failed/ (with a .errors.txt)."""
    from console.cli import run

    async def body(s: Services) -> ImportReport:
        return await s.purchasing.import_dir(folder)

    _print_report(run(ctx, body, as_json=as_json), as_json)


@po_group.command("fetch")
@click.option("--feed", default=None, help="Only this [[purchasing.sftp]] feed (by name).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_fetch(ctx: Context, feed: str | None, as_json: bool) -> None:
    """Fetch and import tracking files from the vendors' SFTP servers."""
    from console.cli import run

    async def body(s: Services) -> ImportReport:
        return await s.purchasing.fetch(feed)

    _print_report(run(ctx, body, as_json=as_json), as_json)


@po_group.command("watch")
@click.option(
    "--every",
    type=click.FloatRange(1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds between rounds.",
)
@click.option("--once", is_flag=True, help="One round, then exit (for cron).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per round.")
@click.pass_obj
def po_watch(ctx: Context, every: float, once: bool, as_json: bool) -> None:
    """Collect vendor tracking again and again: the drop folder (purchasing.drop_dir) and
    the SFTP feeds. Run it in one place (a service or cron), not in every console."""
    import asyncio

    from console.cli import run

    async def body(s: Services) -> None:
        while True:
            report = await s.purchasing.collect()
            if as_json:
                click.echo(json.dumps(report.to_json(), ensure_ascii=False), nl=True)
            elif report.shipments or report.problems or report.acknowledged:
                for sh in report.shipments:
                    if sh.new:
                        click.echo(_shipment_line(sh))
                for ack in report.acknowledged:
                    if ack.new:
                        click.echo(_ack_line(ack))
                for problem in report.problems:
                    click.echo(f"not applied: {visible(str(problem))}", err=True)
            sys.stdout.flush()
            if once:
                return
            await asyncio.sleep(every)

    run(ctx, body, as_json=as_json)


@po_group.command("vendors")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_vendors(ctx: Context, as_json: bool) -> None:
    """Vendors: how each takes POs, and whether that works as configured."""
    from console.cli import emit, run

    async def body(s: Services) -> list[VendorView]:
        return await s.purchasing.vendors()

    vendors = run(ctx, body, as_json=as_json)
    if as_json:
        emit([v.to_json() for v in vendors])
        return
    for v in vendors:
        how = {
            "email": visible(v.email) or "(no e-mail)",
            "edi": f"EDI {v.edi_qualifier}/{visible(v.edi_id)}",
            "manual": "by hand",
        }.get(v.method, v.method)
        warn = f"  ! {visible(v.send_problem)}" if v.send_problem else ""
        click.echo(
            f"{visible(v.code):<10} {visible(v.name):<24} {how}  lead {v.lead_time_days} d  "
            f"{v.products} product(s){warn}"
        )


@po_group.command("vendor")
@click.argument("code")
@click.option("--email", default=None, help="Where e-mailed POs go ('' to clear).")
@click.option("--method", type=click.Choice(["email", "edi", "manual"]), default=None)
@click.option("--edi-qualifier", default=None, help="ISA07, e.g. ZZ or 01.")
@click.option("--edi-id", default=None, help="ISA08: the vendor's interchange id.")
@click.option("--lead-time", type=click.IntRange(0, 365), default=None, help="Days.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def po_vendor(
    ctx: Context,
    code: str,
    email: str | None,
    method: str | None,
    edi_qualifier: str | None,
    edi_id: str | None,
    lead_time: int | None,
    as_json: bool,
) -> None:
    """Show vendor CODE, or change how it takes POs."""
    from console.cli import emit, run
    from services.statuses import POMethod

    async def body(s: Services) -> VendorView:
        return await s.purchasing.update_vendor(
            code,
            email=email,
            method=POMethod(method) if method else None,
            edi_qualifier=edi_qualifier,
            edi_id=edi_id,
            lead_time_days=lead_time,
        )

    v = run(ctx, body, as_json=as_json)
    if as_json:
        emit(v.to_json())
        return
    for key, value in v.to_json().items():
        click.echo(f"{key:<15} {visible(value) if value is not None else ''}")
