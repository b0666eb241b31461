"""On PostgreSQL, a write that changes an order also sends NOTIFY, so consoles hear of it now.

Mapper events on `Order` (insert, update) and `OrderLine` (update: a scan packs a line),
registered on import (`services.live` imports this module and `services.container`
imports that, so every process that builds the services signals), run
`SELECT pg_notify(CHANNEL, '')` on the flushing connection, once per transaction.
NOTIFY is transactional: it is delivered when the transaction commits and dropped when it
rolls back, so a listener never hears of a change it cannot yet see. The payload is empty
on purpose: the listener reads what changed from the tables (`services.live.ChangeFeed`),
which also covers writes made by Core statements that these events do not see (they are
caught by its slower safety poll).

SQLite has no NOTIFY: its consoles poll a cheap change token instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from services.models import Order, OrderLine

CHANNEL = "packline_orders"
_SENT = "packline_notified_in"  # connection.info key: the transaction already signalled


def _signal(_mapper: Any, connection: Connection, _target: object) -> None:
    if connection.dialect.name != "postgresql":
        return
    transaction = connection.get_transaction()
    if transaction is not None and connection.info.get(_SENT) is transaction:
        return  # one NOTIFY per transaction, however many orders it writes
    connection.info[_SENT] = transaction
    connection.execute(select(func.pg_notify(CHANNEL, "")))


def install() -> None:
    """Idempotent: registers the events once per process."""
    if not event.contains(Order, "after_update", _signal):
        event.listen(Order, "after_insert", _signal)
        event.listen(Order, "after_update", _signal)
        event.listen(OrderLine, "after_update", _signal)  # a scan packs a line


install()
