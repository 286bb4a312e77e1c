"""bot/policies/rules.py: rules.yml, RulesPolicy and LoopPolicy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.domain import Domain
from bot.errors import ConfigError
from bot.nlu.base import Prediction
from bot.policies.rules import LoopPolicy, RulesPolicy, load_rules
from bot.tracker import State, Tracker

TEMPLATE = Path(__file__).resolve().parents[2] / "bot" / "templates" / "shop"


@pytest.fixture(scope="module")
def shop() -> Domain:
    return Domain.load(TEMPLATE / "domain.yml")


@pytest.fixture
def small(tmp_path) -> Domain:
    path = tmp_path / "domain.yml"
    path.write_text(
        textwrap.dedent(
            """
            intents: [greet, goodbye, order_status, faq, deny, chitchat]
            responses:
              utter_greet: [{text: "Hi"}]
              utter_goodbye: [{text: "Bye"}]
              utter_faq: [{text: "See our FAQ"}]
              utter_ask_order_number: [{text: "Which order?"}]
              utter_anything_else: [{text: "Anything else?"}]
            actions: [action_order_status]
            """
        ),
        encoding="utf-8",
    )
    return Domain.load(path)


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def predict(intent: str, confidence: float = 0.9) -> Prediction:
    return Prediction("some text", intent, confidence, ((intent, confidence),))


def tracker(loop: str | None = None) -> Tracker:
    return Tracker("c1", State(active_loop=loop), [])


# --- load_rules ----------------------------------------------------------------------------


def test_template_rules_cover_every_intent(shop):
    rules = load_rules(TEMPLATE / "data" / "rules.yml", shop)
    assert set(rules) == set(shop.intents)
    for intent, actions in rules.items():
        assert actions, intent
        assert all(shop.has_action(a) for a in actions), (intent, actions)
    assert rules["order_status"] == ("action_order_status",)
    assert rules["greet"] == ("utter_greet",)


def test_rule_with_undefined_action(tmp_path, small):
    path = write_rules(
        tmp_path,
        """
        rules:
        - rule: say hi
          steps:
          - intent: greet
          - action: utter_greet
        - rule: broken one
          steps:
          - intent: goodbye
          - action: utter_farewell
        """,
    )
    with pytest.raises(ConfigError, match="utter_farewell") as info:
        load_rules(path, small)
    assert "broken one" in str(info.value)


def test_rule_shapes(tmp_path, small):
    path = write_rules(
        tmp_path,
        """
        rules:
        - rule: several actions, action_listen skipped
          steps:
          - intent: order_status
          - action: utter_ask_order_number
          - action: action_order_status
          - action: action_listen
        - rule: conditional rules are skipped
          condition:
          - active_loop: action_order_status
          steps:
          - intent: faq
          - action: utter_faq
        - rule: stops at the second intent
          steps:
          - intent: greet
          - action: utter_greet
          - intent: goodbye
          - action: utter_goodbye
        - rule: starts with an action
          steps:
          - action: utter_anything_else
        - rule: no steps
        - rule: intent without actions
          steps:
          - intent: deny
          - action: action_listen
        """,
    )
    assert load_rules(path, small) == {
        "order_status": ("utter_ask_order_number", "action_order_status"),
        "greet": ("utter_greet",),
    }


def test_missing_rules_file(tmp_path, small):
    assert load_rules(tmp_path / "rules.yml", small) == {}


def test_empty_rules_file(tmp_path, small):
    assert load_rules(write_rules(tmp_path, ""), small) == {}


def test_invalid_rules_yaml(tmp_path, small):
    path = write_rules(tmp_path, "rules:\n- rule: [x\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(path, small)


# --- RulesPolicy ---------------------------------------------------------------------------


@pytest.fixture
def rules_policy(small) -> RulesPolicy:
    return RulesPolicy(small, {"order_status": ("action_order_status",), "greet": ("utter_greet", "utter_faq")}, 0.5)


def test_rule_decides(rules_policy):
    decision = rules_policy.decide(tracker(), predict("order_status", 0.8))
    assert decision is not None
    assert decision.route == "rules"
    assert decision.actions == ("action_order_status",)
    assert decision.details == {"threshold": 0.5}
    assert decision.deactivate_loop is False
    assert rules_policy.decide(tracker(), predict("greet")).actions == ("utter_greet", "utter_faq")


def test_below_threshold_is_none(rules_policy):
    assert rules_policy.decide(tracker(), predict("order_status", 0.49)) is None
    assert rules_policy.decide(tracker(), predict("order_status", 0.5)) is not None


def test_nlu_fallback_is_none(rules_policy):
    assert rules_policy.decide(tracker(), predict("nlu_fallback", 1.0)) is None


def test_falls_back_to_utter_intent(rules_policy):
    decision = rules_policy.decide(tracker(), predict("goodbye"))
    assert decision is not None and decision.actions == ("utter_goodbye",)
    assert rules_policy.actions_for("faq") == ("utter_faq",)


def test_no_rule_and_no_response_is_none(rules_policy):
    assert rules_policy.actions_for("chitchat") == ()
    assert rules_policy.decide(tracker(), predict("chitchat", 0.99)) is None
    assert rules_policy.decide(tracker(), predict("deny", 0.99)) is None


def test_template_policy(shop):
    policy = RulesPolicy(shop, load_rules(TEMPLATE / "data" / "rules.yml", shop), 0.3)
    for intent in shop.intents:
        decision = policy.decide(tracker(), predict(intent, 0.31))
        assert decision is not None, intent
        assert all(shop.has_action(a) for a in decision.actions)


# --- LoopPolicy ----------------------------------------------------------------------------


@pytest.fixture
def loop_policy() -> LoopPolicy:
    return LoopPolicy(frozenset({"deny", "goodbye", "ask_human"}), 0.5)


def test_no_active_loop(loop_policy):
    assert loop_policy.decide(tracker(None), predict("order_status")) is None
    assert loop_policy.decide(tracker(None), predict("deny", 0.99)) is None


def test_active_loop_continues(loop_policy):
    decision = loop_policy.decide(tracker("action_order_status"), predict("inform", 0.2))
    assert decision is not None
    assert decision.route == "loop"
    assert decision.actions == ("action_order_status",)
    assert decision.deactivate_loop is False
    assert decision.details == {"loop": "action_order_status"}
    fallback = loop_policy.decide(tracker("action_order_status"), predict("nlu_fallback", 1.0))
    assert fallback.actions == ("action_order_status",)


def test_interrupting_intent_deactivates(loop_policy):
    decision = loop_policy.decide(tracker("action_order_status"), predict("deny", 0.9))
    assert decision is not None
    assert decision.route == "loop"
    assert decision.actions == ()
    assert decision.deactivate_loop is True
    assert decision.details == {"interrupted": "action_order_status"}
    assert loop_policy.decide(tracker("action_order_status"), predict("ask_human", 0.5)).deactivate_loop is True


def test_unsure_interruption_keeps_the_loop(loop_policy):
    decision = loop_policy.decide(tracker("action_order_status"), predict("goodbye", 0.49))
    assert decision.deactivate_loop is False
    assert decision.actions == ("action_order_status",)
