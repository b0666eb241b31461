"""Webhooks out: one JSON POST per outbox row to a configured URL, signed like Stripe's.

What a receiver gets:

- body: the row's payload as JSON (UTF-8, keys sorted) with `"id"` set to the delivery id;
  it is byte-for-byte the same on every retry.
- `Content-Type: application/json`
- `Packline-Delivery: <id>` — the outbox row's idempotency key; a retry after a crash
  carries the same id, so receivers de-duplicate on it.
- `Packline-Event: <event>` — e.g. `order.status_changed`, `order.created`.
- `Packline-Timestamp: <unix seconds>` — when this attempt was signed.
- `Packline-Signature: t=<unix seconds>,v1=<hex>` — HMAC-SHA256, keyed with the shop's
  `webhook_secret`, over `"<t>." + body`. Sent only when a secret is configured.
  Verify with `verify_signature` (or the same three lines in any language) and reject
  timestamps older than a few minutes to stop replays.

Outcomes: 2xx is delivered; 410 Gone means "stop sending to me" (dead at once); any other
4xx is a permanent refusal (dead, with the status and the start of the body recorded),
except 408 and 429, which ask us to come back later; 5xx, timeouts and connection errors
are retried with backoff. Redirects are not followed (a signed body must not wander).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from services.mailer import DeliveryError, redact
from services.templating import one_line

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "Packline-Signature"
TIMESTAMP_HEADER = "Packline-Timestamp"
DELIVERY_HEADER = "Packline-Delivery"
EVENT_HEADER = "Packline-Event"
RETRY_LATER = frozenset({408, 425, 429})


def body_of(payload: dict[str, Any], delivery_id: str) -> bytes:
    return json.dumps(
        {**payload, "id": delivery_id}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Packline-Signature` value for this body at this time."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """True when `header` signs `body` with `secret` and is no older than `tolerance` s."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).partition("v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def safe_url(url: str) -> str:
    """The URL for showing and logging: user:password@ is dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def check_url(url: str) -> str:
    """An http(s) URL with a host, or ValueError."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"not a webhook URL: {one_line(url)[:80]!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or one_line(text) != text:
        raise ValueError(f"not a webhook URL (http:// or https://): {one_line(url)[:80]!r}")
    return text


@dataclass(frozen=True)
class WebhookConfig:
    secret: str = ""
    timeout: float = 10.0
    user_agent: str = "packline-webhooks/1"

    def __repr__(self) -> str:
        return f"WebhookConfig(signed={bool(self.secret)}, timeout={self.timeout})"


class WebhookSender:
    """`async with WebhookSender(cfg) as hooks: await hooks.post(...)`: one pooled client."""

    def __init__(self, cfg: WebhookConfig) -> None:
        import httpx  # here, not at the top: CLI commands that send nothing start faster

        self.cfg = cfg
        self.client: httpx.AsyncClient = httpx.AsyncClient(
            timeout=cfg.timeout, follow_redirects=False, headers={"User-Agent": cfg.user_agent}
        )

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def post(self, url: str, *, event: str, delivery_id: str, payload: dict[str, Any]) -> int:
        """POST one delivery; returns the 2xx status or raises DeliveryError."""
        import httpx

        body = body_of(payload, delivery_id)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: one_line(event),
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self.cfg.secret:
            headers[SIGNATURE_HEADER] = sign(self.cfg.secret, timestamp, body)
        shown = safe_url(url)
        url_password = urlsplit(url).password or ""
        try:
            response = await self.client.post(check_url(url), content=body, headers=headers)
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        except httpx.TimeoutException:
            raise DeliveryError(f"{shown}: timed out", permanent=False, server=True) from None
        except httpx.HTTPError as exc:
            text = one_line(str(exc))[:200] or type(exc).__name__
            raise DeliveryError(
                self._clean(f"{shown}: {text}", url_password), permanent=False, server=True
            ) from None
        code = response.status_code
        if 200 <= code < 300:
            return code
        detail = one_line(response.text)[:200]
        message = self._clean(
            f"{shown}: HTTP {code}" + (f": {detail}" if detail else ""), url_password
        )
        if code == 410:
            raise DeliveryError(message + " (the receiver asked us to stop)", permanent=True)
        if code in RETRY_LATER or code >= 500:
            raise DeliveryError(message, permanent=False)
        raise DeliveryError(message, permanent=True)  # other 4xx, and 3xx: not followed

    def _clean(self, text: str, *more: str) -> str:
        return redact(text, self.cfg.secret, *more)
