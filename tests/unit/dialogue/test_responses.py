"""bot/dialogue/responses.py: Rasa's choice of response variants (conditions on slots, channels)
and the slots filled into every part of a response."""

from __future__ import annotations

import random

from bot.dialogue.responses import candidates, choose, fill
from bot.domain import Domain

VARIANTS = [
    {"text": "Hello {name}, welcome back!", "condition": [{"type": "slot", "name": "known", "value": True}]},
    {"text": "*Hello {name}* (Slack)", "channel": "slack",
     "condition": [{"type": "slot", "name": "known", "value": True}]},
    {"text": "Hi! What's your name?"},
    {"text": "Hi from Telegram!", "channel": "telegram"},
]


def texts(variants: list) -> list[str]:  # type: ignore[type-arg]
    return [v["text"] for v in variants]


def test_a_matching_condition_for_the_channel_comes_first() -> None:
    known = {"known": True, "name": "Ada"}
    assert texts(candidates(VARIANTS, known, "slack")) == ["*Hello {name}* (Slack)"]
    assert texts(candidates(VARIANTS, known, "rest")) == ["Hello {name}, welcome back!"]
    assert texts(candidates(VARIANTS, known, "telegram")) == ["Hello {name}, welcome back!"]  # conditions first


def test_without_a_match_the_channels_own_then_the_plain_variants() -> None:
    unknown = {"known": False, "name": None}
    assert texts(candidates(VARIANTS, unknown, "telegram")) == ["Hi from Telegram!"]
    assert texts(candidates(VARIANTS, unknown, "socketio")) == ["Hi! What's your name?"]
    assert texts(candidates(VARIANTS, unknown, None)) == ["Hi! What's your name?"]
    every_condition = [{"text": "a", "condition": [{"type": "slot", "name": "x", "value": 1},
                                                   {"type": "slot", "name": "y", "value": 2}]}]
    assert candidates(every_condition, {"x": 1, "y": 3}, None) == []  # all conditions must hold
    assert choose(every_condition, {"x": 1, "y": 3}) is None


def test_slots_fill_text_buttons_and_custom_payloads() -> None:
    variant = {"text": "Order {order}: {{literal}}", "channel": "rest", "condition": [],
               "buttons": [{"title": "Track {order}", "payload": '/track{{"order": "{order}"}}'}],
               "custom": {"blocks": [{"type": "section", "text": "for {order}"}], "count": 2}}
    sent = fill(variant, {"order": "NW-1"})
    assert "channel" not in sent and "condition" not in sent
    assert sent["text"] == "Order {order}: {{literal}}"  # Rasa: a doubled brace keeps the text as written
    assert fill({"text": "Order {order}"}, {"order": "NW-1"})["text"] == "Order NW-1"
    assert sent["buttons"][0]["title"] == "Track NW-1"
    assert sent["custom"] == {"blocks": [{"type": "section", "text": "for NW-1"}], "count": 2}
    assert fill({"text": "Hi {name}"}, {"name": None})["text"] == "Hi None"  # unset slots, as Rasa renders them


def test_the_domain_renders_by_channel_and_condition(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "domain.yml").write_text("""
version: "3.1"
slots:
  vip: {type: bool, influence_conversation: false, mappings: [{type: custom}]}
responses:
  utter_hello:
    - text: "Welcome back, our valued customer!\\n\\nHow can I help?"
      condition: [{type: slot, name: vip, value: true}]
    - text: "Hello!"
    - text: "Hello, Slack!"
      channel: slack
""")
    domain = Domain.load(tmp_path / "domain.yml")
    rng = random.Random(1)
    assert domain.render("utter_hello", {"vip": True}, rng) == [{"text": "Welcome back, our valued customer!"},
                                                                 {"text": "How can I help?"}]
    assert domain.render("utter_hello", {"vip": False}, rng, channel="slack") == [{"text": "Hello, Slack!"}]
    assert domain.render("utter_hello", {"vip": False}, rng, channel="rest") == [{"text": "Hello!"}]
