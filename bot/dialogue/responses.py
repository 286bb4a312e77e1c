"""Responses as Rasa 3's TemplatedNaturalLanguageGenerator renders them.

Which variants may be said:
1. variants with a `condition` (every `{type: slot, name, value}` equal to the slot's value)
   for the output channel, if any matches; else
2. conditional variants without a `channel`, if any matches; else
3. the unconditional variants for the output channel, if there are any; else
4. the unconditional variants without a `channel`.
One is chosen at random. Its text, buttons, image, custom payload, attachment and quick replies
have `{slot}` filled as Rasa's interpolator does (bot/dialogue/slots.interpolate_text: unset slots
render "None", `{{x}}` escapes), in nested lists and mappings too; `condition` and `channel` are
not part of what is sent."""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from bot.dialogue.slots import interpolate_text

FILLED = ("text", "image", "custom", "buttons", "attachment", "quick_replies")
NOT_SENT = ("condition", "channel", "id", "metadata")


def _matches(variant: Mapping[str, Any], slots: Mapping[str, Any]) -> bool:
    for condition in variant.get("condition") or []:
        if not isinstance(condition, dict) or condition.get("type", "slot") != "slot":
            return False
        if slots.get(str(condition.get("name"))) != condition.get("value"):
            return False
    return True


def candidates(variants: Sequence[Mapping[str, Any]], slots: Mapping[str, Any],
               channel: str | None) -> list[Mapping[str, Any]]:
    """The variants that may be said now (the rules in the module docstring)."""
    conditional = [v for v in variants if v.get("condition")]
    default = [v for v in variants if not v.get("condition")]
    for group in ([v for v in conditional if channel and v.get("channel") == channel],
                  [v for v in conditional if not v.get("channel")]):
        matched = [v for v in group if _matches(v, slots)]
        if matched:
            return matched
    for_channel = [v for v in default if channel and v.get("channel") == channel]
    return for_channel or [v for v in default if not v.get("channel")]


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return interpolate_text(value, values)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def fill(variant: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The variant as it is sent: slots filled in, Rasa's selection keys left out."""
    return {key: (_fill(item, values) if key in FILLED else item) for key, item in variant.items()
            if key not in NOT_SENT}


def choose(variants: Sequence[Mapping[str, Any]], slots: Mapping[str, Any], channel: str | None = None,
           rng: random.Random | None = None) -> dict[str, Any] | None:
    """One variant to say, filled in; None when no variant may be said here."""
    allowed = candidates(variants, slots, channel)
    return fill((rng or random).choice(allowed), slots) if allowed else None
