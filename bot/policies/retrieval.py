"""Retrieval: answer with the closest past support log when it is close enough.

The action loop (bot/dialogue/loop.py) asks it about each user message before any action runs.
A message the dialogue policies would answer keeps its intent unless a log's question matches it
much better than the intent's own closest training example does (by the calibrated `log_margin`,
cosine of the retrieval encoder), which catches "is there express shipping" (the express-delivery
log) predicted as shipping_times. A message the policies leave to the default fallback goes to
the closest log when its score reaches the threshold: `threshold` when the NLU model places the
message with the support logs, the stricter `threshold_foreign` when it finds it foreign or is
unsure (a near match of a log still answers). Both are calibrated at train time. Otherwise the
message is left `unanswered` for generation."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from bot.nlu.base import Prediction
from bot.policies.base import Decision
from bot.routes import IntentBank
from bot.tracker import Tracker
from knowledge.base import Hit, Retriever
from knowledge.grouping import SEARCH_WIDTH, by_answer

PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


class RetrievalPolicy:
    name = "retrieval"

    def __init__(
        self, retriever: Retriever, *, threshold: float, k: int, threshold_foreign: float | None = None,
        embed: Callable[[str], np.ndarray] | None = None,
        intents: IntentBank | None = None, log_margin: float | None = None,
    ) -> None:
        self.retriever, self.threshold, self.k = retriever, threshold, k
        self.threshold_foreign = threshold if threshold_foreign is None else threshold_foreign
        self.embed, self.intents, self.log_margin = embed, intents, log_margin

    def _vector(self, prediction: Prediction) -> np.ndarray | None:
        if prediction.embedding is not None:
            return prediction.embedding
        return self.embed(prediction.text) if self.embed is not None else None

    def search(self, prediction: Prediction, vector: np.ndarray | None = None) -> list[Hit]:
        """The k best answers, each scored by its group of past questions (knowledge/grouping.py)."""
        hits = self.retriever.search(prediction.text, max(self.k, SEARCH_WIDTH),
                                     vector=vector if vector is not None else prediction.embedding)
        return by_answer(hits, self.k)

    def decide(self, tracker: Tracker, prediction: Prediction, *, intent_answers: bool = False) -> Decision | None:
        """`intent_answers`: the dialogue policies have a real answer to this message (not the
        default fallback); then only a much closer log takes it over."""
        if intent_answers:
            return self._over_intent(tracker, prediction)
        hits = tuple(self.search(prediction))
        threshold = self.threshold_for(prediction)
        details: dict[str, object] = {"threshold": threshold, "for_logs": prediction.for_logs}
        if hits and hits[0].score >= threshold:
            return self._answer(tracker, hits, details)
        return Decision("fallback", ("utter_default",), hits=hits, details=details, unanswered=True)

    def threshold_for(self, prediction: Prediction) -> float:
        """A model without the support-log class (trained before it existed) has one threshold."""
        return self.threshold if prediction.for_logs or prediction.knowledge is None else self.threshold_foreign

    def _over_intent(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        """The log answers instead of the predicted intent only when it is much closer."""
        if self.intents is None or self.log_margin is None:
            return None
        vector = self._vector(prediction)
        if vector is None:
            return None
        raw = self.retriever.search(prediction.text, max(self.k, SEARCH_WIDTH), vector=vector)
        hits = tuple(by_answer(raw, self.k))
        if not hits or hits[0].score < self.threshold:
            return None
        # like against like: the closest single past question (of the best answer's group, which
        # keeps the order of its best hit) against the intent's closest single example
        closest = self.intents.similarity(vector, prediction.intent)
        if closest is None or raw[0].score - closest < self.log_margin:
            return None
        details: dict[str, Any] = {"threshold": self.threshold, "over_intent": {
            "intent": prediction.intent, "intent_similarity": round(closest, 4),
            "log_similarity": round(raw[0].score, 4), "margin": self.log_margin}}
        return self._answer(tracker, hits, details)

    @staticmethod
    def _answer(tracker: Tracker, hits: tuple[Hit, ...], details: dict[str, Any]) -> Decision:
        answer, unfilled = fill_placeholders(hits[0].answer, tracker.state.slots)
        if unfilled:
            details["unfilled_placeholders"] = unfilled
        return Decision("retrieval", answer=answer, hits=hits, details=details)


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
