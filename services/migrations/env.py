"""Alembic environment: always run with a connection handed in by services.db."""

from __future__ import annotations

from alembic import context

from services.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `packline db upgrade` runs migrations
    raise RuntimeError("run migrations through `packline db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
