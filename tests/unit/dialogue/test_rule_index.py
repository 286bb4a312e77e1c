"""RuleIndex (rules filed by their last state) finds exactly the rules that checking every rule
finds, on the shop's and the Rasa examples' own rules, at every point of their rules and stories."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.model import DialogueModel
from bot.dialogue.states import State, states_and_actions, training_events
from bot.domain import Domain
from bot.policies.rule_policy import RuleIndex, _applicable, key_states
from tests.conftest import REPO, SHARED_DATA, missing

# the Rasa 3 projects (formbot and reminderbot are Rasa 2's: they need a migration first)
PROJECTS = [REPO / "bot" / "templates" / "shop",
            *(SHARED_DATA / "rasa-examples" / name for name in ("financial-demo", "moodbot"))]


def matching(keys: list[str], states: list[State]) -> list[str]:
    """The reference: every rule checked, in order."""
    return [key for key in keys if _applicable(tuple(reversed(key_states(key))), states)]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_the_index_matches_what_checking_every_rule_matches(project: Path) -> None:
    if not project.is_dir():
        missing(f"{project} is not there")
    model = DialogueModel.load(project, Domain.load(project))
    lookups = [list(model.rule_lookup.rules), list(model.rule_lookup.unhappy)]
    indexes = [RuleIndex(keys) for keys in lookups]
    checked = found = 0
    for block in [*model.rules, *model.stories]:
        states, _ = states_and_actions(training_events(block, model.featurizer), model.featurizer)
        for end in range(len(states) + 1):
            for keys, index in zip(lookups, indexes):
                expected = matching(keys, states[:end])
                assert index.matching(states[:end]) == expected, (block.name, end)
                checked += 1
                found += bool(expected)
    assert checked > 20 and found > 5  # the comparison saw real matches, not only empty lists
