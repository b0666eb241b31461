"""Vendor tracking files fetched over SFTP from a real OpenSSH server on 127.0.0.1
(tests/sshd.py): imported files move to processed/, a file with problems stays, a host
key we do not know is refused."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.container import Services
from tests.conftest import FixedClock
from tests.services.test_purchasing_support import ACME_ONLY, new_order, open_shop, tracking
from tests.sshd import SshServer, sshd  # noqa: F401 - the session fixture

pytestmark = pytest.mark.usefixtures("sshd")


@pytest.fixture
def remote_dir(sshd: SshServer) -> Iterator[Path]:  # noqa: F811
    """A directory the SFTP user (the account running the tests) can read and write."""
    with tempfile.TemporaryDirectory(prefix="vendor-feed-") as tmp:
        yield Path(tmp)


def _feed(server: SshServer, remote: Path, **more: Any) -> dict[str, Any]:
    return {
        "name": "acme",
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "key_file": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "remote_dir": str(remote),
        "timeout": 10.0,
        **more,
    }


@pytest.fixture
async def shop(
    sqlite_url: str,
    clock: FixedClock,
    tmp_path: Path,
    sshd: SshServer,  # noqa: F811
    remote_dir: Path,
) -> AsyncIterator[Services]:
    services = await open_shop(
        sqlite_url, clock, tmp_path, purchasing={"sftp": [_feed(sshd, remote_dir)]}
    )
    try:
        yield services
    finally:
        await services.close()


async def test_fetch_imports_and_moves_files_away(shop: Services, remote_dir: Path) -> None:
    n = await new_order(shop, ((ACME_ONLY, 1),))
    (po,) = (await shop.purchasing.create(n, send=True)).purchase_orders
    number = tracking("ups", 21)
    (remote_dir / "acme-20261120.csv").write_text(
        f"po,tracking,carrier\n{po.number},{number},ups\n"
    )
    (remote_dir / "bad.csv").write_text(f"po,tracking\nPO1,{tracking('ups', 22)}\n")
    (remote_dir / "notes.txt").write_text("not a feed file")
    report = await shop.purchasing.fetch()
    assert [(s.po, s.tracking, s.new) for s in report.shipments] == [(po.number, number, True)]
    assert [(p.source, p.line, p.message) for p in report.problems] == [
        ("sftp:acme/bad.csv", 2, "unknown PO 'PO1'")
    ]
    assert sorted(os.listdir(remote_dir)) == ["bad.csv", "notes.txt", "processed"]
    assert os.listdir(remote_dir / "processed") == ["acme-20261120.csv"]
    assert (await shop.orders.show(n)).row.status.value == "shipped"
    # Fetching again: the bad file is reported again, nothing else happens.
    again = await shop.purchasing.fetch("ACME")
    assert again.shipments == () and len(again.problems) == 1


async def test_unknown_host_key_is_refused(
    shop: Services,
    sshd: SshServer,  # noqa: F811
    remote_dir: Path,
    tmp_path: Path,
) -> None:
    (remote_dir / "a.csv").write_text("po,tracking\nPO1,1Z999AA10123456784\n")
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIEnYqgzGJ9Q3rIEj4Pj0M0NUBn8Sp0tGvCgbyHkmE0mG\n"
    )
    shop.settings.purchasing.sftp[0].known_hosts = str(other)
    report = await shop.purchasing.fetch()
    (problem,) = report.problems
    assert problem.source == "sftp:acme"
    assert "host key" in problem.message or "Host key" in problem.message
    assert (remote_dir / "a.csv").exists()  # nothing was taken


async def test_openssh_client_reaches_the_fixture(sshd: SshServer) -> None:  # noqa: F811
    """The fixture is a plain sshd other tests can log in to (here with OpenSSH's ssh)."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        *sshd.ssh_command("echo", "ready"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert out.decode().strip() == "ready", (err, sshd.log_text())


async def test_a_broken_feed_is_reported_and_the_others_still_run(
    shop: Services,
    sshd: SshServer,  # noqa: F811
    remote_dir: Path,
    tmp_path: Path,
) -> None:
    n = await new_order(shop, ((ACME_ONLY, 1),))
    (po,) = (await shop.purchasing.create(n, send=True)).purchase_orders
    (remote_dir / "a.csv").write_text(f"po,tracking\n{po.number},{tracking('ups', 23)}\n")
    garbage = tmp_path / "not_a_key"
    garbage.write_text("this is not a private key\n")
    feeds = shop.settings.purchasing.sftp
    broken = feeds[0].model_copy(update={"name": "broken", "key_file": str(garbage)})
    closed = feeds[0].model_copy(update={"name": "closed", "port": 1})
    shop.settings.purchasing.sftp = [broken, closed, feeds[0]]
    report = await shop.purchasing.fetch()
    assert [p.source for p in report.problems] == ["sftp:broken", "sftp:closed"]
    assert "cannot use key" in report.problems[0].message
    assert report.created == 1
