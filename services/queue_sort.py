"""The queue's sort keys, free of views so the CLI can offer them without loading those."""

from __future__ import annotations

from typing import Literal

Sort = Literal["date", "total", "number", "status"]
# "status": in lifecycle order (new, processing, …), newest first within each status.
SORTS: tuple[Sort, ...] = ("date", "total", "number", "status")
