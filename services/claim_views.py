"""Pack claims as the CLI and the screens see them (no database import: screens may use it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.display import iso


@dataclass(frozen=True)
class ClaimView:
    """A live pack claim: who holds which order, since and until when."""

    order_number: int
    session_id: int
    operator: str
    started_at: datetime
    claimed_until: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order_number,
            "session": self.session_id,
            "operator": self.operator,
            "started_at": iso(self.started_at),
            "claimed_until": iso(self.claimed_until),
        }
