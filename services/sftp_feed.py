"""Fetching vendor tracking files from an SFTP server (asyncssh).

The server's host key must match the feed's `known_hosts` file and we log in with a key,
never a password. Each file matching the feed's patterns is downloaded into memory (size
capped), handed to the importer, and, once imported cleanly, moved to the feed's
`processed_dir` on the server (or deleted when that is ""). A file with problems stays
where it is, so the next fetch reports them again until someone fixes it; re-importing
its good rows changes nothing.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncssh

from services.errors import Refused
from services.po_settings import SftpFeed

MAX_FILE_BYTES = 20 * 1024 * 1024

# name, content -> True when the file was imported cleanly (move it out of the way).
Handler = Callable[[str, bytes], Awaitable[bool]]


class FeedError(Refused):
    """The SFTP server cannot be reached, refused us, or a file cannot be read."""


@dataclass
class FetchLog:
    fetched: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def fetch(feed: SftpFeed, handle: Handler) -> FetchLog:
    """Download, import (through `handle`) and clear away the feed's files; see module doc."""
    log = FetchLog()
    where = f"SFTP feed {feed.name} ({feed.user}@{feed.host}:{feed.port})"
    try:
        async with (
            asyncssh.connect(
                feed.host,
                port=feed.port,
                username=feed.user,
                client_keys=[feed.key_file],
                known_hosts=feed.known_hosts,
                agent_path=None,
                password=None,
                connect_timeout=feed.timeout,
                login_timeout=feed.timeout,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await _fetch_all(feed, sftp, handle, log)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise FeedError(f"{where}: the server's host key is not in {feed.known_hosts}") from exc
    except asyncssh.PermissionDenied as exc:
        raise FeedError(f"{where}: login refused for key {feed.key_file}") from exc
    except (asyncssh.KeyImportError, asyncssh.KeyExportError) as exc:
        raise FeedError(f"{where}: cannot use key {feed.key_file}: {exc}") from exc
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        detail = getattr(exc, "reason", "") or getattr(exc, "strerror", "") or str(exc)
        raise FeedError(f"{where}: {detail or type(exc).__name__}") from exc
    return log


async def _fetch_all(
    feed: SftpFeed, sftp: asyncssh.SFTPClient, handle: Handler, log: FetchLog
) -> None:
    base = feed.remote_dir or "."
    names = sorted(
        n
        for n in await sftp.listdir(base)
        if not n.startswith(".")
        and any(fnmatch.fnmatch(n.lower(), p.lower()) for p in feed.patterns)
    )
    for name in names:
        path = posixpath.join(base, name)
        attrs = await sftp.stat(path)
        if attrs.type != asyncssh.FILEXFER_TYPE_REGULAR:
            continue
        if (attrs.size or 0) > MAX_FILE_BYTES:
            log.errors.append(f"{name}: larger than {MAX_FILE_BYTES} bytes; left on the server")
            log.left.append(name)
            continue
        async with sftp.open(path, "rb") as remote:
            data = await remote.read()
        assert isinstance(data, bytes)
        log.fetched.append(name)
        if not await handle(f"sftp:{feed.name}/{name}", data):
            log.left.append(name)
            continue
        try:
            if feed.processed_dir:
                target_dir = posixpath.join(base, feed.processed_dir)
                await sftp.makedirs(target_dir, exist_ok=True)
                target = posixpath.join(target_dir, name)
                if await sftp.exists(target):
                    await sftp.remove(target)
                await sftp.rename(path, target)
            else:
                await sftp.remove(path)
            log.moved.append(name)
        except (asyncssh.SFTPError, OSError) as exc:
            log.errors.append(f"{name}: imported, but could not be moved away: {exc}")
            log.left.append(name)
