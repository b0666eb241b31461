"""`packline claims list|next|take`: who is packing what, and handing orders out.

`next` claims the next order for the current operator (each packer a different one, also
when several ask at once); `take REF` is a manager's takeover of another packer's live
claim (the packer's pack screen says so at once). Exit codes as everywhere (DESIGN §4).
Helpers from console.cli are imported inside the commands: console.cli imports this
module while it registers its commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from screens.untrusted import visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.claim_views import ClaimView
    from services.container import Services
    from services.views import PackSessionView


@click.group("claims")
def claims_group() -> None:
    """Pack claims: list them, take the next order, take one over (managers)."""


@claims_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(ctx: Context, as_json: bool) -> None:
    """Every live claim: order, packer, since, until."""
    from console.cli import emit, run

    async def body(s: Services) -> tuple[ClaimView, ...]:
        return await s.packing.claims()

    claims = run(ctx, body, as_json=as_json)
    if as_json:
        emit([c.to_json() for c in claims])
        return
    if not claims:
        click.echo("nobody is packing")
    for c in claims:
        click.echo(
            f"#{c.order_number}  {visible(c.operator)}  since {c.started_at:%H:%M:%S}"
            f"  until {c.claimed_until:%H:%M:%S} UTC"
        )


def _said(view: PackSessionView, as_json: bool) -> None:
    from console.cli import emit

    if as_json:
        emit(view.to_json())
        return
    p = view.progress
    extra = f" (taken over from {visible(view.took_over_from)})" if view.took_over_from else ""
    click.echo(
        f"#{view.order_number} is yours to pack{extra}: {p.units_packed} of "
        f"{p.units_to_pack} units packed; claimed until {view.claimed_until:%H:%M:%S} UTC"
    )


@claims_group.command("next")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def next_cmd(ctx: Context, as_json: bool) -> None:
    """Claim the next order to pack (your own open claim first)."""
    from console.cli import run

    async def body(s: Services) -> PackSessionView:
        return await s.packing.next_to_pack()

    _said(run(ctx, body, as_json=as_json), as_json)


@claims_group.command("take")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def take_cmd(ctx: Context, ref: str, as_json: bool) -> None:
    """Take over order REF from the packer holding it (manager role)."""
    from console.cli import run

    async def body(s: Services) -> PackSessionView:
        return await s.packing.start(ref, take_over=True)

    _said(run(ctx, body, as_json=as_json), as_json)
