"""`packline claims list|next|take` through the real installed entry point: two packers get
different orders, a packer may not take over, a manager may."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from services.container import Services
from services.settings import load_settings
from tests.cli.test_cli import ok_json, packline
from tests.services.test_packing_support import order_to_pack, seed_shop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shop.sqlite")
    from tests.conftest import _pg_database

    return _pg_database(request.getfixturevalue("pg_template"))


def test_next_list_and_take(db: str, tmp_path: Path) -> None:
    config = tmp_path / "packline.toml"
    config.write_text('roles = { maria = "manager", sam = "packer", lee = "packer" }\n')

    async def make() -> list[int]:
        s = await Services.open(load_settings(db=db, operator="setup"))
        try:
            await seed_shop(s)
            return [await order_to_pack(s) for _ in range(2)]
        finally:
            await s.close()

    first, second = asyncio.run(make())

    def as_(who: str, *args: str) -> list[str]:
        return ["--config", str(config), "--operator", who, *args]

    sam = ok_json(*as_("sam", "claims", "next"), db=db)
    lee = ok_json(*as_("lee", "claims", "next"), db=db)
    assert (sam["order"], lee["order"]) == (first, second)
    listed = ok_json(*as_("lee", "claims", "list"), db=db)
    assert [(c["order"], c["operator"]) for c in listed] == [(first, "sam"), (second, "lee")]
    refused = packline(*as_("lee", "claims", "take", str(first)), db=db)
    assert refused.returncode == 1
    assert "needs the manager role" in refused.stderr and "maria" in refused.stderr
    nothing = packline(*as_("kim", "claims", "next", "--json"), db=db)
    assert nothing.returncode == 1
    assert json.loads(nothing.stdout) == {
        "error": "nothing to pack: no processing order is waiting unclaimed"
    }
    taken = packline(*as_("maria", "claims", "take", f"#{first}"), db=db)
    assert taken.returncode == 0, taken.stderr
    assert f"#{first} is yours to pack (taken over from sam)" in taken.stdout
    after = ok_json(*as_("sam", "claims", "list"), db=db)
    assert {c["operator"] for c in after} == {"maria", "lee"}
