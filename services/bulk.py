"""Bulk row writing for seeds and imports: the driver's own fast path, not the ORM's.

SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself,
so large batches go straight to the driver: executemany on SQLite, COPY on
PostgreSQL. Values are converted here by column type, the same way SQLAlchemy
would store them, so rows written either way read back identically.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Table
from sqlalchemy import Enum as SAEnum
from sqlalchemy.ext.asyncio import AsyncConnection

from services.models import UTCDateTime

Convert = Callable[[Any], Any]


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table, typed as one (`__table__` is typed as a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    naive = _naive_utc(value)
    # SQLAlchemy's SQLite DATETIME storage format, microseconds always present, so stored
    # strings compare correctly with the parameters SQLAlchemy binds in queries.
    return None if naive is None else naive.isoformat(sep=" ", timespec="microseconds")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _enum(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _bool_int(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _converter(column_type: Any, sqlite: bool) -> Convert | None:
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _naive_utc
    if isinstance(column_type, Date):
        return _sqlite_date if sqlite else None
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, SAEnum):
        return _enum
    if isinstance(column_type, Boolean):
        return _bool_int if sqlite else None
    return None


Prepared = tuple[list[str], list[tuple[Any, ...]]]


def prepare_rows(table: Table, rows: Sequence[dict[str, Any]], *, sqlite: bool) -> Prepared:
    """Dict rows (all with the same keys) as column names and driver-ready value tuples.

    Pure and picklable, so a seeding process can do it while another writes.
    """
    if not rows:
        return [], []
    columns = list(rows[0].keys())
    getter = itemgetter(*columns)
    todo = [
        (i, conv)
        for i, name in enumerate(columns)
        if (conv := _converter(table.c[name].type, sqlite)) is not None
    ]
    values: list[tuple[Any, ...]]
    if len(columns) == 1:
        values = [(getter(row),) for row in rows]
    elif not todo:
        values = [getter(row) for row in rows]
    else:
        values = []
        for row in rows:
            out = list(getter(row))
            for i, conv in todo:
                out[i] = conv(out[i])
            values.append(tuple(out))
    return columns, values


async def write_rows(conn: AsyncConnection, table: str, prepared: Prepared) -> None:
    """Write prepared rows inside the connection's transaction (opened here if need be)."""
    columns, values = prepared
    if values:
        await insert_values(conn, table, columns, values)


async def insert_values(
    conn: AsyncConnection, table: str, columns: list[str], values: Iterable[tuple[Any, ...]]
) -> None:
    """Rows (a list, or an iterator that makes each as it is written) by executemany on
    SQLite, COPY on PostgreSQL, inside the connection's transaction."""
    if not conn.in_transaction():
        await conn.begin()  # the raw connection must not run in autocommit: one row, one fsync
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        await driver.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)
    else:
        await driver.copy_records_to_table(table, records=values, columns=columns)


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await write_rows(
        conn, table.name, prepare_rows(table, rows, sqlite=conn.dialect.name == "sqlite")
    )
