"""Migrations: the head constant matches the scripts, and the schema matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.db import Database, alembic_config
from services.migrations import SCHEMA_HEAD
from services.models import Base


def test_head_constant_matches_the_migration_scripts() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


async def test_upgrade_from_empty_matches_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        _, after = await db.upgrade()
        assert after == SCHEMA_HEAD
        assert await db.current_revision() == SCHEMA_HEAD
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == [], diff
        assert await db.upgrade() == (SCHEMA_HEAD, SCHEMA_HEAD)  # idempotent
    finally:
        await db.dispose()


async def test_a_shop_with_orders_upgrades_from_the_first_revision(db_url: str) -> None:
    """Columns added later need defaults that work for rows that already exist."""
    from datetime import date

    from alembic import command

    from services.container import Services
    from services.seed import seed_database
    from services.settings import load_settings

    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(_config(c), "base"))
            await conn.run_sync(lambda c: command.upgrade(_config(c), "0001"))
        assert await db.current_revision() == "0001"
        await seed_database(db, orders=25, seed=4, anchor=date(2026, 11, 20))
        await db.upgrade()
        assert await db.current_revision() == SCHEMA_HEAD
    finally:
        await db.dispose()
    services = await Services.open(load_settings(db=db_url, operator="t"))
    try:
        detail = await services.orders.show(1001)
        assert detail.lines and all(ln.quantity > 0 for ln in detail.lines)
    finally:
        await services.close()


def _config(connection: object) -> object:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    return cfg
