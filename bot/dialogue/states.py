"""The states the dialogue policies read: one before every action, as Rasa featurises a tracker.

A state is a dict of sub-states, each present only when it says something:
- "user": {"intent": name, "entities": (sorted entity names, `entity#role`, `entity#group`)}
  from the latest user message; it stays in every state of that turn;
- "prev_action": {"action_name": name} (or {"action_text": text} for an end-to-end bot turn);
- "active_loop": {"name": form};
- "slots": {slot: features} for the slots whose features say something (bot/dialogue/slots.py).
States restart at the last `session_started` or `restart` event, as Rasa's applied events do, so
a new session starts from the empty state that `conversation_start` rules describe.

The same code reads a live conversation and a story: `training_events` turns a StoryBlock into the
events Rasa's story graph would generate (an `action_listen` before each user turn, the slots the
message's entities fill, the `restart` that `action_restart` applies, a final `action_listen`; for
rules a leading `...` snippet action unless `conversation_start`, and "must not be set" markers
for `slot_was_set: null` / `active_loop: null`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from bot.dialogue.story import Event, StoryBlock

ACTION_LISTEN = "action_listen"
RULE_SNIPPET = "..."  # a rule's "anything may come before"
SHOULD_NOT_BE_SET = "should_not_be_set"  # a rule's `slot_was_set: {x: null}` / `active_loop: null`
RESETS = frozenset({"session_started", "restart"})

State = dict[str, dict[str, Any]]
SlotFeaturizer = Callable[[Mapping[str, Any]], Mapping[str, Any]]  # bot.dialogue.slots.slot_features


@dataclass(frozen=True)
class Featurizer:
    """How a domain turns a conversation into states."""

    slot_features: SlotFeaturizer  # slot values -> the features of those that influence the dialogue
    initial_slots: Mapping[str, Any] = field(default_factory=dict)
    # intent -> the entities it lets into the state (None: all), from the domain's use_entities
    intent_entities: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    # entities of a message -> the slot events their unconditional from_entity mappings give
    entity_slots: Callable[[list[dict[str, Any]]], list[Event]] = lambda entities: []

    def user_state(self, parse_data: Mapping[str, Any]) -> dict[str, Any]:
        intent = (parse_data.get("intent") or {}).get("name")
        sub: dict[str, Any] = {}
        if intent:
            sub["intent"] = intent
        allowed = self.intent_entities.get(intent) if intent else None
        names: set[str] = set()
        for entity in parse_data.get("entities") or []:
            name = entity.get("entity")
            if not name or (allowed is not None and name not in allowed):
                continue
            names.add(name)
            for key in ("role", "group"):
                if entity.get(key):
                    names.add(f"{name}#{entity[key]}")
        if names:
            sub["entities"] = tuple(sorted(names))
        return sub


@dataclass
class _Walk:
    featurizer: Featurizer
    omit_unset_slots: bool
    user: dict[str, Any] = field(default_factory=dict)
    prev_action: dict[str, Any] = field(default_factory=dict)
    loop: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    set_slots: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.user, self.prev_action, self.loop = {}, {}, None
        self.slots, self.set_slots = dict(self.featurizer.initial_slots), set()

    def apply(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "user":
            self.user = self.featurizer.user_state(event.get("parse_data") or {})
        elif kind == "action":
            name = event.get("name")
            self.prev_action = {"action_name": name} if name else {"action_text": event.get("action_text")}
        elif kind == "slot":
            self.slots[event["name"]] = event.get("value")
            self.set_slots.add(event["name"])
        elif kind == "active_loop":
            self.loop = event.get("name") or None
        elif kind == "reset_slots":
            self.slots, self.set_slots = dict(self.featurizer.initial_slots), set()

    def state(self) -> State:
        state: State = {}
        if self.user:
            state["user"] = dict(self.user)
        if self.prev_action:
            state["prev_action"] = dict(self.prev_action)
        if self.loop:
            state["active_loop"] = {"name": self.loop}
        values = {k: v for k, v in self.slots.items() if not self.omit_unset_slots or k in self.set_slots}
        features = self.featurizer.slot_features(values)  # gives rules' "must not be set" markers too
        if features:
            state["slots"] = features
        return state


def states_and_actions(events: Iterable[Event], featurizer: Featurizer, *,
                       omit_unset_slots: bool = False) -> tuple[list[State], list[str]]:
    """The state before each action of `events` (with that action's name), then the state after
    the last event: `len(states) == len(actions) + 1`; the last state is the one to predict from."""
    walk = _Walk(featurizer, omit_unset_slots)
    walk.reset()
    states: list[State] = []
    actions: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind in RESETS:
            walk.reset()
            states, actions = [], []
            continue
        if kind == "action":
            states.append(walk.state())
            actions.append(event.get("name") or event.get("action_text") or "")
        walk.apply(event)
    states.append(walk.state())
    return states, actions


def feature_key(states: Sequence[State]) -> str | None:
    """Rasa's lookup key: the states after the last rule snippet, as sorted JSON."""
    kept: list[State] = []
    for state in reversed(states):
        if state.get("prev_action", {}).get("action_name") == RULE_SNIPPET:
            break
        kept.insert(0, state)
    return json.dumps(kept, sort_keys=True) if kept else None


def key_states(key: str) -> list[State]:
    return json.loads(key)


def training_events(block: StoryBlock, featurizer: Featurizer) -> list[Event]:
    """The events Rasa generates from a story or rule (see the module docstring)."""
    rule = block.kind == "rule"
    out: list[Event] = []
    if rule and not block.conversation_start:
        out.append({"event": "action", "name": RULE_SNIPPET})
    for event in [*block.condition, *block.events]:
        if event.get("event") == "user":
            if not out or out[-1].get("name") != ACTION_LISTEN:
                out.append({"event": "action", "name": ACTION_LISTEN})
            out.append(event)
            out += featurizer.entity_slots(list((event.get("parse_data") or {}).get("entities") or []))
            continue
        if rule and event.get("event") == "slot" and event.get("value") is None:
            event = {**event, "value": SHOULD_NOT_BE_SET}
        elif rule and event.get("event") == "active_loop" and event.get("name") is None:
            event = {**event, "name": SHOULD_NOT_BE_SET}
        out.append(event)
        if event.get("event") == "action" and event.get("name") == "action_restart":
            out.append({"event": "restart"})  # the default action's own event, which a story does not list
    if (not rule or block.wait_for_user_input) and (not out or out[-1].get("name") != ACTION_LISTEN):
        out.append({"event": "action", "name": ACTION_LISTEN})
    return out


def strip_rule_only(state: State, rule_only_slots: frozenset[str], rule_only_loops: frozenset[str]) -> State:
    """`state` without the slots and loops that only rules use (Rasa leaves them out of the
    states its story policies learn from)."""
    if not rule_only_slots and not rule_only_loops:
        return state
    out = {k: dict(v) for k, v in state.items()}
    for slot in rule_only_slots:
        out.get("slots", {}).pop(slot, None)
    if out.get("slots") == {}:
        del out["slots"]
    if out.get("active_loop", {}).get("name") in rule_only_loops:
        del out["active_loop"]
    return out


def prev_action_name(state: State) -> str | None:
    return state.get("prev_action", {}).get("action_name")


def active_loop_name(state: State) -> str | None:
    name = state.get("active_loop", {}).get("name")
    return None if name == SHOULD_NOT_BE_SET else name
