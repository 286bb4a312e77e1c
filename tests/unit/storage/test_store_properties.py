"""Property: any sequence of valid events, stored in two appends (split anywhere), loads back as
the state that applying the whole sequence gives (bot/tracker.py's apply, and its replay of the
session when a `rewind` or `undo` takes something back), with the window of its last events,
on SQLite, PostgreSQL and MariaDB. Bounded (max_examples) so each backend takes seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.events import HANDOFF_STATUSES, validate
from bot.storage.sql import SQLTrackerStore
from bot.tracker import REVERTS, State, apply, rebuilt

INITIAL = {"tier": "basic", "city": None}
SLOTS = ["tier", "city", "order_number", "cart"]
NAMES = st.sampled_from(["utter_greet", "action_listen", "action_order_status", "return_form", "utter_default"])
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=6)
INTENTS = st.sampled_from(["greet", "order_status", "ask_human", "nlu_fallback"])

EVENT = st.one_of(
    st.builds(lambda text, intent, channel: {"event": "user", "text": text, "input_channel": channel,
                                             "parse_data": {"intent": {"name": intent, "confidence": 0.9},
                                                            "entities": []}},
              st.text(min_size=1, max_size=30), INTENTS, st.sampled_from(["rest", "socketio", "telegram", None])),
    st.builds(lambda text: {"event": "bot", "text": text, "data": {}, "metadata": {}}, st.text(max_size=30)),
    st.builds(lambda name, value: {"event": "slot", "name": name, "value": value}, st.sampled_from(SLOTS), VALUES),
    st.builds(lambda name: {"event": "action", "name": name, "policy": "RulePolicy", "confidence": 1.0}, NAMES),
    st.builds(lambda status, trigger, agent: {"event": "handoff", "status": status,
                                              **({"trigger": trigger} if trigger else {}),
                                              **({"agent": agent} if agent else {})},
              st.sampled_from(HANDOFF_STATUSES), st.sampled_from([None, "customer_request", "paused"]),
              st.sampled_from([None, "ann", "bob"])),
    st.builds(lambda name: {"event": "active_loop", "name": name}, st.sampled_from([None, "return_form"])),
    st.builds(lambda name: {"event": "followup", "name": name}, NAMES),
    st.sampled_from([{"event": kind} for kind in ("pause", "resume", "restart", "session_started", "reset_slots",
                                                   "rewind", "undo")]),
)


def stamped(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Valid events (as the tracker API checks them) with increasing times."""
    return [validate({**event, "timestamp": 1000.0 + i * 0.5}) for i, event in enumerate(events)]


def whole(events: list[dict[str, Any]]) -> State:
    """The state of the whole sequence, without the store: apply, then the session replayed
    without what the reverts take back."""
    state = apply(State(), events, initial_slots=INITIAL)
    if any(e["event"] in REVERTS for e in events):
        starts = [i for i, e in enumerate(events) if e["event"] in ("session_started", "restart")]
        state = rebuilt(state, events[starts[-1] if starts else 0:], initial_slots=INITIAL)
    return state


@pytest.fixture
async def store(url: str) -> AsyncIterator[SQLTrackerStore]:
    s = SQLTrackerStore(url)
    await s.start()
    yield s
    await s.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, max_size=24), split=st.floats(0, 1), window=st.integers(0, 30))
async def test_two_appends_load_as_the_whole_sequence_applies(store: SQLTrackerStore, events: list[dict[str, Any]],
                                                              split: float, window: int) -> None:
    sequence = stamped(events)
    cut = round(split * len(sequence))
    cid = uuid.uuid4().hex  # each example its own conversation in the test's database
    await store.append(cid, sequence[:cut], initial_slots=INITIAL)
    await store.append(cid, sequence[cut:], initial_slots=INITIAL)
    tracker = await store.load(cid, window=window)
    if not sequence:
        assert tracker.state == State() and tracker.recent_events == []
        return
    assert tracker.state == whole(sequence)
    assert tracker.recent_events == (sequence[-window:] if window else [])
    assert await store.events(cid) == sequence
