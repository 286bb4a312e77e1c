"""The storage tests' backends: each test runs on SQLite (a file under tmp_path), PostgreSQL and
MariaDB (a database of the session's own on each server, emptied before every test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.schema import metadata

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
            pytest.param("mariadb", marks=pytest.mark.mariadb)]


async def reset_database(url: str) -> None:
    """Drop every table of a server database the session created (tests start from nothing)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if url.startswith("postgresql"):
                tables = ", ".join([*metadata.tables, "alembic_version"])
                await conn.execute(text(f"DROP TABLE IF EXISTS {tables} CASCADE"))
            else:
                await conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
                for table in [*metadata.tables, "alembic_version"]:
                    await conn.execute(text(f"DROP TABLE IF EXISTS `{table}`"))
                await conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of each backend (a sync fixture: the server fixtures run their own event loop)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'tracker.db'}"
    server_url: str = request.getfixturevalue("postgres_url" if request.param == "postgres" else "mariadb_url")
    return server_url


@pytest.fixture
async def url(backend_url: str) -> str:
    """A fresh, empty database of each backend (the servers' are the session's own)."""
    if not backend_url.startswith("sqlite"):
        await reset_database(backend_url)
    return backend_url


