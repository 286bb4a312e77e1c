"""Retrieval: answer with the closest past support log when it is close enough."""

from __future__ import annotations

import re
from typing import Any

from bot.nlu.base import Prediction
from bot.policies.base import Decision
from bot.tracker import Tracker
from knowledge.base import Hit, Retriever

PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


class RetrievalPolicy:
    name = "retrieval"

    def __init__(self, retriever: Retriever, *, threshold: float, k: int) -> None:
        self.retriever, self.threshold, self.k = retriever, threshold, k

    def search(self, prediction: Prediction) -> list[Hit]:
        return self.retriever.search(prediction.text, self.k, vector=prediction.embedding)

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        hits = tuple(self.search(prediction))
        details: dict[str, object] = {"threshold": self.threshold}
        if hits and hits[0].score >= self.threshold:
            answer, unfilled = fill_placeholders(hits[0].answer, tracker.state.slots)
            if unfilled:
                details["unfilled_placeholders"] = unfilled
            return Decision("retrieval", answer=answer, hits=hits, details=details)
        return Decision("fallback", ("utter_default",), hits=hits, details=details, unanswered=True)


def fill_placeholders(answer: str, slots: dict[str, Any]) -> tuple[str, list[str]]:
    """Fill `{{Order Number}}`-style placeholders of a logged answer from the slots
    (`order_number`); the ones left are returned so the reply can be flagged."""
    unfilled: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = slots.get(re.sub(r"\W+", "_", name).strip("_").lower())
        if value in (None, ""):
            unfilled.append(name)
            return match.group(0)
        return str(value)

    return PLACEHOLDER.sub(fill, answer), unfilled
