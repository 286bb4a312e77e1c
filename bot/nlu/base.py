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
    # The message's normalised sentence embedding, so retrieval reuses this forward pass.
    embedding: np.ndarray | None = field(default=None, repr=False)

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
        return data


class Classifier(Protocol):
    @property
    def intents(self) -> Sequence[str]: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify a batch of messages in one forward pass. Blocking: call it off the event loop."""
