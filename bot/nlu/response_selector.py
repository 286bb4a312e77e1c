"""Retrieval intents as Rasa's ResponseSelector gives them in a parse result.

NLU data with `faq/ask_hours` and `chitchat/ask_name` trains the intent head on the base intents
(`faq`, `chitchat`) and a response head, on the same forward pass, on the full names. A parse
result then carries, as Rasa's does:

    "response_selector": {
      "all_retrieval_intents": ["chitchat", "faq"],
      "default": {"response": {"responses": [...], "confidence": 0.93,
                               "intent_response_key": "faq/ask_hours", "utter_action": "utter_faq/ask_hours"},
                  "ranking": [{"id": ..., "confidence": 0.93, "intent_response_key": "faq/ask_hours"}, ...]},
      "faq": {...}, "chitchat": {...}
    }

`default` (a ResponseSelector without `retrieval_intent` in config.yml, as in Rasa's default
pipeline) ranks every full name; a key per configured `retrieval_intent` ranks that intent's
only. Where Switchboard differs: every base intent also gets its own key, so `utter_faq` always
answers with the best of `faq`'s responses (Rasa's `default` selector may pick a `chitchat`
response for a message classified `faq`)."""

from __future__ import annotations

import zlib
from typing import Any, Mapping, Sequence

import numpy as np

DEFAULT = "default"


def utter_action(full_name: str) -> str:
    return f"utter_{full_name}"


def _label_id(full_name: str) -> int:
    """A stable id per label (Rasa gives its labels' hash ids in the ranking)."""
    return zlib.crc32(full_name.encode("utf-8")) & 0x7FFFFFFF


class ResponseSelection:
    """Builds the `response_selector` entry of a parse result from the response head's probabilities."""

    def __init__(self, labels: Sequence[str], selectors: Sequence[str] = (DEFAULT,)) -> None:
        self.labels = list(labels)
        self.bases = sorted({label.split("/", 1)[0] for label in self.labels})
        keys = [k for k in selectors if k == DEFAULT or k in self.bases]
        self.keys = list(dict.fromkeys([*keys, *self.bases]))

    def _subset(self, key: str) -> list[int]:
        if key == DEFAULT:
            return list(range(len(self.labels)))
        return [i for i, label in enumerate(self.labels) if label.split("/", 1)[0] == key]

    def select(self, probabilities: np.ndarray, responses: Mapping[str, list[dict[str, Any]]],
               ranking_size: int = 10) -> dict[str, Any] | None:
        if not self.labels:
            return None
        out: dict[str, Any] = {"all_retrieval_intents": list(self.bases)}
        for key in self.keys:
            rows = self._subset(key)
            p = probabilities[rows]
            p = p / p.sum() if p.sum() > 0 else np.full(len(rows), 1.0 / len(rows))
            order = np.argsort(-p)
            best = self.labels[rows[int(order[0])]]
            action = utter_action(best)
            out[key] = {
                "response": {
                    # as Rasa does when the responses are missing: the key stands in for them
                    "responses": list(responses.get(action) or [{"text": best}]),
                    "confidence": round(float(p[order[0]]), 6),
                    "intent_response_key": best,
                    "utter_action": action,
                },
                "ranking": [{"id": _label_id(self.labels[rows[int(i)]]), "confidence": round(float(p[i]), 6),
                             "intent_response_key": self.labels[rows[int(i)]]} for i in order[:ranking_size]],
            }
        return out


def chosen(parse_data: Mapping[str, Any], base: str) -> str | None:
    """The full retrieval intent a parse result chose for `base` (`faq` -> `faq/ask_hours`), as
    Rasa's ActionRetrieveResponse reads it: the base's own key, else `default`."""
    selector = parse_data.get("response_selector") or {}
    entry = selector.get(base) or selector.get(DEFAULT)
    if not isinstance(entry, dict):
        return None
    key = (entry.get("response") or {}).get("intent_response_key")
    return str(key) if key else None
