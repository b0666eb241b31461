"""`packline`: the console and every action from a shell, with JSON for scripts.

Exit codes: 0 done; 1 refused by the domain (illegal transition, unknown order,
conflict, unusable database), one line on stderr (or {"error": ...} with --json);
2 usage error (click's own).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click

from screens.untrusted import one_line, visible
from services.errors import ConfigError, DatabaseError, Refused
from services.queue_sort import SORTS, Sort
from services.statuses import HoldReason, Status, parse_enum

# Start-up is import time: SQLAlchemy, pydantic and every service cost ~0.9 s together, so
# a command loads only what it runs (sub-command modules too, see `LazyGroup`).
if TYPE_CHECKING:
    from services.container import Services
    from services.settings import Settings
    from services.views import OrderDetail, OrderRow

T = TypeVar("T")


class Context:
    def __init__(self, db: str | None, config: str | None, operator: str | None) -> None:
        self.db = db
        self.config = config
        self.operator = operator

    def settings(self, **overrides: Any) -> Settings:
        from services.settings import load_settings

        return load_settings(self.config, db=self.db, operator=self.operator, **overrides)


def fail(message: str, *, as_json: bool, code: int = 1) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": message}))
    else:
        click.echo(f"packline: {visible(message)}", err=True)
    sys.exit(code)


def run(
    ctx: Context,
    body: Callable[[Services], Awaitable[T]],
    *,
    as_json: bool = False,
    settings: Settings | None = None,
) -> T:
    """Open the services, run one action, close; domain refusals become exit 1."""

    async def main() -> T:
        from services.container import Services

        services = await Services.open(settings or ctx.settings())
        try:
            return await body(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except (Refused, DatabaseError, ConfigError) as exc:
        fail(str(exc), as_json=as_json)
    except ValueError as exc:  # bad values found after parsing (e.g. an unknown status)
        fail(str(exc), as_json=as_json)
    except KeyboardInterrupt:
        fail("interrupted", as_json=as_json, code=130)


def emit(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


db_option = click.option(
    "--db",
    "db",
    envvar="PACKLINE_DB",
    default=None,
    help="Database URL or SQLite file (default: one in your data dir).",
)
config_option = click.option(
    "--config",
    "config",
    envvar="PACKLINE_CONFIG",
    default=None,
    type=click.Path(dir_okay=False),
    help="TOML config file.",
)


class LazyGroup(click.Group):
    """Sub-commands that live in modules of their own, imported only when run or listed.

    Each is named in `_GROUPS` as "module:attr"; the command's name is the attribute's
    without its `_cmd`/`_group` suffix, dashes for underscores (checked by a test).
    """

    def __init__(self, *args: Any, lazy: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = {command_name(dotted): dotted for dotted in lazy or []}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = load_command(self.lazy[cmd_name])
            self.add_command(command, cmd_name)
        return command


def command_name(dotted: str) -> str:
    attr = dotted.partition(":")[2]
    for suffix in ("_cmd", "_group"):
        attr = attr.removesuffix(suffix)
    return attr.replace("_", "-")


def load_command(dotted: str) -> click.Command:
    module_name, _, attr = dotted.partition(":")
    command = getattr(importlib.import_module(module_name), attr)
    assert isinstance(command, click.Command), dotted
    return command


@click.group(
    cls=LazyGroup,
    lazy=[],  # filled from _GROUPS below
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@db_option
@config_option
@click.option(
    "--operator",
    envvar="PACKLINE_OPERATOR",
    default=None,
    help="Who is working (default: your login name).",
)
@click.option("--demo", is_flag=True, help="Open the console on a fresh demo database.")
@click.version_option(package_name="packline")
@click.pass_context
def cli(
    click_ctx: click.Context, db: str | None, config: str | None, operator: str | None, demo: bool
) -> None:
    """Packline: a keyboard-first fulfillment console. Run with no command to open it."""
    click_ctx.obj = Context(db, config, operator)
    if click_ctx.invoked_subcommand is not None:
        return
    from console.launch import open_console

    open_console(click_ctx.obj, demo=demo)


pass_ctx = click.make_pass_decorator(Context)


# -- console entry points -------------------------------------------------------------------


@cli.command("order")
@click.argument("ref")
@pass_ctx
def order_cmd(ctx: Context, ref: str) -> None:
    """Open the console on one order."""
    from console.launch import open_console

    open_console(ctx, order=ref)


@cli.command("pack")
@click.argument("ref")
@pass_ctx
def pack_cmd(ctx: Context, ref: str) -> None:
    """Open the console on the pack screen of one order."""
    from console.launch import open_console

    open_console(ctx, pack=ref)


# -- database ---------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Schema and database maintenance."""


@db_group.command("upgrade")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def db_upgrade(ctx: Context, as_json: bool) -> None:
    """Create or migrate the schema."""
    from services.db import Database

    settings = _settings_or_fail(ctx, as_json)

    async def body() -> tuple[str, str | None, str | None]:
        db = Database(settings.db)
        try:
            before, after = await db.upgrade()
            return db.display, before, after
        finally:
            await db.dispose()

    url, before, after = _run_plain(body, as_json)
    if as_json:
        emit({"database": url, "from": before, "to": after})
    elif before == after:
        click.echo(f"{url}: schema is current ({after})")
    else:
        click.echo(f"{url}: schema upgraded from {before or 'empty'} to {after}")


def _settings_or_fail(ctx: Context, as_json: bool) -> Settings:
    try:
        return ctx.settings()
    except ConfigError as exc:
        fail(str(exc), as_json=as_json)


def _run_plain(fn: Callable[[], Awaitable[T]], as_json: bool) -> T:
    async def main() -> T:
        return await fn()

    try:
        return asyncio.run(main())
    except (DatabaseError, Refused) as exc:
        fail(str(exc), as_json=as_json)


# -- demo data ------------------------------------------------------------------------------


@cli.command("seed")
@click.option(
    "--orders", "n_orders", type=click.IntRange(0, 5_000_000), default=500, show_default=True
)
@click.option("--seed", "seed", type=int, default=42, show_default=True)
@click.option(
    "--anchor",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the newest orders are placed (default: today). Same seed and anchor, same data.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def seed_cmd(ctx: Context, n_orders: int, seed: int, anchor: Any, as_json: bool) -> None:
    """Fill the database with realistic, deterministic demo data."""
    from services.seed import seed_database

    anchor_date: date | None = anchor.date() if anchor else None

    async def body(s: Services) -> dict[str, Any]:
        report = await seed_database(
            s.db,
            orders=n_orders,
            seed=seed,
            anchor=anchor_date,
            progress=None if as_json else _progress,
        )
        return report

    report = run(ctx, body, as_json=as_json)
    if as_json:
        emit(report)
    else:
        click.echo("", err=True)
        click.echo(
            f"seeded {report['orders']} orders, {report['products']} products, "
            f"{report['customers']} customers in {report['seconds']:.1f} s"
        )


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        click.echo(f"\rseeding orders: {done}/{total}", err=True, nl=False)


# -- orders -------------------------------------------------------------------------------


@cli.group("orders")
def orders_group() -> None:
    """List, show and change orders."""


def _status_option(value: str | None) -> Status | None:
    return parse_enum(Status, value, "status") if value else None


@orders_group.command("list")
@click.option("--status", "status", default=None, help="Only orders in this status.")
@click.option("--search", "query", default="", help="Order number, name, e-mail, SKU, tracking.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--sort", type=click.Choice(list(SORTS)), default="date", show_default=True)
@click.option("--asc", is_flag=True, help="Oldest / smallest first.")
@click.option("--after", default=None, help="Cursor from a previous page (see --json).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def orders_list(
    ctx: Context,
    status: str | None,
    query: str,
    limit: int,
    sort: str,
    asc: bool,
    after: str | None,
    as_json: bool,
) -> None:
    """List orders, newest first."""
    from services.order_query import OrderFilter

    try:
        flt = OrderFilter(
            status=_status_option(status),
            search=query,
            sort=cast(Sort, sort),
            descending=not asc,
        )
    except ValueError as exc:
        fail(str(exc), as_json=as_json)

    async def body(s: Services) -> Any:
        return await s.orders.page(flt, after=after, limit=limit, with_details=as_json)

    page = run(ctx, body, as_json=as_json)
    if as_json:
        emit([row.to_json() for row in page.rows])
        if page.next_cursor:
            click.echo(f"next page: --after {page.next_cursor}", err=True)
        return
    _print_rows(page.rows)
    if page.next_cursor:
        click.echo(f"(more: --after {page.next_cursor})")


def _print_rows(rows: list[OrderRow]) -> None:
    if not rows:
        click.echo("no orders")
        return
    click.echo(
        f"{'#':>7}  {'placed':<10}  {'status':<17}  {'payment':<18}  "
        f"{'customer':<22}  {'items':>5}  {'total':>11}  memo"
    )
    for r in rows:
        click.echo(
            f"{r.number:>7}  {r.placed_at:%Y-%m-%d}  {r.status.value:<17}  "
            f"{r.payment_status.value:<18}  {one_line(r.customer.name, 22):<22}  "
            f"{r.items:>5}  {r.total_text:>11}  {one_line(r.last_memo, 40)}"
        )


@orders_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def orders_show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show one order in full."""

    async def body(s: Services) -> OrderDetail:
        return await s.orders.show(ref)

    detail = run(ctx, body, as_json=as_json)
    if as_json:
        emit(detail.to_json())
    else:
        _print_detail(detail)


def _print_detail(d: OrderDetail) -> None:
    from services.display import money

    r = d.row
    hold = f" ({r.hold_reason.value})" if r.hold_reason else ""
    click.echo(
        f"Order #{r.number}  {r.status.value}{hold}  payment {r.payment_status.value}  "
        f"{r.total_text}  v{r.version}"
    )
    click.echo(f"Placed {r.placed_at:%Y-%m-%d %H:%M} UTC  via {visible(d.channel)}")
    click.echo(f"Customer: {visible(r.customer.name)} <{visible(r.customer.email)}>")
    if r.shipping_address:
        click.echo("Ship to:  " + " / ".join(visible(x) for x in r.shipping_address.lines()))
    if r.risk_score:
        click.echo(f"Risk {r.risk_score}: " + "; ".join(visible(x) for x in r.risk_reasons))
    if d.note:
        click.echo(f"Note: {one_line(d.note)}")
    click.echo("Lines:")
    for ln in d.lines:
        click.echo(
            f"  {one_line(ln.sku, 16):<16} {one_line(ln.name, 36):<36} "
            f"x{ln.quantity:<3} packed {ln.packed:<3} shipped {ln.shipped:<3}"
            f" {visible(ln.vendor or '')}"
        )
    for sh in r.shipments:
        click.echo(f"Shipment: {visible(sh.carrier)} {visible(sh.tracking)}")
    for p in d.payments:
        click.echo(f"Payment: {p.kind} {money(p.amount, r.currency)} {p.state}")
    for ret in d.returns:
        asked = ", ".join(f"{one_line(ln.sku, 16)}x{ln.quantity}" for ln in ret.lines)
        click.echo(f"Return: {ret.rma} {ret.status} ({asked}) {one_line(ret.reason, 40)}")
    click.echo("History:")
    for h in d.history:
        arrow = (
            (
                f"{h.from_status.value if h.from_status else '-'} -> "
                f"{h.to_status.value if h.to_status else '-'}"
            )
            if h.kind == "status"
            else "memo"
        )
        click.echo(f"  {h.at:%Y-%m-%d %H:%M} {visible(h.actor)}: {arrow}")
        if h.comment:
            click.echo(f"      comment: {one_line(h.comment)}")
        if h.memo:
            click.echo(f"      memo: {one_line(h.memo)}")
    for n in d.notifications:
        click.echo(f"Notification: {n.event} {n.channel} to {visible(n.to)}: {n.state}")


@orders_group.command("set-status")
@click.argument("ref")
@click.argument("status")
@click.option("--comment", default="", help="Message to the customer (in the e-mail).")
@click.option("--memo", default="", help="Staff-only memo.")
@click.option(
    "--notify/--no-notify",
    default=False,
    show_default=True,
    help="Send the customer the e-mail for this status.",
)
@click.option("--reason", default=None, help="Hold reason (with status held).")
@click.option("--note", default="", help="Hold note (required with reason 'other').")
@click.option(
    "--if-version",
    "if_version",
    type=int,
    default=None,
    help="Refuse if the order is no longer at this version.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def orders_set_status(
    ctx: Context,
    ref: str,
    status: str,
    comment: str,
    memo: str,
    notify: bool,
    reason: str | None,
    note: str,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Move an order to STATUS (checked against the status machine)."""
    try:
        to = parse_enum(Status, status, "status")
        hold = parse_enum(HoldReason, reason, "hold reason") if reason else None
    except ValueError as exc:
        fail(str(exc), as_json=as_json)

    hints: list[str] = []

    async def body(s: Services) -> OrderDetail:
        detail = await s.orders.set_status(
            ref,
            to,
            comment=comment,
            memo=memo,
            notify=notify,
            reason=hold,
            note=note,
            expected_version=if_version,
        )
        if detail.status is Status.CANCELED:  # offer the refund in the same step
            hints.append((await s.payments.summary(detail.number)).next_step)
        return detail

    detail = run(ctx, body, as_json=as_json)
    if as_json:
        emit(detail.to_json())
    else:
        click.echo(
            f"#{detail.number} is now {detail.status.value}"
            + (" (customer e-mail queued)" if notify else "")
        )
        for hint in filter(None, hints):
            click.echo(visible(hint))


@orders_group.command("memo")
@click.argument("ref")
@click.argument("text")
@click.option("--if-version", "if_version", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def orders_memo(ctx: Context, ref: str, text: str, if_version: int | None, as_json: bool) -> None:
    """Add a staff memo to an order."""

    async def body(s: Services) -> OrderDetail:
        return await s.orders.add_memo(ref, text, expected_version=if_version)

    detail = run(ctx, body, as_json=as_json)
    if as_json:
        emit(detail.to_json())
    else:
        click.echo(f"memo added to #{detail.number}")


# -- the status machine ---------------------------------------------------------------------


@cli.command("states")
@click.option("--mermaid", is_flag=True, help="Only the Mermaid diagram.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def states_cmd(ctx: Context, mermaid: bool, as_json: bool) -> None:
    """Print the status machine (from the same table the services use)."""
    from services.workflow import Workflow

    try:
        settings = ctx.settings()
        wf = Workflow.from_config(settings.statuses.disabled, settings.statuses.labels)
    except (ConfigError, ValueError) as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit(
            {
                "statuses": [{"name": s.value, "label": wf.labels[s]} for s in wf.statuses],
                "transitions": {s.value: [t.value for t in wf.targets(s)] for s in wf.statuses},
                "guards": dict(wf.guard_text()),
                "mermaid": wf.mermaid(),
            }
        )
        return
    if not mermaid:
        click.echo("Statuses and where each may go:\n")
        click.echo(wf.table_text())
        click.echo("\nGuards:")
        for target, rule in wf.guard_text():
            click.echo(f"  {target:<18} {rule}")
        click.echo("\nMermaid:\n")
    click.echo(wf.mermaid())


# -- command groups that live in modules of their own (one line each) ----------------------

_GROUPS: list[str] = [
    "console.cli_notify:notify_group",
    "console.cli_ship:ship_cmd",
    "console.cli_ship:shipments_group",
    "console.cli_ship:print_group",
    "console.cli_pack:scan_cmd",
    "console.cli_pack:pick_list_cmd",
    "console.cli_pack:packages_cmd",
    "console.cli_pay:pay_group",
    "console.cli_pay:review_cmd",
    "console.cli_import:import_group",
    "console.cli_import:export_group",
    "console.cli_stock:stock_group",
    "console.cli_edit:edit_cmd",
    "console.cli_edit:new_order_cmd",
    "console.cli_po:po_group",
    "console.cli_returns:return_group",
    "console.cli_claims:claims_group",
    "console.cli_serve:serve_cmd",
    "console.cli_keys:keys_cmd",
]


cli.lazy.update({command_name(d): d for d in _GROUPS})


def main() -> None:
    cli(prog_name="packline")


if __name__ == "__main__":
    main()
