"""Rasa's HTTP API for driving a conversation (bot/server/dialogue_api.py) on the shop, with the
real models and SQLite: trigger_intent, execute, predict, and PUT tracker/events."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Server


async def _call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with server.http.request(method, f"{server.base}{path}", json=body) as r:
        return r.status, await r.json()


def texts(messages: list[dict[str, Any]]) -> str:
    return " ".join(m.get("text", "") for m in messages)


async def test_trigger_intent_runs_a_turn_with_its_entities(server: Server) -> None:
    status, body = await _call(server, "POST", "/conversations/t1/trigger_intent", {"name": "greet"})
    assert status == 200 and "Northwind" in texts(body["messages"])
    assert body["messages"][0]["recipient_id"] == "t1"
    user = [e for e in body["tracker"]["events"] if e["event"] == "user"]
    assert user[-1]["parse_data"]["intent"]["name"] == "greet" and user[-1]["text"] == "/greet"
    status, body = await _call(server, "POST", "/conversations/t1/trigger_intent",
                               {"name": "order_status", "entities": {"order_number": "NW-10002"}})
    assert status == 200 and "NW-10002 has shipped" in texts(body["messages"])
    assert body["tracker"]["slots"]["order_number"] == "NW-10002"


async def test_trigger_intent_refuses_what_it_cannot_do(server: Server) -> None:
    status, body = await _call(server, "POST", "/conversations/t2/trigger_intent", {"name": "fly_to_the_moon"})
    assert status == 404 and "fly_to_the_moon" in str(body)
    status, body = await _call(server, "POST", "/conversations/t2/trigger_intent", {"name": "greet", "entities": 3})
    assert status == 400 and "entities" in str(body)
    status, body = await _call(server, "POST", "/conversations/t2/trigger_intent?output_channel=fax", {"name": "greet"})
    assert status == 400 and "fax" in str(body)
    status, tracker = await _call(server, "GET", "/conversations/t2/tracker")
    assert not [e for e in tracker["events"] if e["event"] == "user"]  # nothing was stored


async def test_execute_runs_one_action_and_stores_it(server: Server) -> None:
    status, body = await _call(server, "POST", "/conversations/t3/execute",
                               {"name": "utter_shipping_times", "policy": "my_script", "confidence": 0.9})
    assert status == 200 and "business day" in texts(body["messages"])
    actions = [e for e in body["tracker"]["events"] if e["event"] == "action"]
    assert (actions[-1]["name"], actions[-1]["policy"], actions[-1]["confidence"]) == (
        "utter_shipping_times", "my_script", 0.9)
    assert body["tracker"]["events"][-1]["event"] == "bot"  # no prediction after it, as Rasa 3
    status, body = await _call(server, "POST", "/conversations/t3/execute", {"name": "action_launch_rocket"})
    assert status == 404


async def test_predict_scores_the_next_action_and_stores_nothing(server: Server) -> None:
    await server.say("t4", "hello")  # the bot listens now
    await _call(server, "POST", "/conversations/t4/messages", {"text": "where is my order NW-10002?", "sender": "user"})
    _, before = await _call(server, "GET", "/conversations/t4/tracker")
    status, body = await _call(server, "POST", "/conversations/t4/predict")
    assert status == 200 and (body["action"], body["policy"]) == ("action_order_status", "RulePolicy")
    assert body["scores"][0] == {"action": "action_order_status", "score": 1.0}
    assert {s["action"] for s in body["scores"]} >= {"utter_greet", "action_listen", "return_form"}
    _, after = await _call(server, "GET", "/conversations/t4/tracker")
    assert after["events"] == before["events"]


async def test_put_events_replaces_the_conversation(server: Server) -> None:
    await server.say("t5", "hello")
    events = [{"event": "action", "name": "action_listen", "timestamp": 1.0},
              {"event": "user", "text": "hi", "timestamp": 2.0,
               "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}},
              {"event": "slot", "name": "order_number", "value": "NW-10005", "timestamp": 3.0}]
    status, tracker = await _call(server, "PUT", "/conversations/t5/tracker/events", events)
    assert status == 200 and [e["event"] for e in tracker["events"]] == ["action", "user", "slot"]
    assert tracker["slots"]["order_number"] == "NW-10005"
    status, body = await _call(server, "PUT", "/conversations/t5/tracker/events", [{"event": "teleport"}])
    assert status == 400
    _, kept = await _call(server, "GET", "/conversations/t5/tracker")
    assert kept["slots"]["order_number"] == "NW-10005" and len(kept["events"]) == 3  # a bad list changes nothing
    replies = await server.say("t5", "can I cancel it?")  # the replaced state is what the bot acts on
    assert "NW-10005 is already cancelled" in texts(replies)
    status, tracker = await _call(server, "PUT", "/conversations/t5/tracker/events", [])
    assert status == 200 and tracker["slots"]["order_number"] is None
