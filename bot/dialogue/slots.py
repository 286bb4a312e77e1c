"""Slots as a Rasa 3 domain defines them: parsing, featurisation, coercion, rendering.

Checked against Rasa 3.6.21 (rasa/shared/core/slots.py, domain.py, core/nlg/interpolator.py).
A `Slot` is the slot's definition, not its value: values live in the conversation's state
(bot/tracker.py's `State.slots`) and are passed in. Slot filling per turn is in
slot_mappings.py and re-exported here (`extract_slots`, `FormSpec`, `SlotFill`, ...).

Featurisation (`Slot.as_feature`), as Rasa's `Slot.as_feature()`, for a slot that
influences the conversation (otherwise `()`):
- text: (1.0,) when set (anything but None: "" and 0 count as set), else (0.0,)
- bool: (1.0, truth) when set, truth read as Rasa's `bool_from_any` (True / 1 / 1.0 /
  "1" / " TRUE " -> 1.0; False / 0 / 2 / 0.5 / "0" / "false" -> 0.0); (0.0, 0.0) when None
  or unreadable ("yes", "1.0", a list)
- categorical: one-hot over the lower-cased `values` with `__other__` last; the value
  matches by `str(value).lower()` (so True matches `true`, 1 matches `1`, but 1.0 does not),
  anything else is `__other__`; all zeros when None
- float: (1.0, (clamped - min) / (max - min)) when `float(value)` works ("3" and True
  included), else (0.0, 0.0) — two numbers, not one
- list: (1.0,) when the value has a length above 0, else (0.0,)
- any: never featurised (it may not influence the conversation)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence, get_args

from bot.dialogue.slot_mappings import (
    DEFAULT_SLOT_NAMES,
    MAPPING_TYPES,
    REQUESTED_SLOT,
    FormSpec,
    MappingCondition,
    SlotFill,
    SlotMapping,
    custom_mapping_actions,
    extract_slots,
    parse_forms,
    stored_value,
)
from bot import events
from bot.errors import ConfigError

__all__ = [
    "DEFAULT_SLOT_NAMES",
    "MAPPING_TYPES",
    "OTHER",
    "REQUESTED_SLOT",
    "SHOULD_NOT_BE_SET",
    "FormSpec",
    "MappingCondition",
    "Slot",
    "SlotFill",
    "SlotMapping",
    "coerce",
    "custom_mapping_actions",
    "extract_slots",
    "interpolate_text",
    "parse_forms",
    "parse_slots",
    "render_value",
    "slot_features",
    "slots_for_entities",
]

log = logging.getLogger(__name__)

SlotType = Literal["text", "bool", "categorical", "float", "list", "any"]
SLOT_TYPES: tuple[str, ...] = get_args(SlotType)
OTHER = "__other__"  # Rasa's DEFAULT_CATEGORICAL_SLOT_VALUE
# The value a rule's `slot_was_set: [x: null]` condition gives a slot while rules train; the
# slots sub-state then holds this string instead of features (Rasa's SHOULD_NOT_BE_SET).
SHOULD_NOT_BE_SET = "should_not_be_set"

# Rasa persists a slot's type as its class path (domain.json in a model): accept those.
_RASA_CLASSES = {
    "rasa.shared.core.slots.TextSlot": "text",
    "rasa.shared.core.slots.BooleanSlot": "bool",
    "rasa.shared.core.slots.CategoricalSlot": "categorical",
    "rasa.shared.core.slots.FloatSlot": "float",
    "rasa.shared.core.slots.ListSlot": "list",
    "rasa.shared.core.slots.AnySlot": "any",
}
_COMMON_KEYS = frozenset({"type", "mappings", "initial_value", "influence_conversation", "value_reset_delay"})
_TYPE_KEYS = {"float": frozenset({"min_value", "max_value"}), "categorical": frozenset({"values"})}
_MIGRATE = "a Rasa 2 domain: run `switchboard data migrate`"


@dataclass(frozen=True)
class Slot:
    """One entry of a domain's `slots:`. Build it with `Slot.parse`."""

    name: str
    type: SlotType
    mappings: tuple[SlotMapping, ...] = ()
    initial_value: Any = None
    influence_conversation: bool = True
    values: tuple[str, ...] = ()  # categorical: lower-cased, `__other__` included (last unless listed)
    min_value: float = 0.0  # float
    max_value: float = 1.0  # float

    @classmethod
    def parse(cls, name: str, spec: Any) -> "Slot":
        if not isinstance(spec, dict):
            raise ConfigError(f"slot {name!r} must be a mapping with `type` and `mappings`")
        kind = _slot_type(name, spec.get("type"))
        if "auto_fill" in spec:
            raise ConfigError(f"slot {name!r} uses `auto_fill`, which Rasa 3 removed: {_MIGRATE}")
        unknown = set(spec) - _COMMON_KEYS - _TYPE_KEYS.get(kind, frozenset())
        if unknown:
            raise ConfigError(f"slot {name!r} of type {kind!r} does not take {', '.join(sorted(map(str, unknown)))}")
        if "mappings" not in spec:
            raise ConfigError(f"slot {name!r} has no `mappings`: Rasa 3 requires `mappings`; {_MIGRATE}")
        raw_mappings = spec["mappings"]
        if not isinstance(raw_mappings, list):
            raise ConfigError(f"slot {name!r}: `mappings` must be a list such as `- type: from_entity`")
        mappings = tuple(SlotMapping.parse(name, m) for m in raw_mappings)
        influence = spec.get("influence_conversation", kind != "any")
        if influence is not None and not isinstance(influence, bool):
            raise ConfigError(f"slot {name!r}: `influence_conversation` must be true or false")
        if kind == "any" and influence:
            raise ConfigError(f"slot {name!r} is of type `any`, which cannot influence the conversation")
        slot = cls(name, kind, mappings, spec.get("initial_value"), bool(influence))
        if kind == "float":
            return _float_slot(slot, spec)
        if kind == "categorical":
            return _categorical_slot(slot, spec.get("values"))
        return slot

    @property
    def feature_dimensionality(self) -> int:
        """How many numbers `as_feature` gives (0 when the slot does not influence)."""
        if not self.influence_conversation:
            return 0
        return {"text": 1, "list": 1, "bool": 2, "float": 2, "any": 0}.get(self.type, len(self.values))

    def as_feature(self, value: Any) -> tuple[float, ...]:
        """Rasa's `as_feature()` for a slot holding `value` (see the module doc); pass a
        value set by an event through `coerce` first, as Rasa's slot would have it."""
        if not self.influence_conversation:
            return ()
        if self.type == "text":
            return (0.0 if value is None else 1.0,)
        if self.type == "bool":
            truth = None if value is None else _truth(value)
            return (0.0, 0.0) if truth is None else (1.0, float(truth))
        if self.type == "float":
            return self._float_feature(value)
        if self.type == "list":
            try:
                return (1.0 if value is not None and len(value) > 0 else 0.0,)
            except TypeError:
                return (0.0,)
        if self.type == "categorical":
            return self._categorical_feature(value)
        return ()

    def _float_feature(self, value: Any) -> tuple[float, ...]:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return (0.0, 0.0)
        clamped = max(self.min_value, min(self.max_value, number))
        return (1.0, (clamped - self.min_value) / (self.max_value - self.min_value))

    def _categorical_feature(self, value: Any) -> tuple[float, ...]:
        one_hot = [0.0] * len(self.values)
        if value is None:
            return tuple(one_hot)
        text = str(value).lower()
        index = self.values.index(text) if text in self.values else self.values.index(OTHER)
        one_hot[index] = 1.0
        return tuple(one_hot)


def _slot_type(name: str, raw: Any) -> SlotType:
    if raw is None:
        raise ConfigError(f"slot {name!r} needs a `type` ({', '.join(SLOT_TYPES)})")
    kind = _RASA_CLASSES.get(raw, raw) if isinstance(raw, str) else raw
    if kind in SLOT_TYPES:
        return kind  # type: ignore[no-any-return]
    if isinstance(raw, str) and "." in raw:
        raise ConfigError(
            f"slot {name!r} has the custom slot class {raw!r}: Switchboard does not load custom slot classes; "
            f"use one of {', '.join(SLOT_TYPES)}"
        )
    raise ConfigError(f"slot {name!r} has the unknown type {raw!r}; known: {', '.join(SLOT_TYPES)}")


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"slot {name!r}: `{key}` must be a number")
    return float(value)


def _float_slot(slot: Slot, spec: dict[str, Any]) -> Slot:
    low = _number(slot.name, "min_value", spec.get("min_value", 0.0))
    high = _number(slot.name, "max_value", spec.get("max_value", 1.0))
    if low >= high:
        raise ConfigError(f"slot {slot.name!r}: `min_value` ({low}) must be below `max_value` ({high})")
    initial = slot.initial_value
    if isinstance(initial, int | float) and not low <= initial <= high:
        log.warning("float slot %r: initial_value %r lies outside [%s, %s]", slot.name, initial, low, high)
    return Slot(slot.name, "float", slot.mappings, initial, slot.influence_conversation, min_value=low, max_value=high)


def _categorical_slot(slot: Slot, raw: Any) -> Slot:
    if raw is not None and not isinstance(raw, list):
        raise ConfigError(f"slot {slot.name!r}: `values` must be a list")
    raw = raw or []
    if None in raw:  # Rasa drops `null` (it means "unset") with a warning
        log.warning("categorical slot %r lists null among its values; it is ignored", slot.name)
    values = [str(v).lower() for v in raw if v is not None]
    if OTHER not in values:
        values.append(OTHER)
    return Slot(slot.name, "categorical", slot.mappings, slot.initial_value, slot.influence_conversation, tuple(values))


def _truth(value: Any) -> bool | None:
    """Rasa's `bool_from_any`, None where Rasa raises."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1.0
    if isinstance(value, str):
        if value.isnumeric():
            try:
                return float(value) == 1.0
            except ValueError:  # "½" is numeric to str but not to float
                return None
        word = value.strip().lower()
        return True if word == "true" else False if word == "false" else None
    return None


def parse_slots(raw: Any) -> dict[str, Slot]:
    """A domain's whole `slots:` section, in its order (None or {} -> no slots)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("`slots` must be a mapping of slot names to their definitions")
    return {str(name): Slot.parse(str(name), spec) for name, spec in raw.items()}


def coerce(slot: Slot, value: Any) -> Any:
    """The value `slot` holds after an event sets it to `value`.

    Rasa converts nothing except that a list slot wraps a truthy non-list value (["x"] for
    "x", [5] for 5; "" and 0 stay). A float slot given "3" by from_text keeps the string
    "3" (the tracker shows "3") and still featurises as 3.0, since featurisation calls
    float(); a bool slot keeps "true", a categorical slot keeps its value's case. Initial
    values are not coerced (Rasa sets them without the list wrapping)."""
    return stored_value(slot.type, value)


def slot_features(
    slots: Mapping[str, Slot], values: Mapping[str, Any], *, omit_unset: bool = False
) -> dict[str, tuple[float, ...] | str]:
    """Rasa's `Domain._get_slots_sub_state`: slot name -> features, for the slots that
    influence the conversation and have a non-zero feature; a slot holding
    SHOULD_NOT_BE_SET maps to that string. A slot missing from `values` holds its
    `initial_value`; with `omit_unset` (rule training) it is left out instead, as a
    slot never set by an event. Hashable values, for the memoization and rule policies."""
    out: dict[str, tuple[float, ...] | str] = {}
    for name, slot in slots.items():
        if name in values:
            value = coerce(slot, values[name])
        elif omit_unset:
            continue
        else:
            value = slot.initial_value
        feature = slot.as_feature(value)
        if not feature:
            continue
        if isinstance(value, str) and value == SHOULD_NOT_BE_SET:
            out[name] = SHOULD_NOT_BE_SET
        elif any(feature):
            out[name] = feature
    return out


def slots_for_entities(
    slots: Mapping[str, Slot], entities: Sequence[dict[str, Any]], *, store_entities_as_slots: bool = True
) -> list[dict[str, Any]]:
    """The slot events Rasa adds after a story's user step with entities (Rasa's
    `Domain.slots_for_entities`, used only when stories become training trackers): every
    `from_entity` mapping not tied to a form by its first condition, all matching values for
    a list slot, the last one otherwise; none when `store_entities_as_slots` is false."""
    if not store_entities_as_slots:
        return []
    out: list[dict[str, Any]] = []
    for name, slot in slots.items():
        found: list[Any] = []
        for mapping in slot.mappings:
            if mapping.type != "from_entity" or (mapping.conditions and mapping.conditions[0].active_loop is not None):
                continue
            found.extend(e.get("value") for e in entities if mapping.matches(e))
        if found:
            out.append(events.slot(name, found if slot.type == "list" else found[-1]))
    return out


def render_value(value: Any) -> str:
    """A slot value as Rasa writes it into a response's `{slot}`: Python's str.format of
    the value, i.e. its str(): None -> "None", 3.0 -> "3.0", ["a", 1] -> "['a', 1]",
    True -> "True", 1e20 -> "1e+20"."""
    return format(value, "")


_PLACEHOLDER = re.compile(r"\{([^\n{}]+?)\}")


class _Values(dict[str, Any]):
    """The values as format's positional argument; a bare `{}` renders as itself."""

    def __format__(self, spec: str) -> str:
        return "{}"


def interpolate_text(text: str, values: Mapping[str, Any]) -> str:
    """A response text with `{name}` replaced as Rasa 3.6's interpolator does it.

    Everything between braces (no newline, no brace inside) is a key: `{a.b}` looks up
    "a.b", and `{price:.2f}` or `{ name }` look up exactly that, so they are missing. One
    missing key leaves the whole text as written, its other placeholders too.
    `{{name}}` gives "{name}" when it is the only placeholder (the whole text as written
    otherwise). Unset slots render "None" (`values` holds every slot of the domain).
    Two deliberate differences: where Rasa fails on a malformed text (a lone "}" or "{"),
    the text comes back as written; and a bare `{}` stays "{}" where Rasa writes out the
    values of every slot (which may be personal data)."""
    if not values:  # Rasa interpolates only when there is something to fill in
        return text
    indexed = _PLACEHOLDER.sub(lambda m: "{0[" + m.group(1) + "]}", text)
    try:
        filled = indexed.format(_Values(values))
        if "0[" not in filled:
            return filled
        # a doubled brace kept a placeholder literal: Rasa then formats the text as written
        return text.format(_Values())
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return text
