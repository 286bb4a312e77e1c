"""bot/dialogue/model.py on the shop template and on small projects written here."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from tests.unit.dialogue.policy_helpers import START, a, u

TEMPLATE = Path(__file__).resolve().parents[3] / "bot" / "templates" / "shop"


def load(project: Path) -> DialogueModel:
    return DialogueModel.load(project, Domain.load(project))


def test_shop_rules_answer_every_intent_with_defined_actions() -> None:
    model = load(TEMPLATE)
    assert not [f for f in model.findings if f.level == "error"]
    for intent in model.domain.intents:
        if intent == "inform":  # sent only by the return form's buttons: the form takes it
            continue
        best, _, _ = model.predict(START + [u(intent)])
        assert best.policy == "RulePolicy" and best.confidence == 1.0, intent
        assert model.domain.has_action(best.action or ""), (intent, best.action)
    best, _, _ = model.predict(START + [u("order_status")])
    assert best.action == "action_order_status"


def test_a_custom_action_loop_gets_the_next_message() -> None:
    model = load(TEMPLATE)
    events = START + [u("order_status"), a("action_order_status"), {"event": "active_loop", "name": "action_order_status"},
                      a("action_listen"), u("nlu_fallback")]
    best, _, _ = model.predict(events)
    assert (best.action, best.no_user) == ("action_order_status", True)


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_rules_and_stories_anywhere_under_data(tmp_path: Path) -> None:
    project = _project(tmp_path, {
        "domain.yml": """
            version: "3.1"
            intents: [greet, mood_great, mood_unhappy]
            responses:
              utter_greet: [{text: hi}]
              utter_happy: [{text: great}]
              utter_cheer_up: [{text: here is a kitten}]
            """,
        "data/deep/rules.yml": """
            rules:
            - rule: greet
              steps: [{intent: greet}, {action: utter_greet}]
            """,
        "data/stories/moods.yml": """
            stories:
            - story: sad
              steps:
              - intent: greet
              - action: utter_greet
              - intent: mood_unhappy
              - action: utter_cheer_up
            """,
    })
    model = load(project)
    assert (len(model.rules), len(model.stories)) == (1, 1)
    events = START + [u("greet"), a("utter_greet"), a("action_listen"), u("mood_unhappy")]
    best, everyone, _ = model.predict(events)
    assert (best.action, best.policy) == ("utter_cheer_up", "AugmentedMemoizationPolicy")
    assert best.runner_up == ("action_default_fallback", 0.3)  # the rules had nothing: the core fallback
    assert model.answers_fresh("greet") and not model.answers_fresh("mood_great")


def test_config_sets_the_core_fallback(tmp_path: Path) -> None:
    project = _project(tmp_path, {
        "domain.yml": 'version: "3.1"\nintents: [greet]\nactions: [action_my_fallback]\n',
        "config.yml": """
            policies:
            - name: RulePolicy
              core_fallback_threshold: 0.4
              core_fallback_action_name: action_my_fallback
            """,
    })
    model = load(project)
    best, _, _ = model.predict(START + [u("greet")])
    assert (best.action, best.confidence) == ("action_my_fallback", 0.4)
    assert len(model.ensemble.policies) == 1  # no memoization policy configured: none used


def test_after_a_restart_the_bot_listens() -> None:
    model = load(TEMPLATE)
    events = START + [u("start_return"), a("return_form"), {"event": "active_loop", "name": "return_form"},
                      a("action_listen"), u("restart"), a("action_restart"), {"event": "restart"}]
    best, _, conv = model.predict(events)
    assert (best.action, best.policy) == ("action_listen", "RulePolicy") and conv.active_loop is None
