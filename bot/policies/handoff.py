"""When the bot hands a conversation to a person, and what it tells the customer.

Two kinds of trigger. Before the bot answers: the customer asks for a person, or has been
angry in `count` of their last `of_last` messages; then the bot does not try to answer at all.
After it answered: the turn ended in a fallback `count` times in a row, or something failed
(the generator, an action, the turn itself); then its answer stands and the handoff follows.
Everything here is pure: the engine applies the decision, the store keeps the queue.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from bot.errors import ConfigError
from bot.events import Event
from bot.nlu.base import Prediction
from bot.tracker import Tracker

ERROR_TRIGGERS = ("generator_failed", "action_failed", "turn_failed")
HANDOFF_RESPONSE = "utter_handoff"  # optional in the domain; a built-in text otherwise
DEFAULT_TEXT = ("I'm connecting you with a member of our team. {queue_text}The wait is about "
                "{wait_minutes} minute(s). Your messages are kept, so feel free to add details meanwhile.")


@dataclass(frozen=True)
class SentimentTrigger:
    count: int = 2
    of_last: int = 3
    min_confidence: float = 0.8


@dataclass(frozen=True)
class HandoffSettings:
    """switchboard.yml `handoff:`; every trigger can be turned off on its own."""

    enabled: bool = True
    intents: tuple[str, ...] = ("ask_human",)  # the customer asks for a person
    min_intent_confidence: float = 0.5
    negative_sentiment: SentimentTrigger | None = field(default_factory=SentimentTrigger)
    fallbacks_in_a_row: int = 2  # 0: off
    on_errors: tuple[str, ...] = ERROR_TRIGGERS
    typical_wait_minutes: float = 3.0  # the estimate until enough handoffs were taken to measure


def parse_handoff(section: Any) -> HandoffSettings:
    if section is None:
        return HandoffSettings()
    if not isinstance(section, dict):
        raise ConfigError("`handoff` in switchboard.yml must be a mapping")
    known = {"enabled", "intents", "min_intent_confidence", "negative_sentiment", "fallbacks_in_a_row",
             "on_errors", "typical_wait_minutes"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown handoff settings {unknown}; known: {sorted(known)}")
    defaults = HandoffSettings()
    sentiment: SentimentTrigger | None = defaults.negative_sentiment
    if "negative_sentiment" in section:
        raw = section["negative_sentiment"]
        if raw in (None, False):
            sentiment = None
        elif not isinstance(raw, dict) or set(raw) - {"count", "of_last", "min_confidence"}:
            raise ConfigError("handoff.negative_sentiment must be null or {count, of_last, min_confidence}")
        else:
            base = SentimentTrigger()
            sentiment = SentimentTrigger(
                count=_int(raw.get("count", base.count), "handoff.negative_sentiment.count"),
                of_last=_int(raw.get("of_last", base.of_last), "handoff.negative_sentiment.of_last"),
                min_confidence=_unit(raw.get("min_confidence", base.min_confidence),
                                     "handoff.negative_sentiment.min_confidence"),
            )
            if not 1 <= sentiment.count <= sentiment.of_last:
                raise ConfigError("handoff.negative_sentiment needs 1 <= count <= of_last")
    errors = tuple(_strings(section.get("on_errors", list(defaults.on_errors)), "handoff.on_errors"))
    bad = sorted(set(errors) - set(ERROR_TRIGGERS))
    if bad:
        raise ConfigError(f"handoff.on_errors: unknown {bad}; known: {list(ERROR_TRIGGERS)}")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("handoff.enabled must be true or false")
    wait = section.get("typical_wait_minutes", defaults.typical_wait_minutes)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait <= 0:
        raise ConfigError("handoff.typical_wait_minutes must be a positive number")
    return HandoffSettings(
        enabled=enabled,
        intents=tuple(_strings(section.get("intents", list(defaults.intents)), "handoff.intents")),
        min_intent_confidence=_unit(section.get("min_intent_confidence", defaults.min_intent_confidence),
                                    "handoff.min_intent_confidence"),
        negative_sentiment=sentiment,
        fallbacks_in_a_row=_int(section.get("fallbacks_in_a_row", defaults.fallbacks_in_a_row),
                                "handoff.fallbacks_in_a_row"),
        on_errors=errors,
        typical_wait_minutes=float(wait),
    )


class HandoffTriggers:
    def __init__(self, settings: HandoffSettings) -> None:
        self.settings = settings

    def before(self, tracker: Tracker, prediction: Prediction) -> str | None:
        """A trigger that replaces the bot's answer to this message, or None."""
        s = self.settings
        if not s.enabled:
            return None
        if prediction.intent in s.intents and prediction.confidence >= s.min_intent_confidence:
            return "customer_request"
        rule = s.negative_sentiment
        if rule is not None and prediction.sentiment is not None:
            now = _negative(prediction.sentiment.label, prediction.sentiment.confidence, rule.min_confidence)
            parses = _user_parses(tracker.recent_events)
            earlier = [m.get("sentiment") or {} for m in parses[len(parses) - rule.of_last + 1:]]
            hits = now + sum(_negative(e.get("label"), e.get("confidence"), rule.min_confidence) for e in earlier)
            if now and hits >= rule.count:
                return "negative_sentiment"
        return None

    def after(self, tracker: Tracker, reason: dict[str, Any]) -> str | None:
        """A trigger raised by how the bot's answer went, or None."""
        s = self.settings
        if not s.enabled:
            return None
        if reason.get("escalate") in s.on_errors:
            return str(reason["escalate"])
        if s.fallbacks_in_a_row and reason.get("route") == "fallback":
            earlier = _turn_routes(tracker.recent_events)
            streak = 1
            for route in reversed(earlier):
                if route != "fallback":
                    break
                streak += 1
            if streak >= s.fallbacks_in_a_row:
                return "repeated_fallback"
        return None


def estimate_wait(ahead: int, take_seconds: Sequence[float], typical_minutes: float) -> int:
    """Minutes until a person answers, with `ahead` customers waiting before this one: the median
    time agents took to pick up the last handoffs (the configured typical wait until there are 3),
    once per customer ahead and once for this one."""
    per = statistics.median(take_seconds) / 60 if len(take_seconds) >= 3 else typical_minutes
    return max(1, math.ceil(per * (ahead + 1)))


def take_times(handoff_events: Sequence[tuple[str, Event]], *, keep: int = 20) -> list[float]:
    """Seconds from pending to an agent taking it, for the last `keep` pickups (events oldest first)."""
    requested: dict[str, float] = {}
    times: list[float] = []
    for cid, event in handoff_events:
        status, at = event.get("status"), float(event.get("timestamp") or 0.0)
        if status == "pending":
            requested[cid] = at
        elif status == "agent" and cid in requested:
            times.append(max(0.0, at - requested.pop(cid)))
        else:
            requested.pop(cid, None)
    return times[-keep:]


def _negative(label: Any, confidence: Any, minimum: float) -> int:
    return int(label == "negative" and isinstance(confidence, (int, float)) and confidence >= minimum)


def _user_parses(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The parses of the customer's messages since the last handoff (a person has dealt with
    what came before)."""
    parses: list[dict[str, Any]] = []
    for event in events:
        if event.get("event") == "handoff":
            parses = []
        elif event.get("event") == "user":
            parses.append(event.get("parse_data") or {})
    return parses


def _turn_routes(events: Sequence[Event]) -> list[str | None]:
    """The route of each earlier turn (its first bot message's reason), oldest first; a handoff
    or a person's reply in between breaks a fallback streak."""
    routes: list[str | None] = []
    waiting = False
    for event in events:
        kind = event.get("event")
        if kind == "user":
            waiting = True
        elif kind == "bot" and waiting:
            routes.append(((event.get("metadata") or {}).get("reason") or {}).get("route"))
            waiting = False
        elif kind in ("handoff", "agent", "restart", "session_started"):
            routes.append(None)
            waiting = False
    return routes


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a list of names")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)
