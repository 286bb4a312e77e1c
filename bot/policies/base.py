"""The policy interface and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.nlu.base import Prediction
from bot.tracker import Tracker
from knowledge.base import Hit


@dataclass(frozen=True)
class Decision:
    route: str  # "loop" | "rules" | "retrieval" | "generation" | "fallback"
    actions: tuple[str, ...] = ()  # responses (utter_*) or custom actions to run, in order
    answer: str | None = None  # a direct answer (retrieval, generation)
    hits: tuple[Hit, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    deactivate_loop: bool = False
    unanswered: bool = False  # no intent and no close log answers it: a generator may try


class Policy(Protocol):
    name: str

    def decide(self, tracker: Tracker, prediction: Prediction) -> Decision | None:
        """A decision, or None to let the next policy decide. Blocking work allowed (runs off the loop)."""
