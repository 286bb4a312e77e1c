"""A lock across the workers of one bot, for start-up steps that must not run twice at once
(importing the knowledge base into an empty database).

PostgreSQL: a session advisory lock on a connection of its own, held for the block (the server
drops it with the connection if the worker dies). SQLite: writers are serialised by the database
itself, and a step that lost the race fails with "database is locked" and is retried."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (pg_advisory_lock takes a bigint)."""
    return int.from_bytes(hashlib.sha256(f"switchboard:{name}".encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str) -> AsyncIterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    async with engine.connect() as conn:
        await conn.execute(select(func.pg_advisory_lock(key)))
        await conn.commit()  # the lock belongs to the session, not to a transaction
        try:
            yield
        finally:
            try:
                await conn.execute(select(func.pg_advisory_unlock(key)))
                await conn.commit()
            except Exception:  # the connection is broken: closing its session drops the lock
                await conn.invalidate()
