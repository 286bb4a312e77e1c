"""The state of one conversation, derived from its events.

The store keeps a snapshot of this state next to the event log (updated in the same
transaction as every append), so loading a conversation costs the snapshot plus a
bounded window of recent events, however long the conversation has grown.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from bot.events import Event

HUMAN_STATUSES = ("pending", "agent")


@dataclass
class State:
    """What the engine needs to know about a conversation besides its recent events."""

    slots: dict[str, Any] = field(default_factory=dict)
    paused: bool = False
    active_loop: str | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_input_channel: str | None = None
    latest_action_name: str | None = None
    latest_event_time: float | None = None
    followup_action: str | None = None
    # who has the conversation: {"status": bot | pending | agent | closed, "since", "trigger", "agent"}
    handoff: dict[str, Any] = field(default_factory=lambda: {"status": "bot"})

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "paused": self.paused,
            "active_loop": self.active_loop,
            "latest_message": self.latest_message,
            "latest_input_channel": self.latest_input_channel,
            "latest_action_name": self.latest_action_name,
            "latest_event_time": self.latest_event_time,
            "followup_action": self.followup_action,
            "handoff": self.handoff,
        }

    @property
    def with_human(self) -> bool:
        """A person is needed or has the conversation: the bot stays silent."""
        return self.handoff.get("status") in HUMAN_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "State":
        data = data or {}
        return cls(**{k: data.get(k, v) for k, v in cls().to_json().items()})

    def copy(self) -> "State":
        """A state `apply` can change: the slots (whose values may be lists or dicts) are copied
        deeply; latest_message and handoff are only ever replaced whole, never changed in place,
        so they are shared (deep-copying the last message's parse, with its ranking and entities,
        was most of a turn's state handling)."""
        return replace(self, slots=copy.deepcopy(self.slots), handoff=dict(self.handoff))


def apply(state: State, events: Iterable[Event], *, initial_slots: dict[str, Any] | None = None) -> State:
    """Return the state after `events`; `state` itself is not changed."""
    new = state.copy()
    for event in events:
        kind = event.get("event")
        new.latest_event_time = event.get("timestamp", new.latest_event_time)
        if kind == "user":
            new.latest_message = {
                "text": event.get("text"),
                **(event.get("parse_data") or {}),
            }
            new.latest_input_channel = event.get("input_channel") or new.latest_input_channel
        elif kind == "slot":
            new.slots[event["name"]] = event.get("value")
        elif kind == "action":
            new.latest_action_name = event.get("name")
            new.followup_action = None
        elif kind == "handoff":
            new.handoff = _handoff(event, new.handoff)
            new.paused = new.with_human
        elif kind == "pause":  # Rasa's pause from an outside inbox: a person has it, as a handoff
            new.paused = True
            if not new.with_human:
                new.handoff = {"status": "pending", "since": event.get("timestamp"), "trigger": "paused"}
        elif kind == "resume":
            new.paused = False
            if new.with_human:
                new.handoff = {"status": "bot", "since": event.get("timestamp"), "agent": new.handoff.get("agent")}
        elif kind == "active_loop":
            new.active_loop = event.get("name") or None
        elif kind == "followup":
            new.followup_action = event.get("name")
        elif kind == "reset_slots":
            new.slots = dict(initial_slots or {})
        elif kind == "restart":
            new = State(slots=dict(initial_slots or {}), latest_event_time=new.latest_event_time)
        elif kind == "session_started":  # a new session: slots come back only as the events after it
            new = State(slots=dict(initial_slots or {}), latest_event_time=new.latest_event_time,
                        paused=new.paused, handoff=new.handoff)
    return new


REVERTS = frozenset({"rewind", "undo"})


def without_reverted(events: Iterable[Event]) -> list[Event]:
    """`events` with what `undo` and `rewind` take back removed (Rasa's applied events): `undo`
    takes back the last action and what followed it; `rewind` the last user message, what
    followed it, and the action (`action_listen`) before it."""
    out: list[Event] = []
    for event in events:
        kind = event.get("event")
        if kind in REVERTS:
            for target in ("user", "action") if kind == "rewind" else ("action",):
                while out and out.pop().get("event") != target:
                    pass
        else:
            out.append(event)
    return out


def rebuilt(incremental: State, session: Sequence[Event], *, initial_slots: dict[str, Any] | None = None) -> State:
    """The state after a session's events (from its start) that reverted some of them: slots, the
    active loop, the latest message and action as if the reverted events had never happened, as
    Rasa's tracker replays its applied events. Whether a person has the conversation (handoff,
    pause), the channel and the time stay as the events left them: a revert never takes back a
    handoff."""
    new = apply(State(), without_reverted(session), initial_slots=initial_slots)
    new.handoff, new.paused = incremental.handoff, incremental.paused
    new.latest_event_time, new.latest_input_channel = incremental.latest_event_time, incremental.latest_input_channel
    return new


def _handoff(event: Event, before: dict[str, Any]) -> dict[str, Any]:
    """The handoff state after a `handoff` event; the trigger and the time the conversation
    entered the queue stay while it moves from pending to an agent."""
    status = event["status"]
    at = event.get("timestamp")
    if status == "agent" and before.get("status") in HUMAN_STATUSES:
        return {**before, "status": "agent", "agent": event.get("agent"), "taken_at": at}
    handoff: dict[str, Any] = {"status": status, "since": at}
    for key in ("trigger", "agent"):
        if event.get(key):
            handoff[key] = event[key]
    return handoff


@dataclass
class Tracker:
    """A conversation as the engine sees it: current state plus a window of recent events."""

    conversation_id: str
    state: State
    recent_events: list[Event]

    @property
    def latest_message(self) -> dict[str, Any]:
        return self.state.latest_message


def after_restart(events: list[Event]) -> list[Event]:
    """The events after the last `restart` (Rasa's include_events=AFTER_RESTART)."""
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "restart":
            return events[i + 1 :]
    return events


def tracker_json(
    conversation_id: str, state: State, events: list[Event] | None, *, initial_slots: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Rasa's tracker JSON (GET /conversations/{id}/tracker, the action-server payload); every
    slot of the domain appears, unset ones with their initial value."""
    body: dict[str, Any] = {
        "sender_id": conversation_id,
        "slots": {**(initial_slots or {}), **state.slots},
        "latest_message": state.latest_message or {"text": None, "intent": {}, "entities": []},
        "latest_event_time": state.latest_event_time,
        "followup_action": state.followup_action,
        "paused": state.paused,
        "events": events,
        "latest_input_channel": state.latest_input_channel,
        "active_loop": {"name": state.active_loop} if state.active_loop else {},
        "latest_action": {"action_name": state.latest_action_name} if state.latest_action_name else {},
        "latest_action_name": state.latest_action_name,
    }
    return body
