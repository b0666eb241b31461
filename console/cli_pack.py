"""`packline scan`, `packline pick-list`, `packline packages`: packing from a shell.

`scan` does what the pack screen does, one code after another, through the same service
calls (start or resume a session as the current operator, one `scan` per code), so scripts
and end-to-end tests pack exactly as a packer would. Exit codes as everywhere (DESIGN §4):
0 done, 1 refused (for `scan`: any scan refused; every result is still printed), 2 usage.
Helpers from console.cli are imported inside the commands: console.cli imports this
module while it registers its commands.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.views import PackageView, PackProgress, PackSessionView, ScanResult

_WEIGHT = re.compile(r"^\s*#?(\d{1,4})\s*=\s*([0-9][0-9.,]*)\s*(g|kg)?\s*$", re.IGNORECASE)


# -- scan -------------------------------------------------------------------------------------


@click.command("scan")
@click.argument("ref")
@click.argument("codes", nargs=-1, required=True)
@click.option(
    "--split-backorder",
    is_flag=True,
    help="When a validate scan offers to split the unpacked rest to a backorder, accept.",
)
@click.option(
    "--keep-claim",
    is_flag=True,
    help="Keep the order claimed afterwards (default: release a claim this command took).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def scan_cmd(
    ctx: Context,
    ref: str,
    codes: tuple[str, ...],
    split_backorder: bool,
    keep_claim: bool,
    as_json: bool,
) -> None:
    """Scan CODES into order REF, in order, as the pack screen would (commands included:
    PL:NEXT, PL:VALIDATE, PL:UNDO, PL:ABORT; a quantity prefix such as 5*CODE)."""
    from console.cli import emit, fail, run
    from services.views import ScanOutcome

    async def body(s: Services) -> tuple[PackSessionView, list[ScanResult]]:
        session = await s.packing.start(ref)
        sid = session.session_id
        results: list[ScanResult] = []
        for code in codes:
            result = await s.packing.scan(ref, code, session_id=sid)
            results.append(result)
            if result.outcome is ScanOutcome.OFFER_BACKORDER and split_backorder:
                results.append(await s.packing.split_backorder(ref, session_id=sid))
        if not (keep_claim or session.resumed):  # a resumed session is a console's: keep it
            await s.packing.leave(ref, session_id=sid)
        return session, results

    session, results = run(ctx, body, as_json=as_json)
    refused = [r for r in results if r.outcome is ScanOutcome.REFUSED]
    error = (
        f"{len(refused)} of {len(codes)} scans refused; first: {refused[0].message}"
        if refused
        else None
    )
    if as_json:
        out: dict[str, Any] = {
            "session": session.to_json(),
            "results": [r.to_json() for r in results],
            "progress": results[-1].progress.to_json(),
        }
        if error:
            out["error"] = error
        emit(out)
        if error:
            sys.exit(1)
        return
    _print_session(session)
    for r in results:
        click.echo(f"{r.outcome.value:<15} {visible(r.message)}")
    _print_progress(results[-1].progress)
    if error:
        fail(error, as_json=False)


def _print_session(session: PackSessionView) -> None:
    how = "resumed" if session.resumed else "started"
    extra = f" (took over from {visible(session.took_over_from)})" if session.took_over_from else ""
    click.echo(
        f"#{session.order_number}: pack session {session.session_id} {how} by "
        f"{visible(session.operator)}{extra}"
    )


def _print_progress(p: PackProgress) -> None:
    click.echo(
        f"#{p.order_number} {p.status.value}: {p.units_packed} of {p.units_to_pack} units "
        f"packed, package {p.package_no}"
        + (f"; waiting for the serial of {visible(p.pending_serial)}" if p.pending_serial else "")
    )
    for ln in p.lines:
        state = "drop-ship" if not ln.packable else f"{ln.packed}/{ln.ordered - ln.shipped}"
        click.echo(f"  {visible(ln.sku):<16} {state:>9}  {visible(ln.name)}")


# -- pick lists -------------------------------------------------------------------------------


@click.command("pick-list")
@click.argument("refs", nargs=-1, required=True)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write a printable HTML page to this file.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pick_list_cmd(
    ctx: Context, refs: tuple[str, ...], html_file: str | None, as_json: bool
) -> None:
    """What to pick for orders REFS, sorted by bin for one walk (several orders: a batch)."""
    from console.cli import emit, fail, run
    from services.views import PickList

    async def body(s: Services) -> tuple[PickList, str, str]:
        pick = await s.picking.pick_list(list(refs))
        return pick, s.picking.render_text(pick), s.picking.render_html(pick)

    pick, text, html = run(ctx, body, as_json=as_json)
    if html_file:
        try:
            Path(html_file).write_text(html, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {html_file}: {exc.strerror}", as_json=as_json)
    if as_json:
        emit({**pick.to_json(), "html": html_file})
        return
    click.echo(visible(text, keep_newlines=True), nl=False)
    if html_file:
        click.echo(f"(HTML written to {visible(html_file)})")


# -- packages ---------------------------------------------------------------------------------


def _weights(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[int, int]]:
    """`N=GRAMS` (also `N=1250g`, `N=1.25kg`): package number and a whole number of grams."""
    out = []
    for value in values:
        m = _WEIGHT.match(value)
        if m is None:
            raise click.BadParameter(f"{value!r}: write PACKAGE=GRAMS, e.g. 2=1250 or 2=1.25kg")
        try:
            amount = Decimal(m[2].replace(",", ""))
        except InvalidOperation:
            raise click.BadParameter(f"{value!r}: {m[2]!r} is not a number") from None
        grams = amount * 1000 if (m[3] or "g").lower() == "kg" else amount
        if grams != grams.to_integral_value():
            raise click.BadParameter(f"{value!r}: weigh to the whole gram")
        out.append((int(m[1]), int(grams)))
    return out


@click.command("packages")
@click.argument("ref")
@click.option(
    "--weight",
    "weights",
    multiple=True,
    callback=_weights,
    metavar="N=GRAMS",
    help="Set package N's weight (repeatable; 1250, 1250g or 1.25kg).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def packages_cmd(ctx: Context, ref: str, weights: list[tuple[int, int]], as_json: bool) -> None:
    """List the packages of order REF (what is in each, its weight); set weights."""
    from console.cli import emit, run

    async def body(s: Services) -> tuple[PackageView, ...]:
        for number, grams in weights:
            await s.packing.set_package_weight(ref, number, grams)
        return await s.packing.packages(ref)

    packages = run(ctx, body, as_json=as_json)
    if as_json:
        emit([p.to_json() for p in packages])
        return
    if not packages:
        click.echo("no packages yet")
    for p in packages:
        weight = f"{p.weight_grams:,} g" if p.weight_grams is not None else "not weighed"
        items = ", ".join(f"{visible(sku)} ×{qty}" for sku, qty in p.items) or "empty"
        click.echo(f"package {p.number}  {weight:>12}  {items}")
