"""A carrier tracking service over HTTP: has this package been delivered?

Off unless `tracking_url` is set. Packline does not speak to each carrier itself; shops use an
aggregator (or a small proxy of their own) that answers one question per package:

    GET <tracking_url>/<carrier>/<tracking number>        Accept: application/json
    Authorization: Bearer <tracking_key>                  (when a key is configured)

`tracking_url` may instead contain `{carrier}` and `{tracking}`, which are filled in. The
answer is a JSON object whose `status` (or `tag`, as AfterShip calls it) is compared without
regard to case: `delivered` means delivered, anything else means not yet; `delivered_at`
(ISO 8601) is optional. 404 means the service does not know the package (not delivered).
Any other failure (timeout, 5xx, not JSON) is a `TrackingError`: auto-complete records it
and leaves the order alone, so a broken service never completes an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:  # imported when used: a CLI command that asks no carrier does not pay
    import httpx

DELIVERED = "delivered"


class TrackingError(Exception):
    """The tracking service could not say; the message is for the operator (no secrets)."""


@dataclass(frozen=True)
class CarrierStatus:
    status: str  # lower-case, as the service said it ("" when unknown)
    delivered_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.status == DELIVERED


def check_url(url: str) -> str:
    """The configured URL, or ValueError saying what is wrong with it."""
    value = url.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"tracking_url must be an http:// or https:// URL, not {value[:60]!r}")
    return value


def request_url(base: str, carrier: str, number: str) -> str:
    c, n = quote(carrier, safe=""), quote(number, safe="")
    if "{carrier}" in base or "{tracking}" in base:
        return base.replace("{carrier}", c).replace("{tracking}", n)
    return f"{base.rstrip('/')}/{c}/{n}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class TrackingClient:
    """One HTTP client for a pass over many packages (use `async with`)."""

    def __init__(
        self,
        url: str,
        *,
        key: str = "",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = check_url(url)
        self.key = key
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> TrackingClient:
        import httpx

        headers = {"Accept": "application/json", "User-Agent": "packline"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        self._client = httpx.AsyncClient(
            timeout=self.timeout, headers=headers, transport=self._transport
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def status(self, carrier: str, number: str) -> CarrierStatus:
        if self._client is None:
            raise RuntimeError("use TrackingClient with `async with`")
        import httpx

        where = request_url(self.url, carrier, number)
        try:
            response = await self._client.get(where)
        except httpx.TimeoutException:
            raise TrackingError(
                f"tracking service did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise TrackingError(f"tracking service unreachable: {type(exc).__name__}") from None
        if response.status_code == 404:
            return CarrierStatus(status="")
        if response.status_code != 200:
            raise TrackingError(f"tracking service answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise TrackingError("tracking service answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise TrackingError("tracking service answered JSON that is not an object")
        raw = data.get("status", data.get("tag", ""))
        status = raw.strip().lower() if isinstance(raw, str) else ""
        return CarrierStatus(status=status, delivered_at=_parse_time(data.get("delivered_at")))
