"""Rasa's way of choosing between the dialogue policies' predictions.

A rejected action (its execution was rejected since the last action, e.g. a form that could not
use the message) gets no confidence from anyone; a loop's happy path (a prediction that does not
depend on the user's message) overrules the rest; otherwise the highest confidence wins and a tie
goes to the higher priority (RulePolicy 6 > memoization 3 > the learned policy 1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from bot.policies.base import Conversation, DialoguePolicy, PolicyPrediction


def choose(predictions: Sequence[PolicyPrediction], rejected: str | None = None) -> PolicyPrediction:
    if not predictions:
        raise ValueError("no dialogue policy is configured")
    usable = [p if p.action != rejected or rejected is None else replace(p, confidence=0.0) for p in predictions]
    no_user = any(p.no_user and p.action for p in usable)
    candidates = [p for p in usable if p.no_user == no_user] if no_user else usable
    ranked = sorted(candidates, key=lambda p: (p.confidence if p.action else -1.0, p.priority), reverse=True)
    best = ranked[0]
    runner = next(((p.action, p.confidence) for p in ranked[1:] if p.action and p.action != best.action), None)
    return replace(best, runner_up=runner)


class Ensemble:
    """Asks every policy, returns the winner (with the best other action as its runner-up)."""

    def __init__(self, policies: Sequence[DialoguePolicy]) -> None:
        self.policies = list(policies)

    def predict(self, conversation: Conversation) -> tuple[PolicyPrediction, list[PolicyPrediction]]:
        predictions = [policy.predict(conversation) for policy in self.policies]
        return choose(predictions, conversation.rejected), predictions
