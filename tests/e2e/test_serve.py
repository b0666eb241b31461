"""`packline serve` through the real installed entry point: the page is served, its
websocket runs the console, and one memo typed over the websocket lands in the database.
The no-login warning is printed at start."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.tmux import PACKLINE, cli, isolated_env

pytestmark = pytest.mark.e2e
aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, int, subprocess.Popen[str]]]:
    if not PACKLINE.exists():
        pytest.skip(f"the packline console script is not installed at {PACKLINE}")
    env = isolated_env(tmp_path)
    env["PACKLINE_OPERATOR"] = "web-staff"
    db = tmp_path / "shop.sqlite"
    cli(env, db, "seed", "--orders", "20", "--anchor", "2026-11-20")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(str(PACKLINE), "--db", str(db), "serve"),
            *("--host", "127.0.0.1", "--port", str(port), "--json"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.communicate()[1][-2000:]
                raise AssertionError(f"serve did not start: {err}") from None
            time.sleep(0.1)
    try:
        yield env, db, port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Screen:
    """What the browser would draw, as text: every output packet, escapes stripped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.text = ""

    async def wait_for(self, wanted: str, limit: float = 40.0) -> None:
        deadline = time.monotonic() + limit
        while wanted not in self.text:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{wanted!r} never came; last output: {self.text[-800:]!r}")
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.text += ANSI.sub("", msg.data.decode("utf-8", "replace"))
            elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"the websocket closed; last output: {self.text[-800:]!r}")

    async def keys(self, data: str) -> None:
        await self.ws.send_json(["stdin", data])


async def test_page_and_one_memo_over_the_websocket(
    served: tuple[dict[str, str], Path, int, subprocess.Popen[str]],
) -> None:
    env, db, port, proc = served
    [order] = cli(env, db, "orders", "list", "--limit", "1", "--json")
    number = order["number"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200
            html = await page.text()
        assert f"ws://127.0.0.1:{port}/ws" in html
        async with http.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24") as ws:
            screen = Screen(ws)
            await screen.wait_for("sort date")
            await screen.keys(f"/{number}\r")
            await screen.wait_for(f"search {number}")
            await screen.keys("\r")
            await screen.wait_for(f"#{number}")
            await screen.keys("m")
            await screen.wait_for("Staff memo for")
            await screen.keys("typed in a browser")
            await screen.wait_for("typed in a browser")
            await screen.keys("\x13")  # ctrl+s
            await screen.wait_for(f"memo added to #{number}")
            await screen.keys("q")
            await asyncio.sleep(0.2)
    detail = cli(env, db, "orders", "show", str(number), "--json")
    last = detail["history"][-1]
    assert (last["actor"], last["memo"]) == ("web-staff", "typed in a browser")
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert "no login of its own" in err and "web-staff" in err
    said = json.loads(out.splitlines()[0])
    assert said["serving"] == f"http://127.0.0.1:{port}" and said["operator"] == "web-staff"
