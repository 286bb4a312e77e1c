"""One customer's data deleted or anonymised everywhere it is kept, on SQLite, PostgreSQL and
MariaDB, and the retention job that does it to old conversations, one worker at a time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.errors import ConfigError
from bot.storage.base import Outgoing
from bot.storage.console import ConsoleStore, Correction
from bot.storage.privacy import ANONYMOUS_PREFIX, anonymise, forget
from bot.storage.retention import RetentionJob, RetentionSettings, parse_retention
from bot.storage.schema import (
    conversations,
    events,
    intent_corrections,
    knowledge_entries,
    knowledge_sources,
    outbox,
    reminders,
    user_messages,
)
from bot.storage.sql import SQLTrackerStore
from knowledge.base import Entry
from knowledge.store import KnowledgeStore

TABLES = (conversations, events, user_messages, outbox, reminders, intent_corrections, knowledge_sources)
SECRET = "Ada Lovelace, 12 Crescent Road, card 4111"


@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    yield s
    await s.close()


async def customer(store: SQLTrackerStore, cid: str, *, approved: bool = True) -> None:
    """A conversation with something in every place Switchboard keeps a customer's data."""
    user = {"event": "user", "timestamp": 1.0, "text": f"I am {SECRET}", "message_id": f"{cid}-m1",
            "input_channel": "telegram", "metadata": {"telegram": {"chat_id": 42}},
            "parse_data": {"intent": {"name": "order_status", "confidence": 0.9}, "text": f"I am {SECRET}",
                           "entities": [{"entity": "name", "value": "Ada"}], "sentiment": {"label": "neutral"}}}
    bot = {"event": "bot", "timestamp": 1.1, "text": f"Hello {SECRET}", "data": {"buttons": []},
           "metadata": {"delivery_id": f"{cid}-d1", "reason": {"route": "rules", "intent": "order_status",
                                                                "generation": {"rejected_answer": SECRET}}}}
    await store.append(cid, [user, {"event": "slot", "timestamp": 1.05, "name": "name", "value": SECRET}, bot,
                             {"event": "agent", "timestamp": 1.2, "text": f"Dear {SECRET}",
                              "metadata": {"agent": "ann", "message_id": f"{cid}-a1"}}],
                       replies=[{"text": f"Hello {SECRET}"}], outbox=[Outgoing("telegram", {"text": SECRET}, f"{cid}-d1")])
    async with store.engine.begin() as conn:
        await conn.execute(reminders.insert().values(conversation_id=cid, name="r", intent="EXTERNAL_x",
                                                     entities={"name": SECRET}, fire_at=time.time() + 60,
                                                     scheduled_at=1.0, kill_on_user_msg=False, channel="telegram",
                                                     status="pending"))
    await ConsoleStore(store.engine).correct(Correction(cid, f"{cid}-m1", SECRET, "order_status", "greet", "ann"))
    if approved:
        entry = Entry(id=f"agent-{cid}-a1", question=f"question of {cid}", answer="Our answer", intent=None, tags=(),
                      created_at=None, source="agent")
        await ConsoleStore(store.engine).link_source(entry.id, cid)
        await KnowledgeStore(store.engine).upsert(entry)


async def rows(store: SQLTrackerStore, cid: str) -> dict[str, int]:
    async with store.engine.connect() as conn:
        found = {}
        for table in TABLES:
            column = table.c.id if table is conversations else table.c.conversation_id
            found[table.name] = int(await conn.scalar(select(func.count()).select_from(table).where(column == cid)) or 0)
    return found


async def test_forget_deletes_everything_of_one_conversation_and_nothing_else(store: SQLTrackerStore) -> None:
    await customer(store, "ada")
    await customer(store, "bob")
    assert all(n > 0 for n in (await rows(store, "ada")).values())  # something in every place
    gone = await forget(store.engine, "ada")
    assert gone is not None and gone.events == 4 and gone.knowledge_entries == ["agent-ada-a1"]
    assert set((await rows(store, "ada")).values()) == {0}
    assert all(n > 0 for n in (await rows(store, "bob")).values())  # another customer's data stays
    knowledge = KnowledgeStore(store.engine)
    assert await knowledge.get("agent-ada-a1") is None and await knowledge.get("agent-bob-a1") is not None
    changes = await knowledge.changes_since(0)
    assert changes[-1].entry_id == "agent-ada-a1" and changes[-1].entry is None  # other workers drop it too
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(knowledge_entries)
                                 .where(knowledge_entries.c.id == "agent-ada-a1")) == 0  # not a soft delete
    assert await forget(store.engine, "ada") is None  # unknown now


async def test_anonymise_keeps_the_shape_without_anything_personal(store: SQLTrackerStore) -> None:
    await customer(store, "ada")
    new_id = await anonymise(store.engine, "ada")
    assert new_id is not None and new_id.startswith(ANONYMOUS_PREFIX)
    assert set((await rows(store, "ada")).values()) == {0}
    kept = await store.events(new_id)
    assert [e["event"] for e in kept] == ["user", "slot", "bot", "agent"]
    assert SECRET not in json.dumps(kept) and "Ada" not in json.dumps(kept)
    assert kept[0]["parse_data"]["intent"]["name"] == "order_status" and kept[0]["input_channel"] == "telegram"
    assert kept[2]["metadata"] == {"reason": {"route": "rules", "intent": "order_status"}}
    tracker = await store.load(new_id, window=10)
    assert tracker.state.slots == {"name": None} and SECRET not in json.dumps(tracker.state.to_json())
    other = await rows(store, new_id)
    assert other == {"conversations": 1, "events": 4, "user_messages": 0, "outbox": 0, "reminders": 0,
                     "intent_corrections": 0, "knowledge_sources": 0}
    assert await KnowledgeStore(store.engine).get("agent-ada-a1") is not None  # the company's answer stays
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(conversations.c.anonymised_at).where(conversations.c.id == new_id))
    assert await anonymise(store.engine, "ada") is None


async def age(store: SQLTrackerStore, cid: str, days: float) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(update(conversations).where(conversations.c.id == cid)
                           .values(updated_at=datetime.now(UTC) - timedelta(days=days)))


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
async def test_retention_removes_old_conversations_once_with_several_workers(store: SQLTrackerStore, url: str,
                                                                             mode: str) -> None:
    for cid, days in (("old", 100.0), ("older", 400.0), ("recent", 10.0)):
        await customer(store, cid, approved=False)
        await age(store, cid, days)
    settings = RetentionSettings(max_age_days=90, mode=mode, interval_minutes=60)
    others = [SQLTrackerStore(url) for _ in range(2)]  # other workers: their own engines
    try:
        jobs = [RetentionJob(s.engine, settings, worker=f"w{i}") for i, s in enumerate([store, *others])]
        results = await asyncio.gather(*(job.run_once() for job in jobs))
        assert sorted(results, key=lambda r: -1 if r is None else r) == [None, None, 2]  # one ran, the rest skipped
        assert await jobs[0].run_once() is None  # the round's lease holds until the interval has passed
        assert await jobs[1].run_once(time.time() + 3600) == 0  # the next round: nothing left to do
    finally:
        await asyncio.gather(*(s.close() for s in others))
    assert (await rows(store, "recent"))["events"] == 4
    assert (await rows(store, "old"))["conversations"] == 0 and (await rows(store, "older"))["conversations"] == 0
    async with store.engine.connect() as conn:
        anonymous = int(await conn.scalar(select(func.count()).select_from(conversations)
                                          .where(conversations.c.anonymised_at.is_not(None))) or 0)
    assert anonymous == (2 if mode == "anonymise" else 0)


def test_retention_settings() -> None:
    assert not parse_retention(None).enabled
    assert parse_retention({"max_age_days": 30, "mode": "anonymize"}) == RetentionSettings(30.0, "anonymise", 60.0)
    for bad in ({"max_age_days": 0}, {"max_age_days": "soon"}, {"mode": "shred"}, {"keep": 3}, ["delete"],
                {"max_age_days": 5, "interval_minutes": True}):
        with pytest.raises(ConfigError, match="retention"):
            parse_retention(bad)
