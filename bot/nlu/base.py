"""The classifier interface and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class Sentiment:
    label: str
    confidence: float


@dataclass(frozen=True, eq=False)
class Prediction:
    text: str
    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    entities: tuple[dict[str, Any], ...] = ()
    sentiment: Sentiment | None = None
    # How sure the model is that the message is foreign (none of the bot's business) and that it
    # is a question for the support logs; None for a model trained without those examples.
    foreign: float | None = None
    knowledge: float | None = None
    for_logs: bool = False  # the model's best guess: a question for the support logs (no intent)
    # The message's normalised sentence embedding, so retrieval reuses this forward pass.
    embedding: np.ndarray | None = field(default=None, repr=False)
    # Rasa's ResponseSelector output for retrieval intents (bot/nlu/response_selector.py), or None
    response_selector: dict[str, Any] | None = field(default=None, repr=False)

    def parse_data(self, ranking_size: int = 10) -> dict[str, Any]:
        """Rasa's parse result (POST /model/parse, `user` events), plus Switchboard's sentiment."""
        data: dict[str, Any] = {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": round(self.confidence, 6)},
            "intent_ranking": [{"name": n, "confidence": round(c, 6)} for n, c in self.ranking[:ranking_size]],
            "entities": [dict(e) for e in self.entities],
        }
        # null when the model was trained without sentiment data (it has no sentiment head)
        data["sentiment"] = (
            {"label": self.sentiment.label, "confidence": round(self.sentiment.confidence, 6)}
            if self.sentiment is not None
            else None
        )
        if self.response_selector is not None:
            data["response_selector"] = self.response_selector
            if self.intent in self.response_selector.get("all_retrieval_intents", ()):
                # as Rasa's processor adds it: the full retrieval intent the selector chose
                chosen = (self.response_selector.get(self.intent) or {}).get("response", {})
                if chosen.get("intent_response_key"):
                    data["intent"]["full_retrieval_intent_name"] = chosen["intent_response_key"]
        if self.foreign is not None:  # Switchboard's own: where the message belongs
            data["scope"] = {"foreign": round(self.foreign, 6), "support_logs": round(self.knowledge or 0.0, 6),
                             "for_logs": self.for_logs}
        return data


class Classifier(Protocol):
    @property
    def intents(self) -> Sequence[str]: ...

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        """Classify a batch of messages in one forward pass. Blocking: call it off the event loop.
        `contexts`, one per text: the intents of the conversation's earlier turns, oldest first
        (bot/nlu/entity_context.py); a classifier may ignore them."""
