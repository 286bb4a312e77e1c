"""What differs between the three SQL backends (SQLite, PostgreSQL, MariaDB/MySQL), in one place:
the URL schemes we accept, column types MySQL needs spelled out, "insert unless present" and
"insert or update" statements, and the lock that serialises migrations across processes.

MySQL notes: a FLOAT there is single precision (a unix time would lose minutes), so times are
DOUBLE; DATETIME keeps whole seconds unless given a precision; its default collations compare
case-insensitively (conversation ids "Ab" and "ab" would be one), so our tables use a binary one;
no TEXT column is indexed and every indexed string is VARCHAR(255) or shorter, so the widest
composite key (255 + 255 characters of utf8mb4: 2,040 bytes) stays under InnoDB's 3,072-byte
limit; and its DDL is not transactional (revisions after 0004 check what exists before creating it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import DateTime, Float, TableClause, func, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

#: the URL schemes Switchboard accepts, by SQLAlchemy backend name
SCHEMES = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "mysql": "mysql+asyncmy"}
MYSQL = ("mysql", "mariadb")

#: a unix time (seconds, fractional): DOUBLE on MySQL, whose FLOAT is 4 bytes
Seconds = Float().with_variant(mysql.DOUBLE(asdecimal=False), *MYSQL)
#: a moment with microseconds: DATETIME(6) on MySQL (naive, stored in UTC)
Moment = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL)

# An arbitrary pg_advisory_xact_lock key, and MySQL's named lock, that serialise migrations.
_PG_MIGRATION_LOCK = 0x73626D69677200
_MYSQL_MIGRATION_LOCK = "switchboard_migrations"
MYSQL_LOCK_WAIT_SECONDS = 120


def supported_url(url: str) -> bool:
    return url.startswith(tuple(f"{scheme}://" for scheme in SCHEMES.values()))


def skips_locked(dialect: Any) -> bool:
    """Whether SELECT ... FOR UPDATE SKIP LOCKED works: PostgreSQL, MariaDB 10.6+, MySQL 8 (SQLite
    has no row locks: its write lock serialises writers)."""
    if dialect.name == "postgresql":
        return True
    if dialect.name in MYSQL:
        version = tuple(dialect.server_version_info or (0,))
        return version >= ((10, 6) if getattr(dialect, "is_mariadb", False) else (8, 0, 1))
    return False


def table_options(connection: Connection) -> dict[str, str]:
    """Keyword arguments for op.create_table: on MySQL utf8mb4 with a binary collation that does
    not pad (ids differing in case or trailing spaces stay different); nothing elsewhere."""
    if connection.dialect.name not in MYSQL:
        return {}
    if getattr(connection.dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"  # MariaDB 10.2+
    elif (connection.dialect.server_version_info or (0,)) >= (8,):
        collation = "utf8mb4_0900_bin"  # MySQL 8: binary, NO PAD
    else:
        collation = "utf8mb4_bin"
    return {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": collation}


def insert_ignore(dialect: str, table: TableClause, values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                  *, key: str | None = None) -> Any:
    """INSERT rows unless a row with the same key exists (no error either way). `key`: a column of
    the primary key (default: the table's first), which MySQL sets to itself on a duplicate."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    if dialect in MYSQL:
        statement = mysql.insert(table).values(values)
        key = key or next(iter(table.primary_key.columns)).name
        return statement.on_duplicate_key_update({key: statement.inserted[key]})  # a no-op update
    return sqlite.insert(table).values(values).on_conflict_do_nothing()


def upsert(dialect: str, table: TableClause, values: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """INSERT a row, or UPDATE the row with the same `keys` to `values`."""
    changed = {k: v for k, v in values.items() if k not in keys}
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_update(index_elements=keys, set_=changed)
    if dialect in MYSQL:
        return mysql.insert(table).values(values).on_duplicate_key_update(changed)
    return sqlite.insert(table).values(values).on_conflict_do_update(index_elements=keys, set_=changed)


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: on SQLite it takes the write lock up front (BEGIN IMMEDIATE),
    so it waits for another writer (busy_timeout) instead of failing when it starts writing."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@asynccontextmanager
async def migration_lock(conn: AsyncConnection) -> AsyncIterator[None]:
    """Hold the lock that keeps two processes from migrating one database at once. PostgreSQL:
    an advisory lock that ends with the transaction; MySQL: a named lock of the session (its DDL
    commits as it goes); SQLite: the write lock the caller's BEGIN IMMEDIATE already holds."""
    name = conn.dialect.name
    if name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        yield
    elif name in MYSQL:
        got = await conn.scalar(text("SELECT GET_LOCK(:name, :wait)"),
                                {"name": _MYSQL_MIGRATION_LOCK, "wait": MYSQL_LOCK_WAIT_SECONDS})
        if got != 1:
            raise TimeoutError(f"another process held the migration lock for {MYSQL_LOCK_WAIT_SECONDS}s")
        try:
            yield
        finally:
            await conn.scalar(text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_MIGRATION_LOCK})
    else:
        yield
