"""`packline stock list|set|order`: stock per warehouse and bin from a shell.

Exit codes as everywhere (DESIGN §4): 0 done; 1 refused (an unknown SKU or warehouse, on
hand below what orders hold), one line on stderr or {"error": ...} with --json; 2 usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import one_line, visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.stock_views import StockRow


@click.group("stock")
def stock_group() -> None:
    """Stock per warehouse and bin; what each order line can get where."""


def _print_levels(rows: list[StockRow]) -> None:
    if not rows:
        click.echo("no stock rows")
        return
    click.echo(
        f"{'sku':<14} {'warehouse':<9} {'bin':<10} {'on hand':>8} {'reserved':>8} "
        f"{'available':>9}  name"
    )
    for r in rows:
        click.echo(
            f"{one_line(r.sku, 14):<14} {visible(r.warehouse):<9} {one_line(r.bin, 10):<10} "
            f"{r.on_hand:>8} {r.reserved:>8} {r.available:>9}  {one_line(r.name, 40)}"
        )


@stock_group.command("list")
@click.option("--sku", default=None, help="Only this product.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def stock_list(ctx: Context, sku: str | None, as_json: bool) -> None:
    """On hand, reserved and available per product and warehouse."""
    from console.cli import emit, run

    async def body(s: Services) -> list[StockRow]:
        return await s.inventory.levels(sku)

    rows = run(ctx, body, as_json=as_json)
    if as_json:
        emit([r.to_json() for r in rows])
    else:
        _print_levels(rows)


@stock_group.command("set")
@click.argument("sku")
@click.argument("warehouse")
@click.argument("quantity", type=click.IntRange(0, None))
@click.option("--bin", "bin_", default=None, help="Where it is kept (e.g. A-01-3).")
@click.option("--note", default="", help="Why (kept in the audit log), e.g. 'cycle count'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def stock_set(
    ctx: Context,
    sku: str,
    warehouse: str,
    quantity: int,
    bin_: str | None,
    note: str,
    as_json: bool,
) -> None:
    """Set what is on hand of SKU in WAREHOUSE (a count, a delivery booked in)."""
    from console.cli import emit, run

    async def body(s: Services) -> StockRow:
        return await s.inventory.set_level(sku, warehouse, quantity, bin=bin_, note=note)

    row = run(ctx, body, as_json=as_json)
    if as_json:
        emit(row.to_json())
    else:
        click.echo(
            f"{visible(row.sku)} in {visible(row.warehouse)}"
            + (f" ({visible(row.bin)})" if row.bin else "")
            + f": {row.on_hand} on hand, {row.reserved} reserved, {row.available} available"
        )


@stock_group.command("order")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def stock_order(ctx: Context, ref: str, as_json: bool) -> None:
    """Per line of order REF: what it holds, and what each warehouse has."""
    from console.cli import emit, run

    async def body(s: Services) -> Any:
        return await s.inventory.availability(ref)

    lines = run(ctx, body, as_json=as_json)
    if as_json:
        emit([ln.to_json() for ln in lines])
        return
    for ln in lines:
        held = f"  [{ln.held}]" if ln.held else ""
        click.echo(
            f"{one_line(ln.sku, 14):<14} x{ln.quantity:<4} {visible(ln.text)}{visible(held)}"
        )
