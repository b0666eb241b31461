"""Throwaway PostgreSQL clusters for the test session.

``start_cluster()`` runs ``initdb`` and ``pg_ctl start`` in a fresh directory under
``tempfile.gettempdir()`` (one per process, so every pytest-xdist worker may start its own)
and returns a :class:`PgCluster` whose ``url`` is ready for ``create_async_engine``.

PostgreSQL refuses to run as root. When the tests run as root (containers, CI), the server
commands run as an unprivileged account instead: ``postgres`` if it exists, else ``nobody``,
else one created with ``useradd --system --no-create-home packline-pg``. The switch is done by
``subprocess`` itself (``user=``/``group=``/``extra_groups=[]``, applied in the forked child
just before ``exec``): no ``preexec_fn`` (unsafe with threads, which xdist/execnet have), no
dependency on ``runuser``/``su`` being installed, no shell quoting and no login shell, so it
also works for accounts whose shell is ``nologin``.

Every directory the server touches (cluster root, data dir, socket dir, log file) is owned by
that account, and every command run here has a timeout.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_URL = "PACKLINE_TEST_POSTGRES_URL"
DB_SUPERUSER = "packline"
OS_USER_CANDIDATES = ("postgres", "nobody")
CREATED_OS_USER = "packline-pg"

CMD_TIMEOUT = 60.0  # seconds, any single helper command
START_WAIT = 30  # seconds pg_ctl waits for the server to accept connections (-t)
STOP_WAIT = 10  # seconds pg_ctl waits for the server to go away on stop
PORT_ATTEMPTS = 3  # the free port we picked can be taken by a parallel worker

_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=200"
)
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PORT_IN_USE_MARKERS = ("Address already in use", "could not create any TCP/IP sockets")
# sun_path is 108 bytes on Linux (104 on macOS); leave room for "/.s.PGSQL.65535.lock".
_MAX_SOCKDIR_LEN = 80


# --------------------------------------------------------------------------- os accounts


@dataclass(frozen=True)
class OsUser:
    """The operating-system account the server processes run as."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


def _current_os_user() -> OsUser:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:  # arbitrary uid without a passwd entry
        name = str(uid)
    return OsUser(name, uid, os.getegid())


def _lookup_unprivileged(name: str) -> OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        return None
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _create_os_user(name: str) -> OsUser:
    commands: list[list[str]] = []
    if useradd := shutil.which("useradd"):
        commands.append([useradd, "--system", "--no-create-home", name])
    if adduser := shutil.which("adduser"):  # busybox / Alpine
        commands.append([adduser, "-S", "-D", "-H", name])
    errors: list[str] = []
    for cmd in commands:
        for _ in range(3):  # parallel workers may race on /etc/passwd's lock
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=CMD_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                errors.append(f"{shlex.join(cmd)}: {exc}")
                break
            # Whether we created it or another worker beat us to it, it now exists.
            if found := _lookup_unprivileged(name):
                return found
            errors.append(f"{shlex.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    detail = "; ".join(errors) or "neither useradd nor adduser is available"
    raise RuntimeError(f"cannot create an unprivileged account {name!r} for PostgreSQL: {detail}")


_os_user_lock = threading.Lock()


@functools.cache
def _server_os_user_cached() -> OsUser:
    if os.geteuid() != 0:
        return _current_os_user()
    for name in OS_USER_CANDIDATES:
        if found := _lookup_unprivileged(name):
            return found
    return _create_os_user(CREATED_OS_USER)


def server_os_user() -> OsUser:
    """The account initdb/pg_ctl run as: ourselves, or an unprivileged one when we are root."""
    with _os_user_lock:
        return _server_os_user_cached()


def _traversable(path: Path, user: OsUser) -> bool:
    """Can ``user`` (primary group only: supplementary groups are dropped) reach ``path``?"""
    if user.uid == 0:
        return True
    for part in (path, *path.parents):
        try:
            st = part.stat()
        except OSError:
            return False
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _give_to(path: Path, user: OsUser) -> None:
    if not user.is_current:
        os.chown(path, user.uid, user.gid)


# --------------------------------------------------------------------------- commands


def _clean_env(home: Path, user: OsUser) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(HOME=str(home), USER=user.name, LOGNAME=user.name, LC_ALL="C")
    return env


def _run(
    cmd: Sequence[str | Path],
    *,
    user: OsUser,
    cwd: Path,
    timeout: float = CMD_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` as ``user`` (dropping root if needed), no stdin, output captured."""
    argv = [str(part) for part in cmd]
    switch = not user.is_current
    try:
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=_clean_env(cwd, user),
            timeout=timeout,
            check=False,
            user=user.uid if switch else None,
            group=user.gid if switch else None,
            extra_groups=[] if switch else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"timed out after {timeout:g}s: {shlex.join(argv)}") from exc
    except OSError as exc:
        raise RuntimeError(f"cannot run {shlex.join(argv)}: {exc}") from exc


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(s.strip() for s in (proc.stdout, proc.stderr) if s and s.strip())


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no server log: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<server log is empty>"


# --------------------------------------------------------------------------- binaries


def _is_executable(path: Path) -> bool:
    # os.path.isfile swallows PermissionError (Path.is_file does not, e.g. /root/... on PATH)
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _has_tools(directory: Path) -> bool:
    return all(_is_executable(directory / tool) for tool in ("initdb", "pg_ctl"))


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(n) for n in re.findall(r"\d+", version)) or (0,)


def find_pg_bin() -> Path | None:
    """Directory holding both ``initdb`` and ``pg_ctl``.

    PATH first, then ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu, highest version wins),
    then ``/usr/pgsql-*/bin`` (RHEL/Fedora PGDG packages).
    """
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry and _has_tools(Path(entry)):
            return Path(entry)
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        for candidate in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _has_tools(Path(candidate)):
                return Path(candidate)
    return None


def _tool_dirs(bindir: Path) -> list[Path]:
    """``bindir`` plus where its pg_ctl really lives (PATH may only hold symlinks)."""
    real = (bindir / "pg_ctl").resolve().parent
    return [bindir] if real == bindir else [bindir, real]


def _find_tool(bindir: Path, name: str) -> Path | None:
    for directory in _tool_dirs(bindir):
        tool = directory / name
        if _is_executable(tool):
            return tool
    return None


@functools.cache
def _initdb_supports(initdb: Path, flag: str) -> bool:
    try:
        proc = subprocess.run(
            [str(initdb), "--help"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CMD_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in proc.stdout


# --------------------------------------------------------------------------- the cluster


def _asyncpg_url(database: str, port: int, user: str = DB_SUPERUSER) -> str:
    return f"postgresql+asyncpg://{user}@127.0.0.1:{port}/{database}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(eq=False)
class PgCluster:
    """A running throwaway cluster; ``user`` is the database superuser (``packline``)."""

    datadir: Path
    port: int
    user: str
    url: str
    os_user: OsUser = field(default_factory=_current_os_user)
    bindir: Path | None = None
    sockdir: Path | None = None
    logfile: Path | None = None
    cleanup: list[Path] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, init=False, repr=False)

    @property
    def workdir(self) -> Path:
        return self.datadir.parent

    def url_for(self, database: str) -> str:
        return _asyncpg_url(database, self.port, self.user)

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` (createdb, else psql, else asyncpg); returns its URL."""
        if not _DB_NAME_RE.match(name):
            raise ValueError(f"unsupported database name {name!r}")
        conn = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        bindir = self.bindir or find_pg_bin()
        createdb = _find_tool(bindir, "createdb") if bindir else None
        psql = _find_tool(bindir, "psql") if bindir else None
        if createdb:
            cmd: list[str | Path] | None = [createdb, *conn, "--", name]
        elif psql:
            sql = f'CREATE DATABASE "{name}"'
            cmd = [psql, "-X", "-v", "ON_ERROR_STOP=1", *conn, "-d", "postgres", "-c", sql]
        else:
            cmd = None
        if cmd is not None:
            proc = _run(cmd, user=self.os_user, cwd=self.workdir, timeout=CMD_TIMEOUT)
            if proc.returncode != 0:
                raise RuntimeError(f"creating database {name!r} failed: {_output(proc)}")
        else:
            self._create_database_asyncpg(name)
        return self.url_for(name)

    def _create_database_asyncpg(self, name: str) -> None:
        import asyncpg  # type: ignore[import-untyped]  # only without createdb/psql

        async def create() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=self.port,
                user=self.user,
                database="postgres",
                timeout=CMD_TIMEOUT,
            )
            try:
                await conn.execute(f'CREATE DATABASE "{name}"', timeout=CMD_TIMEOUT)
            finally:
                await conn.close(timeout=CMD_TIMEOUT)

        # A private thread, so this also works when called from inside a running event loop.
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(create())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name="pgcluster-createdb", daemon=True)
        thread.start()
        thread.join(CMD_TIMEOUT + 5)
        if thread.is_alive():
            raise RuntimeError(f"creating database {name!r} timed out")
        if errors:
            raise RuntimeError(f"creating database {name!r} failed: {errors[0]}") from errors[0]

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``, then remove the cluster's directories. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            self._stop_server()
        finally:
            for path in self.cleanup:
                shutil.rmtree(path, ignore_errors=True)

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:  # not in a forked child that inherited the hook
            self.stop()

    def _stop_server(self) -> None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return
        bindir = self.bindir or find_pg_bin()
        if bindir is not None:
            cmd: list[str | Path] = [bindir / "pg_ctl", "-D", self.datadir, "-m", "immediate"]
            with contextlib.suppress(RuntimeError):
                _run(
                    [*cmd, "-w", "-t", str(STOP_WAIT), "stop"],
                    user=self.os_user,
                    cwd=self.workdir,
                    timeout=STOP_WAIT + 10,
                )
        if pidfile.exists():
            _kill_postmaster(pidfile)


def _kill_postmaster(pidfile: Path) -> None:
    """Last resort when pg_ctl could not stop it: SIGKILL the postmaster named in the pidfile."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if b"postgres" in cmdline:  # don't shoot a recycled pid
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _pick_base(base: Path | None, user: OsUser) -> Path:
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
        if not _traversable(base, user):
            raise RuntimeError(
                f"{base} (or one of its parents) is not traversable by {user.name!r}, "
                "which the PostgreSQL server runs as"
            )
        return base
    candidates = [tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"]
    for candidate in dict.fromkeys(candidates):
        path = Path(candidate)
        if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK) and _traversable(path, user):
            return path
    raise RuntimeError(f"no temporary directory traversable by {user.name!r}: {candidates}")


def start_cluster(base: Path | None = None) -> PgCluster:
    """initdb + start a throwaway cluster under ``base`` (default: the temp dir).

    Raises RuntimeError (with the initdb output or the server log tail) on failure.
    """
    bindir = find_pg_bin()
    if bindir is None:
        raise RuntimeError("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
    user = server_os_user()
    parent = _pick_base(base, user)

    workdir = Path(tempfile.mkdtemp(prefix="packline-pg-", dir=parent))
    cleanup = [workdir]
    try:
        _give_to(workdir, user)
        datadir = workdir / "data"
        logfile = workdir / "server.log"
        logfile.touch()
        _give_to(logfile, user)
        sockdir = workdir / "sock"
        if len(str(sockdir)) > _MAX_SOCKDIR_LEN:  # a long TMPDIR would overflow sun_path
            sockdir = Path(tempfile.mkdtemp(prefix="pkpg-", dir="/tmp"))
            cleanup.append(sockdir)
        else:
            sockdir.mkdir(mode=0o700)
        _give_to(sockdir, user)

        initdb = bindir / "initdb"
        cmd: list[str | Path] = [initdb, "-D", datadir, "-U", DB_SUPERUSER, "--auth=trust"]
        cmd += ["--encoding=UTF8", "--locale=C", "--no-sync"]
        if _initdb_supports(initdb, "--no-instructions"):
            cmd.append("--no-instructions")
        proc = _run(cmd, user=user, cwd=workdir)
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {proc.returncode}):\n{_output(proc)}")

        port = _start_server(bindir, datadir, sockdir, logfile, user, workdir)
    except BaseException:
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise

    cluster = PgCluster(
        datadir=datadir,
        port=port,
        user=DB_SUPERUSER,
        url=_asyncpg_url("postgres", port),
        os_user=user,
        bindir=bindir,
        sockdir=sockdir,
        logfile=logfile,
        cleanup=cleanup,
    )
    atexit.register(cluster._stop_at_exit)
    return cluster


def _start_server(
    bindir: Path, datadir: Path, sockdir: Path, logfile: Path, user: OsUser, workdir: Path
) -> int:
    """pg_ctl start on a free port, retrying if a parallel worker grabbed the port first."""
    failure = ""
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        log_offset = logfile.stat().st_size
        options = f"-p {port} -k {shlex.quote(str(sockdir))} {_SERVER_OPTIONS}"
        cmd: list[str | Path] = [bindir / "pg_ctl", "-D", datadir, "-l", logfile, "-o", options]
        proc = _run(
            [*cmd, "-w", "-t", str(START_WAIT), "start"],
            user=user,
            cwd=workdir,
            timeout=START_WAIT + 15,
        )
        if proc.returncode == 0:
            return port
        with contextlib.suppress(OSError):
            new_log = logfile.read_bytes()[log_offset:].decode(errors="replace")
            if any(marker in new_log for marker in _PORT_IN_USE_MARKERS):
                continue
        failure = _output(proc)
        break
    else:
        failure = f"no free port after {PORT_ATTEMPTS} attempts"
    if (datadir / "postmaster.pid").exists():  # -w gave up but the server may still come up
        _kill_postmaster(datadir / "postmaster.pid")
    raise RuntimeError(
        f"PostgreSQL failed to start ({failure}).\nserver log ({logfile}):\n{_tail(logfile)}"
    )


# --------------------------------------------------------------------------- session entry


def _normalise_env_url(url: str) -> str:
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+asyncpg://" + url[len(scheme) :]
    return url


def postgres_url_or_skip_reason() -> tuple[str | None, str]:
    """Where the session's PostgreSQL comes from; starts nothing itself.

    * ``(url, "")`` when ``PACKLINE_TEST_POSTGRES_URL`` is set (it wins; a plain
      ``postgresql://`` URL gets the asyncpg driver);
    * ``(None, "")`` when initdb/pg_ctl were found: call :func:`start_cluster`;
    * ``(None, reason)`` when neither is available: skip (or fail, in CI) with ``reason``.
    """
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        return _normalise_env_url(env_url), ""
    if find_pg_bin() is None:
        return None, (
            f"no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin and ${ENV_URL} is not set"
        )
    return None, ""
