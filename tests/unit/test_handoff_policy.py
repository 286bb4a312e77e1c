"""When the bot hands over: each trigger, its settings, and the wait estimate."""

from __future__ import annotations

from typing import Any

import pytest

from bot import events as ev
from bot.errors import ConfigError
from bot.nlu.base import Prediction, Sentiment
from bot.policies.handoff import (
    HandoffSettings,
    HandoffTriggers,
    SentimentTrigger,
    estimate_wait,
    parse_handoff,
    take_times,
)
from bot.tracker import State, Tracker


def predict(intent: str = "order_status", confidence: float = 0.9, sentiment: tuple[str, float] | None = None
            ) -> Prediction:
    mood = Sentiment(*sentiment) if sentiment else None
    return Prediction("text", intent, confidence, ((intent, confidence),), sentiment=mood)


def said(label: str | None = None, confidence: float = 0.95, route: str = "rules") -> list[dict[str, Any]]:
    """One earlier turn: the customer's message (with its sentiment) and the bot's answer."""
    parse = {"intent": {"name": "x", "confidence": 0.9},
             "sentiment": {"label": label, "confidence": confidence} if label else None}
    return [ev.user("hi", parse, input_channel="rest"),
            ev.bot("answer", metadata={"reason": {"route": route}}), ev.action("action_listen")]


def tracker(*turns: list[dict[str, Any]]) -> Tracker:
    return Tracker("c1", State(), [e for turn in turns for e in turn])


triggers = HandoffTriggers(HandoffSettings())


def test_asking_for_a_person_hands_over_before_the_bot_answers():
    assert triggers.before(tracker(), predict("ask_human", 0.93)) == "customer_request"
    assert triggers.before(tracker(), predict("ask_human", 0.3)) is None  # not sure enough
    assert triggers.before(tracker(), predict("order_status")) is None


def test_negative_sentiment_in_two_of_the_last_three_messages():
    angry = ("negative", 0.97)
    assert triggers.before(tracker(), predict(sentiment=angry)) is None  # one message is not a streak
    assert triggers.before(tracker(said("negative")), predict(sentiment=angry)) == "negative_sentiment"
    assert triggers.before(tracker(said("negative"), said("neutral")), predict(sentiment=angry)) == "negative_sentiment"
    # three messages back is outside the window of three
    assert triggers.before(tracker(said("negative"), said("neutral"), said("neutral")), predict(sentiment=angry)) is None
    # this message is calm: no handoff now, whatever came before
    assert triggers.before(tracker(said("negative"), said("negative")), predict(sentiment=("neutral", 0.9))) is None


def test_negative_sentiment_below_the_confidence_does_not_count():
    assert triggers.before(tracker(said("negative", 0.6)), predict(sentiment=("negative", 0.97))) is None
    assert triggers.before(tracker(said("negative", 0.97)), predict(sentiment=("negative", 0.7))) is None


def test_anger_before_an_earlier_handoff_is_not_counted_again():
    handed = [ev.handoff("pending", trigger="negative_sentiment"), ev.handoff("bot", agent="ann")]
    assert triggers.before(tracker(said("negative"), handed), predict(sentiment=("negative", 0.97))) is None


def test_errors_hand_over_after_the_bot_answered():
    for failure in ("generator_failed", "action_failed", "turn_failed"):
        assert triggers.after(tracker(), {"route": "fallback", "escalate": failure}) == failure
    only_actions = HandoffTriggers(HandoffSettings(on_errors=("action_failed",)))
    assert only_actions.after(tracker(), {"route": "fallback", "escalate": "generator_failed"}) is None


def test_two_fallbacks_in_a_row():
    assert triggers.after(tracker(said()), {"route": "fallback"}) is None
    assert triggers.after(tracker(said(route="fallback")), {"route": "fallback"}) == "repeated_fallback"
    assert triggers.after(tracker(said(route="fallback")), {"route": "retrieval"}) is None
    assert triggers.after(tracker(said(route="fallback"), said(route="rules")), {"route": "fallback"}) is None
    # a person's reply in between breaks the streak
    reply = [ev.agent_uttered("hello, Ann here", agent="ann")]
    assert triggers.after(tracker(said(route="fallback"), reply), {"route": "fallback"}) is None
    three = HandoffTriggers(HandoffSettings(fallbacks_in_a_row=3))
    assert three.after(tracker(said(route="fallback")), {"route": "fallback"}) is None
    assert three.after(tracker(said(route="fallback"), said(route="fallback")), {"route": "fallback"}) == \
        "repeated_fallback"


def test_each_trigger_turns_off_on_its_own():
    off = HandoffTriggers(parse_handoff({"intents": [], "negative_sentiment": None, "fallbacks_in_a_row": 0,
                                         "on_errors": []}))
    assert off.before(tracker(said("negative")), predict("ask_human", 0.99, ("negative", 0.99))) is None
    assert off.after(tracker(said(route="fallback")), {"route": "fallback", "escalate": "turn_failed"}) is None
    disabled = HandoffTriggers(parse_handoff({"enabled": False}))
    assert disabled.before(tracker(), predict("ask_human", 0.99)) is None


def test_settings_are_parsed_and_checked():
    assert parse_handoff(None) == HandoffSettings()
    parsed = parse_handoff({"intents": ["ask_human", "complaint"],
                            "negative_sentiment": {"count": 3, "of_last": 4, "min_confidence": 0.7},
                            "typical_wait_minutes": 5})
    assert parsed.intents == ("ask_human", "complaint")
    assert parsed.negative_sentiment == SentimentTrigger(3, 4, 0.7)
    assert parsed.typical_wait_minutes == 5.0
    for bad in ({"nope": 1}, {"intents": "ask_human"}, {"negative_sentiment": {"count": 4, "of_last": 3}},
                {"on_errors": ["disk_full"]}, {"fallbacks_in_a_row": -1}, {"min_intent_confidence": 2},
                {"enabled": "yes"}, {"typical_wait_minutes": 0}, "on"):
        with pytest.raises(ConfigError):
            parse_handoff(bad)


def test_wait_estimate_counts_the_customers_ahead():
    assert estimate_wait(2, [], typical_minutes=3) == 9
    assert estimate_wait(0, [], typical_minutes=3) == 3
    # measured pickups replace the configured typical wait once there are three
    assert estimate_wait(0, [60.0, 120.0, 600.0], typical_minutes=30) == 2
    assert estimate_wait(0, [5.0], typical_minutes=0.1) == 1  # never "0 minutes"


def test_take_times_pair_each_request_with_its_pickup():
    def h(status: str, at: float) -> dict[str, Any]:
        return {"event": "handoff", "status": status, "timestamp": at}

    log = [("a", h("pending", 0)), ("b", h("pending", 10)), ("a", h("agent", 90)), ("b", h("bot", 20)),
           ("b", h("agent", 30)), ("c", h("pending", 40)), ("c", h("agent", 100))]
    assert take_times(log) == [90.0, 60.0]  # b was handed back before anyone took it
