"""`packline import shopify|csv|json FILE`, `packline import watch DIR` and `packline export
csv FILE`: orders in and out from a shell.

Exit codes (DESIGN §4): 0 every order in (or already there); 1 the file refused (not CSV,
a required column missing ...) or some orders refused, the others imported; 2 usage.
With --json the whole report is printed either way ({"error": ...} when the file itself
is refused). A progress bar goes to stderr when it is a terminal. Helpers from
console.cli are imported inside the commands: console.cli imports this module while it
registers its groups.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from screens.untrusted import one_line, visible

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services
    from services.exports import ExportReport
    from services.import_formats import ImportReport
    from services.import_watch import DropResult


class _Bar:
    """click's progress bar on stderr, fed by the import's (bytes done, total) callback."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print_report(report: ImportReport) -> None:
    click.echo(visible(report.summary()))
    for r in report.rejected:
        click.echo(f"  refused {visible(r.ref) or '(no name)'} ({r.where}): {one_line(r.reason)}")
    for n in report.notices:
        number = f" #{n.number}" if n.number else ""
        click.echo(f"  note {visible(n.ref)}{number}: {one_line(n.message)}")
    for f in report.followed:
        click.echo(f"  #{f.number} ({visible(f.ref)}): {one_line(f.change)}")
    if report.file_error:
        click.echo(f"  stopped: {one_line(report.file_error)}", err=True)


def _import(ctx: Context, fmt: str, path: str, channel: str | None, as_json: bool) -> None:
    from console.cli import emit, run

    bar = _Bar(f"importing {visible(path)}") if sys.stderr.isatty() and not as_json else None

    async def body(s: Services) -> ImportReport:
        try:
            return await s.imports.import_file(path, fmt, channel=channel, progress=bar)  # type: ignore[arg-type]
        finally:
            if bar is not None:
                bar.close()

    report = run(ctx, body, as_json=as_json)
    if as_json:
        emit(report.to_json())
    else:
        _print_report(report)
    sys.exit(0 if report.ok else 1)


@click.group("import")
def import_group() -> None:
    """Import orders from a file or a drop folder (idempotent: a second run changes nothing)."""


_channel = click.option(
    "--channel",
    default=None,
    help="Channel name the orders are matched under (default: the format).",
)
_path = click.argument("path", type=click.Path(exists=True, dir_okay=False))


@import_group.command("shopify")
@_path
@_channel
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_shopify(ctx: Context, path: str, channel: str | None, as_json: bool) -> None:
    """Import Shopify's order export (Admin > Orders > Export, CSV)."""
    _import(ctx, "shopify", path, channel, as_json)


@import_group.command("csv")
@_path
@_channel
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_csv(ctx: Context, path: str, channel: str | None, as_json: bool) -> None:
    """Import the generic CSV (columns: docs/imports.md)."""
    _import(ctx, "csv", path, channel, as_json)


@import_group.command("json")
@_path
@_channel
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_json(ctx: Context, path: str, channel: str | None, as_json: bool) -> None:
    """Import orders from JSON (shape: docs/imports.md)."""
    _import(ctx, "json", path, channel, as_json)


@import_group.command("watch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--once", is_flag=True, help="Import what is there now, then stop.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=2.0, show_default=True)
@click.option(
    "--settle",
    type=click.FloatRange(0, 3600),
    default=2.0,
    show_default=True,
    help="Leave files changed in the last N seconds (still being written).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.pass_obj
def import_watch(
    ctx: Context, folder: str, once: bool, interval: float, settle: float, as_json: bool
) -> None:
    """Import files dropped in FOLDER; each goes to FOLDER/done or FOLDER/failed with a
    report next to it. Runs until Ctrl-C (or with --once, until the folder is empty)."""
    from console.cli import emit, run
    from services.import_watch import DropFolder

    failed: list[bool] = []

    def show(result: DropResult) -> None:
        failed.append(not result.ok)
        if as_json:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            where = "done" if result.ok else "FAILED"
            click.echo(f"[{where}] {visible(result.summary)} -> {visible(result.moved_to)}")

    async def body(s: Services) -> list[DropResult]:
        drop = DropFolder(s.imports, folder, settle=settle)
        if once:
            return await drop.run_once()
        stop = asyncio.Event()
        await drop.run(stop, interval=interval, on_result=show)
        return []

    results = run(ctx, body, as_json=as_json)
    if once:
        if as_json:
            emit([r.to_json() for r in results])
            failed += [not r.ok for r in results]
        else:
            for r in results:
                show(r)
            if not results:
                click.echo("nothing to import")
    sys.exit(1 if any(failed) else 0)


# -- export ---------------------------------------------------------------------------------


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-11-20) or ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group("export")
def export_group() -> None:
    """Export orders."""


@export_group.command("csv")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--status", default=None, help="Only orders in this status.")
@click.option("--since", default=None, help="Only orders placed on or after (2026-11-20).")
@click.option("--order", "refs", multiple=True, metavar="REF", help="Only these orders (repeat).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def export_csv(
    ctx: Context,
    path: str,
    status: str | None,
    since: str | None,
    refs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Write orders to PATH as CSV in Shopify's order-export layout (one row per line)."""
    from console.cli import emit, fail, run
    from services.statuses import Status, parse_enum

    try:
        wanted = parse_enum(Status, status, "status") if status else None
        after = _since(since)
    except (ValueError, click.BadParameter) as exc:
        fail(str(exc.message if isinstance(exc, click.BadParameter) else exc), as_json=as_json)

    async def body(s: Services) -> ExportReport:
        return await s.exports.export_csv(path, status=wanted, since=after, refs=list(refs) or None)

    report = run(ctx, body, as_json=as_json)
    if as_json:
        emit(report.to_json())
    else:
        click.echo(
            f"exported {report.orders} orders ({report.rows} rows) to {visible(report.file)} "
            f"in {report.seconds:.1f} s"
        )
