"""Real servers on 127.0.0.1 for the notification tests: an aiosmtpd SMTP server that keeps
what it receives, and an HTTP server (http.server in a thread) that keeps webhook posts.
Shared by tests/services/test_notif*.py and tests/cli/test_notify*.py; no tests here."""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.container import Services
from services.models import Order, Shipment, ShipmentLine
from services.orders import NewAddress, NewOrder
from services.seed import seed_database
from services.settings import Settings, load_settings
from services.uow import Clock, utcnow

ADDRESS = NewAddress(
    name="Ada Lovelace",
    line1="12 Analytical Way",
    city="London",
    postal_code="N1 9GU",
    country="GB",
)
SENDER = "orders@shop.example"
# The shop's own address: told of every new order (`new_order_staff`) besides the customer.
STAFF = "staff@shop.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    rcpt: list[str]
    mail_from: str
    peer: Any
    raw: bytes

    @functools.cached_property
    def message(self) -> EmailMessage:
        # Parsed on first look, not in the server thread: parsing there holds the GIL
        # while the worker under test is being timed.
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content()).replace("\r\n", "\n")  # wire CRLF, as written


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps every message; may refuse some recipients."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    refuse_data: dict[str, str] = field(default_factory=dict)  # recipient -> reply to DATA
    refused_data: int = 0  # messages refused at DATA (not kept)
    on_data: Callable[[Received], Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:  # e.g. content refused after the whole message
                with self.lock:
                    self.refused_data += 1
                return self.refuse_data[address]
        got = Received(list(envelope.rcpt_tos), envelope.mail_from, session.peer, envelope.content)
        with self.lock:
            self.messages.append(got)
        if self.on_data is not None:
            result = self.on_data(got)
            if hasattr(result, "__await__"):
                await result
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.messages]

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt]

    def customers(self) -> list[Received]:
        """What went to anyone but the staff address (the new-order notices)."""
        with self.lock:
            return [m for m in self.messages if STAFF not in m.rcpt]


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(
    port: int | None = None,
    inbox: Inbox | None = None,
    *,
    login: tuple[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
) -> Iterator[tuple[int, Inbox]]:
    """An SMTP server; with `tls`, STARTTLS is required (or, `implicit_tls`, TLS from the
    first byte), and a login is only accepted over TLS."""
    port = port or free_port()
    inbox = inbox or Inbox()
    kwargs: dict[str, Any] = {}
    if login is not None:
        # aiosmtpd cannot tell an implicit-TLS session is encrypted; STARTTLS it can.
        needs_tls = tls is not None and not implicit_tls
        kwargs.update(authenticator=_authenticator(*login), auth_require_tls=needs_tls)
    if tls is not None and implicit_tls:
        kwargs["ssl_context"] = tls
    elif tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def self_signed(directory: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 made with the openssl program (None without one)."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    """Answers each path with the next status of its script (the last one repeats)."""

    port: int
    script: dict[str, list[int]]
    posts: list[Hook] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Hook]:
        return [p for p in self.posts if p.path == path]


@contextmanager
def hook_server(script: dict[str, list[int]]) -> Iterator[HookServer]:
    state = HookServer(port=0, script={k: list(v) for k, v in script.items()})
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                state.posts.append(Hook(self.path, dict(self.headers.items()), body))
                codes = state.script.get(self.path, [404])
                code = codes.pop(0) if len(codes) > 1 else codes[0]
            payload = b"gone for good" if code == 410 else b"ok" if code < 300 else b"nope"
            self.send_response(code)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def notify_settings(db_url: str, smtp_port: int, **more: Any) -> Settings:
    base: dict[str, Any] = {
        "db": db_url,
        "operator": "tester",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_from": SENDER,
        "smtp_timeout": 5.0,
        "webhook_timeout": 5.0,
        "shop": {
            "name": "Tinker & Sons",
            "address": "1 Market Street, Springfield",
            "reply_to": "help@shop.example",
            "staff_email": STAFF,
            "logo_text": "TINKER",
        },
    }
    base.update(more)
    return load_settings(**base)


async def open_shop(settings: Settings, clock: Clock = utcnow, *, seed: bool = True) -> Services:
    services = await Services.open(settings, clock=clock)
    if seed:
        await seed_database(services.db, orders=0, seed=1, anchor=date(2026, 11, 20))
    return services


async def new_order(
    services: Services,
    *,
    email: str = "ada@example.org",
    name: str = "Ada Lovelace",
    lines: tuple[tuple[str, int], ...] = (("PL-10001", 2), ("PL-10003", 1)),
    notify: bool = False,
) -> int:
    detail = await services.orders.create(
        NewOrder(customer_name=name, email=email, shipping=ADDRESS, lines=lines), notify=notify
    )
    return detail.number


async def ship(
    services: Services,
    number: int,
    *,
    carrier: str = "ups",
    tracking: str = "1Z999AA10123456784",
    quantities: dict[str, int] | None = None,
    expected: date | None = None,
) -> None:
    """A shipment written straight through the ORM (what the shipping service records)."""
    async with services.db.write_session() as s, s.begin():
        order = (
            await s.execute(
                select(Order).where(Order.number == number).options(selectinload(Order.lines))
            )
        ).scalar_one()
        shipment = Shipment(
            order_id=order.id,
            carrier=carrier,
            tracking=tracking,
            shipped_at=services.orders.clock(),
            expected_delivery=expected,
        )
        s.add(shipment)
        for line in order.lines:
            qty = line.quantity - line.shipped
            if quantities is not None:
                qty = quantities.get(line.sku, 0)
            if qty:
                shipment.lines.append(ShipmentLine(order_line_id=line.id, quantity=qty))
                line.shipped += qty
