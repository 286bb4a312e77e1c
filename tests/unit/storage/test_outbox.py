"""The outbox and its dispatcher on SQLite, PostgreSQL and MariaDB: messages written with the
events go out once each and in order, also with several workers (each with its own engine and
locks) delivering at the same time; what the platform refuses for a while is retried with
exponential back-off; what it refuses for good, or what a dead worker left half-sent, is given
up; an agent's resend and a returning widget send what was not delivered, never what was."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.base import DeliveryError
from bot.channels.dispatch import Dispatcher
from bot.storage.base import Outgoing
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.outbox import FAILED, PENDING, SENT, OutboxStore
from bot.storage.sql import SQLTrackerStore


class Platform:
    """An output channel that records what reached the customer, and refuses when told to."""

    name = "telegram"

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.refusals: list[DeliveryError] = []
        self.calls = 0

    async def send(self, recipient_id: str, message: dict[str, Any], *, skip: int = 0,
                   delivery_id: str | None = None) -> None:
        self.calls += 1
        await asyncio.sleep(0.005)  # a network call: other workers run meanwhile
        if self.refusals:
            raise self.refusals.pop(0)
        self.received.append((recipient_id, message["text"]))


class Clock:
    """The dispatcher's time, moved by the test (rows are written at the real time: it starts after it)."""

    def __init__(self) -> None:
        self.now = time.time() + 1.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    yield s
    await s.close()


async def say(store: SQLTrackerStore, cid: str, *texts: str) -> list[str]:
    """What a turn does: bot events and their outbox rows in one append (no dispatcher listening)."""
    outgoing = [Outgoing("telegram", {"text": t}) for t in texts]
    await store.append(cid, [{"event": "bot", "text": t, "metadata": {"delivery_id": o.delivery_id}}
                             for t, o in zip(texts, outgoing)], outbox=outgoing)
    return [o.delivery_id for o in outgoing]


def dispatcher(store: SQLTrackerStore, platform: Platform, clock: Clock | None = None, **options: Any) -> Dispatcher:
    return Dispatcher(OutboxStore(store.engine), InMemoryLockStore(), {"telegram": platform},
                      clock=clock or Clock(), **options)


async def test_several_workers_deliver_each_message_once_and_in_order(url: str) -> None:
    workers = [SQLTrackerStore(url) for _ in range(3)]  # three processes: own engines, own (in-memory) locks
    await workers[0].start()
    platform = Platform()
    try:
        expected: dict[str, list[str]] = {}
        for c in range(6):
            texts = [f"c{c}-m{m}" for m in range(5)]
            await say(workers[0], f"c{c}", *texts)
            expected[f"c{c}"] = texts
        dispatchers = [dispatcher(w, platform) for w in workers]
        for _ in range(3):  # every worker polls, all at once, a few times over
            await asyncio.gather(*(d.poll_once() for d in dispatchers),
                                 *(d.flush(f"c{c}") for d in dispatchers for c in range(0, 6, 2)))
        got: dict[str, list[str]] = {}
        for cid, text in platform.received:
            got.setdefault(cid, []).append(text)
        assert got == expected  # each once, each conversation in order
        assert platform.calls == 30
        rows = await OutboxStore(workers[0].engine).of_conversation("c3")
        assert {d.status for d in rows.values()} == {SENT} and {d.attempts for d in rows.values()} == {1}
    finally:
        await asyncio.gather(*(w.close() for w in workers))


async def test_a_platform_that_is_away_is_retried_with_growing_waits_and_order_kept(store: SQLTrackerStore) -> None:
    platform, clock = Platform(), Clock()
    d = dispatcher(store, platform, clock, first_retry=2.0, max_retry=30.0, max_attempts=5)
    first, second = await say(store, "c", "one", "two")
    platform.refusals = [DeliveryError("down") for _ in range(3)]
    waits = []
    for _ in range(3):
        tried = await d.flush("c")
        assert [t.delivery_id for t in tried] == [first] and tried[0].status == PENDING  # "two" waits behind it
        waits.append(tried[0].next_attempt_at - clock.now)
        assert await d.poll_once() == 0  # not due yet: nobody tries
        clock.now = tried[0].next_attempt_at
    assert waits == [2.0, 4.0, 8.0]
    assert await d.poll_once() == 2
    assert platform.received == [("c", "one"), ("c", "two")]
    rows = await OutboxStore(store.engine).of_conversation("c")
    assert (rows[first].status, rows[first].attempts, rows[first].last_error) == (SENT, 4, None)
    assert (rows[second].status, rows[second].attempts) == (SENT, 1)


async def test_the_platforms_retry_after_is_honoured_and_attempts_are_bounded(store: SQLTrackerStore) -> None:
    platform, clock = Platform(), Clock()
    d = dispatcher(store, platform, clock, first_retry=1.0, max_attempts=3)
    (only,) = await say(store, "c", "hello")
    platform.refusals = [DeliveryError("flood", retry_after=30.0)]
    (tried,) = await d.deliver("c")
    assert tried.next_attempt_at == clock.now + 30.0
    platform.refusals = [DeliveryError("down"), DeliveryError("down")]
    clock.now += 30.0
    await d.poll_once()
    clock.now += 60.0
    (last,) = await d.flush("c")
    assert (last.status, last.attempts, last.last_error) == (FAILED, 3, "down")  # given up
    clock.now += 10_000.0
    assert await d.poll_once() == 0 and platform.received == []


async def test_a_refusal_for_good_is_not_retried_and_the_next_message_goes(store: SQLTrackerStore) -> None:
    platform, clock = Platform(), Clock()
    d = dispatcher(store, platform, clock)
    blocked, after = await say(store, "c", "one", "two")
    platform.refusals = [DeliveryError("the user blocked the bot", permanent=True)]
    tried = await d.flush("c")
    assert [(t.delivery_id, t.status) for t in tried] == [(blocked, FAILED), (after, SENT)]
    assert platform.calls == 2


async def test_a_channel_this_worker_lacks_fails_the_message_with_a_reason(store: SQLTrackerStore) -> None:
    d = Dispatcher(OutboxStore(store.engine), InMemoryLockStore(), {}, clock=Clock())
    await say(store, "c", "hello")
    (tried,) = await d.flush("c")
    assert tried.status == FAILED and "not configured" in (tried.last_error or "")


async def test_an_agents_resend_and_a_returning_widget_send_what_was_not_delivered(store: SQLTrackerStore) -> None:
    platform, clock = Platform(), Clock()
    d = dispatcher(store, platform, clock, max_attempts=1)
    failed, sent = await say(store, "c", "lost", "kept")
    platform.refusals = [DeliveryError("down")]
    await d.flush("c")  # "lost" is given up at once (max_attempts=1); "kept" waited behind it, then went
    assert platform.received == [("c", "kept")]
    assert (await d.resend("c", sent)).status == SENT and platform.calls == 2  # sent: never twice
    again = await d.resend("c", failed)
    assert (again.status, again.attempts) == (SENT, 1) and platform.received[-1] == ("c", "lost")
    with pytest.raises(Exception, match="no outgoing message"):
        await d.resend("c", "nope")

    (away,) = await say(store, "w", "while you were away")
    platform.refusals = [DeliveryError("the chat is not open now")]
    await d.flush("w")  # given up (max_attempts=1): the widget was closed
    assert await d.reconnected("w", "socketio") == []  # another channel's messages are not its
    back = await d.reconnected("w", "telegram")
    assert [(t.delivery_id, t.status) for t in back] == [(away, SENT)]


async def test_a_message_a_dead_worker_left_half_sent_is_failed_not_sent_again(store: SQLTrackerStore) -> None:
    platform, clock = Platform(), Clock()
    outbox = OutboxStore(store.engine)
    (half,) = await say(store, "c", "in flight")
    claimed = await outbox.claim("c", clock.now)  # a worker claimed it, then died before finishing
    assert [c.delivery_id for c in claimed] == [half]
    d = dispatcher(store, platform, clock, claim_timeout=300.0)
    assert await d.poll_once() == 0  # claimed and not stale yet: left alone
    clock.now += 301.0
    await d.poll_once()
    row = (await outbox.of_conversation("c"))[half]
    assert row.status == FAILED and "may not have arrived" in (row.last_error or "")
    assert platform.calls == 0  # at most once: an agent decides whether to resend it
