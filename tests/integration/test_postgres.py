"""The same bot on PostgreSQL by setting one URL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conftest import StartServer


@pytest.mark.postgres
async def test_conversation_on_postgres_survives_a_restart(start_server: StartServer, postgres_url: str) -> None:
    sender = f"pg-{uuid.uuid4().hex[:8]}"
    server = await start_server(database_url=postgres_url)
    assert "Northwind" in " ".join(r.get("text", "") for r in await server.say(sender, "hello"))
    replies = await server.say(sender, "where is NW-10002?")
    assert "shipped" in replies[0]["text"]

    again = await start_server(database_url=postgres_url)  # a second worker on the same database
    tracker = await again.tracker(sender, include_events="ALL")
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hello", "where is NW-10002?"]
    assert tracker["slots"]["order_number"] == "NW-10002"
    async with again.http.get(f"{again.base}/health") as r:
        assert r.status == 200


@pytest.mark.postgres
async def test_two_workers_with_redis_locks_keep_one_conversation_in_order(
    start_server: StartServer, postgres_url: str
) -> None:
    import asyncio

    from tests.conftest import missing, port_open

    if not port_open("127.0.0.1", 6379):
        missing("Redis is not listening on 127.0.0.1:6379")
    redis_url = "redis://127.0.0.1:6379/15"
    workers = [await start_server(database_url=postgres_url, lock_store_url=redis_url) for _ in range(2)]
    sender = f"rl-{uuid.uuid4().hex[:8]}"
    messages = [f"thanks, message {i}" for i in range(8)]
    await asyncio.gather(*(workers[i % 2].say(sender, m) for i, m in enumerate(messages)))
    events = (await workers[0].tracker(sender, include_events="ALL"))["events"]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert sorted(users) == sorted(messages)
    # turns never overlapped: every event was made after all the events stored before it
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


@pytest.mark.postgres
async def test_the_console_across_two_workers_on_postgres_and_redis(
    start_server: StartServer, postgres_url: str
) -> None:
    """A login made on one worker works on the other (sessions in SQL); a customer on worker B
    reaches the live queue of a console connected to worker A (Redis pub/sub)."""
    from tests.conftest import missing, port_open
    from tests.integration.console_client import Agent, add_agent
    from tests.integration.test_console_api import read_events

    if not port_open("127.0.0.1", 6379):
        missing("Redis is not listening on 127.0.0.1:6379")
    redis_url = "redis://127.0.0.1:6379/15"
    a, b = [await start_server(database_url=postgres_url, lock_store_url=redis_url) for _ in range(2)]
    name = f"pg-{uuid.uuid4().hex[:6]}"
    await add_agent(a, name)
    agent = Agent(a)
    try:
        await agent.login(name)
        sender = f"pgc-{uuid.uuid4().hex[:8]}"
        async with agent.http.get(f"{a.base}/console/api/live") as live:
            assert live.status == 200
            await b.say(sender, "/ask_human")
            updates = await read_events(live, 1)
        assert updates[0][1]["id"] == sender and updates[0][1]["queue_item"]["status"] == "pending"
        agent.server = b  # the same browser, now load-balanced to worker B
        queue = (await agent.ok("GET", "/queue"))["conversations"]
        assert sender in [q["id"] for q in queue]
        assert (await agent.ok("POST", f"/conversations/{sender}/take"))["handoff"]["agent"] == name
        reply = await agent.ok("POST", f"/conversations/{sender}/reply", {"text": "Hello from a person."})
        assert reply["item"]["agent"] == name
        agent.server = a
        assert (await agent.ok("GET", f"/conversations/{sender}"))["items"][-1]["text"] == "Hello from a person."
        await agent.ok("POST", f"/conversations/{sender}/close")
        assert sender not in [q["id"] for q in (await agent.ok("GET", "/queue"))["conversations"]]
    finally:
        await agent.close()


@pytest.mark.postgres
async def test_two_workers_give_an_address_its_rate_in_all(
    start_server: StartServer, postgres_url: str, private_redis: Any
) -> None:
    """With a Redis lock store the address buckets live in Redis: a burst of 5 over two workers
    is 5 requests in all, not 5 on each (bot/server/shared_limits.py)."""
    workers = [await start_server(database_url=postgres_url, lock_store_url=private_redis.url(), rate_limit=0.001,
                                  rate_limit_burst=5, trusted_proxies=("127.0.0.1",)) for _ in range(2)]
    client = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    statuses = []
    for i in range(10):
        server = workers[i % 2]
        async with server.http.get(f"{server.base}/conversations/rate-{i}/tracker", headers=client) as r:
            statuses.append(r.status)
    assert statuses == [200] * 5 + [429] * 5, statuses
