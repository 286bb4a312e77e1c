"""bot/reminders.py on SQLite and PostgreSQL: reminder events stored by the tracker store become
rows, each due reminder fires once even with two workers polling, a new reminder of the same
name replaces the old one, cancelling works by name and by intent and entities, and a worker
that starts later still fires what was scheduled before it started."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import pytest
from sqlalchemy import select

from bot.reminders import ReminderScheduler, fire_time
from bot.storage.schema import reminders
from bot.storage.sql import SQLTrackerStore


class Fired:
    """What the schedulers triggered (the app's trigger runs a turn; here we only record it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any], str | None, float | None]] = []

    async def __call__(self, cid: str, intent: str, entities: dict[str, Any], channel: str | None, *,
                      kill_after: float | None) -> list[dict[str, Any]]:
        await asyncio.sleep(0.01)  # a turn takes a while: the other worker polls meanwhile
        self.calls.append((cid, intent, entities, channel, kill_after))
        return [{"text": f"reminder {intent}"}]


@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    yield s
    await s.close()


def reminder(name: str | None, at: float, intent: str = "EXTERNAL_reminder", **extra: Any) -> dict[str, Any]:
    return {"event": "reminder", "intent": intent, "entities": extra.pop("entities", {"PERSON": "John"}),
            "date_time": at, "name": name, "kill_on_user_msg": extra.pop("kill", False), **extra}


async def _statuses(store: SQLTrackerStore) -> dict[str, str]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(reminders.c.name, reminders.c.status).order_by(reminders.c.id))).all()
    return {f"{r.name}#{i}": r.status for i, r in enumerate(rows)}


async def test_a_due_reminder_fires_once_with_two_workers(store: SQLTrackerStore) -> None:
    fired = Fired()
    workers = [ReminderScheduler(store.engine, fired, worker=f"w{i}") for i in range(2)]
    store.listeners.append(workers[0].on_events)
    now = time.time()
    await store.append("c1", [{"event": "user", "text": "hi", "input_channel": "telegram", "parse_data": {}}])
    await store.append("c1", [reminder("call", now + 60, kill=True)])
    assert await workers[0].fire_due(now) == 0  # not due yet
    counts = await asyncio.gather(*(w.fire_due(now + 61) for w in workers))
    assert sorted(counts) == [0, 1] and len(fired.calls) == 1
    cid, intent, entities, channel, kill_after = fired.calls[0]
    assert (cid, intent, entities, channel) == ("c1", "EXTERNAL_reminder", {"PERSON": "John"}, "telegram")
    assert kill_after is not None  # kill_on_user_msg: the trigger checks for later messages
    assert await workers[1].fire_due(now + 120) == 0  # fired means fired
    assert list((await _statuses(store)).values()) == ["fired"]


async def test_same_name_replaces_and_cancel_by_name_or_intent(store: SQLTrackerStore) -> None:
    fired = Fired()
    worker = ReminderScheduler(store.engine, fired)
    store.listeners.append(worker.on_events)
    at = time.time() + 5
    await store.append("c2", [reminder("a", at), reminder("a", at + 1, entities={"PERSON": "Ann"}),
                              reminder("b", at, intent="EXTERNAL_dry_plant", entities=[{"entity": "plant",
                                                                                        "value": "fern"}]),
                              reminder("c", at, intent="EXTERNAL_dry_plant", entities={"plant": "rose"})])
    await store.append("c2", [{"event": "cancel_reminder", "intent": "EXTERNAL_dry_plant",
                               "entities": [{"entity": "plant", "value": "fern"}]}])
    await store.append("c3", [reminder("a", at)])  # another conversation's reminder of that name stays
    assert list((await _statuses(store)).values()) == ["cancelled", "pending", "cancelled", "pending", "pending"]
    await store.append("c2", [{"event": "cancel_reminder", "name": "c"}])
    assert await worker.fire_due(at + 10) == 2
    assert sorted((c[0], c[2]) for c in fired.calls) == [("c2", {"PERSON": "Ann"}), ("c3", {"PERSON": "John"})]


async def test_reminders_outlive_the_worker_that_saw_them(store: SQLTrackerStore) -> None:
    first = ReminderScheduler(store.engine, Fired())
    store.listeners.append(first.on_events)
    await store.append("c4", [reminder("later", time.time() - 1)])  # already due: the worker went down
    store.listeners.clear()
    fired = Fired()
    restarted = ReminderScheduler(store.engine, fired, poll_seconds=0.05)
    restarted.start()
    for _ in range(100):
        if fired.calls:
            break
        await asyncio.sleep(0.05)
    await restarted.stop()
    assert [c[0] for c in fired.calls] == ["c4"]


def test_date_times_read_as_rasa_writes_them() -> None:
    assert fire_time("2026-12-03T10:00:00+00:00") == 1796292000.0
    assert fire_time("2026-12-03T10:00:00Z") == 1796292000.0
    assert fire_time(12.5) == 12.5
    with pytest.raises(ValueError):
        fire_time("next tuesday")
