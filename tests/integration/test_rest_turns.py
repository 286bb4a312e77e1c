"""The shop bot end to end over Rasa's REST channel, with the real models and SQLite."""

from __future__ import annotations

import asyncio
import json

from tests.integration.conftest import Server


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


async def test_rest_health_endpoint(server: Server) -> None:
    async with server.http.get(f"{server.base}/webhooks/rest/") as r:
        assert r.status == 200 and await r.json() == {"status": "ok"}


async def test_intent_question_gets_the_intents_response(server: Server) -> None:
    replies = await server.say("c1", "hello there")
    assert replies and replies[0]["recipient_id"] == "c1"
    assert "Northwind" in texts(replies)
    assert any(r.get("buttons") for r in replies)  # the greeting offers quick replies
    replies = await server.say("c1", "what payment methods do you accept?")
    assert "PayPal" in texts(replies)


async def test_log_question_gets_the_past_logs_answer_and_cites_it(server: Server) -> None:
    replies = await server.say("c2", "do you sell gift cards?")
    assert "gift card" in texts(replies).lower()
    tracker = await server.tracker("c2")
    bot_events = [e for e in tracker["events"] if e["event"] == "bot"]
    reason = bot_events[-1]["metadata"]["reason"]
    assert reason["route"] == "retrieval"
    assert reason["retrieval"][0]["id"].startswith("log-")
    assert reason["retrieval"][0]["score"] >= reason["threshold"]
    assert {"intent", "confidence", "ranking", "timings_ms"} <= reason.keys()
    assert len(reason["ranking"]) == 3


async def test_unrelated_question_gets_an_honest_fallback(server: Server) -> None:
    replies = await server.say("c3", "who painted the mona lisa?")
    assert "not sure" in texts(replies).lower()
    assert replies[-1]["buttons"][0]["payload"] == "/ask_human"
    tracker = await server.tracker("c3")
    reason = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["route"] == "fallback"


async def test_order_status_action_asks_for_the_number_then_looks_it_up(server: Server) -> None:
    first = await server.say("c4", "where is my order?")
    assert "order number" in texts(first).lower()
    tracker = await server.tracker("c4")
    assert tracker["active_loop"] == {"name": "action_order_status"}
    second = await server.say("c4", "it's NW-10002")
    assert "NW-10002" in texts(second) and "shipped" in texts(second)
    tracker = await server.tracker("c4")
    assert tracker["slots"]["order_number"] == "NW-10002"
    assert tracker["active_loop"] == {}


async def test_order_number_in_the_first_message_answers_at_once(server: Server) -> None:
    replies = await server.say("c5", "what's the status of order NW-10004")
    assert "out for delivery" in texts(replies)
    replies = await server.say("c5", "where is NW-99999?")
    assert "couldn't find order NW-99999" in texts(replies)


async def test_payload_sets_intent_and_slots(server: Server) -> None:
    replies = await server.say("c6", '/order_status{"order_number": "NW-10003"}')
    assert "NW-10003" in texts(replies) and "delivered" in texts(replies)
    tracker = await server.tracker("c6")
    user = [e for e in tracker["events"] if e["event"] == "user"][-1]
    assert user["parse_data"]["intent"] == {"name": "order_status", "confidence": 1.0}


async def test_unknown_payload_is_out_of_scope_not_an_error(server: Server) -> None:
    replies = await server.say("c7", "/no_such_intent")
    assert "not sure" in texts(replies).lower()


async def test_two_messages_at_once_for_one_conversation_are_processed_in_order(server: Server) -> None:
    # Send the second only once the first is in the server's hands: both race for the lock.
    first = asyncio.create_task(server.say("c8", "where is my order?"))
    await asyncio.sleep(0.005)
    second = asyncio.create_task(server.say("c8", "NW-10001"))
    replies_first, replies_second = await asyncio.gather(first, second)
    assert "order number" in texts(replies_first).lower()
    assert "NW-10001" in texts(replies_second)
    tracker = await server.tracker("c8")
    users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert users == ["where is my order?", "NW-10001"]


async def test_many_conversations_in_parallel_do_not_mix(server: Server) -> None:
    senders = [f"p{i}" for i in range(12)]
    await asyncio.gather(*(server.say(s, f"hi, it's {s}") for s in senders))
    for sender in senders:
        tracker = await server.tracker(sender)
        users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
        assert users == [f"hi, it's {sender}"]


async def test_stream_returns_one_json_object_per_line(server: Server) -> None:
    url = f"{server.base}/webhooks/rest/webhook?stream=true"
    async with server.http.post(url, json={"sender": "c9", "message": "how do I return something?"}) as r:
        assert r.status == 200
        lines = [line for line in (await r.text()).splitlines() if line]
    objects = [json.loads(line) for line in lines]
    assert objects and all(o["recipient_id"] == "c9" for o in objects)
    assert "30 days" in " ".join(o.get("text", "") for o in objects)


async def test_blank_line_in_a_response_splits_it_into_messages(server: Server) -> None:
    from bot.server.keys import RUNTIME

    responses = server.app[RUNTIME].domain.responses
    split = [name for name, variants in responses.items() if all("\n\n" in (v.get("text") or "") for v in variants)]
    assert split, "the shop template should have a multi-paragraph response"
    intent = split[0].removeprefix("utter_")
    replies = await server.say("c10", f"/{intent}")
    assert len(replies) >= 2


async def test_a_failure_inside_the_turn_apologises_flags_and_keeps_the_message(server: Server) -> None:
    from bot.server.keys import RUNTIME

    engine = server.app[RUNTIME].require_engine()
    original = engine.decide

    def broken(*args: object, **kwargs: object) -> object:  # fault injection: the knowledge base is down
        raise RuntimeError("FAISS exploded")

    engine.decide = broken  # type: ignore[method-assign]
    try:
        replies = await server.say("f1", "do you sell gift cards?")
    finally:
        engine.decide = original  # type: ignore[method-assign]
    assert "not sure" in texts(replies).lower()
    tracker = await server.tracker("f1")
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert users[-1]["text"] == "do you sell gift cards?"
    reason = [e for e in tracker["events"] if e["event"] == "bot"][-1]["metadata"]["reason"]
    assert reason["escalate"] == "turn_failed" and "FAISS exploded" in reason["error"]
    assert reason["handoff"] == "turn_failed" and tracker["paused"] is True  # a person takes it from here
    assert "gift card" in texts(await server.say("f2", "do you sell gift cards?")).lower()  # and the bot recovers
