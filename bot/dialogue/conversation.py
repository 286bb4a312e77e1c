"""From a conversation's events to what the dialogue policies see (bot.policies.base.Conversation)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from bot.dialogue.states import RESETS, Featurizer, states_and_actions
from bot.dialogue.story import Event
from bot.policies.base import Conversation
from bot.tracker import without_reverted


def session_events(events: Iterable[Event]) -> list[Event]:
    """The events since the last session start or restart, with what `undo` and `rewind` take
    back removed (Rasa's applied events, bot/tracker.without_reverted)."""
    events = list(events)
    start = max((i + 1 for i, e in enumerate(events) if e.get("event") in RESETS), default=0)
    return without_reverted(events[start:])


def window_prefix(state_slots: dict[str, Any], active_loop: str | None, window: Sequence[Event],
                  initial_slots: dict[str, Any]) -> list[Event]:
    """Events that put back what a bounded window of stored events no longer shows: a tracker
    loads its snapshot (the state after every event) and its last N events, so an active loop or
    a slot set before the window would vanish from the states. A slot the window does not set
    holds its snapshot value all through the window; so does the loop. (A slot the window sets is
    taken as unset before that; the policies look back a few states, and the window is larger.)
    Nothing is needed when the window holds the session's start."""
    if any(e.get("event") in RESETS for e in window):
        return []
    set_in_window = {e.get("name") for e in window if e.get("event") == "slot"}
    prefix: list[Event] = [{"event": "slot", "name": name, "value": value} for name, value in state_slots.items()
                           if name not in set_in_window and value != initial_slots.get(name)]
    if active_loop and not any(e.get("event") == "active_loop" for e in window):
        prefix.append({"event": "active_loop", "name": active_loop})
    return prefix


def conversation(events: Iterable[Event], featurizer: Featurizer) -> Conversation:
    applied = session_events(events)
    states, _ = states_and_actions(applied, featurizer)
    latest_action = latest_intent = loop = rejected = followup = None
    loop_rejected = interrupted = False
    for event in applied:  # Rasa's tracker bookkeeping of the active loop
        kind = event.get("event")
        if kind == "action":
            latest_action, rejected, followup, interrupted = event.get("name"), None, None, False
            if loop is not None and latest_action == loop:
                loop_rejected = False
        elif kind == "user":
            latest_intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        elif kind == "active_loop":
            loop, loop_rejected, interrupted = event.get("name") or None, False, False
        elif kind == "action_execution_rejected":
            rejected = event.get("name")
            loop_rejected = loop_rejected or (loop is not None and rejected == loop)
        elif kind == "loop_interrupted":
            interrupted = loop is not None and bool(event.get("is_interrupted"))
        elif kind == "followup":
            followup = event.get("name")
    return Conversation(events=tuple(applied), states=tuple(states), latest_action=latest_action,
                        latest_intent=latest_intent, active_loop=loop, rejected=rejected,
                        loop_rejected=loop_rejected, loop_interrupted=interrupted, followup=followup)
