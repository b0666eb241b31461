"""Payment gateways: one small interface, three implementations (`none`, `manual`, `http`).

Every operation answers with an `Outcome`:

- `approved` — the money moved (`ref` is the gateway's id for it);
- `declined` — the gateway said no, with its reason (a card declined, a refund too old);
- `error` — the request never took effect: it could not be sent, or the gateway refused
  the request itself (a bad key, a malformed amount). Trying again is a new attempt;
- `unknown` — we cannot tell: a timeout, a dropped connection, a 5xx, an answer we
  cannot read. The money may or may not have moved; the operator checks the gateway,
  and a retry sends the *same* idempotency key, so it can never move the money twice.

The HTTP gateway speaks this JSON API (a small REST shape most card gateways can be
adapted to with a thin proxy). `PACKLINE_PAYMENT_URL` is its base URL; every request is
a POST with

    Authorization: Bearer <PACKLINE_PAYMENT_KEY>
    Idempotency-Key: <key>          the same key for a retry of the same operation;
                                    the gateway answers a repeated key with the first
                                    result and does not perform the operation again
    Content-Type: application/json

    POST /charges         {"amount": 1250, "currency": "USD", "order": "1042"}
    POST /authorizations  {"amount": 1250, "currency": "USD", "order": "1042"}
    POST /captures        {"authorization": "<id>", "amount": 1250, "currency": "USD",
                           "order": "1042"}
    POST /voids           {"payment": "<id>", "amount": 1250, "currency": "USD",
                           "order": "1042"}
    POST /refunds         {"charge": "<id>", "amount": 500, "currency": "USD",
                           "order": "1042", "reason": "damaged box"}

Amounts are integer minor units (cents). Answers:

    200/201/402  {"status": "approved", "id": "ch_123"}
                 {"status": "declined", "id": "ch_124", "reason": "insufficient funds"}
    409          a request with this key is still being processed      -> unknown
    other 4xx    {"error": "invalid API key"}                          -> error
    5xx          the gateway failed somewhere; it may have acted       -> unknown

A 5xx is `unknown`, not `error`, on purpose: card gateways (Stripe among them) document
a 500 as indeterminate, and treating it as "nothing happened" invites a double charge.
Redirects are not followed. Plain `http://` is accepted only for a loopback host: the
API key must not cross a network in clear text. `PACKLINE_PAYMENT_TIMEOUT` (seconds) bounds
the wait for an answer; connecting may take at most the same (10 s at most, and nothing is
sent until it has connected: `error`), and the whole exchange the two together.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from services.errors import Refused

REASON_LIMIT = 500


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    ERROR = "error"
    UNKNOWN = "unknown"


class Op(StrEnum):
    """A gateway operation; also the `kind` of the payment row it writes."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    CHARGE = "charge"
    VOID = "void"
    REFUND = "refund"


@dataclass(frozen=True)
class GatewayRequest:
    op: Op
    amount: int
    currency: str
    order: int
    idempotency_key: str
    target: str = ""  # the gateway id this acts on: an authorization, a charge
    reason: str = ""


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    ref: str = ""
    reason: str = ""


NOT_CONFIGURED = (
    "no payment gateway is configured, so nothing was charged: to charge cards set "
    "PACKLINE_PAYMENT_GATEWAY=http with PACKLINE_PAYMENT_URL and PACKLINE_PAYMENT_KEY "
    "(payment_gateway, payment_url, payment_key in the config file); to record payments "
    "taken by hand set PACKLINE_PAYMENT_GATEWAY=manual"
)


NOTHING_CHARGED = "nothing was charged"
_DONE = {
    Op.CHARGE: "charged",
    Op.CAPTURE: "captured",
    Op.AUTHORIZE: "authorized",
    Op.VOID: "voided",
    Op.REFUND: "refunded",
}


def problem_for(problem: str, op: Op) -> str:
    """A gateway's problem as told for one operation: a refund says nothing was refunded."""
    return problem.replace(NOTHING_CHARGED, f"nothing was {_DONE[op]}")


class GatewayNotConfigured(Refused):
    """No gateway (or an unusable one) is set up; nothing was attempted."""


class Gateway(Protocol):
    name: str
    # Whether a call leaves the process (then it runs outside any database transaction).
    remote: bool

    @property
    def problem(self) -> str | None:
        """Why this gateway cannot be used at all (None: usable)."""
        ...

    async def perform(self, request: GatewayRequest) -> GatewayResult: ...


class NoGateway:
    """`payment_gateway = "none"` (the default): every attempt is refused with how to set one
    up. Manual payment methods (check, cash, COD, terms) do not need a gateway."""

    name = "none"
    remote = False

    def __init__(self, problem: str = NOT_CONFIGURED) -> None:
        self._problem = problem

    @property
    def problem(self) -> str | None:
        return self._problem

    async def perform(self, request: GatewayRequest) -> GatewayResult:
        raise GatewayNotConfigured(self._problem)


class ManualGateway:
    """Money staff moved by hand (cash, a check, a card terminal, a bank transfer): recording
    it is the operation, so it is always approved."""

    name = "manual"
    remote = False

    @property
    def problem(self) -> str | None:
        return None

    async def perform(self, request: GatewayRequest) -> GatewayResult:
        return GatewayResult(Outcome.APPROVED, ref=f"manual-{request.idempotency_key[:12]}")


_PATHS = {
    Op.CHARGE: "/charges",
    Op.AUTHORIZE: "/authorizations",
    Op.CAPTURE: "/captures",
    Op.VOID: "/voids",
    Op.REFUND: "/refunds",
}
_TARGET_FIELD = {Op.CAPTURE: "authorization", Op.VOID: "payment", Op.REFUND: "charge"}


def _one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """Gateway text is untrusted: printable, one line, bounded (stored as received otherwise)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, key: str) -> str | None:
    """Why this URL/key pair cannot be used (None when it can)."""
    if not url.strip() or not key.strip():
        missing = " and ".join(
            name
            for name, value in (("PACKLINE_PAYMENT_URL", url), ("PACKLINE_PAYMENT_KEY", key))
            if not value.strip()
        )
        return f"PACKLINE_PAYMENT_GATEWAY=http needs {missing}; nothing was charged"
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "PACKLINE_PAYMENT_URL is not a valid URL; nothing was charged"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "PACKLINE_PAYMENT_URL must be an https:// URL; nothing was charged"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return (
            "PACKLINE_PAYMENT_URL must use https:// (plain http would send the API key in "
            "clear text; it is allowed only for a gateway on this machine); nothing was charged"
        )
    return None


def display_url(url: str) -> str:
    """The gateway URL without user:password@, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class HttpGateway:
    """A card gateway with the REST API in the module docstring, over httpx."""

    name = "http"
    remote = True

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 15.0,
    ) -> None:
        self.url = url.strip().rstrip("/")
        self._key = key.strip()
        self.timeout = timeout
        self._problem = url_problem(url, key)
        # Building an SSL context reads the CA bundle (~0.15 s): once per gateway, not per call.
        self._ssl: ssl.SSLContext | None = None

    @property
    def problem(self) -> str | None:
        return self._problem

    def body(self, request: GatewayRequest) -> dict[str, Any]:
        out: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency,
            "order": str(request.order),
        }
        field = _TARGET_FIELD.get(request.op)
        if field:
            out[field] = request.target
        if request.op is Op.REFUND and request.reason:
            out["reason"] = request.reason
        return out

    async def perform(self, request: GatewayRequest) -> GatewayResult:
        if self._problem:
            raise GatewayNotConfigured(self._problem)
        import httpx  # here, not at the top: every CLI call would pay for it (~0.1 s)

        headers = {
            "Authorization": f"Bearer {self._key}",
            "Idempotency-Key": request.idempotency_key,
            "Accept": "application/json",
        }
        where = display_url(self.url)
        connect = min(self.timeout, 10.0)
        timeout = httpx.Timeout(self.timeout, connect=connect)
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        try:
            # httpx's read timeout is per chunk: a gateway dripping its answer a byte at a
            # time would never trip it. The whole exchange gets a deadline too.
            async with (
                asyncio.timeout(connect + self.timeout),
                httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, verify=self._ssl
                ) as client,
            ):
                response = await client.post(
                    self.url + _PATHS[request.op], json=self.body(request), headers=headers
                )
        except TimeoutError:
            return GatewayResult(
                Outcome.UNKNOWN,
                reason=f"the payment gateway did not finish its answer within "
                f"{connect + self.timeout:g} s",
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing was sent: the gateway cannot have acted on it.
            return GatewayResult(
                Outcome.ERROR, reason=f"cannot reach the payment gateway at {where}: {exc}"
            )
        except httpx.TimeoutException:
            return GatewayResult(
                Outcome.UNKNOWN,
                reason=f"the payment gateway did not answer within {self.timeout:g} s",
            )
        except httpx.HTTPError as exc:
            return GatewayResult(
                Outcome.UNKNOWN, reason=f"the connection to the payment gateway failed: {exc}"
            )
        return interpret(response.status_code, response.content)


def interpret(status: int, content: bytes) -> GatewayResult:
    """Turn an HTTP answer into an outcome (see the table in the module docstring)."""
    data: Any = None
    try:
        data = json.loads(content.decode("utf-8")) if content else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if status in (200, 201, 402):
        if not isinstance(data, dict):
            return GatewayResult(
                Outcome.UNKNOWN, reason=f"the payment gateway answered {status} with no JSON"
            )
        state, ref, reason = data.get("status"), data.get("id"), data.get("reason")
        ref_text = str(ref) if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
        reason_text = _one_line(reason) if isinstance(reason, str) else ""
        if state == "approved" and ref_text:
            return GatewayResult(Outcome.APPROVED, ref=_one_line(ref_text, 100))
        if state == "declined":
            return GatewayResult(
                Outcome.DECLINED,
                ref=_one_line(ref_text, 100),
                reason=reason_text or "declined (the gateway gave no reason)",
            )
        return GatewayResult(
            Outcome.UNKNOWN,
            reason=f"the payment gateway answered {status} with an unexpected body",
        )
    if status == 409:
        return GatewayResult(
            Outcome.UNKNOWN,
            reason="the payment gateway is still processing a request with this key",
        )
    if 400 <= status < 500:
        message = data.get("error") if isinstance(data, dict) else None
        text = _one_line(message) if isinstance(message, str) and message.strip() else ""
        return GatewayResult(
            Outcome.ERROR,
            reason=f"the payment gateway refused the request ({status})"
            + (f": {text}" if text else ""),
        )
    if status >= 500:
        return GatewayResult(
            Outcome.UNKNOWN,
            reason=f"the payment gateway failed ({status}); it may or may not have acted",
        )
    return GatewayResult(Outcome.UNKNOWN, reason=f"the payment gateway answered {status}")


def build_gateway(kind: str, *, url: str = "", key: str = "", timeout: float = 15.0) -> Gateway:
    """The configured card gateway (`payment_gateway`: none | manual | http)."""
    if kind == "manual":
        return ManualGateway()
    if kind == "http":
        return HttpGateway(url, key, timeout=timeout)
    return NoGateway()
