"""Opening the console: where the CLI hands over to the Textual app (the composition root).

Settings are read and the schema checked before the terminal switches to the app, so a
bad config, an unreachable database or an unknown order reads as one line on stderr
(exit 1), as every other command does, not as a broken full-screen app.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.settings import default_data_dir

if TYPE_CHECKING:
    from console.cli import Context
    from services.container import Services

DEMO_ORDERS = 500


def demo_db_path() -> Path:
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


async def _prepare(services: Services, ref: str | None) -> None:
    """Schema current, the asked-for order there; then let go of this event loop's pool."""
    try:
        await services.db.ensure_schema()
        if ref is not None:
            await services.orders.show(ref)
    finally:
        await services.db.dispose()


def open_console(
    ctx: Context, *, demo: bool = False, order: str | None = None, pack: str | None = None
) -> None:
    from services.container import Services
    from services.db import DatabaseError
    from services.errors import Refused
    from services.settings import ConfigError

    if demo:
        ctx.db = make_demo_database()
        click.echo(f"demo database: {demo_db_path()}", err=True)
    try:
        settings = ctx.settings()
        services = Services.build(settings)
        asyncio.run(_prepare(services, pack or order))
    except (ConfigError, DatabaseError, Refused, ValueError) as exc:
        from screens.untrusted import visible

        click.echo(f"packline: {visible(exc)}", err=True)
        sys.exit(1)

    from console.app import PacklineApp

    app = PacklineApp(
        services,
        order=order,
        pack=pack,
        keymap=settings.keys,
        owns_services=True,
        run_notifications=True,
    )
    app.run()
    if app.return_code:
        sys.exit(app.return_code)
