"""Engine, connections and schema migrations for SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite: WAL, foreign keys, a busy timeout, and write transactions that start with
BEGIN IMMEDIATE so two writers queue up instead of failing late with a stale
snapshot. PostgreSQL: the order row is locked with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.errors import DatabaseError
from services.migrations import SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000


def normalize_url(raw: str) -> URL:
    """Accept what people type: a file path, sqlite://, postgres:// or a full async URL."""
    text = raw.strip()
    if "://" not in text:
        text = f"sqlite+aiosqlite:///{Path(text).expanduser().resolve()}"
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {raw!r}") from exc
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        url = url.set(drivername="sqlite+aiosqlite")
    elif url.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseError(
            f"unsupported database {url.drivername!r}: use a SQLite file or postgresql://"
        )
    return url


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _ensure_directory(url: URL, directory: Path) -> None:
    """The SQLite file's folder is created on first use; say plainly when it cannot be."""
    problem = ""
    for part in (directory, *directory.parents):
        if part.exists() and not part.is_dir():
            problem = f"{part} is not a directory"
            break
    if not problem:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot create {directory}: {exc.strerror}"
    if problem:
        raise DatabaseError(f"cannot open database {display_url(url)}: {problem}")


def _sqlite_creator(url: URL) -> Callable[[], Awaitable[Any]]:
    """Connections that finish closing even when cancelled twice (see sqlite_connection)."""
    from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

    from services import sqlite_connection

    args, options = SQLiteDialect_aiosqlite().create_connect_args(url)
    options["timeout"] = BUSY_TIMEOUT_MS / 1000

    def create() -> Awaitable[Any]:
        return sqlite_connection.connect(*args, **options)

    return create


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (the documented aiosqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if not options.get("packline_write"):
        conn.exec_driver_sql("BEGIN")
    elif not options.get("packline_inline"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        driver: Any = conn.connection.driver_connection
        if not driver.begin_inline(BUSY_TIMEOUT_MS):  # another writer has the lock:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # wait for it on the driver's thread
            driver.inline = True  # the write lock is ours: the rest runs on this thread


class Database:
    """One engine, and two session factories: read (deferred) and write (immediate)."""

    def __init__(self, raw_url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(raw_url)
        self.is_sqlite = self.url.drivername.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                _ensure_directory(self.url, Path(database).parent)
            kwargs["async_creator"] = _sqlite_creator(self.url)
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"timeout": 10}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.read_session = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write_session = async_sessionmaker(
            self.engine.execution_options(packline_write=True), expire_on_commit=False
        )
        # A short write transaction whose statements run on the event loop's thread once it
        # holds SQLite's write lock (services.sqlite_connection); PostgreSQL ignores it.
        self.inline_write_session = async_sessionmaker(
            self.engine.execution_options(packline_write=True, packline_inline=True),
            expire_on_commit=False,
        )

    @property
    def display(self) -> str:
        return display_url(self.url)

    async def dispose(self) -> None:
        await self.engine.dispose()

    # -- schema ------------------------------------------------------------------------

    async def current_revision(self) -> str | None:
        """The schema revision in the database (None when empty); no Alembic import needed."""
        async with self._connect() as conn:
            has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
            if not has_table:
                return None
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        return str(row[0]) if row else None

    @staticmethod
    def head_revision() -> str:
        return SCHEMA_HEAD

    async def upgrade(self) -> tuple[str | None, str | None]:
        """Create or migrate the schema to head; returns (before, after) revisions."""
        before = await self.current_revision()
        if before == self.head_revision():
            return before, before
        if not self.is_sqlite:
            async with self._connect() as conn:
                await conn.run_sync(_upgrade_sync)
            return before, self.head_revision()
        # SQLite batch migrations rebuild tables; with foreign keys on, dropping a table that
        # others reference fails. The pragma only takes effect outside a transaction, so it
        # is set on the raw connection, and the result is checked before keys go back on.
        async with self.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            await raw.execute("PRAGMA foreign_keys = OFF")
            try:
                async with conn.begin():
                    await conn.run_sync(_upgrade_sync)
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise DatabaseError(f"migration left broken references: {broken[:5]}")
            finally:
                await raw.execute("PRAGMA foreign_keys = ON")
        return before, self.head_revision()

    async def ensure_schema(self) -> None:
        """Upgrade an empty or older database on first use; cheap when already current."""
        if await self.current_revision() != self.head_revision():
            await self.upgrade()

    def _connect(self) -> _Connecting:
        return _Connecting(self)


class _Connecting:
    """`async with db._connect()`: a transaction whose failures read as DatabaseError."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cm: Any = None

    async def __aenter__(self) -> Any:
        self._cm = self.db.engine.begin()
        try:
            return await self._cm.__aenter__()
        except (TimeoutError, OSError, DBAPIError) as exc:
            raise DatabaseError(describe_connect_error(self.db, exc)) from exc

    async def __aexit__(self, *exc: Any) -> bool | None:
        result: bool | None = await self._cm.__aexit__(*exc)
        return result


def describe_connect_error(db: Database, exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    return f"cannot open database {db.display}: {first}"


def alembic_config() -> Config:
    from alembic.config import Config  # imported only when migrating: it is slow to load

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade_sync(connection: Connection) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
