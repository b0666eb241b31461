"""`packline notify ...`: the delivery worker for a server without the console, and the
outbox from a shell (list, retry, discard, set-recipient).

Exit codes as everywhere (DESIGN §4): 0 done, 1 refused (unknown notification, already
sent, a bad address), one line on stderr or `{"error": ...}` with --json; 2 usage.
Helpers from console.cli are imported inside the commands: console.cli imports this
module while it registers its groups.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import one_line, visible
from services.statuses import NotificationState

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.notifications import DeliveryReport, OutboxEntry

STATES = [s.value for s in NotificationState]


@click.group("notify")
def notify_group() -> None:
    """Deliver customer e-mails and webhooks; look after the outbox."""


@notify_group.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--all", "retry_all", is_flag=True, help="Retry failed ones now, ignoring their backoff."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_run(ctx: Context, once: bool, retry_all: bool, as_json: bool) -> None:
    """Deliver due notifications: once, or until interrupted (Ctrl+C / SIGTERM)."""
    from console.cli import emit, run

    async def body(s: Services) -> DeliveryReport | None:
        if once:
            return await s.notifications.run_once(retry_all=retry_all)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if retry_all:
            await s.notifications.retry_failed_now()
        click.echo(f"delivering notifications from {s.db.display}; Ctrl+C to stop", err=True)
        await s.notifications.run_forever(stop)
        return None

    if not once:
        _log_to_stderr()
    report = run(ctx, body, as_json=as_json)
    if report is None:
        return
    if as_json:
        emit(report.to_json())
        return
    click.echo(
        f"sent {report.sent}, failed {report.failed} (will retry), dead {report.dead}"
        + (f", handed back {report.released}" if report.released else "")
    )
    for line in report.errors:
        click.echo(f"  {one_line(line, 200)}")


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("packline.notifications")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@notify_group.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only rows in this state (repeatable).",
)
@click.option("--order", "order", default=None, help="Only this order's notifications.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_list(
    ctx: Context, states: tuple[str, ...], order: str | None, limit: int, as_json: bool
) -> None:
    """List outbox rows, newest first, with their errors."""
    from console.cli import emit, run

    wanted = [NotificationState(s) for s in states]

    async def body(s: Services) -> list[OutboxEntry]:
        return await s.notifications.entries(states=wanted, order=order, limit=limit)

    entries = run(ctx, body, as_json=as_json)
    if as_json:
        emit([e.to_json() for e in entries])
        return
    if not entries:
        click.echo("no notifications")
        return
    click.echo(
        f"{'id':>6}  {'state':<7}  {'tries':>5}  {'order':>7}  {'event':<18}  "
        f"{'channel':<7}  {'to':<30}  error"
    )
    for e in entries:
        click.echo(
            f"{e.id:>6}  {e.state.value:<7}  {e.attempts:>5}  {e.order_number or '-':>7}  "
            f"{one_line(e.event, 18):<18}  {e.channel:<7}  {one_line(e.to, 30):<30}  "
            f"{one_line(e.last_error, 80)}"
        )


def _show(entry: OutboxEntry, verb: str, as_json: bool) -> None:
    from console.cli import emit

    if as_json:
        emit(entry.to_json())
    else:
        click.echo(
            f"notification {entry.id} ({visible(entry.event)} to {visible(entry.to)}) {verb}; "
            f"now {entry.state.value}"
        )


def _action(ctx: Context, as_json: bool, call: Any) -> OutboxEntry:
    from console.cli import run

    entry: OutboxEntry = run(ctx, call, as_json=as_json)
    return entry


@notify_group.command("retry")
@click.argument("notification_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_retry(ctx: Context, notification_id: int, as_json: bool) -> None:
    """Queue a failed or dead notification again now, with fresh attempts."""

    async def body(s: Services) -> OutboxEntry:
        return await s.notifications.retry(notification_id)

    _show(_action(ctx, as_json, body), "queued again", as_json)


@notify_group.command("discard")
@click.argument("notification_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_discard(ctx: Context, notification_id: int, as_json: bool) -> None:
    """Give up on a notification that has not been sent."""

    async def body(s: Services) -> OutboxEntry:
        return await s.notifications.discard(notification_id)

    _show(_action(ctx, as_json, body), "discarded", as_json)


@notify_group.command("set-recipient")
@click.argument("notification_id", type=int)
@click.argument("address")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_set_recipient(ctx: Context, notification_id: int, address: str, as_json: bool) -> None:
    """Send a notification to ADDRESS instead (a failed or dead one is queued again)."""

    async def body(s: Services) -> OutboxEntry:
        return await s.notifications.set_recipient(notification_id, address)

    _show(_action(ctx, as_json, body), "readdressed", as_json)
