"""The tracker store on SQLAlchemy (async): SQLite through aiosqlite, PostgreSQL through asyncpg.

Each conversation is one row in `conversations` holding the state snapshot, plus its rows
in `events`. An append inserts the events and rewrites the snapshot in one transaction with
the conversation row locked, so concurrent writers of one conversation never lose updates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event as sa_event
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.events import Event
from bot.storage.schema import conversations
from bot.storage.schema import events as event_rows
from bot.tracker import HUMAN_STATUSES, REVERTS, State, Tracker, apply, rebuilt

log = logging.getLogger(__name__)
#: Called after every committed append: (conversation id, the new events, the new state).
Listener = Callable[[str, Sequence[Event], State], Awaitable[None]]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# An arbitrary pg_advisory_xact_lock key that serialises migrations across processes.
_PG_MIGRATION_LOCK = 0x73626D69677200
# Alembic keeps its running context in module globals, so two upgrades interleaved on one
# event loop (stores on different databases, started together) would trample each other.
_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


class SQLTrackerStore:
    """A TrackerStore on `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or "mode=memory" in url:
                raise ValueError("in-memory SQLite is not supported: give the store a file path")
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        if self.dialect == "sqlite":
            sa_event.listen(self.engine.sync_engine, "connect", _configure_sqlite)
            self._reader = self.engine
        else:
            # load() reads the snapshot and the events in two statements: one snapshot for both.
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        self.listeners: list[Listener] = []  # e.g. the agent console's live updates

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Migrate the schema to the newest revision (safe to run from several stores at once)."""
        loop = asyncio.get_running_loop()
        local = _migration_locks.setdefault(loop, asyncio.Lock())
        async with local, self._transaction(write=True) as conn:
            # Other processes: an advisory lock on PostgreSQL, the write lock on SQLite.
            if self.dialect == "postgresql":
                await conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self, *, timeout: float = 5.0) -> bool:
        """True when the database answers SELECT 1 within `timeout` seconds; never raises."""

        async def probe() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(probe(), timeout)
        except Exception:
            return False
        return True

    # -- reads -------------------------------------------------------------------------

    async def load(self, conversation_id: str, *, window: int) -> Tracker:
        """The snapshot plus the last `window` events (two bounded queries)."""
        async with self._transaction(write=False) as conn:
            state = await conn.scalar(
                select(conversations.c.state).where(conversations.c.id == conversation_id)
            )
            if state is None or window <= 0:
                return Tracker(conversation_id, State.from_json(state), [])
            rows = await conn.scalars(
                select(event_rows.c.payload)
                .where(event_rows.c.conversation_id == conversation_id)
                .order_by(event_rows.c.id.desc())
                .limit(window)
            )
            recent = list(rows)
        recent.reverse()
        return Tracker(conversation_id, State.from_json(state), recent)

    async def events(self, conversation_id: str, *, until: float | None = None) -> list[Event]:
        query = select(event_rows.c.payload).where(event_rows.c.conversation_id == conversation_id)
        if until is not None:
            query = query.where(event_rows.c.timestamp <= until)
        async with self._transaction(write=False) as conn:
            return list(await conn.scalars(query.order_by(event_rows.c.id)))

    async def exists(self, conversation_id: str) -> bool:
        async with self._transaction(write=False) as conn:
            found = await conn.scalar(
                select(conversations.c.id).where(conversations.c.id == conversation_id)
            )
        return found is not None

    async def conversation_ids(self, *, limit: int = 100) -> list[str]:
        """Up to `limit` conversation ids, the most recently updated first."""
        query = (
            select(conversations.c.id)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id)
            .limit(limit)
        )
        async with self._transaction(write=False) as conn:
            return list(await conn.scalars(query))

    async def queue(self) -> list[tuple[str, State]]:
        """The conversations waiting for a person or with one, the longest waiting first."""
        query = (
            select(conversations.c.id, conversations.c.state)
            .where(conversations.c.handoff_status.in_(HUMAN_STATUSES))
            .order_by(conversations.c.handoff_since, conversations.c.id)
        )
        async with self._transaction(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [(row.id, State.from_json(row.state)) for row in rows]

    async def recent_events_of_type(self, kind: str, *, limit: int) -> list[tuple[str, Event]]:
        """The last `limit` events of one type across all conversations, oldest first."""
        query = (
            select(event_rows.c.conversation_id, event_rows.c.payload)
            .where(event_rows.c.type == kind)
            .order_by(event_rows.c.id.desc())
            .limit(limit)
        )
        async with self._transaction(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [(row.conversation_id, row.payload) for row in reversed(rows)]

    # -- writes ------------------------------------------------------------------------

    async def append(
        self,
        conversation_id: str,
        events: Sequence[Event],
        *,
        initial_slots: dict[str, Any] | None = None,
    ) -> State:
        """Append events and update the snapshot in one transaction; return the new state."""
        if not events:
            async with self._transaction(write=False) as conn:
                state = await conn.scalar(
                    select(conversations.c.state).where(conversations.c.id == conversation_id)
                )
            return State.from_json(state)
        now = datetime.now(UTC)
        stamped = [e if "timestamp" in e else {**e, "timestamp": time.time()} for e in events]
        async with self._transaction(write=True) as conn:
            await conn.execute(self._insert_conversation(conversation_id, now))
            row = (
                await conn.execute(
                    select(conversations.c.state, conversations.c.event_count)
                    .where(conversations.c.id == conversation_id)
                    .with_for_update()
                )
            ).one()
            state = apply(State.from_json(row.state), stamped, initial_slots=initial_slots)
            if any(e.get("event") in REVERTS for e in stamped):  # rewind/undo: replay the session
                state = rebuilt(state, [*await self._session(conn, conversation_id), *stamped],
                                initial_slots=initial_slots)
            await self._write(conn, conversation_id, stamped, state, row.event_count + len(stamped), now)
        for listener in self.listeners:  # after the commit: what they are told is stored
            try:
                await listener(conversation_id, stamped, state)
            except Exception:  # a console that cannot be told must not fail the turn
                log.exception("a listener failed on conversation %s", conversation_id)
        return state

    async def replace(
        self,
        conversation_id: str,
        events: Sequence[Event],
        *,
        initial_slots: dict[str, Any] | None = None,
    ) -> State:
        """Replace every event of the conversation and rebuild its snapshot, in one transaction."""
        now = datetime.now(UTC)
        stamped = [e if "timestamp" in e else {**e, "timestamp": time.time()} for e in events]
        async with self._transaction(write=True) as conn:
            await conn.execute(self._insert_conversation(conversation_id, now))
            await conn.execute(select(conversations.c.id).where(conversations.c.id == conversation_id)
                               .with_for_update())
            await conn.execute(delete(event_rows).where(event_rows.c.conversation_id == conversation_id))
            state = apply(State(), stamped, initial_slots=initial_slots)
            if any(e.get("event") in REVERTS for e in stamped):
                state = rebuilt(state, stamped, initial_slots=initial_slots)
            await self._write(conn, conversation_id, stamped, state, len(stamped), now)
        for listener in self.listeners:
            try:
                await listener(conversation_id, stamped, state)
            except Exception:
                log.exception("a listener failed on conversation %s", conversation_id)
        return state

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    async def _session(conn: AsyncConnection, conversation_id: str) -> list[Event]:
        """The stored events of the conversation's current session (from its last start or restart)."""
        mine = event_rows.c.conversation_id == conversation_id
        start = select(func.max(event_rows.c.id)).where(mine, event_rows.c.type.in_(("session_started", "restart")))
        rows = await conn.execute(select(event_rows.c.payload).where(mine, event_rows.c.id >= func.coalesce(
            start.scalar_subquery(), 0)).order_by(event_rows.c.id))
        return [dict(payload) for (payload,) in rows]

    @staticmethod
    async def _write(conn: AsyncConnection, conversation_id: str, stamped: Sequence[Event], state: State,
                     count: int, now: datetime) -> None:
        """Insert `stamped` and store the snapshot `state` of a conversation whose row is locked."""
        if stamped:
            await conn.execute(event_rows.insert(), [
                {"conversation_id": conversation_id, "type": str(e.get("event"))[:64],
                 "timestamp": float(e["timestamp"]), "created_at": now, "payload": e} for e in stamped])
        await conn.execute(
            update(conversations).where(conversations.c.id == conversation_id).values(
                state=state.to_json(), updated_at=now, event_count=count,
                handoff_status=state.handoff.get("status"), handoff_since=state.handoff.get("since")))

    def _insert_conversation(self, conversation_id: str, now: datetime) -> Any:
        """INSERT the conversation row unless another writer already has (no error either way)."""
        values = {
            "id": conversation_id,
            "created_at": now,
            "updated_at": now,
            "state": State().to_json(),
            "event_count": 0,
        }
        if self.dialect == "postgresql":
            return pg_insert(conversations).values(values).on_conflict_do_nothing()
        return sqlite_insert(conversations).values(values).prefix_with("OR IGNORE")

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A transaction; on SQLite a writer takes the write lock up front (BEGIN IMMEDIATE)
        and a reader reads one snapshot (an explicit BEGIN, which pysqlite would not emit)."""
        engine = self.engine if write else self._reader
        async with engine.begin() as conn:
            if self.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: wait for locks instead of failing, WAL journal, enforce foreign keys."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
