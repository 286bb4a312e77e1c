"""The learned dialogue policy on an assistant others wrote: financial-demo's stories held out of
training in folds are replayed (teacher forced); with the learned policy beside memoization, far
more of their actions and whole stories are right than with memoization alone."""

from __future__ import annotations

from pathlib import Path

from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from training.dialogue_eval import held_out


def test_the_learned_policy_beats_memoization_alone_on_held_out_stories(shared_data: Path) -> None:
    project = shared_data / "rasa-examples" / "financial-demo"
    model = DialogueModel.load(project, Domain.load(project))
    result = held_out(model, folds=5, seed=0)
    alone, learned = result["memoization"], result["memoization_and_learned"]
    assert result["stories"] == 34 and alone["actions"] == learned["actions"] > 250
    assert learned["action_accuracy"] >= alone["action_accuracy"] + 0.08, result
    assert learned["story_accuracy"] >= alone["story_accuracy"] + 0.4, result
