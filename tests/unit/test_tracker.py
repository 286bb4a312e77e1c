"""bot/tracker.py: conversation state from events, and Rasa's tracker JSON."""

from __future__ import annotations

import copy

from bot.tracker import State, Tracker, after_restart, apply, tracker_json

RASA_TRACKER_KEYS = {
    "sender_id",
    "slots",
    "latest_message",
    "latest_event_time",
    "followup_action",
    "paused",
    "events",
    "latest_input_channel",
    "active_loop",
    "latest_action",
    "latest_action_name",
}


def user(text, intent="greet", ts=1.0, channel="rest", entities=()):
    return {
        "event": "user",
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": list(entities)},
        "input_channel": channel,
    }


def test_user_event_sets_latest_message_channel_and_time():
    state = apply(State(), [user("hello there", ts=10.0, channel="socketio")])
    assert state.latest_message["text"] == "hello there"
    assert state.latest_message["intent"] == {"name": "greet", "confidence": 0.9}
    assert state.latest_message["entities"] == []
    assert state.latest_input_channel == "socketio"
    assert state.latest_event_time == 10.0


def test_user_event_without_channel_keeps_the_previous_one():
    state = apply(State(), [user("a", channel="slack", ts=1.0), user("b", channel=None, ts=2.0)])
    assert state.latest_input_channel == "slack"
    assert state.latest_message["text"] == "b"
    assert state.latest_event_time == 2.0


def test_user_event_with_null_parse_data():
    state = apply(State(), [{"event": "user", "timestamp": 1.0, "text": "hi", "parse_data": None}])
    assert state.latest_message == {"text": "hi"}


def test_slot_events_set_and_overwrite():
    state = apply(
        State(),
        [
            {"event": "slot", "timestamp": 1.0, "name": "order_number", "value": "NW-10001"},
            {"event": "slot", "timestamp": 2.0, "name": "email", "value": "a@example.com"},
            {"event": "slot", "timestamp": 3.0, "name": "order_number", "value": "NW-10002"},
            {"event": "slot", "timestamp": 4.0, "name": "email", "value": None},
        ],
    )
    assert state.slots == {"order_number": "NW-10002", "email": None}
    assert state.latest_event_time == 4.0


def test_pause_and_resume():
    paused = apply(State(), [{"event": "pause", "timestamp": 1.0}])
    assert paused.paused is True
    resumed = apply(paused, [{"event": "resume", "timestamp": 2.0}])
    assert resumed.paused is False
    assert paused.paused is True


def test_active_loop_set_and_cleared():
    state = apply(State(), [{"event": "active_loop", "timestamp": 1.0, "name": "action_order_status"}])
    assert state.active_loop == "action_order_status"
    assert apply(state, [{"event": "active_loop", "timestamp": 2.0, "name": None}]).active_loop is None
    assert apply(state, [{"event": "active_loop", "timestamp": 2.0}]).active_loop is None
    assert apply(state, [{"event": "active_loop", "timestamp": 2.0, "name": ""}]).active_loop is None


def test_action_sets_latest_action_and_clears_followup():
    state = apply(State(), [{"event": "followup", "timestamp": 1.0, "name": "action_order_status"}])
    assert state.followup_action == "action_order_status"
    state = apply(state, [{"event": "action", "timestamp": 2.0, "name": "action_order_status"}])
    assert state.followup_action is None
    assert state.latest_action_name == "action_order_status"


def test_reset_slots_goes_back_to_initial_values():
    state = State(slots={"order_number": "NW-10001", "lang": "de"})
    reset = apply(state, [{"event": "reset_slots", "timestamp": 5.0}], initial_slots={"order_number": None, "lang": "en"})
    assert reset.slots == {"order_number": None, "lang": "en"}
    assert apply(state, [{"event": "reset_slots", "timestamp": 5.0}]).slots == {}


def test_restart_clears_everything_but_keeps_time():
    state = apply(
        State(),
        [
            user("where is my order", intent="order_status", ts=1.0),
            {"event": "slot", "timestamp": 2.0, "name": "order_number", "value": "NW-10001"},
            {"event": "active_loop", "timestamp": 3.0, "name": "action_order_status"},
            {"event": "pause", "timestamp": 4.0},
            {"event": "followup", "timestamp": 5.0, "name": "utter_greet"},
            {"event": "restart", "timestamp": 6.0},
        ],
        initial_slots={"order_number": None},
    )
    assert state.slots == {"order_number": None}
    assert state.paused is False
    assert state.active_loop is None
    assert state.latest_message == {}
    assert state.followup_action is None
    assert state.latest_input_channel is None
    assert state.latest_event_time == 6.0


def test_events_after_restart_still_apply():
    state = apply(
        State(),
        [
            {"event": "slot", "timestamp": 1.0, "name": "a", "value": 1},
            {"event": "restart", "timestamp": 2.0},
            {"event": "slot", "timestamp": 3.0, "name": "b", "value": 2},
        ],
    )
    assert state.slots == {"b": 2}


def test_apply_does_not_mutate_its_input():
    original = State(
        slots={"order_number": "NW-10001", "cart": {"items": ["mug"]}},
        latest_message={"text": "hi", "intent": {"name": "greet"}},
        latest_event_time=1.0,
    )
    snapshot = copy.deepcopy(original.to_json())
    events = [
        {"event": "slot", "timestamp": 2.0, "name": "order_number", "value": "NW-10002"},
        {"event": "pause", "timestamp": 3.0},
        user("bye", intent="goodbye", ts=4.0),
        {"event": "active_loop", "timestamp": 5.0, "name": "form"},
        {"event": "reset_slots", "timestamp": 6.0},
    ]
    events_snapshot = copy.deepcopy(events)
    new = apply(original, events)
    new.slots["x"] = 1
    assert original.to_json() == snapshot
    assert events == events_snapshot
    assert new is not original


def test_apply_copy_is_deep():
    original = State(slots={"cart": {"items": ["mug"]}})
    new = apply(original, [])
    new.slots["cart"]["items"].append("plate")
    assert original.slots == {"cart": {"items": ["mug"]}}


def test_unknown_events_only_move_the_clock():
    state = apply(State(slots={"a": 1}), [{"event": "user_featurization", "timestamp": 9.0}, {"event": "bot", "timestamp": 10.0, "text": "x"}])
    assert state.slots == {"a": 1}
    assert state.latest_event_time == 10.0
    assert state.latest_message == {}


def test_state_json_round_trip():
    state = State(slots={"a": 1}, paused=True, active_loop="form", latest_message={"text": "hi"},
                  latest_input_channel="rest", latest_action_name="utter_greet", latest_event_time=3.5,
                  followup_action="x")
    again = State.from_json(state.to_json())
    assert again == state
    assert State.from_json(None) == State()
    assert State.from_json({"paused": True}) == State(paused=True)


def test_after_restart():
    events = [
        {"event": "slot", "name": "a"},
        {"event": "restart"},
        {"event": "slot", "name": "b"},
        {"event": "restart"},
        {"event": "slot", "name": "c"},
        {"event": "pause"},
    ]
    assert after_restart(events) == [{"event": "slot", "name": "c"}, {"event": "pause"}]
    assert after_restart(events[:2]) == []
    no_restart = [{"event": "slot", "name": "a"}, {"event": "pause"}]
    assert after_restart(no_restart) == no_restart
    assert after_restart([]) == []


def test_tracker_json_has_every_rasa_key():
    state = apply(
        State(),
        [
            user("where is NW-10001", intent="order_status", ts=7.0, channel="rest",
                 entities=[{"entity": "order_number", "value": "NW-10001"}]),
            {"event": "slot", "timestamp": 8.0, "name": "order_number", "value": "NW-10001"},
            {"event": "active_loop", "timestamp": 8.5, "name": "action_order_status"},
            {"event": "action", "timestamp": 9.0, "name": "action_order_status"},
            {"event": "followup", "timestamp": 9.5, "name": "utter_greet"},
        ],
    )
    events = [{"event": "pause", "timestamp": 9.0}]
    body = tracker_json("conv-1", state, events, initial_slots={"order_number": None, "lang": "en"})
    assert set(body) == RASA_TRACKER_KEYS
    assert body["sender_id"] == "conv-1"
    assert body["slots"] == {"order_number": "NW-10001", "lang": "en"}
    assert body["latest_message"]["text"] == "where is NW-10001"
    assert body["latest_message"]["entities"] == [{"entity": "order_number", "value": "NW-10001"}]
    assert body["latest_event_time"] == 9.5
    assert body["followup_action"] == "utter_greet"
    assert body["paused"] is False
    assert body["events"] == events
    assert body["latest_input_channel"] == "rest"
    assert body["active_loop"] == {"name": "action_order_status"}
    assert body["latest_action"] == {"action_name": "action_order_status"}
    assert body["latest_action_name"] == "action_order_status"


def test_tracker_json_of_a_new_conversation():
    body = tracker_json("new", State(), None, initial_slots={"order_number": None, "tier": "basic"})
    assert set(body) == RASA_TRACKER_KEYS
    assert body["slots"] == {"order_number": None, "tier": "basic"}
    assert body["latest_message"] == {"text": None, "intent": {}, "entities": []}
    assert body["events"] is None
    assert body["active_loop"] == {}
    assert body["latest_action"] == {}
    assert body["latest_action_name"] is None
    assert body["paused"] is False


def test_tracker_json_does_not_change_initial_slots():
    initial = {"order_number": None}
    tracker_json("c", State(slots={"order_number": "NW-1"}), [], initial_slots=initial)
    assert initial == {"order_number": None}


def test_tracker_latest_message_is_the_states():
    state = apply(State(), [user("hi")])
    tracker = Tracker("c", state, [])
    assert tracker.latest_message["text"] == "hi"


def test_handoff_moves_bot_pending_agent_and_back():
    pending = {"event": "handoff", "timestamp": 10.0, "status": "pending", "trigger": "customer_request"}
    state = apply(State(), [pending])
    assert state.paused and state.with_human
    assert state.handoff == {"status": "pending", "since": 10.0, "trigger": "customer_request"}
    state = apply(state, [{"event": "handoff", "timestamp": 70.0, "status": "agent", "agent": "ann"}])
    # it keeps its place in the queue (since) and why it came (trigger) while an agent has it
    assert state.handoff == {"status": "agent", "since": 10.0, "trigger": "customer_request", "agent": "ann",
                             "taken_at": 70.0}
    assert state.paused
    back = apply(state, [{"event": "handoff", "timestamp": 90.0, "status": "bot", "agent": "ann"}])
    assert not back.paused and back.handoff == {"status": "bot", "since": 90.0, "agent": "ann"}
    closed = apply(state, [{"event": "handoff", "timestamp": 95.0, "status": "closed", "agent": "ann"}])
    assert not closed.paused and closed.handoff["status"] == "closed"


def test_rasa_pause_and_resume_put_the_conversation_in_and_out_of_the_queue():
    state = apply(State(), [{"event": "pause", "timestamp": 5.0}])
    assert state.paused and state.handoff == {"status": "pending", "since": 5.0, "trigger": "paused"}
    state = apply(state, [{"event": "resume", "timestamp": 6.0}])
    assert not state.paused and state.handoff["status"] == "bot"


def test_a_snapshot_from_before_handoffs_loads_as_with_the_bot():
    old = State().to_json()
    del old["handoff"]
    assert State.from_json(old).handoff == {"status": "bot"}


def test_a_new_session_resets_the_dialogue_but_not_who_has_the_conversation() -> None:
    state = apply(State(), [{"event": "slot", "name": "order_number", "value": "NW-1"},
                            {"event": "active_loop", "name": "return_form"},
                            {"event": "handoff", "status": "agent", "agent": "ana"}], initial_slots={"order_number": None})
    after = apply(state, [{"event": "session_started"}], initial_slots={"order_number": None})
    assert after.slots == {"order_number": None} and after.active_loop is None
    assert after.handoff["status"] == "agent" and after.paused
    carried = apply(after, [{"event": "slot", "name": "order_number", "value": "NW-1"}])
    assert carried.slots["order_number"] == "NW-1"
