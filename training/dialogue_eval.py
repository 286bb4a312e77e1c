"""How well the dialogue policies generalise: stories held out of training, replayed teacher
forced (the gold intents, entities and actions of the story, as `rasa test` replays them), with
the rules and memoization alone and with the learned policy beside them.

A k-fold split over the project's stories: each fold trains on the rules and the other stories
and is scored on its own; the figures are the action accuracy over every held-out action and
the share of held-out stories with every action right."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

from bot.dialogue.model import DialogueModel
from bot.dialogue.states import strip_rule_only, training_events
from bot.dialogue.story import StoryBlock
from training.dialogue_policy import PolicyTraining, train_policy


@dataclass
class Score:
    actions: int = 0
    right: int = 0
    stories: int = 0
    stories_right: int = 0
    misses: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: "Score") -> None:
        self.actions += other.actions
        self.right += other.right
        self.stories += other.stories
        self.stories_right += other.stories_right
        self.misses += other.misses

    def as_dict(self, examples: int = 5) -> dict[str, Any]:
        return {"actions": self.actions, "action_accuracy": round(self.right / max(self.actions, 1), 4),
                "stories": self.stories, "story_accuracy": round(self.stories_right / max(self.stories, 1), 4),
                "misses": self.misses[:examples]}


def replay(model: DialogueModel, stories: Sequence[StoryBlock]) -> Score:
    """Teacher-forced replay as `switchboard test` does it, with the stories' own intents and
    entities standing in for the NLU (bot/dialogue/states.training_events gives the events)."""
    from bot.nlu.base import Prediction
    from training.story_tests import run_story

    forms = frozenset(model.domain.forms)
    score = Score()
    for block in stories:
        events = training_events(block, model.featurizer)
        gold = {str(e["text"]): e.get("parse_data") or {} for e in events if e.get("event") == "user" and e.get("text")}

        def parse(text: str, context: Sequence[str] = ()) -> Prediction:
            data = gold[text]
            return Prediction(text, (data.get("intent") or {}).get("name") or "", 1.0, (),
                              entities=tuple(data.get("entities") or ()))

        result = run_story(block, events, parse=parse, model=model, forms=forms)
        actions = [c for c in result.checks if c.kind == "action"]
        score.actions += len(actions)
        score.right += sum(c.ok for c in actions)
        score.stories += 1
        score.stories_right += all(c.ok for c in actions)
        score.misses += [{"story": block.name, "expected": c.expected, "predicted": c.predicted, "policy": c.policy,
                          "where": c.source} for c in actions if not c.ok]
    return score


def _strip(model: DialogueModel):  # type: ignore[no-untyped-def]
    return partial(strip_rule_only, rule_only_slots=model.rule_lookup.rule_only_slots,
                   rule_only_loops=model.rule_lookup.rule_only_loops)


def held_out(model: DialogueModel, *, folds: int = 5, seed: int = 13, max_history: int = 5,
             options: PolicyTraining = PolicyTraining()) -> dict[str, Any]:
    """Memoization alone against memoization + the learned policy, on stories left out of training."""
    stories = list(model.stories)
    random.Random(seed).shuffle(stories)
    alone, learned = Score(), Score()
    for k in range(folds):
        test = stories[k::folds]
        train = [s for s in stories if all(s is not t for t in test)]
        base = DialogueModel.build(model.domain, model.rules, train, model.config)
        weights = train_policy(train, base.featurizer, _strip(base), max_history, options)
        both = DialogueModel.build(model.domain, model.rules, train, model.config, learned=weights)
        alone.add(replay(base, test))
        learned.add(replay(both, test))
    return {"folds": folds, "stories": len(stories), "memoization": alone.as_dict(),
            "memoization_and_learned": learned.as_dict()}


def prediction_latency(model: DialogueModel, stories: Sequence[StoryBlock], rounds: int = 3) -> dict[str, float]:
    """Milliseconds per policy prediction (the whole ensemble) over the stories' turns."""
    times: list[float] = []
    for _ in range(rounds):
        for block in stories:
            events = training_events(block, model.featurizer)
            for i, event in enumerate(events):
                if event.get("event") == "action" and i:
                    started = time.perf_counter()
                    model.predict(events[:i])
                    times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"predictions": len(times), "p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}
