"""A linear intent head (and optional sentiment head) over frozen MiniLM sentence embeddings.

Loads the artifact written by training/linear.py: `heads.npz` + `meta.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bot.domain import FALLBACK_INTENT
from bot.errors import ConfigError
from bot.nlu.base import Prediction, Sentiment
from bot.nlu.encoder import Encoder
from bot.nlu.entities import RegexEntities


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class LinearHead:
    def __init__(self, coef: np.ndarray, intercept: np.ndarray, labels: list[str]) -> None:
        if coef.shape[0] != len(labels):
            raise ConfigError(f"head has {coef.shape[0]} rows for {len(labels)} labels")
        self.coef, self.intercept, self.labels = coef.astype(np.float32), intercept.astype(np.float32), labels

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return _softmax(vectors @ self.coef.T + self.intercept)


class LinearClassifier:
    """Implements `Classifier`: one encoder pass per batch feeds both heads and retrieval."""

    def __init__(self, model_dir: Path, encoder: Encoder, *, threshold: float) -> None:
        meta_path = Path(model_dir) / "meta.json"
        if not meta_path.exists():
            raise ConfigError(f"no NLU model in {model_dir}: run `switchboard train` first")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        arrays = np.load(Path(model_dir) / "heads.npz")
        self.intent_head = LinearHead(arrays["intent_coef"], arrays["intent_intercept"], self.meta["intents"])
        self.sentiment_head = (
            LinearHead(arrays["sentiment_coef"], arrays["sentiment_intercept"], self.meta["sentiments"])
            if self.meta.get("sentiments")
            else None
        )
        self.entities = RegexEntities(self.meta.get("regexes", {}), self.meta.get("synonyms", {}))
        self.encoder = encoder
        self.threshold = threshold

    @property
    def intents(self) -> Sequence[str]:
        return [i for i in self.intent_head.labels if i != FALLBACK_INTENT]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        vectors = self.encoder.encode(texts)
        return self.predict_vectors(texts, vectors)

    def predict_vectors(self, texts: Sequence[str], vectors: np.ndarray) -> list[Prediction]:
        intent_p = self.intent_head.probabilities(vectors)
        sentiment_p = self.sentiment_head.probabilities(vectors) if self.sentiment_head else None
        labels = self.intent_head.labels
        results = []
        for row, text in enumerate(texts):
            order = np.argsort(-intent_p[row])
            ranking = tuple((labels[i], float(intent_p[row, i])) for i in order)
            top, confidence = ranking[0]
            intent = top if top != FALLBACK_INTENT and confidence >= self.threshold else FALLBACK_INTENT
            sentiment = None
            if sentiment_p is not None and self.sentiment_head is not None:
                best = int(np.argmax(sentiment_p[row]))
                sentiment = Sentiment(self.sentiment_head.labels[best], float(sentiment_p[row, best]))
            results.append(
                Prediction(
                    text=text,
                    intent=intent,
                    confidence=confidence,
                    ranking=ranking,
                    entities=tuple(self.entities.extract(text)),
                    sentiment=sentiment,
                    embedding=vectors[row],
                )
            )
        return results
