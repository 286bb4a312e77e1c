"""The tracker store on SQLAlchemy (async): SQLite through aiosqlite, PostgreSQL through asyncpg,
MariaDB/MySQL through asyncmy.

Each conversation is one row in `conversations` holding the state snapshot, plus its rows
in `events`. An append inserts the events and rewrites the snapshot in one transaction with
the conversation row locked, so concurrent writers of one conversation never lose updates.
The same transaction stores each customer message's id once (`user_messages`: a second store of
one id is a DuplicateMessage and writes nothing) and the messages to push (`outbox`).
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
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.errors import InvalidEvent
from bot.events import Event
from bot.storage.base import DuplicateMessage, HandledMessage, Outgoing, fingerprint
from bot.storage.dialects import MYSQL, SCHEMES, insert_ignore, migration_lock
from bot.storage.outbox import outbox_rows
from bot.storage.schema import conversations, user_messages
from bot.storage.schema import events as event_rows
from bot.storage.schema import outbox as outbox_table
from bot.tracker import HUMAN_STATUSES, REVERTS, State, Tracker, apply, rebuilt

log = logging.getLogger(__name__)
#: Called after every committed append: (conversation id, the new events, the new state).
Listener = Callable[[str, Sequence[Event], State], Awaitable[None]]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ID = 255  # conversation and message ids
# Alembic keeps its running context in module globals, so two upgrades interleaved on one
# event loop (stores on different databases, started together) would trample each other.
_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


class SQLTrackerStore:
    """A TrackerStore on `sqlite+aiosqlite:///path`, `postgresql+asyncpg://...` or `mysql+asyncmy://...`."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in SCHEMES:
            raise ValueError(f"unsupported database {self.dialect!r}: use SQLite, PostgreSQL or MariaDB/MySQL")
        if self.dialect in MYSQL:
            engine_options.setdefault("pool_recycle", 3600)  # MySQL closes connections idle for wait_timeout
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
            # load() reads the snapshot and the events in two statements: one snapshot for both
            # (InnoDB's default; PostgreSQL's would be READ COMMITTED).
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        self.listeners: list[Listener] = []  # e.g. the agent console's live updates

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Migrate the schema to the newest revision (safe to run from several stores at once)."""
        loop = asyncio.get_running_loop()
        local = _migration_locks.setdefault(loop, asyncio.Lock())
        async with local, self._transaction(write=True) as conn, migration_lock(conn):
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

    async def handled(self, conversation_id: str, message_id: str) -> HandledMessage | None:
        """The stored customer message with this id in this conversation (its text's hash and the
        replies its turn gave), or None."""
        query = select(user_messages.c.fingerprint, user_messages.c.replies).where(
            user_messages.c.conversation_id == conversation_id, user_messages.c.message_id == message_id)
        async with self._transaction(write=False) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else HandledMessage(row.fingerprint, row.replies)

    # -- writes ------------------------------------------------------------------------

    async def append(
        self,
        conversation_id: str,
        events: Sequence[Event],
        *,
        initial_slots: dict[str, Any] | None = None,
        replies: Sequence[dict[str, Any]] | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> State:
        """Append events, update the snapshot and write the outbox in one transaction; return the
        new state. A user event's message id already stored in this conversation raises
        DuplicateMessage, and nothing is written."""
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
            await self._remember(conn, conversation_id, stamped, replies, now)
            state = apply(State.from_json(row.state), stamped, initial_slots=initial_slots)
            if any(e.get("event") in REVERTS for e in stamped):  # rewind/undo: replay the session
                state = rebuilt(state, [*await self._session(conn, conversation_id), *stamped],
                                initial_slots=initial_slots)
            await self._write(conn, conversation_id, stamped, state, row.event_count + len(stamped), now)
            if outbox:
                await conn.execute(outbox_table.insert(), outbox_rows(conversation_id, outbox, time.time()))
        await self._tell(conversation_id, stamped, state)
        return state

    async def replace(
        self,
        conversation_id: str,
        events: Sequence[Event],
        *,
        initial_slots: dict[str, Any] | None = None,
    ) -> State:
        """Replace every event of the conversation and rebuild its snapshot, in one transaction
        (the message ids it remembers become those of the new events)."""
        now = datetime.now(UTC)
        stamped = [e if "timestamp" in e else {**e, "timestamp": time.time()} for e in events]
        async with self._transaction(write=True) as conn:
            await conn.execute(self._insert_conversation(conversation_id, now))
            await conn.execute(select(conversations.c.id).where(conversations.c.id == conversation_id)
                               .with_for_update())
            await conn.execute(delete(event_rows).where(event_rows.c.conversation_id == conversation_id))
            await conn.execute(delete(user_messages).where(user_messages.c.conversation_id == conversation_id))
            await self._remember(conn, conversation_id, stamped, None, now)
            state = apply(State(), stamped, initial_slots=initial_slots)
            if any(e.get("event") in REVERTS for e in stamped):
                state = rebuilt(state, stamped, initial_slots=initial_slots)
            await self._write(conn, conversation_id, stamped, state, len(stamped), now)
        await self._tell(conversation_id, stamped, state)
        return state

    # -- helpers -----------------------------------------------------------------------

    async def _tell(self, conversation_id: str, stamped: Sequence[Event], state: State) -> None:
        for listener in self.listeners:  # after the commit: what they are told is stored
            try:
                await listener(conversation_id, stamped, state)
            except Exception:  # a console that cannot be told must not fail the turn
                log.exception("a listener failed on conversation %s", conversation_id)

    @staticmethod
    async def _remember(conn: AsyncConnection, conversation_id: str, stamped: Sequence[Event],
                        replies: Sequence[dict[str, Any]] | None, now: datetime) -> None:
        """Store the id of each user event of `stamped` that has one; the conversation's row is
        locked, so an id stored before (by a committed writer) is found here first."""
        rows: dict[str, dict[str, Any]] = {}
        for event in stamped:
            message_id = event.get("message_id") if event.get("event") == "user" else None
            if not isinstance(message_id, str) or not message_id:
                continue
            if len(message_id) > MAX_ID:
                raise InvalidEvent(f"a user event's message_id must be at most {MAX_ID} characters")
            if message_id in rows:
                raise DuplicateMessage(conversation_id, message_id, HandledMessage(rows[message_id]["fingerprint"],
                                                                                    None))
            rows[message_id] = {"conversation_id": conversation_id, "message_id": message_id,
                                "fingerprint": fingerprint(event.get("text")), "created_at": now,
                                "replies": [dict(r) for r in replies] if replies is not None else None}
        if not rows:
            return
        known = (await conn.execute(
            select(user_messages.c.message_id, user_messages.c.fingerprint, user_messages.c.replies).where(
                user_messages.c.conversation_id == conversation_id, user_messages.c.message_id.in_(list(rows))))).all()
        if known:
            first = known[0]
            raise DuplicateMessage(conversation_id, first.message_id, HandledMessage(first.fingerprint, first.replies))
        try:
            await conn.execute(user_messages.insert(), list(rows.values()))
        except IntegrityError:  # the primary key behind the check: whoever wrote it first, it is there
            raise DuplicateMessage(conversation_id, next(iter(rows)), None) from None

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
        values = {"id": conversation_id, "created_at": now, "updated_at": now, "state": State().to_json(),
                  "event_count": 0}
        return insert_ignore(self.dialect, conversations, values)

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
