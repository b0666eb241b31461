"""Triggers that keep `order_status_counts` in step with `orders` (revision 0003).

The queue's tabs show how many orders are in each status. Counting them with GROUP BY
reads a whole index: ~0.1 s at a million orders, on every change, for every console open.
Instead every insert, delete and status change of an order appends a delta row (+1/-1)
in the same transaction, whoever writes (the services, a bulk import, psql), and the
counts are a sum over a table of a few hundred rows at most (services/status_counts.py
folds the deltas together now and then). Append-only: concurrent writers take no lock on
a shared counter row, so two bulk changes in opposite directions cannot deadlock.

SQLite drops a table's triggers when a batch migration rebuilds the table: a later
revision that rebuilds `orders` must call `create(op)` again (a test checks the counts
after upgrading a populated database).
"""

from __future__ import annotations

from typing import Any

SQLITE = (
    """CREATE TRIGGER orders_count_insert AFTER INSERT ON orders BEGIN
         INSERT INTO order_status_counts (status, n) VALUES (NEW.status, 1);
       END""",
    """CREATE TRIGGER orders_count_delete AFTER DELETE ON orders BEGIN
         INSERT INTO order_status_counts (status, n) VALUES (OLD.status, -1);
       END""",
    """CREATE TRIGGER orders_count_update AFTER UPDATE OF status ON orders
       WHEN OLD.status IS NOT NEW.status BEGIN
         INSERT INTO order_status_counts (status, n) VALUES (OLD.status, -1), (NEW.status, 1);
       END""",
)

POSTGRESQL = (
    """CREATE FUNCTION orders_count_status() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP IN ('DELETE', 'UPDATE') THEN
           INSERT INTO order_status_counts (status, n) VALUES (OLD.status, -1);
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') THEN
           INSERT INTO order_status_counts (status, n) VALUES (NEW.status, 1);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER orders_count_insert_delete AFTER INSERT OR DELETE ON orders
       FOR EACH ROW EXECUTE FUNCTION orders_count_status()""",
    """CREATE TRIGGER orders_count_update AFTER UPDATE OF status ON orders
       FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
       EXECUTE FUNCTION orders_count_status()""",
)

DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS orders_count_insert",
        "DROP TRIGGER IF EXISTS orders_count_delete",
        "DROP TRIGGER IF EXISTS orders_count_update",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS orders_count_insert_delete ON orders",
        "DROP TRIGGER IF EXISTS orders_count_update ON orders",
        "DROP FUNCTION IF EXISTS orders_count_status()",
    ),
}


def create(op: Any) -> None:
    """(Re)create the triggers and recount from the orders there are now."""
    dialect = op.get_bind().dialect.name
    for statement in DROP[dialect]:
        op.execute(statement)
    for statement in SQLITE if dialect == "sqlite" else POSTGRESQL:
        op.execute(statement)
    op.execute("DELETE FROM order_status_counts")
    op.execute(
        "INSERT INTO order_status_counts (status, n) "
        "SELECT status, count(*) FROM orders GROUP BY status"
    )


def drop(op: Any) -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
