"""Shared fixtures: real databases (a SQLite file, a throwaway PostgreSQL cluster)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.container import Services
from services.db import Database
from services.settings import load_settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_counter = itertools.count()


class FixedClock:
    """A clock the test moves by hand, so timestamps in assertions are exact."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[object, str] | None]:
    """A PostgreSQL server for the session, with a migrated template database."""
    from tests.pgcluster import postgres_url_or_skip_reason, start_cluster

    url, reason = postgres_url_or_skip_reason()
    cluster = None
    if url is None:
        try:
            cluster = start_cluster()
        except Exception as exc:  # no binaries, no permission: say why
            if IN_CI:
                raise
            pytest.skip(f"PostgreSQL unavailable: {reason or exc}")
        url = cluster.create_database("packline_template")

    async def migrate() -> None:
        db = Database(url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    asyncio.run(migrate())
    yield (cluster, url)
    if cluster is not None:
        cluster.stop()


def _pg_database(pg_template: tuple[object, str]) -> str:
    """A fresh database copied from the migrated template (fast: no migrations per test)."""
    import asyncpg

    _cluster, template_url = pg_template
    from sqlalchemy.engine import make_url

    url = make_url(template_url)
    name = f"t_{os.getpid()}_{next(_counter)}"

    async def create() -> None:
        conn = await asyncpg.connect(
            user=url.username, host=url.host, port=url.port, database="postgres"
        )
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'packline.sqlite'}"
    template = request.getfixturevalue("pg_template")
    return _pg_database(template)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'packline.sqlite'}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def services(db_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    s = await Services.open(load_settings(db=db_url, operator="tester"), clock=clock)
    try:
        yield s
    finally:
        await s.close()
