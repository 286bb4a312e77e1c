"""Small builders for dialogue-policy tests: events and blocks written by hand."""

from __future__ import annotations

from typing import Any

from bot.dialogue.states import SHOULD_NOT_BE_SET, Featurizer
from bot.dialogue.story import StoryBlock

START = [{"event": "action", "name": "action_session_start"}, {"event": "session_started"},
         {"event": "action", "name": "action_listen"}]


def u(intent: str, **entities: Any) -> dict[str, Any]:
    return {"event": "user", "text": None, "parse_data": {
        "intent": {"name": intent, "confidence": 1.0},
        "entities": [{"entity": k, "value": v} for k, v in entities.items()]}}


def a(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def loop(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def rejected(name: str) -> dict[str, Any]:
    return {"event": "action_execution_rejected", "name": name}


def rule(name: str, *events: dict[str, Any], condition: tuple[dict[str, Any], ...] = (), **kw: Any) -> StoryBlock:
    return StoryBlock(name, "rule", tuple(events), f"rules.yml:{name}", condition=condition, **kw)


def story(name: str, *events: dict[str, Any]) -> StoryBlock:
    return StoryBlock(name, "story", tuple(events), f"stories.yml:{name}")


# every slot that holds a value is one feature (enough for these tests; slots.py has Rasa's)
FEATURIZER = Featurizer(slot_features=lambda values: {
    k: v if v == SHOULD_NOT_BE_SET else (1.0,) for k, v in values.items() if v is not None})
