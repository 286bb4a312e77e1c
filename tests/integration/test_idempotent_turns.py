"""At most one turn per message id, whatever the window: a REST client's retry (its own id in
`metadata.message_id`) gets the replies of the first attempt and stores nothing twice, however
many events came after it, and so does a Telegram update redelivered after newer ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.integration.conftest import Server, StartServer


async def post(server: Server, body: dict[str, Any]) -> tuple[int, Any]:
    async with server.http.post(f"{server.base}/webhooks/rest/webhook", json=body) as r:
        return r.status, await r.json()


async def user_events(server: Server, sender: str) -> list[dict[str, Any]]:
    return [e for e in (await server.tracker(sender, include_events="ALL"))["events"] if e["event"] == "user"]


async def test_a_rest_retry_gets_the_first_replies_and_is_stored_once(server: Server) -> None:
    body = {"sender": "retry-1", "message": "what payment methods do you accept?",
            "metadata": {"message_id": "client-0001"}}
    status, first = await post(server, body)
    assert status == 200 and "PayPal" in " ".join(r.get("text", "") for r in first)
    status, again = await post(server, body)  # the client timed out and sent it again
    assert status == 200 and again == first
    users = await user_events(server, "retry-1")
    assert [(e["text"], e["message_id"]) for e in users] == [(body["message"], "client-0001")]
    bots = [e for e in (await server.tracker("retry-1", include_events="ALL"))["events"] if e["event"] == "bot"]
    assert len(bots) == len(first)  # no second answer was stored either


async def test_retries_racing_the_first_attempt_are_answered_once(server: Server) -> None:
    body = {"sender": "retry-2", "message": "how long does shipping take?", "metadata": {"message_id": "race-7"}}
    results = await asyncio.gather(*(post(server, body) for _ in range(4)))
    assert {status for status, _ in results} == {200}
    assert all(replies == results[0][1] and replies for _, replies in results)
    assert len(await user_events(server, "retry-2")) == 1


async def test_a_retry_after_more_than_a_window_of_newer_events_is_still_a_duplicate(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = await start_server(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", history_window=30)
    body = {"sender": "retry-3", "message": "do you sell gift cards?", "metadata": {"message_id": "old-1"}}
    _, first = await post(server, body)
    for i in range(10):  # each turn stores a user message, actions, replies: well over 30 events
        await post(server, {"sender": "retry-3", "message": "/thanks", "metadata": {"message_id": f"new-{i}"}})
    events = (await server.tracker("retry-3", include_events="ALL"))["events"]
    after = len(events) - next(i for i, e in enumerate(events) if e.get("message_id") == "old-1")
    assert after > 30
    _, again = await post(server, body)
    assert again == first
    assert len(await user_events(server, "retry-3")) == 11


async def test_a_message_id_reused_for_another_text_is_refused(server: Server) -> None:
    await post(server, {"sender": "retry-4", "message": "hello", "metadata": {"message_id": "same"}})
    status, body = await post(server, {"sender": "retry-4", "message": "goodbye", "metadata": {"message_id": "same"}})
    assert status == 409 and "same" in body["error"]
    assert [e["text"] for e in await user_events(server, "retry-4")] == ["hello"]
    # the id is the conversation's: another conversation may use it
    status, _ = await post(server, {"sender": "retry-5", "message": "goodbye", "metadata": {"message_id": "same"}})
    assert status == 200


async def test_bad_message_ids_are_refused_and_store_nothing(server: Server) -> None:
    for bad in (7, "", " ", "x" * 256, ["a"], {"id": 1}):
        status, body = await post(server, {"sender": "retry-6", "message": "hello", "metadata": {"message_id": bad}})
        assert status == 400 and "message_id" in body["error"], bad
    assert await user_events(server, "retry-6") == []
