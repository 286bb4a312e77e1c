"""DELETE /conversations/{id}: one customer's data gone from everywhere the running bot keeps it
(events and snapshot, message ids, outbox, reminders, agents' corrections, the knowledge entry an
agent approved from it, which the bot stops answering with at once), behind the API token."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from bot.server.keys import RUNTIME
from bot.storage.base import Outgoing
from bot.storage.schema import (
    conversations,
    events,
    intent_corrections,
    knowledge_sources,
    outbox,
    reminders,
    user_messages,
)
from tests.integration.conftest import Server, StartServer
from tests.integration.console_client import Agent, add_agent

TOKEN = "privacy-token-0123456789"
QUESTION = "do you ship to the Faroe Islands?"
ANSWER = "Yes: parcels to the Faroe Islands go by Posta and take 5 to 7 working days."


async def call(server: Server, method: str, path: str, *, token: str | None = TOKEN) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with server.http.request(method, server.base + path, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def say(server: Server, sender: str, text: str) -> list[dict]:
    async with server.http.post(f"{server.base}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.status == 200
        return await r.json()


async def kept(server: Server, cid: str) -> dict[str, int]:
    engine = server.app[RUNTIME].store.engine
    async with engine.connect() as conn:
        return {t.name: int(await conn.scalar(select(func.count()).select_from(t).where(
            (t.c.id if t is conversations else t.c.conversation_id) == cid)) or 0)
            for t in (conversations, events, user_messages, outbox, reminders, intent_corrections, knowledge_sources)}


async def test_a_customers_data_is_deleted_everywhere(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", api_token=TOKEN)
    runtime = server.app[RUNTIME]
    await say(server, "ada", "/ask_human")
    await say(server, "ada", QUESTION)
    await say(server, "bob", "hello")  # another customer
    await add_agent(server, "ann")
    agent = Agent(server)
    try:
        await agent.login("ann")
        await agent.ok("POST", "/conversations/ada/take")
        reply = (await agent.ok("POST", "/conversations/ada/reply", {"text": ANSWER}))["item"]
        customer = next(i for i in (await agent.ok("GET", "/conversations/ada"))["items"] if i["kind"] == "customer")
        await agent.ok("POST", "/conversations/ada/relabel", {"message_id": customer["message_id"], "intent": "greet"})
        entry = (await agent.ok("POST", "/conversations/ada/approve", {"message_id": reply["message_id"]}))["entry"]
        assert (await call(server, "GET", f"/knowledge/entries/{entry['id']}"))[0] == 200
        async with runtime.locks.lock("ada"):  # a message waiting in the outbox, a pending reminder
            await runtime.store.append("ada", [{"event": "bot", "text": "later", "metadata": {"delivery_id": "d-ada"}}],
                                       outbox=[Outgoing("nowhere", {"text": "later"}, "d-ada")])
        async with runtime.store.engine.begin() as conn:
            await conn.execute(reminders.insert().values(
                conversation_id="ada", name="r", intent="EXTERNAL_x", entities={}, fire_at=time.time() + 3600,
                scheduled_at=time.time(), kill_on_user_msg=False, channel="rest", status="pending"))
        assert all(n > 0 for n in (await kept(server, "ada")).values())
        assert "Faroe Islands" in (await say(server, "carl", QUESTION))[0]["text"]  # answered from the entry

        assert (await call(server, "DELETE", "/conversations/ada", token=None))[0] == 401
        assert (await call(server, "DELETE", "/conversations/ada", token="wrong"))[0] == 401
        assert all(n > 0 for n in (await kept(server, "ada")).values())  # refused: nothing gone
        status, body = await call(server, "DELETE", "/conversations/ada")
        assert status == 204 and body == ""
        assert set((await kept(server, "ada")).values()) == {0}
        assert (await call(server, "GET", f"/knowledge/entries/{entry['id']}"))[0] == 404
        assert "Faroe Islands" not in " ".join(r.get("text", "") for r in await say(server, "dan", QUESTION))
        assert (await agent.ok("GET", "/queue"))["conversations"] == []
        assert (await agent.call("GET", "/conversations/ada"))[0] == 404
        status, body = await call(server, "DELETE", "/conversations/ada")
        assert status == 404 and "ada" in body["error"]  # type: ignore[index]
        assert (await call(server, "DELETE", "/conversations/" + "x" * 256))[0] == 400
        assert (await kept(server, "bob"))["events"] > 0  # the other customer's conversation stays
        tracker = await call(server, "GET", "/conversations/ada/tracker")
        assert tracker[0] == 200 and tracker[1]["events"] == []  # type: ignore[index]
    finally:
        await agent.close()
