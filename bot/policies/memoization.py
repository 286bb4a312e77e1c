"""Memoization of stories, as Rasa's MemoizationPolicy and AugmentedMemoizationPolicy.

Every action of every story is remembered under the states before it (the last `max_history`
of them; None: the whole session). A conversation whose recent states are exactly a remembered
key gets that action at confidence 1.0; two stories that disagree after the same states are both
forgotten there (and reported). The augmented variant, on a miss, forgets the conversation's
oldest events one action at a time and tries again, so a story can apply in the middle of a
conversation. Slots and loops that only rules use are left out of the states, as Rasa does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

from bot.dialogue.states import Featurizer, State, states_and_actions, strip_rule_only, training_events
from bot.dialogue.story import Event, StoryBlock
from bot.policies.base import Conversation, PolicyPrediction

PRIORITY = 3


@dataclass
class StoryLookup:
    actions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


def _key(states: Sequence[State], max_history: int | None) -> str:
    window = list(states) if max_history is None else list(states)[-max_history:]
    return json.dumps(window, sort_keys=True)


def build_lookup(stories: Sequence[StoryBlock], featurizer: Featurizer, *, max_history: int | None = None,
                 rule_only_slots: frozenset[str] = frozenset(),
                 rule_only_loops: frozenset[str] = frozenset()) -> StoryLookup:
    lookup = StoryLookup()
    dropped: set[str] = set()
    for block in stories:
        states, actions = states_and_actions(training_events(block, featurizer), featurizer)
        states = [strip_rule_only(s, rule_only_slots, rule_only_loops) for s in states]
        for i, action in enumerate(actions):
            key = _key(states[: i + 1], max_history)
            if key in dropped:
                continue
            before = lookup.actions.get(key)
            if before is not None and before != action:
                lookup.conflicts.append(f"story '{block.name}' ({block.source}) continues with '{action}' where "
                                        f"{lookup.sources[key]} continues with '{before}': neither is remembered there")
                del lookup.actions[key]
                dropped.add(key)
                continue
            lookup.actions[key] = action
            lookup.sources.setdefault(key, f"story '{block.name}' ({block.source})")
    return lookup


class MemoizationPolicy:
    name = "MemoizationPolicy"
    priority = PRIORITY

    def __init__(self, lookup: StoryLookup, featurizer: Featurizer, *, max_history: int | None = None,
                 augmented: bool = True, rule_only_slots: frozenset[str] = frozenset(),
                 rule_only_loops: frozenset[str] = frozenset()) -> None:
        self.lookup, self.featurizer, self.max_history, self.augmented = lookup, featurizer, max_history, augmented
        self.rule_only_slots, self.rule_only_loops = rule_only_slots, rule_only_loops
        if augmented:
            self.name = "AugmentedMemoizationPolicy"

    def _states(self, events: Sequence[Event]) -> list[State]:
        states, _ = states_and_actions(events, self.featurizer)
        return [strip_rule_only(s, self.rule_only_slots, self.rule_only_loops) for s in states]

    def _recall(self, states: Sequence[State]) -> tuple[str, str] | None:
        key = _key(states, self.max_history)
        action = self.lookup.actions.get(key)
        return (action, self.lookup.sources[key]) if action is not None else None

    def predict(self, conversation: Conversation) -> PolicyPrediction:
        states = [strip_rule_only(s, self.rule_only_slots, self.rule_only_loops) for s in conversation.states]
        found = self._recall(states)
        if found is None and self.augmented:
            found = self._recall_truncated(list(conversation.events), states)
        if found is None:
            return PolicyPrediction(self.name, self.priority, None)
        return PolicyPrediction(self.name, self.priority, found[0], 1.0, source=found[1])

    def _recall_truncated(self, events: list[Event], old: list[State]) -> tuple[str, str] | None:
        """Rasa's "back to the future": drop events up to the first, then each next, action."""
        start = _next_action(events, 0)
        while start is not None:
            events = events[start:]
            states = self._states(events)
            if states != old:
                found = self._recall(states)
                if found is not None:
                    return found
                old = states
            start = _next_action(events, 1)
        return None


def _next_action(events: Sequence[Event], skip: int) -> int | None:
    seen = 0
    for i, event in enumerate(events):
        if event.get("event") == "action":
            if seen == skip:
                return i
            seen += 1
    return None
