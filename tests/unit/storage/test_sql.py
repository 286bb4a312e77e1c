"""SQLTrackerStore on SQLite (a file under tmp_path), PostgreSQL and MariaDB (a database of the
session's own on each server, emptied before every test)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.events import Event
from bot.storage.schema import conversations, events, metadata
from bot.storage.sql import SQLTrackerStore, alembic_config
from bot.tracker import State, apply

@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def ev(kind: str, ts: float, **fields: Any) -> Event:
    return {"event": kind, "timestamp": ts, **fields}


async def count_rows(store: SQLTrackerStore) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        n_conv = await conn.scalar(select(func.count()).select_from(conversations))
        n_ev = await conn.scalar(select(func.count()).select_from(events))
    return int(n_conv or 0), int(n_ev or 0)


async def test_append_load_roundtrip(store: SQLTrackerStore) -> None:
    batch = [
        ev("session_started", 1.0),
        ev("user", 2.5, text="hi", parse_data={"intent": {"name": "greet", "confidence": 0.9}},
           input_channel="rest", metadata={"k": [1, 2]}),
        ev("slot", 3.0, name="city", value="Zürich"),
        ev("action", 4.0, name="utter_greet", policy="rules", confidence=1.0),
        ev("bot", 5.0, text="Hello!", data={"buttons": []}, metadata={}),
    ]
    state = await store.append("c1", batch)
    assert state.slots == {"city": "Zürich"}
    assert state.latest_action_name == "utter_greet"
    assert state.latest_input_channel == "rest"

    tracker = await store.load("c1", window=100)
    assert tracker.conversation_id == "c1"
    assert tracker.recent_events == batch
    assert tracker.state == state
    assert tracker.latest_message == {"text": "hi", "intent": {"name": "greet", "confidence": 0.9}}
    assert await store.exists("c1")
    assert await store.events("c1") == batch


async def test_window_returns_last_events_in_order(store: SQLTrackerStore) -> None:
    for start in range(0, 30, 7):
        await store.append("w", [ev("bot", float(i), text=str(i)) for i in range(start, min(start + 7, 30))])
    tracker = await store.load("w", window=5)
    assert [e["text"] for e in tracker.recent_events] == ["25", "26", "27", "28", "29"]
    assert len((await store.load("w", window=100)).recent_events) == 30
    empty_window = await store.load("w", window=0)
    assert empty_window.recent_events == [] and empty_window.state.latest_event_time == 29.0


async def test_snapshot_after_many_events(url: str) -> None:
    initial = {"tier": "basic"}
    script: list[Event] = []
    for i in range(200):
        script.append(ev("slot", float(i), name=f"s{i % 7}", value=i))
    script += [ev("pause", 300.0), ev("active_loop", 301.0, name="checkout_form"), ev("followup", 302.0, name="act_x")]
    script += [ev("restart", 303.0), ev("slot", 304.0, name="after", value=True), ev("pause", 305.0),
               ev("resume", 306.0), ev("pause", 307.0), ev("active_loop", 308.0, name="address_form"),
               ev("reset_slots", 309.0), ev("slot", 310.0, name="x", value={"nested": [1]})]
    store = SQLTrackerStore(url)
    await store.start()
    try:
        for i in range(0, len(script), 9):
            await store.append("snap", script[i : i + 9], initial_slots=initial)
    finally:
        await store.close()

    expected = apply(State(), script, initial_slots=initial)
    assert expected.slots == {"tier": "basic", "x": {"nested": [1]}}
    reopened = SQLTrackerStore(url)  # read back through a fresh engine: nothing cached
    try:
        tracker = await reopened.load("snap", window=3)
        assert tracker.state == expected
        assert tracker.state.paused is True
        assert tracker.state.active_loop == "address_form"
        assert tracker.state.latest_event_time == 310.0
        assert [e["timestamp"] for e in tracker.recent_events] == [308.0, 309.0, 310.0]
    finally:
        await reopened.close()


async def test_events_until(store: SQLTrackerStore) -> None:
    await store.append("u", [ev("bot", 10.0, text="a"), ev("bot", 20.5, text="b")])
    await store.append("u", [ev("bot", 30.0, text="c")])
    await store.append("other", [ev("bot", 15.0, text="z")])
    assert [e["text"] for e in await store.events("u", until=20.5)] == ["a", "b"]
    assert [e["text"] for e in await store.events("u", until=9.9)] == []
    assert [e["text"] for e in await store.events("u")] == ["a", "b", "c"]
    assert await store.events("nobody") == []


async def test_times_are_aware_utc(store: SQLTrackerStore) -> None:
    before = datetime.now(UTC)
    await store.append("t", [ev("bot", 1.0, text="x")])
    await store.append("t", [ev("bot", 2.0, text="y")])
    after = datetime.now(UTC)
    async with store.engine.connect() as conn:
        conv = (await conn.execute(select(conversations.c.created_at, conversations.c.updated_at))).one()
        created = list(await conn.scalars(select(events.c.created_at).order_by(events.c.id)))
    for value in [conv.created_at, conv.updated_at, *created]:
        assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0
        assert before <= value <= after
    assert conv.created_at <= conv.updated_at == created[-1]


async def test_unknown_conversation_is_empty_and_writes_nothing(store: SQLTrackerStore) -> None:
    tracker = await store.load("ghost", window=10)
    assert tracker.state == State() and tracker.recent_events == []
    assert await store.append("ghost", []) == State()
    assert not await store.exists("ghost")
    assert await store.events("ghost") == []
    assert await store.conversation_ids() == []
    assert await count_rows(store) == (0, 0)


async def test_empty_append_returns_current_state(store: SQLTrackerStore) -> None:
    state = await store.append("e", [ev("slot", 1.0, name="a", value=1)])
    assert await store.append("e", []) == state
    assert await count_rows(store) == (1, 1)


async def test_missing_timestamp_is_filled_in(store: SQLTrackerStore) -> None:
    state = await store.append("ts", [{"event": "pause"}])
    (stored,) = await store.events("ts")
    assert isinstance(stored["timestamp"], float) and state.latest_event_time == stored["timestamp"]


async def test_conversation_ids_newest_first(store: SQLTrackerStore) -> None:
    for cid in ["a", "b", "c"]:
        await store.append(cid, [ev("bot", 1.0, text=cid)])
    await store.append("a", [ev("bot", 2.0, text="again")])
    assert await store.conversation_ids() == ["a", "c", "b"]
    assert await store.conversation_ids(limit=2) == ["a", "c"]


async def test_migration_is_idempotent(url: str) -> None:
    stores = [SQLTrackerStore(url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.start() for s in stores))  # a fresh database, migrated at once
        await stores[0].append("keep", [ev("bot", 1.0, text="still here")])
        await stores[0].start()
        await asyncio.gather(*(s.start() for s in stores[1:]))
        async with stores[0].engine.connect() as conn:
            versions = list(await conn.scalars(text("SELECT version_num FROM alembic_version")))
        assert versions == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
        assert [e["text"] for e in await stores[1].events("keep")] == ["still here"]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_schema_module_matches_migration(store: SQLTrackerStore) -> None:
    def diff(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_appends_all_land(store: SQLTrackerStore) -> None:
    tasks = 40

    async def writer(i: int) -> None:
        await store.append("busy", [ev("slot", float(i), name=f"w{i}", value=i), ev("bot", float(i), text=str(i))])

    await asyncio.gather(*(writer(i) for i in range(tasks)))
    async with store.engine.connect() as conn:
        count = await conn.scalar(select(conversations.c.event_count).where(conversations.c.id == "busy"))
    assert count == 2 * tasks
    stored = await store.events("busy")
    assert len(stored) == 2 * tasks
    # each append's events are contiguous, and no writer's slot was lost to another's update
    assert all(stored[j]["timestamp"] == stored[j + 1]["timestamp"] for j in range(0, 2 * tasks, 2))
    state = (await store.load("busy", window=1)).state
    assert state.slots == {f"w{i}": i for i in range(tasks)}


async def test_load_is_bounded_by_window(store: SQLTrackerStore) -> None:
    total, window = 2000, 25
    for start in range(0, total, 500):
        await store.append("long", [ev("bot", float(i), text=str(i)) for i in range(start, start + 500)])

    selects: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    for engine in store.sync_engines:
        sa_event.listen(engine, "before_cursor_execute", record)
    try:
        tracker = await store.load("long", window=window)
    finally:
        for engine in store.sync_engines:
            sa_event.remove(engine, "before_cursor_execute", record)
    assert [e["text"] for e in tracker.recent_events] == [str(i) for i in range(total - window, total)]
    assert len(selects) == 2
    assert "LIMIT" in selects[1].upper()


async def test_ping(backend_url: str) -> None:
    good = SQLTrackerStore(backend_url)
    bad = SQLTrackerStore("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        assert await good.ping() is True
        assert await bad.ping(timeout=5) is False
    finally:
        await good.close()
        await bad.close()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = SQLTrackerStore(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b.db'}")
    try:
        await store.start()
        assert (tmp_path / "a" / "b.db").is_file()
        async with store.engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA busy_timeout")) > 0
    finally:
        await store.close()


def test_rejects_in_memory_sqlite() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        SQLTrackerStore("sqlite+aiosqlite://")


async def test_a_database_from_before_handoffs_upgrades_with_its_conversations(url: str) -> None:
    """Revision 0002 with a conversation in it, then 0003: the conversation loads, with the bot."""
    from alembic import command

    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)

    def to(revision: str) -> Any:
        def run(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return run

    old_state = {"slots": {"order_number": "NW-1"}, "paused": False, "active_loop": None, "latest_message": {},
                 "latest_input_channel": "rest", "latest_action_name": None, "latest_event_time": 2.0,
                 "followup_action": None}
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to("0002"))
            now = "2026-01-01 00:00:00"
            await conn.execute(text("INSERT INTO conversations (id, created_at, updated_at, state, event_count) "
                                    "VALUES ('old', :now, :now, :state, 1)"),
                               {"now": datetime(2026, 1, 1, tzinfo=UTC) if url.startswith("postgresql")
                                else now, "state": json.dumps(old_state)})
    finally:
        await engine.dispose()
    store = SQLTrackerStore(url)
    try:
        await store.start()
        tracker = await store.load("old", window=5)
        assert tracker.state.slots == {"order_number": "NW-1"} and tracker.state.handoff == {"status": "bot"}
        await store.append("old", [ev("handoff", 3.0, status="pending", trigger="customer_request")])
        await store.append("new", [ev("handoff", 1.0, status="pending", trigger="paused")])
        assert [cid for cid, _ in await store.queue()] == ["new", "old"]  # the longest waiting first
    finally:
        await store.close()


async def test_listeners_hear_each_committed_append(store: SQLTrackerStore) -> None:
    heard: list[tuple[str, int, bool]] = []

    async def listener(cid: str, new: Any, state: Any) -> None:
        heard.append((cid, len(new), state.paused))

    async def broken(cid: str, new: Any, state: Any) -> None:
        raise RuntimeError("a console went away")

    store.listeners += [broken, listener]
    await store.append("c", [ev("user", 1.0, text="hi"), ev("pause", 2.0)])
    assert heard == [("c", 2, True)]  # a failing listener neither fails the append nor silences the others
    assert len(await store.events("c")) == 2


async def test_a_revert_replays_the_session_but_never_takes_back_a_handoff(store: SQLTrackerStore) -> None:
    def user(ts: float, intent: str) -> Event:
        return ev("user", ts, text=f"/{intent}", parse_data={"intent": {"name": intent, "confidence": 1.0}})

    await store.append("r", [ev("action", 1.0, name="action_session_start"), ev("session_started", 1.1),
                             ev("slot", 1.2, name="city", value="Bern"), ev("action", 1.3, name="action_listen"),
                             user(2.0, "greet"), ev("action", 2.1, name="utter_greet"),
                             ev("action", 2.2, name="action_listen")])
    await store.append("r", [user(3.0, "move"), ev("slot", 3.1, name="city", value="Basel"),
                             ev("active_loop", 3.2, name="move_form"),
                             ev("handoff", 3.3, status="pending", trigger="asked")])
    state = await store.append("r", [ev("rewind", 3.4)])  # the message is taken back, as the fallback does
    assert state.slots == {"city": "Bern"} and state.active_loop is None
    # the listen before the message goes with it, as in Rasa
    assert state.latest_action_name == "utter_greet" and state.latest_message["intent"]["name"] == "greet"
    assert state.handoff["status"] == "pending" and state.latest_event_time == 3.4  # not taken back
    assert (await store.load("r", window=100)).state == state
    state = await store.append("r", [ev("undo", 3.5)])  # takes back the last action, utter_greet
    assert state.latest_action_name == "action_listen" and state.slots == {"city": "Bern"}


async def test_ids_differing_in_case_or_trailing_space_are_different_conversations(store: SQLTrackerStore) -> None:
    """MySQL's default collations would make "Ab", "ab" and "ab " one key; ours is binary and does not pad."""
    for cid, ts in (("Ab", 1_700_000_000.123456), ("ab", 1_700_000_000.5), ("ab ", 1_700_000_001.25)):
        await store.append(cid, [ev("bot", ts, text=cid)])
    for cid, ts in (("Ab", 1_700_000_000.123456), ("ab", 1_700_000_000.5), ("ab ", 1_700_000_001.25)):
        (stored,) = await store.events(cid)
        assert stored["text"] == cid and stored["timestamp"] == ts  # a unix time keeps its microseconds
        assert (await store.load(cid, window=1)).state.latest_event_time == ts


async def test_waiting_ahead_counts_the_pending_conversations_before_this_one(store: SQLTrackerStore) -> None:
    await store.append("first", [ev("handoff", 1.0, status="pending", trigger="asked")])
    await store.append("second", [ev("handoff", 2.0, status="pending", trigger="asked")])
    await store.append("with-agent", [ev("handoff", 0.5, status="agent", trigger="asked")])
    await store.append("back-to-bot", [ev("handoff", 0.2, status="bot", trigger="asked")])
    await store.append("never", [ev("user", 0.1, text="hi")])
    assert await store.waiting_ahead("first") == 0
    assert await store.waiting_ahead("second") == 1
    # not waiting (yet): everyone who waits is ahead; a conversation with an agent waits no more
    assert await store.waiting_ahead("never") == 2
    assert await store.waiting_ahead("unknown") == 2
    assert await store.waiting_ahead("with-agent") == 2
    # the same second: the id breaks the tie, as the console's queue orders them
    await store.append("tie-b", [ev("handoff", 3.0, status="pending", trigger="asked")])
    await store.append("tie-a", [ev("handoff", 3.0, status="pending", trigger="asked")])
    assert await store.waiting_ahead("tie-a") == 2
    assert await store.waiting_ahead("tie-b") == 3
    assert await store.waiting_ahead("never") == 4
