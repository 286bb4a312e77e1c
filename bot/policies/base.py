"""The routing decision and the dialogue policy interface with its prediction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from knowledge.base import Hit


@dataclass(frozen=True)
class Decision:
    route: str  # "loop" | "rules" | "retrieval" | "generation" | "fallback"
    actions: tuple[str, ...] = ()  # responses (utter_*) or custom actions to run, in order
    answer: str | None = None  # a direct answer (retrieval, generation)
    hits: tuple[Hit, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    unanswered: bool = False  # no intent and no close log answers it: a generator may try


# -- dialogue policies: the next action, as Rasa's policies predict it --------------------------

@dataclass(frozen=True)
class Conversation:
    """What a dialogue policy sees: the events of the current session (bounded by the tracker's
    window) and the states they give (bot/dialogue/states.py)."""

    events: tuple[dict[str, Any], ...]
    states: tuple[dict[str, Any], ...]  # the state before each action, then the current one
    latest_action: str | None
    latest_intent: str | None
    active_loop: str | None
    rejected: str | None  # the action rejected since the last action ran (no policy may predict it now)
    loop_rejected: bool = False  # the active loop rejected a message and has not run since
    loop_interrupted: bool = False  # the loop runs again after an unhappy path (a form skips validation)
    followup: str | None = None


@dataclass(frozen=True)
class PolicyPrediction:
    policy: str
    priority: int
    action: str | None  # None: this policy has nothing to say
    confidence: float = 0.0
    runner_up: tuple[str, float] | None = None
    no_user: bool = False  # a loop's happy path: overrules predictions made from user input
    events: tuple[dict[str, Any], ...] = ()  # e.g. loop_interrupted, applied before the action runs
    source: str = ""  # the rule or story behind it, for the reasoning


class DialoguePolicy(Protocol):
    name: str
    priority: int

    def predict(self, conversation: Conversation) -> PolicyPrediction: ...
