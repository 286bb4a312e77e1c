"""actions/order_status.py, run through rasa-sdk's own ActionExecutor as an action server would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from actions.order_status import ActionOrderStatus, normalise

ACTION = "action_order_status"
DOMAIN = {
    "intents": ["order_status", "deny", "inform"],
    "slots": {"order_number": {"type": "text"}, "requested_slot": {"type": "any"}},
    "responses": {"utter_ask_order_number": [{"text": "Sure, what is your order number? It looks like NW-12345."}]},
    "actions": [ACTION],
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("NW-10234", "NW-10234"),
        ("where is my order nw-10002?", "NW-10002"),
        ("order NW10003 please", "NW-10003"),
        ("Nw-10004.", "NW-10004"),
        ("NW-10001 and NW-10002", "NW-10001"),
        ("10234", None),
        ("NW-1234", None),
        ("NW-123456", None),
        ("XNW-10234", None),
        ("my order is late", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


def payload(
    text: str | None,
    intent: str = "order_status",
    *,
    loop: str | None = None,
    slots: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tracker = {
        "sender_id": "customer-1",
        "slots": {"order_number": None, "requested_slot": None, **(slots or {})},
        "latest_message": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.93},
            "entities": [],
        },
        "events": [],
        "active_loop": {"name": loop} if loop else {},
        "paused": False,
        "followup_action": None,
        "latest_event_time": 1_700_000_000.0,
        "latest_input_channel": "rest",
        "latest_action_name": "action_listen",
    }
    return {"next_action": ACTION, "sender_id": "customer-1", "tracker": tracker, "domain": DOMAIN, "version": "3.6.21"}


async def run(call: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    executor = ActionExecutor()
    executor.register_action(ActionOrderStatus)
    result = await executor.run(call)
    assert result is not None
    return result.events, result.responses


def strip(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


def texts(responses: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in responses if r.get("text")]


def test_action_name():
    assert ActionOrderStatus().name() == ACTION


async def test_no_number_asks_for_it_and_opens_the_loop():
    events, responses = await run(payload("where is my order?"))
    assert len(responses) == 1
    assert responses[0]["response"] == "utter_ask_order_number"
    assert not responses[0]["text"]
    assert strip(events) == [
        {"event": "active_loop", "name": ACTION},
        {"event": "slot", "name": "requested_slot", "value": "order_number"},
    ]


async def test_number_in_text_says_the_status(tmp_path):
    events, responses = await run(payload("hi, where is order nw10002?"))
    (text,) = texts(responses)
    assert text.startswith("Order NW-10002 has shipped.")
    assert "Carrier: DHL, tracking code JD0146000012345." in text
    assert "Expected delivery: 2026-11-18." in text
    assert strip(events) == [
        {"event": "slot", "name": "order_number", "value": "NW-10002"},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]
    # the orders came from the per-test database the autouse fixture points SHOP_DATABASE_URL at
    assert os.environ["SHOP_DATABASE_URL"].endswith(str(tmp_path / "shop.db"))
    assert (tmp_path / "shop.db").is_file()


async def test_order_without_carrier_or_eta():
    _, responses = await run(payload("NW-10001"))
    assert texts(responses) == ["Order NW-10001 is being prepared in our warehouse and will ship soon."]


async def test_delivered_order_without_eta():
    _, responses = await run(payload("status of NW-10003"))
    (text,) = texts(responses)
    assert text.startswith("Order NW-10003 has been delivered.")
    assert "Carrier: DPD" in text
    assert "Expected delivery" not in text


async def test_number_from_the_slot():
    events, responses = await run(payload("any news?", slots={"order_number": "nw-10004"}))
    (text,) = texts(responses)
    assert text.startswith("Order NW-10004 is out for delivery today.")
    assert {"event": "slot", "name": "order_number", "value": "NW-10004"} in strip(events)


async def test_text_wins_over_slot():
    _, responses = await run(payload("what about NW-10001", slots={"order_number": "NW-10002"}))
    assert texts(responses)[0].startswith("Order NW-10001 ")


async def test_unknown_number():
    events, responses = await run(payload("where is NW-99999"))
    assert texts(responses) == [
        "I couldn't find order NW-99999. Please check the number in your confirmation e-mail."
    ]
    assert strip(events) == [
        {"event": "slot", "name": "order_number", "value": "NW-99999"},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]


async def test_in_loop_number_answers_and_closes_the_loop():
    events, responses = await run(payload("it's NW-10002", intent="inform", loop=ACTION))
    assert texts(responses)[0].startswith("Order NW-10002 has shipped.")
    assert strip(events) == [
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "order_number", "value": "NW-10002"},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]


@pytest.mark.parametrize("intent", ["deny", "goodbye", "ask_human"])
async def test_in_loop_stop_intent_stops(intent):
    events, responses = await run(payload("no, forget it NW-10002", intent=intent, loop=ACTION))
    assert texts(responses) == ["No problem, I've stopped looking up your order."]
    assert strip(events) == [
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]


async def test_deny_outside_the_loop_still_looks_up():
    _, responses = await run(payload("no, NW-10001", intent="deny"))
    assert texts(responses)[0].startswith("Order NW-10001 ")


async def test_in_loop_without_number_gives_up():
    events, responses = await run(payload("I don't know it", intent="inform", loop=ACTION))
    (text,) = texts(responses)
    assert text.startswith("I couldn't find an order number in that.")
    assert "NW-12345" in text
    assert not any(r.get("response") for r in responses)
    assert strip(events) == [
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]


async def test_another_loop_active_is_not_ours():
    events, responses = await run(payload("hmm", intent="deny", loop="some_form"))
    assert responses[0]["response"] == "utter_ask_order_number"
    assert {"event": "active_loop", "name": ACTION} in strip(events)


async def test_each_test_gets_a_fresh_database(tmp_path):
    assert not (tmp_path / "shop.db").exists()
    await run(payload("NW-10001"))
    assert Path(os.environ["SHOP_DATABASE_URL"].split(":///", 1)[1]) == tmp_path / "shop.db"
    assert (tmp_path / "shop.db").stat().st_size > 0
