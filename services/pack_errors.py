"""The pack service's refusals, in a module without SQLAlchemy so that screens may catch
them by type (the import-linter contract keeps SQL out of screens); services.packing
re-exports them."""

from __future__ import annotations

from datetime import datetime

from services.errors import Refused


class NotPackable(Refused):
    """The order is not in a status that is packed, or has nothing to pack."""


class PackClaimed(Refused):
    """Another packer holds the order; `holder` and `until` say who and how long.

    A manager may break it: `PackService.start(ref, take_over=True)` checks the role
    (`Action.TAKE_OVER_PACK`) and is the only place a live claim is broken.
    """

    def __init__(self, message: str, *, holder: str, until: datetime, session_id: int) -> None:
        super().__init__(message)
        self.holder = holder
        self.until = until
        self.session_id = session_id


class SessionMismatch(Refused):
    """A session id that is not this operator's session on this order."""


class NothingToPack(Refused):
    """`next_to_pack`: every processing order is packed or claimed by someone."""
