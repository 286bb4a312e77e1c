"""Retrieval: answer with the closest past support log when it is close enough."""

from __future__ import annotations

from bot.nlu.base import Prediction
from bot.policies.base import Decision
from bot.tracker import Tracker
from knowledge.base import Hit, Retriever


class RetrievalPolicy:
    name = "retrieval"

    def __init__(self, retriever: Retriever, *, threshold: float, k: int) -> None:
        self.retriever, self.threshold, self.k = retriever, threshold, k

    def search(self, prediction: Prediction) -> list[Hit]:
        return self.retriever.search(prediction.text, self.k, vector=prediction.embedding)

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        hits = tuple(self.search(prediction))
        details = {"threshold": self.threshold}
        if hits and hits[0].score >= self.threshold:
            return Decision("retrieval", answer=hits[0].answer, hits=hits, details=details)
        return Decision("fallback", ("utter_default",), hits=hits, details=details)
