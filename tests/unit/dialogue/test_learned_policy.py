"""The learned dialogue policy (bot/policies/learned.py, trained by training/dialogue_policy.py):
it generalises stories to a path they never show, keeps quiet on intents no story has, survives
a save and a load, and is switched off when the stories change under it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.policies.learned import LearnedPolicy, LearnedWeights
from bot.settings import load_settings
from tests.unit.dialogue.policy_helpers import START, a, u
from training.dialogue_policy import train_dialogue_step

MOODS = {
    "domain.yml": """
        version: "3.1"
        intents: [greet, mood_great, mood_unhappy, affirm, deny, bot_challenge]
        responses:
          utter_greet: [{text: hi}]
          utter_happy: [{text: great}]
          utter_cheer_up: [{text: here is a kitten}]
          utter_did_that_help: [{text: "did that help?"}]
          utter_goodbye: [{text: bye}]
          utter_iamabot: [{text: I am a bot}]
        """,
    "data/rules.yml": """
        rules:
        - rule: bot challenge
          steps: [{intent: bot_challenge}, {action: utter_iamabot}]
        """,
    "data/stories.yml": """
        stories:
        - story: happy
          steps: [{intent: greet}, {action: utter_greet}, {intent: mood_great}, {action: utter_happy}]
        - story: sad, helped
          steps: [{intent: greet}, {action: utter_greet}, {intent: mood_unhappy}, {action: utter_cheer_up},
                  {action: utter_did_that_help}, {intent: affirm}, {action: utter_happy}]
        - story: sad, not helped
          steps: [{intent: greet}, {action: utter_greet}, {intent: mood_unhappy}, {action: utter_cheer_up},
                  {action: utter_did_that_help}, {intent: deny}, {action: utter_goodbye}]
        """,
}
# happy first, then sad: no story goes on after utter_happy
UNSEEN = START + [u("greet"), a("utter_greet"), a("action_listen"), u("mood_great"), a("utter_happy"),
                  a("action_listen"), u("mood_unhappy")]


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def _trained(tmp_path: Path) -> tuple[Path, DialogueModel]:
    project = _project(tmp_path, MOODS)
    report = train_dialogue_step(load_settings(project))
    assert report.trained and "learned policy on 3 stories" in report.detail
    settings = load_settings(project)
    return project, DialogueModel.load(project, Domain.load(project), settings.models_dir)


def test_a_path_no_story_shows_is_generalised_where_memoization_is_silent(tmp_path: Path) -> None:
    project, model = _trained(tmp_path)
    assert any(isinstance(p, LearnedPolicy) for p in model.ensemble.policies)
    memo_only = DialogueModel.load(project, model.domain)
    assert memo_only.predict(UNSEEN)[0].action == "action_default_fallback"
    best, _, _ = model.predict(UNSEEN)
    assert (best.policy, best.action) == ("LearnedPolicy", "utter_cheer_up") and best.confidence > 0.3
    assert best.runner_up is not None and best.runner_up[0] != "utter_cheer_up"
    # the remembered paths still go to memoization (and the rules) first
    assert model.predict(START + [u("greet")])[0].policy == "AugmentedMemoizationPolicy"
    assert model.predict(START + [u("bot_challenge")])[0].policy == "RulePolicy"


def test_it_says_nothing_about_an_intent_no_story_has(tmp_path: Path) -> None:
    _, model = _trained(tmp_path)
    learned = next(p for p in model.ensemble.policies if isinstance(p, LearnedPolicy))
    conv = model.conversation(START + [u("greet"), a("utter_greet"), a("action_listen"), u("bot_challenge")])
    assert learned.predict(conv).action is None
    assert learned.predict(model.conversation(UNSEEN)).action == "utter_cheer_up"


def test_weights_load_back_to_the_same_probabilities(tmp_path: Path) -> None:
    project, model = _trained(tmp_path)
    assert model.learned is not None
    again = LearnedWeights.load(load_settings(project).dialogue_model_dir)
    states = list(model.conversation(UNSEEN).states)
    assert np.allclose(model.learned.probabilities(states), again.probabilities(states))
    assert again.meta["data_hash"] == model.learned.meta["data_hash"] and again.actions == model.learned.actions


def test_changed_stories_switch_it_off_until_trained_again(tmp_path: Path) -> None:
    project, _ = _trained(tmp_path)
    settings = load_settings(project)
    assert not train_dialogue_step(settings).trained  # unchanged: kept
    stories = project / "data" / "stories.yml"
    stories.write_text(stories.read_text() + "\n- story: bye\n  steps: [{intent: deny}, {action: utter_goodbye}]\n")
    stale = DialogueModel.load(project, Domain.load(project), settings.models_dir)
    assert stale.learned is None and not any(isinstance(p, LearnedPolicy) for p in stale.ensemble.policies)
    assert any("off until `switchboard train`" in f.message for f in stale.findings)
    assert train_dialogue_step(settings).trained
    fresh = DialogueModel.load(project, Domain.load(project), settings.models_dir)
    assert fresh.learned is not None and fresh.learned.meta["stories"] == 4


def test_no_ted_in_config_means_no_learned_policy(tmp_path: Path) -> None:
    project = _project(tmp_path, {**MOODS, "config.yml": """
        language: en
        pipeline: []
        policies:
        - name: RulePolicy
        - name: MemoizationPolicy
        """})
    report = train_dialogue_step(load_settings(project))
    assert not report.trained and "no TEDPolicy" in report.detail
    assert not (load_settings(project).dialogue_model_dir).exists()
