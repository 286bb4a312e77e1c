"""The tracker store on SQLAlchemy (async): SQLite through aiosqlite, PostgreSQL through asyncpg,
MariaDB/MySQL through asyncmy. A turn's own transactions (bot/storage/sql_ops.py) run on SQLite
through pysqlite, each whole in one call to a thread.

Each conversation is one row in `conversations` holding the state snapshot, plus its rows
in `events`. An append inserts the events and rewrites the snapshot in one transaction with
the conversation row locked, so concurrent writers of one conversation never lose updates.
The same transaction stores each customer message's id once (`user_messages`: a second store of
one id is a DuplicateMessage and writes nothing) and the messages to push (`outbox`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import and_, create_engine, func, or_, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.events import Event
from bot.storage import sql_ops as ops
from bot.storage.base import HandledMessage, Outgoing
from bot.storage.dialects import MYSQL, SCHEMES, migration_lock
from bot.storage.schema import conversations
from bot.storage.schema import events as event_rows
from bot.tracker import HUMAN_STATUSES, State, Tracker

log = logging.getLogger(__name__)
#: Called after every committed append: (conversation id, the new events, the new state).
Listener = Callable[[str, Sequence[Event], State], Awaitable[None]]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READERS = 4  # threads reading a SQLite store at once (WAL: readers do not wait for the writer)
MAX_ID = ops.MAX_ID
T = TypeVar("T")
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
        self._sync: Engine | None = None  # SQLite: the turn's reads and writes, each in one thread hop
        self._threads: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None  # (readers, the writer)
        if self.dialect == "sqlite":
            sa_event.listen(self.engine.sync_engine, "connect", _configure_sqlite)
            self._sync = create_engine(parsed.set(drivername="sqlite"))
            sa_event.listen(self._sync, "connect", _configure_sqlite)
            self._reader = self.engine
        else:
            # load() reads the snapshot and the events in two statements: one snapshot for both
            # (InnoDB's default; PostgreSQL's would be READ COMMITTED).
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        self.listeners: list[Listener] = []  # e.g. the agent console's live updates

    @property
    def sync_engines(self) -> list[Engine]:
        """Every engine statements go through (for event listeners): the async engine's, and on
        SQLite the one of the turn's own transactions."""
        return [self.engine.sync_engine, *([self._sync] if self._sync is not None else [])]

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Migrate the schema to the newest revision (safe to run from several stores at once)."""
        loop = asyncio.get_running_loop()
        local = _migration_locks.setdefault(loop, asyncio.Lock())
        async with local, self._transaction(write=True) as conn, migration_lock(conn):
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        if self._threads is not None:
            threads, self._threads = self._threads, None
            for pool in threads:
                await asyncio.to_thread(pool.shutdown)
        if self._sync is not None:
            self._sync.dispose()
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
        return await self._run(functools.partial(ops.tracker, conversation_id=conversation_id, window=window))

    async def begin_turn(self, conversation_id: str, message_id: str, *,
                         window: int) -> tuple[HandledMessage | None, Tracker | None]:
        """What a turn reads first, in one read transaction: the stored message with this id (a
        retry: then no tracker is read) or else the tracker, as `handled` and `load` give them."""
        return await self._run(functools.partial(ops.begin_turn, conversation_id=conversation_id,
                                                 message_id=message_id, window=window))

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

    async def waiting_ahead(self, conversation_id: str) -> int:
        """One count on the handoff index, without reading any conversation's state (a handoff used
        to read every queued conversation's snapshot: a cost that grew with the queue). The
        conversation's own place comes from a subquery: NULL when it is not pending, and then every
        pending conversation counts."""
        c = conversations.c
        me = conversations.alias("me")
        mine = (select(me.c.handoff_since)
                .where(me.c.id == conversation_id, me.c.handoff_status == "pending", me.c.handoff_since.is_not(None))
                .scalar_subquery())
        ahead = or_(mine.is_(None), c.handoff_since < mine, and_(c.handoff_since == mine, c.id < conversation_id))
        query = (select(func.count()).select_from(conversations)
                 .where(c.handoff_status == "pending", c.id != conversation_id, ahead))
        async with self._transaction(write=False) as conn:
            return int(await conn.scalar(query) or 0)

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
        return await self._run(functools.partial(ops.handled, conversation_id=conversation_id, message_id=message_id))

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
            return await self._run(functools.partial(ops.state_of, conversation_id=conversation_id))
        write = ops.Write(conversation_id, self._stamped(events), datetime.now(UTC), initial_slots, replies, outbox)
        state = await self._write_tx(ops.append, write)
        await self._tell(conversation_id, write.stamped, state)
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
        write = ops.Write(conversation_id, self._stamped(events), datetime.now(UTC), initial_slots)
        state = await self._write_tx(ops.replace, write)
        await self._tell(conversation_id, write.stamped, state)
        return state

    # -- helpers -----------------------------------------------------------------------

    async def _tell(self, conversation_id: str, stamped: Sequence[Event], state: State) -> None:
        for listener in self.listeners:  # after the commit: what they are told is stored
            try:
                await listener(conversation_id, stamped, state)
            except Exception:  # a console that cannot be told must not fail the turn
                log.exception("a listener failed on conversation %s", conversation_id)

    @staticmethod
    def _stamped(events: Sequence[Event]) -> list[Event]:
        return [e if "timestamp" in e else {**e, "timestamp": time.time()} for e in events]

    async def _write_tx(self, write_fn: Callable[[Connection, str, ops.Write], State], write: ops.Write) -> State:
        """One write transaction; message ids stored before make it a DuplicateMessage, with what
        was stored first (read after the rollback)."""
        try:
            return await self._run(functools.partial(write_fn, dialect=self.dialect, w=write), write=True)
        except ops.Taken as taken:
            raise await self._run(functools.partial(ops.duplicate, conversation_id=write.conversation_id,
                                                    ids=taken.ids)) from None

    async def _run(self, fn: Callable[[Connection], T], *, write: bool = False) -> T:
        """`fn` in one transaction. SQLite: the whole transaction in one call to a thread with a
        connection of its own (writers queue on one thread, so none waits in SQLite's busy
        handler, which naps up to 100 ms between tries); the others: through `run_sync`."""
        if self._sync is None:
            async with (self.engine if write else self._reader).begin() as conn:
                return await conn.run_sync(fn)
        if self._threads is None:
            self._threads = (ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="sqlite-read"),
                             ThreadPoolExecutor(1, thread_name_prefix="sqlite-write"))
        pool = self._threads[1 if write else 0]
        return await asyncio.get_running_loop().run_in_executor(pool, self._sqlite_transaction, fn, write)

    def _sqlite_transaction(self, fn: Callable[[Connection], T], write: bool) -> T:
        """A writer takes the write lock up front (BEGIN IMMEDIATE); a reader reads one snapshot
        (an explicit BEGIN, which pysqlite would not emit)."""
        assert self._sync is not None
        with self._sync.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            return fn(conn)

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A transaction on the async engine (the other reads, migrations), as `_sqlite_transaction`
        begins it on SQLite."""
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
