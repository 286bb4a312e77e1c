"""Rasa intent payloads: `/intent` or `/intent{"slot": "value"}` bypass the classifier."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from bot.domain import FALLBACK_INTENT
from bot.nlu.base import Prediction

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z0-9_.\-]+)(?P<json>\{.*\})?\s*$", re.DOTALL)


def payload_entities(text: str) -> list[dict[str, Any]]:
    """The entities of a payload (`/inform{"size": "M"}`); none when it has no readable JSON object."""
    match = _PAYLOAD.match(text.strip())
    if not match or not match.group("json"):
        return []
    try:
        values = json.loads(match.group("json"))
    except json.JSONDecodeError:
        return []
    if not isinstance(values, dict):
        return []
    return [{"entity": str(k), "value": v, "extractor": "payload"} for k, v in values.items()]


def parse_payload(text: str, intents: Sequence[str]) -> Prediction | None:
    """A Prediction for a payload message, or None when `text` is not a payload.

    An unknown intent (or unreadable JSON) is treated as out of scope, not as an error."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    intent = match.group("intent")
    entities: list[dict[str, object]] = []
    if match.group("json"):
        try:
            values = json.loads(match.group("json"))
        except json.JSONDecodeError:
            values = None
        if not isinstance(values, dict):
            return Prediction(text, FALLBACK_INTENT, 1.0, ((FALLBACK_INTENT, 1.0),))
        entities = [{"entity": str(k), "value": v, "extractor": "payload"} for k, v in values.items()]
    if intent not in intents:
        return Prediction(text, FALLBACK_INTENT, 1.0, ((FALLBACK_INTENT, 1.0),))
    return Prediction(text, intent, 1.0, ((intent, 1.0),), tuple(entities))
