"""Domain refusals: one family of exceptions, each message written for the operator.

The CLI maps a Refused to exit code 1 and a one-line message; the console shows it
as a notification. Anything else escaping a service is a bug.
"""

from __future__ import annotations

from datetime import datetime


class Refused(Exception):
    """The domain said no; nothing was changed."""


class NotFound(Refused):
    pass


class InvalidInput(Refused):
    pass


class Busy(Refused):
    """The database stayed locked longer than the busy timeout."""


class Conflict(Refused):
    """Someone else changed the record since it was read: reload, then decide again."""

    def __init__(
        self, message: str, *, by: str = "", at: datetime | None = None, version: int | None = None
    ) -> None:
        super().__init__(message)
        self.by = by
        self.at = at
        self.version = version


class DatabaseError(Exception):
    """The database cannot be opened or used; the message is for the operator.

    Not a Refused (nothing was asked of the domain); here, not in services.db, so the
    CLI and the console can catch it without importing SQLAlchemy at start-up.
    """


class ConfigError(Exception):
    """The config file cannot be read or does not validate."""
