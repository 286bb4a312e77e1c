"""Outages survived without restarting the worker, on private PostgreSQL and Redis servers that
the tests stop and start: while a store is down every request gets a clear 503 {"error"} with
Retry-After (never a 500, nothing stored), /health says which store is down without SQL, and
service resumes by itself once the store is back (stale pooled connections dropped)."""

from __future__ import annotations

import asyncio
import uuid
from bench.private_servers import PrivatePostgres, PrivateRedis
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import Server, StartServer
from tests.integration.socketio_client import WidgetClient

WEBHOOK = "/webhooks/rest/webhook"
SQL_WORDS = ("SELECT", "INSERT", "UPDATE", "parameters", "[SQL")


async def _answer(server: Server, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any], Any]:
    async with server.http.request(method, server.base + path, json=body) as r:
        return r.status, dict(r.headers), await r.json(content_type=None)


def _clean(body: Any) -> None:
    text = str(body)
    assert not any(word in text for word in SQL_WORDS), text


TURN = ("POST", WEBHOOK, {"sender": "during", "message": "where is my order NW-10002?"})
APPEND = ("POST", "/conversations/during/tracker/events", {"event": "pause"})
READ = ("GET", "/conversations/before/tracker", None)


async def _assert_unavailable(server: Server, store: str, requests: list[tuple[str, str, Any]]) -> None:
    """Each request that needs the store answers 503 with Retry-After and says which store is down."""
    for method, path, body in requests:
        status, headers, answer = await _answer(server, method, path, body)
        assert status == 503, (path, status, answer)
        assert int(headers["Retry-After"]) >= 1
        assert store.lower() in answer["error"].lower(), answer
        _clean(answer)
    status, headers, health = await _answer(server, "GET", "/health")
    assert status == 503 and int(headers["Retry-After"]) >= 1
    assert health["status"] == "unavailable" and health["models"] is True
    assert health["down"] == [store.lower()]
    _clean(health)


async def _widget_told(widget: WidgetClient, session: str, store: str) -> None:
    """A widget's message while the store is down is answered with an error event: 503, retry_after."""
    await widget.say("where is my order NW-10002?", session)
    error = await widget.error()
    assert error["status"] == 503 and error["retry_after"] >= 1 and store.lower() in error["error"].lower()
    _clean(error)


async def _resumes(server: Server, sender: str) -> list[dict[str, Any]]:
    """The first answered turn once the store is back (bounded tries, no timing asserted)."""
    for _ in range(100):
        try:
            async with server.http.post(server.base + WEBHOOK, json={"sender": sender, "message": "hello"}) as r:
                if r.status == 200:
                    return await r.json()
                assert r.status == 503, await r.text()  # never a 500 while it comes back
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the worker did not resume after the store came back")


async def test_a_postgres_restart_is_a_503_and_service_resumes(start_server: StartServer,
                                                              private_postgres: PrivatePostgres) -> None:
    url = private_postgres.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    server = await start_server(database_url=url)
    assert await server.say("before", "hello")  # the pool now holds connections that the restart makes stale
    widget = WidgetClient(server.base)
    await widget.connect()
    session = await widget.session()
    await asyncio.to_thread(private_postgres.stop)
    try:
        await _assert_unavailable(server, "database", [TURN, APPEND, READ])
        await _widget_told(widget, session, "database")
    finally:
        await asyncio.to_thread(private_postgres.start)
        await widget.close()
    assert await _resumes(server, "before")
    events = (await server.tracker("before", include_events="ALL"))["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["hello", "hello"]
    assert (await server.tracker("during", include_events="ALL"))["events"] == []  # nothing half-stored
    status, _, health = await _answer(server, "GET", "/health")
    assert status == 200 and health["database"] is True and health["down"] == []


async def test_a_redis_restart_is_a_503_and_service_resumes(start_server: StartServer,
                                                           private_redis: PrivateRedis,
                                                           tmp_path: Path) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                                lock_store_url=private_redis.url())
    assert await server.say("before", "hello")
    status, _, health = await _answer(server, "GET", "/health")
    assert status == 200 and health["redis"] is True
    widget = WidgetClient(server.base)
    await widget.connect()
    session = await widget.session()
    await asyncio.to_thread(private_redis.stop)
    try:
        await _assert_unavailable(server, "redis", [TURN, APPEND])  # what takes a conversation's lock
        assert (await _answer(server, *READ))[0] == 200  # reading a tracker needs no lock
        assert (await _answer(server, "GET", "/health"))[2]["database"] is True
        await _widget_told(widget, session, "redis")
    finally:
        await asyncio.to_thread(private_redis.start)  # empty: the restart lost every key
    assert await _resumes(server, "before")
    await widget.say("thanks", session)  # the same socket is answered again
    assert await widget.until(lambda message: True)
    await widget.close()
    events = (await server.tracker("before", include_events="ALL"))["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["hello", "hello"]
    assert (await server.tracker("during", include_events="ALL"))["events"] == []
