"""`packline serve --host 127.0.0.1 --port N`: the console in a browser, through textual-serve.

Each browser tab gets its own console process (the same program as in a terminal, with
Textual's web driver), on the same database, as the operator this command runs as.

It has NO LOGIN OF ITS OWN: anyone who can reach the port can work as that operator. It
belongs on 127.0.0.1 behind a reverse proxy that authenticates (and terminates TLS); the
warning is printed every time it starts, louder for any other address. Use one `serve`
per operator (each on its own port, behind the proxy's per-user routing) when the audit
log must tell them apart.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import sys
from typing import TYPE_CHECKING

import click

from screens.untrusted import visible

if TYPE_CHECKING:
    from console.cli import Context

WARNING = (
    "packline serve has no login of its own: anyone who can open {url} works as "
    "operator {operator!r}. Keep it on 127.0.0.1 behind a reverse proxy that "
    "authenticates (and serves TLS); see docs/deploy.md."
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def console_command(ctx: Context) -> list[str]:
    """argv of the console each browser session runs: this interpreter, these settings."""
    argv = [sys.executable, "-m", "console.cli"]
    if ctx.db:
        argv += ["--db", ctx.db]
    if ctx.config:
        argv += ["--config", ctx.config]
    if ctx.operator:
        argv += ["--operator", ctx.operator]
    return argv


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--public-url",
    default=None,
    help="The URL browsers use (behind a proxy: https://packline.example.com).",
)
@click.option("--json", "as_json", is_flag=True, help="Say where it serves as one JSON line.")
@click.pass_obj
def serve_cmd(ctx: Context, host: str, port: int, public_url: str | None, as_json: bool) -> None:
    """Serve the console to browsers (textual-serve). No login: put it behind a proxy."""
    from console.cli import fail

    try:
        from textual_serve.server import Server
    except ImportError:
        fail("packline serve needs textual-serve: pip install 'packline[web]'", as_json=as_json)
    settings = ctx.settings()
    url = public_url or f"http://{host}:{port}"
    warning = WARNING.format(url=url, operator=settings.operator)
    click.echo(f"WARNING: {visible(warning)}", err=True)
    if as_json:
        click.echo(json.dumps({"serving": url, "operator": settings.operator, "warning": warning}))
    if not _loopback(host):
        click.echo(
            f"WARNING: listening on {visible(host)}, not loopback: every machine that can "
            "reach this port can use Packline without a login.",
            err=True,
        )
    server = Server(
        shlex.join(console_command(ctx)),
        host=host,
        port=port,
        title="Packline",
        public_url=public_url,
    )
    server.serve()
