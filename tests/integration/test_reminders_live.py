"""Reminders in the running shop bot (real models, SQLite): a reminder event stored through the
HTTP API fires about when it is due and the bot answers its intent in the conversation; with
`kill_on_user_msg`, a message from the customer in between stops it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration.conftest import Server


async def _bot_texts(server: Server, cid: str) -> list[str]:
    tracker = await server.tracker(cid)
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "bot"]


async def _schedule(server: Server, cid: str, seconds: float, **extra: Any) -> None:
    event = {"event": "reminder", "intent": "shipping_times", "entities": {}, "name": "ship",
             "date_time": time.time() + seconds, **extra}
    async with server.http.post(f"{server.base}/conversations/{cid}/tracker/events", json=event) as r:
        assert r.status == 200, await r.text()


async def _wait_for(server: Server, cid: str, text: str, seconds: float = 20.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if any(text in t for t in await _bot_texts(server, cid)):
            return True
        await asyncio.sleep(0.2)
    return False


async def test_a_reminder_fires_into_its_conversation(server: Server) -> None:
    await server.say("rem1", "hello")
    await _schedule(server, "rem1", 1.0, kill_on_user_msg=False)
    assert not any("business day" in t for t in await _bot_texts(server, "rem1"))  # not yet
    assert await _wait_for(server, "rem1", "business day")
    users = [e for e in (await server.tracker("rem1"))["events"] if e["event"] == "user"]
    assert users[-1]["text"] == "/shipping_times" and users[-1]["metadata"] == {"reminder": True}


async def test_a_customer_message_kills_a_reminder_that_says_so(server: Server) -> None:
    await server.say("rem2", "hello")
    await _schedule(server, "rem2", 1.5, kill_on_user_msg=True)
    await server.say("rem2", "thanks")
    await asyncio.sleep(3.0)
    assert not any("business day" in t for t in await _bot_texts(server, "rem2"))
