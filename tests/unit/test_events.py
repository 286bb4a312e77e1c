"""bot/events.py: validating events from outside and building Rasa-shaped ones."""

from __future__ import annotations

import time

import pytest
from rasa_sdk import events as sdk

from bot import events
from bot.errors import BadRequest, InvalidEvent

NOW = 1_700_000_000.5


@pytest.mark.parametrize(
    "raw",
    [
        {"event": "user", "timestamp": NOW, "text": "hi", "parse_data": {"intent": {"name": "greet"}},
         "input_channel": "rest", "message_id": "m1", "metadata": {}},
        {"event": "bot", "timestamp": NOW, "text": "hello", "data": {"buttons": []}, "metadata": {}},
        {"event": "slot", "timestamp": NOW, "name": "order_number", "value": "NW-10001"},
        {"event": "action", "timestamp": NOW, "name": "utter_greet", "policy": "rules", "confidence": 1.0},
        {"event": "pause", "timestamp": NOW},
        {"event": "resume", "timestamp": NOW},
        {"event": "restart", "timestamp": NOW},
        {"event": "session_started", "timestamp": NOW},
        {"event": "active_loop", "timestamp": NOW, "name": "action_order_status"},
        {"event": "active_loop", "timestamp": NOW, "name": None},
        {"event": "followup", "timestamp": NOW, "name": "action_order_status"},
        {"event": "reset_slots", "timestamp": NOW},
        {"event": "user_featurization", "timestamp": NOW},
        {"event": "action_execution_rejected", "timestamp": NOW, "name": "action_order_status"},
        {"event": "entities", "timestamp": NOW, "entities": []},
    ],
    ids=lambda raw: f"{raw['event']}-{raw.get('name')}",
)
def test_validate_accepts_known_shapes(raw):
    event = events.validate(raw)
    assert event == raw
    assert event is not raw
    assert isinstance(event["timestamp"], float)


def test_every_known_event_type_is_accepted_in_its_minimal_form():
    for name in events.KNOWN_EVENTS:
        raw = {"event": name, "name": "x", "status": "pending"}
        assert events.validate(raw)["event"] == name


@pytest.mark.parametrize("raw", [
    {"event": "handoff"},
    {"event": "handoff", "status": "waiting"},
    {"event": "handoff", "status": 3},
])
def test_a_handoff_event_needs_a_known_status(raw):
    with pytest.raises(InvalidEvent, match="status"):
        events.validate(raw)


@pytest.mark.parametrize(
    "made",
    [
        sdk.SlotSet("order_number", "NW-10001"),
        sdk.SlotSet("requested_slot", None),
        sdk.ActionExecuted("action_order_status"),
        sdk.UserUttered("hi", {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}),
        sdk.BotUttered("hello"),
        sdk.ConversationPaused(),
        sdk.ConversationResumed(),
        sdk.Restarted(),
        sdk.SessionStarted(),
        sdk.ActiveLoop("action_order_status"),
        sdk.ActiveLoop(None),
        sdk.FollowupAction("utter_greet"),
        sdk.AllSlotsReset(),
        sdk.ActionExecutionRejected("action_order_status"),
    ],
    ids=lambda made: made["event"],
)
def test_validate_accepts_rasa_sdk_events_with_null_timestamp(made):
    assert made["timestamp"] is None
    before = time.time()
    event = events.validate(made)
    assert before <= event["timestamp"] <= time.time()
    assert {k: v for k, v in event.items() if k != "timestamp"} == {k: v for k, v in made.items() if k != "timestamp"}
    assert made["timestamp"] is None  # the input is not changed


def test_missing_timestamp_is_filled_with_now():
    before = time.time()
    event = events.validate({"event": "pause"})
    assert before <= event["timestamp"] <= time.time()


def test_integer_timestamp_becomes_float():
    event = events.validate({"event": "pause", "timestamp": 1700000000})
    assert event["timestamp"] == 1700000000.0
    assert type(event["timestamp"]) is float


@pytest.mark.parametrize("raw", [None, "pause", 3, ["event", "pause"], ("event",)])
def test_validate_rejects_non_dicts(raw):
    with pytest.raises(InvalidEvent, match="JSON object"):
        events.validate(raw)


@pytest.mark.parametrize("raw", [{}, {"event": ""}, {"event": None}, {"event": 5}, {"timestamp": NOW}])
def test_validate_rejects_missing_or_empty_event(raw):
    with pytest.raises(InvalidEvent, match="'event'"):
        events.validate(raw)


@pytest.mark.parametrize("name", ["utter", "USER", "slot_set", "form_validation"])
def test_validate_rejects_unknown_types(name):
    with pytest.raises(InvalidEvent, match="unknown event type"):
        events.validate({"event": name})


@pytest.mark.parametrize("kind", ["slot", "action", "followup", "action_execution_rejected"])
@pytest.mark.parametrize("name", [None, "", 3, ["x"]])
def test_validate_requires_name(kind, name):
    raw = {"event": kind, "value": 1}
    if name is not None:
        raw["name"] = name
    with pytest.raises(InvalidEvent, match="'name'"):
        events.validate(raw)


def test_slot_without_name_key_is_rejected():
    with pytest.raises(InvalidEvent):
        events.validate({"event": "slot", "value": "NW-10001"})


@pytest.mark.parametrize(
    "raw",
    [
        {"event": "user", "text": 42},
        {"event": "user", "text": "hi", "parse_data": "greet"},
        {"event": "user", "text": "hi", "metadata": ["a"]},
        {"event": "user", "text": "hi", "input_channel": 1},
        {"event": "user", "text": "hi", "message_id": 7},
        {"event": "bot", "text": "hi", "data": "buttons"},
        {"event": "action", "name": "utter_greet", "policy": 1},
        {"event": "action", "name": "utter_greet", "confidence": "high"},
        {"event": "pause", "timestamp": "yesterday"},
        {"event": "pause", "timestamp": [1]},
        {"event": "active_loop", "name": 3},
        {"event": "active_loop", "name": {"name": "form"}},
    ],
)
def test_validate_rejects_wrong_optional_types(raw):
    with pytest.raises(InvalidEvent):
        events.validate(raw)


def test_invalid_event_is_a_bad_request():
    with pytest.raises(BadRequest) as info:
        events.validate({"event": "nope"})
    assert info.value.status == 400


@pytest.mark.parametrize("stamp", [True, False])
def test_validate_rejects_bool_timestamp(stamp):
    # JSON `true` is no unix time; bool is a subclass of int, so it must be rejected explicitly.
    with pytest.raises(InvalidEvent):
        events.validate({"event": "pause", "timestamp": stamp})


def test_validate_rejects_bool_confidence():
    with pytest.raises(InvalidEvent):
        events.validate({"event": "action", "name": "utter_greet", "confidence": True})


def test_user_builder_has_rasa_keys():
    before = time.time()
    event = events.user("where is my order", {"intent": {"name": "order_status"}}, input_channel="rest",
                        metadata={"lang": "en"})
    assert set(event) == {"event", "timestamp", "text", "parse_data", "input_channel", "message_id", "metadata"}
    assert event["event"] == "user"
    assert event["text"] == "where is my order"
    assert event["parse_data"] == {"intent": {"name": "order_status"}}
    assert event["input_channel"] == "rest"
    assert event["metadata"] == {"lang": "en"}
    assert before <= event["timestamp"] <= time.time()
    assert isinstance(event["message_id"], str) and event["message_id"]
    assert events.validate(event) == event


def test_user_builder_message_ids():
    a = events.user("a", {}, input_channel=None)
    b = events.user("b", {}, input_channel=None)
    assert a["message_id"] != b["message_id"]
    assert a["metadata"] == {}
    assert events.user("c", {}, input_channel=None, message_id="abc")["message_id"] == "abc"


def test_bot_builder_has_rasa_keys():
    event = events.bot("hello", data={"buttons": [{"title": "Hi", "payload": "/greet"}]})
    assert set(event) == {"event", "timestamp", "text", "data", "metadata"}
    assert event["event"] == "bot"
    assert event["text"] == "hello"
    assert event["data"] == {"buttons": [{"title": "Hi", "payload": "/greet"}]}
    assert event["metadata"] == {}
    assert events.bot(None)["data"] == {}
    assert events.validate(event) == event


def test_action_builder_has_rasa_keys():
    event = events.action("utter_greet", policy="rules", confidence=0.9)
    assert set(event) == {"event", "timestamp", "name", "policy", "confidence"}
    assert (event["event"], event["name"], event["policy"], event["confidence"]) == ("action", "utter_greet", "rules", 0.9)
    bare = events.action("action_listen")
    assert bare["policy"] is None and bare["confidence"] is None
    assert events.validate(event) == event


def test_slot_and_session_builders():
    event = events.slot("order_number", "NW-10001")
    assert set(event) == {"event", "timestamp", "name", "value"}
    assert (event["event"], event["name"], event["value"]) == ("slot", "order_number", "NW-10001")
    assert events.validate(event) == event
    started = events.session_started()
    assert set(started) == {"event", "timestamp"}
    assert started["event"] == "session_started"
    assert isinstance(started["timestamp"], float)
