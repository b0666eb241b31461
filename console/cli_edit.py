"""`packline edit REF ...` (change an order's products, quantities and customer) and
`packline new-order ...` (an order typed in by hand, through the same checks as any).

Exit codes as everywhere (DESIGN §4): 0 done; 1 refused (shipped, unknown SKU, below what
is packed, a version conflict ...), one line on stderr or {"error": ...} with --json; 2
usage error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from screens.untrusted import one_line, visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.order_edit_spec import EditResult
    from services.views import OrderDetail


class _Pair(click.ParamType[tuple[str, int], object]):
    """SKU=QTY with a whole quantity of at least `low`."""

    name = "SKU=QTY"

    def __init__(self, low: int) -> None:
        self.low = low

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        raw = str(value)
        sku, sep, qty = raw.rpartition("=")
        if not sep or not sku.strip() or not qty.strip().isdigit() or int(qty) < self.low:
            self.fail(f"{raw!r} is not SKU=QTY with a whole quantity of {self.low} or more")
        return sku.strip(), int(qty)


def _pairs(low: int) -> _Pair:
    return _Pair(low)


@click.command("edit")
@click.argument("ref")
@click.option(
    "--add",
    "add",
    multiple=True,
    type=_pairs(1),
    metavar="SKU=QTY",
    help="Add units of a product (repeat).",
)
@click.option(
    "--set",
    "set_",
    multiple=True,
    type=_pairs(0),
    metavar="SKU=QTY",
    help="New quantity of a line; 0 removes it (repeat).",
)
@click.option("--remove", multiple=True, metavar="SKU", help="Take a product off (repeat).")
@click.option(
    "--customer",
    "email",
    default=None,
    metavar="EMAIL",
    help="Attach this customer account (made when there is none).",
)
@click.option("--customer-name", default=None, help="Name for a new customer account.")
@click.option("--memo", default="", help="Why (in the history with the changes).")
@click.option(
    "--if-version",
    "if_version",
    type=int,
    default=None,
    help="Refuse if the order is no longer at this version.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def edit_cmd(
    ctx: Context,
    ref: str,
    add: tuple[tuple[str, int], ...],
    set_: tuple[tuple[str, int], ...],
    remove: tuple[str, ...],
    email: str | None,
    customer_name: str | None,
    memo: str,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Change order REF while it has not shipped: products, quantities, customer."""
    from console.cli import emit, run
    from services.order_edit_spec import OrderEdit

    edit = OrderEdit(
        add=add,
        set=set_,
        remove=remove,
        customer_email=email,
        customer_name=customer_name,
        memo=memo,
    )

    async def body(s: Services) -> EditResult:
        return await s.edits.edit(ref, edit, expected_version=if_version)

    result = run(ctx, body, as_json=as_json)
    if as_json:
        emit(result.to_json())
        return
    d = result.order
    click.echo(f"#{d.number} edited: {one_line(result.summary)}")
    if result.stock:
        click.echo(f"  stock: {one_line(result.stock)}")
    click.echo(f"  now {d.status.value}, {d.row.items} items, {d.row.total_text}")


def _address(raw: str, name: str) -> object:
    from services.orders import NewAddress

    parts = [p.strip() for p in raw.split("|")]
    if len(parts) == 3:
        parts.append("US")
    if len(parts) == 4:
        line1, city, zip_code, country = parts
        line2 = region = ""
    elif len(parts) == 6:
        line1, line2, city, region, zip_code, country = parts
    else:
        raise click.BadParameter(
            f"{raw!r}: give 'line1|city|zip|country' or 'line1|line2|city|region|zip|country'"
        )
    if not (line1 and city and len(country) == 2 and country.isalpha()):
        raise click.BadParameter(f"{raw!r}: needs a street, a city and a 2-letter country")
    return NewAddress(
        name=name,
        line1=line1,
        line2=line2,
        city=city,
        region=region,
        postal_code=zip_code,
        country=country.upper(),
    )


@click.command("new-order")
@click.option("--email", default="", help="The customer's e-mail (their account is reused).")
@click.option("--name", required=True, help="The customer's name.")
@click.option(
    "--ship",
    required=True,
    metavar="'line1|city|zip|country'",
    help="Shipping address (or 'line1|line2|city|region|zip|country').",
)
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    type=_pairs(1),
    metavar="SKU=QTY",
    help="A product and its quantity (repeat).",
)
@click.option("--note", default="", help="The customer's note.")
@click.option(
    "--payment-method", default="card", show_default=True, help="card, check, cash, cod or terms."
)
@click.option(
    "--notify/--no-notify",
    default=False,
    show_default=True,
    help="Send the order confirmation e-mail.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def new_order_cmd(
    ctx: Context,
    email: str,
    name: str,
    ship: str,
    lines: tuple[tuple[str, int], ...],
    note: str,
    payment_method: str,
    notify: bool,
    as_json: bool,
) -> None:
    """Take an order by hand (phone, counter): it starts new, with the same checks as any."""
    from console.cli import emit, fail, run
    from services.orders import NewAddress, NewOrder
    from services.statuses import PaymentMethod, parse_enum

    try:
        method = parse_enum(PaymentMethod, payment_method, "payment method")
        address = _address(ship, name)
    except (ValueError, click.BadParameter) as exc:
        fail(exc.message if isinstance(exc, click.BadParameter) else str(exc), as_json=as_json)
    assert isinstance(address, NewAddress)
    new = NewOrder(
        customer_name=name,
        email=email,
        shipping=address,
        lines=lines,
        note=note,
        payment_method=method,
    )

    async def body(s: Services) -> OrderDetail:
        return await s.orders.create(new, notify=notify)

    detail = run(ctx, body, as_json=as_json)
    if as_json:
        emit(detail.to_json())
        return
    hold = f" ({detail.row.hold_reason.value})" if detail.row.hold_reason else ""
    click.echo(
        f"#{detail.number} created: {detail.status.value}{hold}, {detail.row.items} items, "
        f"{detail.row.total_text}, for {visible(detail.row.customer.name)}"
    )
