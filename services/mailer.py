"""E-mail out: building a message that cannot be bent by what customers type, and one SMTP
connection reused for a batch.

Header values are flattened to one line before they are set (a name or subject holding
`\\r\\nBcc: x` stays one harmless header value), addresses go through
`email.headerregistry.Address`, and the envelope recipient is given to the server
explicitly, so no header can add a recipient. The Message-ID is fixed by the outbox row,
so a retry after a crash is the same message, not a second one.

Errors are sorted into permanent (the message goes dead at once: a 5xx for the recipient
or the content, an address the server cannot take) and transient (retried with backoff:
4xx, connection and timeout errors, a refused login). Their text never contains the SMTP
password. aiosmtplib is imported when a message is sent, not when the CLI starts.
"""

from __future__ import annotations

import contextlib
import email.policy
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from services.templating import RenderedEmail, one_line

if TYPE_CHECKING:
    import aiosmtplib

TlsMode = Literal["none", "starttls", "tls"]


class DeliveryError(Exception):
    """Delivery did not happen. `permanent`: retrying cannot help (the row goes dead).
    `server`: the server itself is unreachable, so the rest of the batch would fail alike."""

    def __init__(self, message: str, *, permanent: bool, server: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.server = server


class BadAddress(ValueError):
    """Not one deliverable e-mail address."""


def parse_address(raw: str, display_name: str = "") -> Address:
    """One `local@domain` address (a display name is kept apart); raises BadAddress."""
    text = raw.strip()
    if not text or any(c in text for c in "\r\n,;<>") or " " in text or "@" not in text:
        raise BadAddress(f"not an e-mail address: {one_line(raw)[:80]!r}")
    try:
        address = Address(display_name=one_line(display_name), addr_spec=text)
    except (ValueError, IndexError, TypeError) as exc:
        raise BadAddress(f"not an e-mail address: {one_line(raw)[:80]!r}") from exc
    if not address.username or not address.domain.strip("."):
        raise BadAddress(f"not an e-mail address: {one_line(raw)[:80]!r}")
    return address


def domain_of(address: str) -> str:
    _, _, domain = address.strip().rpartition("@")
    domain = domain.strip().strip(">").lower()
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else ""


def message_id(key: str, domain: str) -> str:
    """`<key@domain>`: the outbox row's idempotency key, so retries carry the same id."""
    safe = "".join(c for c in key if c.isalnum() or c in "-._") or "x"
    return f"<{safe}@{domain or 'packline'}>"


class _Headers(HeaderRegistry):
    """The stdlib builds a new class for every header it parses (a fifth of the time it
    takes to build a message); one class per header name is enough."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = email.policy.SMTP.clone(header_factory=_Headers())


@dataclass(frozen=True)
class Envelope:
    """Who a message is from, for and about; all of it goes through `build_message`."""

    sender: str
    sender_name: str
    recipient: str
    reply_to: str
    message_id: str
    date: datetime
    event: str


def build_message(env: Envelope, body: RenderedEmail) -> EmailMessage:
    """A multipart/alternative message (text first, HTML second) with safe headers."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = parse_address(env.sender, env.sender_name)
    msg["To"] = parse_address(env.recipient)
    if env.reply_to.strip():
        # A misconfigured reply-to must not stop the mail; From still works.
        with contextlib.suppress(BadAddress):
            msg["Reply-To"] = parse_address(env.reply_to)
    msg["Subject"] = one_line(body.subject)
    msg["Date"] = format_datetime(env.date)
    msg["Message-ID"] = env.message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
    msg["X-Packline-Event"] = one_line(env.event)
    msg.set_content(body.text, subtype="plain", charset="utf-8")
    msg.add_alternative(body.html, subtype="html", charset="utf-8")
    return msg


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode = "none"
    user: str = ""
    password: str = ""
    timeout: float = 30.0
    ca_file: str = ""  # verify the server against this CA bundle instead of the system's

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"SmtpConfig(host={self.host!r}, port={self.port}, tls={self.tls!r})"


class SmtpSession:
    """`async with SmtpSession(cfg) as smtp: await smtp.send(msg, ...)` — one connection,
    opened on the first send and reopened if the server drops it between messages."""

    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        import aiosmtplib

        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        import aiosmtplib

        if self._client is not None and self._client.is_connected:
            return self._client
        await self.close()
        cfg = self.cfg
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            use_tls=cfg.tls == "tls",
            start_tls=cfg.tls == "starttls",
            timeout=cfg.timeout,
            tls_context=self._tls_context() if cfg.tls != "none" else None,
        )
        try:
            await client.connect()
            if cfg.user:
                await client.login(cfg.user, cfg.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            # A refused login is the shop's configuration, not this message: retry later.
            raise DeliveryError(
                self._clean(f"SMTP login refused ({exc.code})"), permanent=False, server=True
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise DeliveryError(
                self._clean(f"cannot reach the mail server {cfg.host}:{cfg.port}: {_text(exc)}"),
                permanent=False,
                server=True,
            ) from None
        self._client = client
        return client

    def _tls_context(self) -> ssl.SSLContext:
        """Certificates are always verified; a shop with a private CA names its bundle."""
        try:
            return ssl.create_default_context(cafile=self.cfg.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"cannot read smtp_ca_file {self.cfg.ca_file}: {_text(exc)}",
                permanent=False,
                server=True,
            ) from None

    async def send(self, msg: EmailMessage, *, sender: str, recipient: str) -> str:
        """Send one message to exactly `recipient`; returns the server's reply text."""
        import aiosmtplib

        client = await self._connected()
        try:
            _errors, reply = await client.send_message(msg, sender=sender, recipients=[recipient])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            code = first.code if first else 0
            text = f"recipient refused: {code} {_text(first.message) if first else ''}".strip()
            raise DeliveryError(self._clean(text), permanent=500 <= code < 600) from None
        except aiosmtplib.SMTPSenderRefused as exc:
            # The sender address is the shop's configuration: retry, do not kill the mail.
            raise DeliveryError(
                self._clean(f"sender refused: {exc.code} {_text(exc.message)}"), permanent=False
            ) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise DeliveryError(
                self._clean(f"not supported: {_text(exc)}"), permanent=True
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                self._clean(f"{exc.code} {_text(exc.message)}"), permanent=500 <= exc.code < 600
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise DeliveryError(
                self._clean(f"mail server connection lost: {_text(exc)}"), permanent=False
            ) from None
        except ValueError as exc:  # aiosmtplib refuses an address it cannot encode
            raise DeliveryError(self._clean(f"cannot send: {_text(exc)}"), permanent=True) from None
        return reply

    def _clean(self, text: str) -> str:
        return redact(text, self.cfg.password)


def _text(exc: object) -> str:
    return one_line(str(exc))[:300] or type(exc).__name__


def redact(text: str, *secrets: str) -> str:
    """The text with every configured secret blanked out (errors end up in the database)."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "•••")
    return text
