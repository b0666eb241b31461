"""Pack claims with several packers: a manager takes over, a claim expires, and "next order
to pack" hands each packer a different order, also when separate processes ask at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from services.container import Services
from services.live import ChangeFeed
from services.models import AuditLog
from services.pack_errors import NothingToPack, PackClaimed
from services.roles import NotAllowed
from services.views import ScanOutcome
from tests.conftest import FixedClock
from tests.services.test_packing_support import (
    UPC_A,
    order_to_pack,
    other_services,
    packed,
    seed_shop,
)

ROLES = {"maria": "manager", "sam": "packer", "lee": "packer"}


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


async def test_a_manager_takes_over_and_the_packer_is_told(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop)
    async with (
        other_services(db_url, clock, operator="sam", roles=ROLES) as sam,
        other_services(db_url, clock, operator="lee", roles=ROLES) as lee,
        other_services(db_url, clock, operator="maria", roles=ROLES) as maria,
    ):
        mine = await sam.packing.start(number)
        assert (await sam.packing.scan(number, UPC_A, session_id=mine.session_id)).outcome is (
            ScanOutcome.ACCEPTED
        )
        with pytest.raises(PackClaimed, match="being packed by sam"):
            await lee.packing.start(number)
        with pytest.raises(NotAllowed, match=r"taking over .* needs the manager role.*maria"):
            await lee.packing.start(number, take_over=True)
        feed = ChangeFeed(sam.db)
        await feed.baseline()
        clock.advance(1)
        taken = await maria.packing.start(number, take_over=True)
        assert taken.took_over_from == "sam"
        assert taken.progress.units_packed == 1  # sam's scan stays packed
        # sam's console hears of it, and asks why its session ended
        stamp = (await feed.changes()).stamp(number)
        assert stamp is not None and stamp.updated_by == "maria"
        why = await sam.packing.session_ended(number, session_id=mine.session_id)
        assert why == f"order #{number} is now being packed by maria; this session ended"
        late = await sam.packing.scan(number, UPC_A, session_id=mine.session_id)
        assert late.outcome is ScanOutcome.REFUSED and "maria" in late.message
        assert (await packed(shop, number))["PL-10002"] == 1
        assert await maria.packing.session_ended(number, session_id=taken.session_id) is None
        async with shop.db.read_session() as s:
            audit = (
                await s.execute(select(AuditLog).where(AuditLog.action == "pack.take_over"))
            ).scalar_one()
        assert (audit.actor, audit.detail["took_over_from"]) == ("maria", "sam")
        assert [c.operator for c in await lee.packing.claims()] == ["maria"]


async def test_a_crashed_consoles_claim_expires(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop)
    async with (
        other_services(db_url, clock, operator="sam", roles=ROLES) as sam,
        other_services(db_url, clock, operator="lee", roles=ROLES) as lee,
    ):
        await sam.packing.start(number)  # ... and sam's terminal is closed
        with pytest.raises(PackClaimed):
            await lee.packing.start(number)
        clock.advance(sam.settings.pack_claim_minutes * 60 + 1)
        assert await lee.packing.claims() == ()
        view = await lee.packing.start(number)  # no role needed: the claim is dead
        assert view.took_over_from == "sam"


async def test_next_to_pack_gives_each_packer_a_different_order(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    first = await order_to_pack(shop)
    clock.advance(60)
    second = await order_to_pack(shop)
    clock.advance(60)
    await order_to_pack(shop, status=shop.workflow.statuses[0])  # new: not packable yet
    async with (
        other_services(db_url, clock, operator="sam") as sam,
        other_services(db_url, clock, operator="lee") as lee,
        other_services(db_url, clock, operator="kim") as kim,
    ):
        got_sam = await sam.packing.next_to_pack()
        got_lee = await lee.packing.next_to_pack()
        assert (got_sam.order_number, got_lee.order_number) == (first, second)
        again = await sam.packing.next_to_pack()  # sam's own claim comes back first
        assert (again.order_number, again.resumed) == (first, True)
        with pytest.raises(NothingToPack):
            await kim.packing.next_to_pack()
        await lee.packing.leave(second, session_id=got_lee.session_id)
        assert (await kim.packing.next_to_pack()).order_number == second


WORKER = textwrap.dedent("""
    import asyncio, json, os, sys, time
    from services.container import Services
    from services.errors import Refused
    from services.settings import load_settings

    url, barrier, who, parties = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    async def main():
        s = await Services.open(load_settings(db=url, operator=who))
        try:
            open(f"{barrier}.{who}", "w").close()
            while len([f for f in os.listdir(os.path.dirname(barrier))
                       if f.startswith(os.path.basename(barrier) + ".")]) < parties:
                time.sleep(0.001)
            try:
                print(json.dumps((await s.packing.next_to_pack()).order_number))
            except Refused as exc:
                print(json.dumps(str(exc)))
        finally:
            await s.close()

    asyncio.run(main())
""")


async def test_packers_asking_at_once_from_separate_processes(
    shop: Services, db_url: str, tmp_path: Path
) -> None:
    orders = {await order_to_pack(shop) for _ in range(3)}
    barrier = tmp_path / "go"
    names = [f"packer{i}" for i in range(5)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            db_url,
            str(barrier),
            who,
            str(len(names)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for who in names
    ]
    outs = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
    got = [json.loads(out.decode().strip().splitlines()[-1]) for out, _err in outs]
    numbers = [g for g in got if isinstance(g, int)]
    assert sorted(numbers) == sorted(orders)  # every order once, to one packer each
    assert [g for g in got if isinstance(g, str)] == ["nothing to pack: " + NOTHING] * 2


NOTHING = "no processing order is waiting unclaimed"
