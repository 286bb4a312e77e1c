"""Each customer message id stored once per conversation, on SQLite, PostgreSQL and MariaDB: a second
store of the same id (a redelivery, a retry, two workers racing) raises DuplicateMessage and
writes nothing, however many events lie between the two; the replies of the first are kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.errors import InvalidEvent
from bot.storage.base import DuplicateMessage, Outgoing, fingerprint
from bot.storage.schema import events, outbox, user_messages
from bot.storage.sql import SQLTrackerStore


@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    yield s
    await s.close()


def user(message_id: str, text: str = "hi", ts: float = 1.0) -> dict[str, Any]:
    return {"event": "user", "timestamp": ts, "text": text, "message_id": message_id, "parse_data": {},
            "input_channel": "rest"}


async def counts(store: SQLTrackerStore) -> tuple[int, int, int]:
    async with store.engine.connect() as conn:
        return tuple([int(await conn.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                      for t in (events, user_messages, outbox)])


async def test_a_second_store_of_an_id_is_a_duplicate_and_writes_nothing(store: SQLTrackerStore) -> None:
    replies = [{"text": "Hello!", "buttons": [{"title": "Hi", "payload": "/greet"}]}]
    await store.append("c", [user("m-1", "hello"), {"event": "bot", "timestamp": 1.1, "text": "Hello!"}],
                       replies=replies, outbox=[Outgoing("telegram", replies[0], "d-1")])
    for i in range(40):  # far more than any window of recent events
        await store.append("c", [user(f"later-{i}", ts=2.0 + i), {"event": "bot", "timestamp": 2.1 + i, "text": "ok"}])
    before = await counts(store)
    with pytest.raises(DuplicateMessage) as dup:
        await store.append("c", [user("m-1", "hello", ts=99.0), {"event": "bot", "timestamp": 99.1, "text": "again"}],
                           replies=[{"text": "again"}], outbox=[Outgoing("telegram", {"text": "again"}, "d-2")])
    assert dup.value.message_id == "m-1" and dup.value.status == 409
    assert dup.value.handled is not None and dup.value.handled.replies == replies
    assert dup.value.handled.fingerprint == fingerprint("hello")
    assert await counts(store) == before  # no event, no id, no outbox row
    assert (await store.handled("c", "m-1")).replies == replies  # type: ignore[union-attr]
    assert await store.handled("c", "nope") is None
    assert await store.handled("other", "m-1") is None  # ids are the conversation's own


async def test_two_writers_racing_for_one_message_store_it_once(url: str) -> None:
    """Two workers (two engines) that both missed the check: the database decides."""
    workers = [SQLTrackerStore(url) for _ in range(2)]
    await workers[0].start()
    try:
        async def write(i: int) -> str:
            try:
                await workers[i % 2].append("race", [user("same", "hello", ts=float(i))], replies=[{"text": str(i)}],
                                            outbox=[Outgoing("socketio", {"text": str(i)})])
            except DuplicateMessage:
                return "duplicate"
            return "stored"

        results = await asyncio.gather(*(write(i) for i in range(6)))
        assert sorted(results) == ["duplicate"] * 5 + ["stored"]
        assert await counts(workers[0]) == (1, 1, 1)
        (stored,) = await workers[1].events("race")
        handled = await workers[1].handled("race", "same")
        assert handled is not None and handled.replies == [{"text": str(int(stored["timestamp"]))}]  # the winner's
    finally:
        await asyncio.gather(*(w.close() for w in workers))


async def test_ids_in_one_batch_and_bad_ids(store: SQLTrackerStore) -> None:
    with pytest.raises(DuplicateMessage):
        await store.append("b", [user("x"), user("x", ts=2.0)])
    with pytest.raises(InvalidEvent, match="255"):
        await store.append("b", [user("x" * 256)])
    assert await counts(store) == (0, 0, 0)
    await store.append("b", [user("x"), {"event": "user", "timestamp": 3.0, "text": "no id"}])  # no id: no row
    assert await counts(store) == (2, 1, 0)
    assert (await store.handled("b", "x")).replies is None  # type: ignore[union-attr]  # stored without a turn


async def test_replacing_the_events_replaces_the_ids(store: SQLTrackerStore) -> None:
    await store.append("r", [user("old")])
    await store.replace("r", [user("new", "fresh")])
    assert await store.handled("r", "old") is None
    assert (await store.handled("r", "new")).fingerprint == fingerprint("fresh")  # type: ignore[union-attr]
    await store.append("r", [user("old", ts=5.0)])  # the old id is free again
    with pytest.raises(DuplicateMessage):
        await store.replace("r", [user("twice"), user("twice", ts=2.0)])
    assert [e["message_id"] for e in await store.events("r")] == ["new", "old"]  # the failed replace changed nothing
