"""Opening the console: where the CLI hands over to the Textual app (the composition root).

The app paints the queue's frame at once and starts the services behind it (settings,
imports, schema check, the asked-for order). If that fails (a bad config, an unreachable
database, an unknown order) the app closes and the reason is one line on stderr (exit 1),
as with every other command, not a broken full-screen app.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from console.app import PacklineApp, StartFailed, Starting
from screens.untrusted import visible

if TYPE_CHECKING:
    from console.cli import Context
    from screens.ports import ConsoleServices
    from services.container import Services
    from services.settings import Settings

DEMO_ORDERS = 500


def demo_db_path() -> Path:
    from services.settings import default_data_dir

    return default_data_dir() / "demo.sqlite"


def make_demo_database(orders: int = DEMO_ORDERS) -> str:
    """A fresh SQLite demo database, replaced on every `packline --demo`."""
    from services.db import Database
    from services.seed import seed_database

    path = demo_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"

    async def build() -> None:
        db = Database(url)
        try:
            await db.upgrade()
            await seed_database(db, orders=orders, seed=42)
        finally:
            await db.dispose()

    asyncio.run(build())
    return url


def starter(ctx: Context, ref: str | None) -> Starting:
    """How the app starts its services: settings and imports in a thread (they are most of
    start-up and would freeze the first frame), then the schema and the asked-for order."""

    async def start() -> tuple[ConsoleServices, Mapping[str, str]]:
        from services.errors import ConfigError, DatabaseError, Refused

        try:
            settings, services = await asyncio.to_thread(_build, ctx)
        except (ConfigError, DatabaseError, ValueError) as exc:
            raise StartFailed(str(exc)) from exc
        try:
            await services.db.ensure_schema()
            if ref is not None:
                await services.orders.show(ref)
        except (DatabaseError, Refused, ValueError) as exc:
            await services.close()
            raise StartFailed(str(exc)) from exc
        return services, settings.keys

    return start


def _build(ctx: Context) -> tuple[Settings, Services]:
    from services.container import Services

    settings = ctx.settings()
    return settings, Services.build(settings)


def open_console(
    ctx: Context, *, demo: bool = False, order: str | None = None, pack: str | None = None
) -> None:
    if demo:
        ctx.db = make_demo_database()
        click.echo(f"demo database: {demo_db_path()}", err=True)
    app = PacklineApp(
        starting=starter(ctx, pack or order),
        where=ctx.db or "",
        order=order,
        pack=pack,
        owns_services=True,
        run_notifications=True,
    )
    app.run()
    if app.start_error is not None:
        click.echo(f"packline: {visible(app.start_error)}", err=True)
        sys.exit(1)
    if app.return_code:
        sys.exit(app.return_code)
