"""Rules with Rasa's RulePolicy semantics.

Each rule becomes lookup entries: the rule's states up to an action (features the rule does not
mention are absent, so they match anything) -> that action. A rule applies when, walking back from
now, each of its states is contained in the conversation's state; of all applicable rules the
longest (most specific) wins. Before the rules: Rasa's default actions for `/restart`, `/back` and
`/session_start`, then an active loop's happy path (run the form after the user speaks, listen after
it ran) unless the loop rejected the message. No rule: the core fallback action at
`core_fallback_threshold`, so that a more confident policy (memoization, the learned one) wins.

Loop "unhappy path" entries, learned from rules and stories, say when a rule may answer inside a
loop without handing back to the form, and when the form resumes after an interruption."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from bot.dialogue.states import (ACTION_LISTEN, RULE_SNIPPET, SHOULD_NOT_BE_SET, Featurizer, State,
                                 active_loop_name, feature_key, key_states, prev_action_name,
                                 states_and_actions, training_events)
from bot.dialogue.story import StoryBlock
from bot.policies.base import Conversation, PolicyPrediction

PRIORITY = 6
DEFAULT_ACTIONS = {"restart": "action_restart", "back": "action_back", "session_start": "action_session_start"}
DO_NOT_PREDICT_LOOP = "do_not_predict_loop_action"
LOOP_WAS_INTERRUPTED = "loop_was_interrupted"


@dataclass
class RuleLookup:
    rules: dict[str, str] = field(default_factory=dict)  # feature key -> next action
    unhappy: dict[str, str] = field(default_factory=dict)  # feature key -> DO_NOT_PREDICT_LOOP | LOOP_WAS_INTERRUPTED
    sources: dict[str, str] = field(default_factory=dict)  # feature key -> "rule name (file:line)"
    contradictions: list[str] = field(default_factory=list)
    rule_only_slots: frozenset[str] = frozenset()
    rule_only_loops: frozenset[str] = frozenset()


def _slots_loops(all_states: Sequence[Sequence[State]]) -> tuple[set[str], set[str]]:
    slots: set[str] = set()
    loops: set[str] = set()
    for states in all_states:
        for state in states:
            slots.update(state.get("slots", {}))
            loop = active_loop_name(state)
            if loop:
                loops.add(loop)
    return slots, loops


def build_lookup(rules: Sequence[StoryBlock], stories: Sequence[StoryBlock], featurizer: Featurizer) -> RuleLookup:
    lookup = RuleLookup()
    rule_states: list[list[State]] = []
    pairs: list[tuple[list[State], list[str], StoryBlock]] = []
    for block in rules:
        states, actions = states_and_actions(training_events(block, featurizer), featurizer, omit_unset_slots=True)
        rule_states.append(states)
        pairs.append((states, actions, block))
        for i, action in enumerate(actions):
            key = feature_key(states[: i + 1])
            if key is None or action == RULE_SNIPPET:
                continue
            where = f"rule '{block.name}' ({block.source})"
            before = lookup.rules.get(key)
            if before is not None and before != action:
                lookup.contradictions.append(
                    f"{where} predicts '{action}' where {lookup.sources[key]} predicts '{before}' after the same states")
                continue
            lookup.rules[key] = action
            lookup.sources.setdefault(key, where)
    story_states: list[list[State]] = []
    for block in stories:
        states, actions = states_and_actions(training_events(block, featurizer), featurizer)
        story_states.append(states)
        pairs.append((states, actions, block))
    for states, actions, _ in pairs:
        for i, action in enumerate(actions):
            _add_unhappy(lookup, states[: i + 1], action)
    rule_slots, rule_loops = _slots_loops(rule_states)
    story_slots, story_loops = _slots_loops(story_states)
    lookup.rule_only_slots = frozenset(rule_slots - story_slots)
    lookup.rule_only_loops = frozenset(rule_loops - story_loops)
    return lookup


def _add_unhappy(lookup: RuleLookup, states: list[State], action: str) -> None:
    loop = active_loop_name(states[-1])
    if not loop:
        return
    if len(states) == 1 or "prev_action" not in states[-2]:
        kept = [states[-1]]
    else:
        kept = [{"prev_action": states[-2]["prev_action"]}, states[-1]]
    key = feature_key(kept)
    if key is None:
        return
    after_listen = prev_action_name(states[-1]) == ACTION_LISTEN
    if after_listen and action == loop:
        lookup.unhappy[key] = LOOP_WAS_INTERRUPTED
    elif not after_listen and action != loop:
        lookup.unhappy[key] = DO_NOT_PREDICT_LOOP


def state_contains(rule_state: State, state: State) -> bool:
    for kind, rule_sub in rule_state.items():
        sub = state.get(kind, {})
        for key, wanted in rule_sub.items():
            if isinstance(wanted, list):
                wanted = tuple(wanted)
            have = sub.get(key)
            if isinstance(have, list):
                have = tuple(have)
            if wanted == SHOULD_NOT_BE_SET:
                if have and have != SHOULD_NOT_BE_SET:
                    return False
            elif wanted and have != wanted:
                return False
    return True


def _applicable(rule: Sequence[State], states: Sequence[State]) -> bool:
    """`rule`: a rule's states, last first (parsed once: a prediction checks every rule)."""
    for i, state in enumerate(reversed(states)):
        if i >= len(rule):
            return True
        here, there = "prev_action" in state, "prev_action" in rule[i]
        if not here and not there:
            continue  # both a conversation start
        if here != there or not state_contains(rule[i], state):
            return False
    return True  # as Rasa: rule states before the start of the conversation are not checked


def _required(value: object) -> str | None:
    """A feature value a state must have to match (None: the rule leaves it open)."""
    return value if isinstance(value, str) and value and value != SHOULD_NOT_BE_SET else None


def _last_features(state: State) -> tuple[str | None, str | None]:
    """(previous action name, intent) of a state."""
    return _required(state.get("prev_action", {}).get("action_name")), _required(state.get("user", {}).get("intent"))


class RuleIndex:
    """Rule keys with their states parsed once (last first), filed by what their last state asks
    of the conversation's last state (the action before it and the intent): a prediction checks the
    few rules that can apply instead of all of them. `matching` gives what checking every rule in
    order gives (tests/unit/dialogue/test_rule_index.py compares the two)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.rules = [(key, tuple(reversed(key_states(key)))) for key in keys]
        self._filed: dict[tuple[str | None, str | None], list[int]] = {}
        for position, (_, rule) in enumerate(self.rules):
            # a last state without an action is a conversation's start: _applicable does not
            # compare it with the conversation's own first state, so it is filed as open
            required = _last_features(rule[0]) if rule and "prev_action" in rule[0] else (None, None)
            self._filed.setdefault(required, []).append(position)

    def matching(self, states: Sequence[State]) -> list[str]:
        """The keys whose rules fit the end of `states`, in the order they were given."""
        if not states:
            return [key for key, rule in self.rules if _applicable(rule, states)]
        action, intent = _last_features(states[-1])
        candidates = set(self._filed.get((None, None), ()))
        for required in {(action, intent), (action, None), (None, intent)}:
            if required != (None, None):
                candidates.update(self._filed.get(required, ()))
        return [self.rules[i][0] for i in sorted(candidates) if _applicable(self.rules[i][1], states)]


class RulePolicy:
    name = "RulePolicy"
    priority = PRIORITY

    def __init__(self, lookup: RuleLookup, *, core_fallback_threshold: float = 0.3,
                 core_fallback_action: str = "action_default_fallback", enable_fallback: bool = True) -> None:
        self.lookup = lookup
        self.fallback_threshold, self.fallback_action = core_fallback_threshold, core_fallback_action
        self.enable_fallback = enable_fallback
        self._rules = RuleIndex(list(lookup.rules))
        self._unhappy = RuleIndex(list(lookup.unhappy))

    def _made(self, action: str | None, source: str, *, confidence: float = 1.0, no_user: bool = False,
              interrupted: bool = False) -> PolicyPrediction:
        events = ({"event": "loop_interrupted", "is_interrupted": True},) if interrupted else ()
        return PolicyPrediction(self.name, self.priority, action, confidence if action else 0.0,
                                no_user=no_user, events=events, source=source)

    def predict(self, conversation: Conversation) -> PolicyPrediction:
        c = conversation
        if c.latest_action == ACTION_LISTEN and c.latest_intent in DEFAULT_ACTIONS:
            return self._made(DEFAULT_ACTIONS[c.latest_intent], f"default action for /{c.latest_intent}")
        loop = c.active_loop
        if loop and not c.loop_rejected:
            if c.latest_action != loop:
                return self._made(loop, f"active loop '{loop}'", no_user=True)
            return self._made(ACTION_LISTEN, f"active loop '{loop}' ran: listen", no_user=True)
        states = list(c.states)
        keys = self._rules.matching(states)
        best = max(keys, key=len) if keys else None
        action = self.lookup.rules.get(best) if best else None
        interrupted = False
        if loop:
            unhappy = {self.lookup.unhappy[k] for k in self._unhappy.matching(states)}
            general_listen = action == ACTION_LISTEN and best is not None and not active_loop_name(key_states(best)[-1])
            if general_listen:
                if DO_NOT_PREDICT_LOOP not in unhappy:
                    return self._made(loop, f"back to loop '{loop}' after {self.lookup.sources.get(best, 'a rule')}")
                action = None
            interrupted = LOOP_WAS_INTERRUPTED in unhappy
        if action is not None:
            return self._made(action, self.lookup.sources.get(best or "", "a rule"), interrupted=interrupted)
        if self.enable_fallback:
            return self._made(self.fallback_action, "no rule applies (core fallback)",
                              confidence=self.fallback_threshold, interrupted=interrupted)
        return self._made(None, "no rule applies")
