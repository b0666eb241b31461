"""Opening the console: where the CLI hands over to the Textual app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.settings import default_data_dir

if TYPE_CHECKING:
    from console.cli import Context

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


def open_console(
    ctx: Context, *, demo: bool = False, order: str | None = None, pack: str | None = None
) -> None:
    if demo:
        ctx.db = make_demo_database()
        click.echo(f"demo database: {demo_db_path()}", err=True)
    click.echo("console not built yet: use the CLI (packline --help)", err=True)
