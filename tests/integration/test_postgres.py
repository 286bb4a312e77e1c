"""The same bot on PostgreSQL by setting one URL."""

from __future__ import annotations

import uuid

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
