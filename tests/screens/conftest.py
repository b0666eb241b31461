"""Screen tests: the real app on a real (copied) seeded SQLite file, a fixed clock, UTC."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from services.container import Services
from services.db import Database
from services.seed import seed_database
from services.settings import load_settings
from tests.conftest import FixedClock

# Times on screen are local: pin the zone so snapshots and assertions do not move.
os.environ["TZ"] = "UTC"
time.tzset()

ANCHOR = date(2026, 11, 20)
SEED = 7
ORDERS = 60


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded database per test process; each test gets its own copy."""
    path = tmp_path_factory.mktemp("seeded") / "shop.sqlite"

    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.upgrade()
            await seed_database(db, orders=ORDERS, seed=SEED, anchor=ANCHOR)
        finally:
            await db.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
def shop_url(seeded_file: Path, tmp_path: Path) -> str:
    target = tmp_path / "shop.sqlite"
    shutil.copy(seeded_file, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def shop(shop_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    services = await Services.open(load_settings(db=shop_url, operator="tester"), clock=clock)
    try:
        yield services
    finally:
        await services.close()
