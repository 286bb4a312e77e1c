"""Rules: a known intent above its threshold runs its rule's actions (Rasa rules.yml), or its
`utter_<intent>` response when no rule names it; an active loop (form) keeps running."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.domain import FALLBACK_INTENT, Domain
from bot.errors import ConfigError
from bot.nlu.base import Prediction
from bot.policies.base import Decision
from bot.tracker import Tracker


def load_rules(path: Path, domain: Domain) -> dict[str, tuple[str, ...]]:
    """intent -> actions, from the single-intent rules of rules.yml."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    mapping: dict[str, tuple[str, ...]] = {}
    for rule in doc.get("rules") or []:
        steps = rule.get("steps") or []
        if rule.get("condition") or not steps or "intent" not in steps[0]:
            continue  # conditional and multi-intent rules need a dialogue model; not supported yet
        intent = str(steps[0]["intent"])
        actions = []
        for step in steps[1:]:
            if "intent" in step:
                break
            name = step.get("action")
            if name and name != "action_listen":
                if not domain.has_action(name):
                    raise ConfigError(f"rule {rule.get('rule')!r} names {name!r}, which the domain does not define")
                actions.append(str(name))
        if actions:
            mapping[intent] = tuple(actions)
    return mapping


class RulesPolicy:
    name = "rules"

    def __init__(self, domain: Domain, rules: dict[str, tuple[str, ...]], threshold: float) -> None:
        self.domain, self.rules, self.threshold = domain, rules, threshold

    def actions_for(self, intent: str) -> tuple[str, ...]:
        if intent in self.rules:
            return self.rules[intent]
        response = f"utter_{intent}"
        return (response,) if response in self.domain.responses else ()

    def answers(self, prediction: Prediction) -> bool:
        """Would this policy answer the prediction (a known intent, confident enough, with a rule)?"""
        return (prediction.intent != FALLBACK_INTENT and prediction.confidence >= self.threshold
                and bool(self.actions_for(prediction.intent)))

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        if not self.answers(prediction):
            return None
        return Decision("rules", self.actions_for(prediction.intent), details={"threshold": self.threshold})


class LoopPolicy:
    """While an action keeps a loop active (e.g. asking for an order number), the next message
    goes back to it, unless the customer clearly asks for one of the interrupting intents."""

    name = "loop"

    def __init__(self, interrupting: frozenset[str], threshold: float) -> None:
        self.interrupting, self.threshold = interrupting, threshold

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        loop = tracker.state.active_loop
        if not loop:
            return None
        if prediction.intent in self.interrupting and prediction.confidence >= self.threshold:
            return Decision("loop", (), deactivate_loop=True, details={"interrupted": loop})
        return Decision("loop", (loop,), details={"loop": loop})
