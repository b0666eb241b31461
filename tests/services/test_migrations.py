"""Migrations: the head constant matches the scripts, and the schema matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.db import Database, alembic_config
from services.migrations import SCHEMA_HEAD
from services.models import Base
from services.orders import NewAddress, NewOrder


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
        # The status counts (revision 0003) start from the orders already there, and the
        # triggers that keep them survived every later revision (SQLite batch rebuilds of
        # `orders` drop them: such a revision must call order_triggers.create again).
        from tests.services.test_status_counts import counted_the_slow_way

        await services.orders.add_memo(1001, "after the upgrade")
        await services.orders.create(_one_more_order())
        assert await services.orders.counts() == await counted_the_slow_way(services)
    finally:
        await services.close()


def _config(connection: object) -> object:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    return cfg


def _one_more_order() -> NewOrder:
    return NewOrder(
        customer_name="After Upgrade",
        email="after@example.org",
        shipping=NewAddress(name="A", line1="1 Way", city="Town", postal_code="1"),
        lines=(("PL-10000", 1),),
    )
