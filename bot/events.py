"""Conversation events in Rasa's JSON shape.

Events stay plain dicts (the wire format of the tracker API, the action server and the
store) instead of dataclasses mirrored to JSON: one representation means no conversion
code to keep in sync. This module validates and builds them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bot.errors import InvalidEvent

Event = dict[str, Any]

# event name -> required keys (besides "event") and their types
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "user": {},
    "bot": {},
    "slot": {"name": str},
    "action": {"name": str},
    "pause": {},
    "resume": {},
    # Switchboard's: who has the conversation (bot -> pending -> agent -> bot | closed)
    "handoff": {"status": str},
    "restart": {},
    "session_started": {},
    "active_loop": {},
    "followup": {"name": str},
    "reset_slots": {},
    "user_featurization": {},
    "action_execution_rejected": {"name": str},
    "entities": {},
    # reverts: the store replays the session without what they take back (bot/tracker.rebuilt)
    "rewind": {},
    "undo": {},
    "loop_interrupted": {},
    "reminder": {},
    "cancel_reminder": {},
    "export": {},
    "agent": {},
    "session_ended": {},
}
_OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "text": (str, type(None)),
    "timestamp": (int, float, type(None)),
    "metadata": (dict, type(None)),
    "parse_data": (dict, type(None)),
    "data": (dict, type(None)),
    "input_channel": (str, type(None)),
    "message_id": (str, type(None)),
    "policy": (str, type(None)),
    "confidence": (int, float, type(None)),
}
KNOWN_EVENTS = frozenset(_REQUIRED)
HANDOFF_STATUSES = ("bot", "pending", "agent", "closed")


def validate(raw: Any) -> Event:
    """Check one event from outside (tracker API, action server) and return a clean copy."""
    if not isinstance(raw, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {type(raw).__name__}")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise InvalidEvent("an event needs a non-empty string field 'event'")
    if name not in _REQUIRED:
        raise InvalidEvent(f"unknown event type {name!r}; known: {', '.join(sorted(KNOWN_EVENTS))}")
    for key, kind in _REQUIRED[name].items():
        value = raw.get(key)
        if not isinstance(value, kind) or value == "":
            raise InvalidEvent(f"event {name!r} needs a non-empty {kind.__name__} field {key!r}")
    for key, kinds in _OPTIONAL_TYPES.items():
        if key in raw and (not isinstance(raw[key], kinds) or isinstance(raw[key], bool)):
            raise InvalidEvent(f"field {key!r} of event {name!r} has the wrong type")
    if name == "handoff" and raw["status"] not in HANDOFF_STATUSES:
        raise InvalidEvent(f"event 'handoff' needs 'status' as one of {', '.join(HANDOFF_STATUSES)}")
    if name == "active_loop" and not isinstance(raw.get("name"), (str, type(None))):
        raise InvalidEvent("event 'active_loop' needs 'name' as a string or null")
    event = dict(raw)
    if event.get("timestamp") is None:
        event["timestamp"] = time.time()
    else:
        event["timestamp"] = float(event["timestamp"])
    return event


def user(
    text: str,
    parse_data: dict[str, Any],
    *,
    input_channel: str | None,
    metadata: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> Event:
    return {
        "event": "user",
        "timestamp": time.time(),
        "text": text,
        "parse_data": parse_data,
        "input_channel": input_channel,
        "message_id": message_id or uuid.uuid4().hex,
        "metadata": metadata or {},
    }


def bot(text: str | None, *, data: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> Event:
    return {
        "event": "bot",
        "timestamp": time.time(),
        "text": text,
        "data": data or {},
        "metadata": metadata or {},
    }


def action(name: str, *, policy: str | None = None, confidence: float | None = None) -> Event:
    return {"event": "action", "timestamp": time.time(), "name": name, "policy": policy, "confidence": confidence}


def slot(name: str, value: Any) -> Event:
    return {"event": "slot", "timestamp": time.time(), "name": name, "value": value}


def session_started() -> Event:
    return {"event": "session_started", "timestamp": time.time()}


def handoff(status: str, *, trigger: str | None = None, agent: str | None = None) -> Event:
    event: Event = {"event": "handoff", "timestamp": time.time(), "status": status}
    if trigger:
        event["trigger"] = trigger
    if agent:
        event["agent"] = agent
    return event


def agent_uttered(text: str, *, agent: str, message_id: str | None = None) -> Event:
    """Rasa's `agent` event: a person's message to the customer."""
    return {
        "event": "agent",
        "timestamp": time.time(),
        "text": text,
        "data": {},
        "metadata": {"agent": agent, "message_id": message_id or uuid.uuid4().hex},
    }


def in_time_order(events: list[dict[str, Any]]) -> None:
    """Stored order is time order: an action's events are made while it runs, its messages after,
    and they are stored messages first; a timestamp older than the event before it is lifted."""
    for before, event in zip(events, events[1:]):
        if (event.get("timestamp") or 0) < (before.get("timestamp") or 0):
            event["timestamp"] = before["timestamp"]

