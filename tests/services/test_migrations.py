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
