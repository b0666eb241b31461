"""Whatever a scanner or a cat on the keyboard sends, a scan answers with a result: never an
exception, and a refused scan never changes what is packed (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.barcodes import GS
from services.container import Services
from services.settings import load_settings
from services.views import ScanOutcome, ScanResult
from tests.conftest import FixedClock
from tests.services.test_packing_support import (
    SERIAL_UPC,
    UPC_A,
    journal,
    order_to_pack,
    packed,
    seed_shop,
)

T = TypeVar("T")


@dataclass
class Bench:
    loop: asyncio.AbstractEventLoop
    services: Services
    number: int
    session_id: int

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


@pytest.fixture
def bench(db_url: str, clock: FixedClock) -> Iterator[Bench]:
    """Hypothesis drives a sync test; the services live on one loop for all its examples."""
    loop = asyncio.new_event_loop()
    services = loop.run_until_complete(
        Services.open(load_settings(db=db_url, operator="fuzz", scan_gs_standin="~"), clock=clock)
    )

    async def setup() -> tuple[int, int]:
        await seed_shop(services)
        number = await order_to_pack(services, (("PL-10002", 3), ("PL-10000", 2)))
        return number, (await services.packing.start(number)).session_id

    try:
        number, sid = loop.run_until_complete(setup())
        yield Bench(loop, services, number, sid)
    finally:
        loop.run_until_complete(services.close())
        loop.close()


near_codes = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789", min_size=7, max_size=15),
    st.builds(lambda q, c: f"{q}*{c}", st.integers(-3, 20000), st.sampled_from([UPC_A, "x", ""])),
    st.builds(
        lambda body, tail: "]C1" + body + tail,
        st.text(alphabet="0123456789()~" + GS, max_size=40),
        st.text(max_size=10),
    ),
    st.sampled_from(["PL:NEXT", "PL:UNDO", "PL:VALIDATE", "#0", "#", "PL:ORDER:", "5*"]),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=near_codes)
@example(raw="\x00" * 400)
@example(raw="\ud800")
@example(raw="]C101" + SERIAL_UPC.zfill(14) + "21" + "\x1b[31m")
@example(raw=SERIAL_UPC)  # a serial is then awaited: the next examples are serials
@example(raw="\u202e" + UPC_A)
def test_arbitrary_text_is_answered_never_raised(bench: Bench, raw: str) -> None:
    before = bench.run(packed(bench.services, bench.number))
    result = bench.run(bench.services.packing.scan(bench.number, raw, session_id=bench.session_id))
    assert isinstance(result, ScanResult)
    assert result.message and result.message.isprintable()
    assert result.code.isprintable()
    after = bench.run(packed(bench.services, bench.number))
    if result.outcome is ScanOutcome.REFUSED:
        assert after == before, (raw, result.message)
    assert sum(after.values()) - sum(before.values()) == result.counted
    assert bench.run(journal(bench.services, bench.number))[-1].message == result.message
