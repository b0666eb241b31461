"""A throwaway OpenSSH server on 127.0.0.1 for tests that need real SSH or SFTP.

``start_sshd(workdir)`` writes a host key, a client key, an ``authorized_keys`` and an
``sshd_config`` into ``workdir`` and runs ``sshd -D -e -f CONFIG`` on a free port of
127.0.0.1 (retrying when a parallel worker takes the port first). It returns an
:class:`SshServer` with everything a client needs: ``host``, ``port``, ``user``,
``client_key`` (private key path, no passphrase) and ``known_hosts``. ``stop()`` ends it.

The server offers the ``internal-sftp`` subsystem (no external helper binary needed) and,
for console tests, a plain login shell, or a fixed ``force_command`` with ``set_env``
variables (``SetEnv`` in the config: sshd gives sessions a clean environment otherwise).

It logs in the account the tests run as: sshd started by an ordinary user can only
authenticate that user; started as root (containers, CI) it logs in root, which needs the
privilege-separation directory ``/run/sshd`` (created here when missing).

The ``sshd`` session fixture (``from tests.sshd import sshd`` in a test module) and
``running_sshd(...)`` skip with the reason when ``sshd`` is not installed, except in CI
(``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/usr/bin/sshd")
START_WAIT = 10.0  # seconds for sshd to answer with its banner
PORT_ATTEMPTS = 5
PRIVSEP_DIR = Path("/run/sshd")


class SshdUnavailable(RuntimeError):
    """sshd or ssh-keygen is not installed (or cannot run here)."""


@dataclass
class SshServer:
    """A running sshd; ``stop()`` (or the fixture) ends it."""

    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    workdir: Path
    config: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def client_options(self) -> list[str]:
        """``-o``/``-i`` options for the OpenSSH ``ssh``, ``scp`` and ``sftp`` clients."""
        return [
            "-i",
            str(self.client_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ]

    def ssh_command(self, *remote: str, tty: bool = False) -> list[str]:
        """argv for ``ssh`` into this server (``tty=True`` forces a terminal: ``-tt``)."""
        return [
            "ssh",
            *(["-tt"] if tty else []),
            "-p",
            str(self.port),
            *self.client_options,
            f"{self.user}@{self.host}",
            *remote,
        ]

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def find_sshd() -> str:
    """The absolute path of sshd (it refuses to re-exec from a relative one)."""
    for candidate in (shutil.which("sshd"), *SSHD_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise SshdUnavailable("sshd is not installed (apt-get install openssh-server)")


def _keygen(path: Path) -> str:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise SshdUnavailable("ssh-keygen is not installed (apt-get install openssh-client)")
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "packline-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    path.chmod(0o600)
    return path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quote(value: str) -> str:
    """sshd_config value quoting: double quotes around anything with spaces."""
    if any(ch in value for ch in ' \t"#'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _config_text(
    *,
    port: int,
    workdir: Path,
    user: str,
    force_command: str | None,
    set_env: Mapping[str, str],
    extra: tuple[str, ...],
) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {workdir / 'host_ed25519'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "PrintLastLog no",
        "MaxStartups 100",
    ]
    if set_env:
        lines.append("SetEnv " + " ".join(_quote(f"{k}={v}") for k, v in set_env.items()))
    lines.extend(extra)
    if force_command is not None:
        # Match blocks end the global section, so the ForceCommand goes last and applies to
        # sessions only (the sftp subsystem still works: internal-sftp is in-process).
        lines.append(f"ForceCommand {force_command}")
    return "\n".join(lines) + "\n"


def _wait_banner(proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    """True once the server sends its SSH banner; False if it exited (port taken?)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1) as conn,
        ):
            if conn.recv(4).startswith(b"SSH-"):
                return True
        time.sleep(0.05)
    return False


def start_sshd(
    workdir: Path,
    *,
    force_command: str | None = None,
    set_env: Mapping[str, str] | None = None,
    extra_config: tuple[str, ...] = (),
) -> SshServer:
    """Start sshd for the current account on a free 127.0.0.1 port; see the module doc."""
    sshd = find_sshd()
    workdir.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    host_pub = _keygen(workdir / "host_ed25519")
    client_pub = _keygen(workdir / "client_ed25519")
    (workdir / "authorized_keys").write_text(client_pub + "\n")
    log = workdir / "sshd.log"
    config = workdir / "sshd_config"
    errors: list[str] = []
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        config.write_text(
            _config_text(
                port=port,
                workdir=workdir,
                user=user,
                force_command=force_command,
                set_env=set_env or {},
                extra=extra_config,
            )
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if _wait_banner(proc, port, time.monotonic() + START_WAIT):
            known_hosts = workdir / "known_hosts"
            key_type, key_data = host_pub.split()[:2]
            known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
            return SshServer(
                host="127.0.0.1",
                port=port,
                user=user,
                client_key=workdir / "client_ed25519",
                known_hosts=known_hosts,
                workdir=workdir,
                config=config,
                log=log,
                process=proc,
            )
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        text = log.read_text(errors="replace")
        errors.append(text.strip()[-500:])
        if "Address already in use" not in text:
            break
    raise RuntimeError(f"sshd did not start: {' | '.join(errors)}")


@contextlib.contextmanager
def running_sshd(**options: object) -> Iterator[SshServer]:
    """``start_sshd`` in a fresh temporary directory, stopped and removed on exit.

    Skips the test when sshd is missing, unless ``CI=true`` (then it fails).
    """
    try:
        find_sshd()
    except SshdUnavailable as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))
    with tempfile.TemporaryDirectory(prefix="packline-sshd-") as tmp:
        server = start_sshd(Path(tmp), **options)  # type: ignore[arg-type]
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """A plain sshd for the session (login shell + SFTP). Import it into a test module."""
    with running_sshd() as server:
        yield server
