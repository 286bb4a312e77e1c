"""Slot mappings, forms and per-turn slot filling as Rasa 3.6 does them.

`extract_slots` is Rasa's `action_extract_slots`, which runs after every user message (and
once more when a form activates: `activating=`). Checked against Rasa 3.6.21; what it does,
in the order Rasa does it, for every slot of the domain except Rasa's own
(`requested_slot`, `session_started_metadata`, the knowledge-base slots), mapping by mapping:

1. a `from_entity` mapping whose entity is not in the domain, or a `from_intent` mapping
   naming an intent not in the domain, is skipped (only when `domain_entities` /
   `domain_intents` are given);
2. the intent must be wanted: a mapping with `intent:` fills only for those intents (even
   an intent the active form ignores); otherwise the intent must not be in `not_intent`
   nor, while a form is active, in that form's `ignored_intents`, which apply to every
   mapping without `conditions` and to those whose conditions name the active form;
3. `conditions` (ignored by `from_trigger_intent`): one condition must hold: `active_loop:
   X` with X active (and `requested_slot`, when given, the requested slot), or
   `active_loop: null` while no loop is active. After the form rejected itself, the
   requested slot's conditioned mappings are all skipped;
4. while a form is active, a `from_entity` mapping of one of its required slots other than
   the requested one fills only when no other required slot has the same mapping;
5. the value: every matching entity (same `entity`, `role` and `group`, none meaning none),
   the mapping's `value` (`from_intent`; `from_trigger_intent` only while a form is
   active, one listed in its conditions if it has any), or the whole text (`from_text`).
   A list slot takes all the values, any other slot the last one. The first mapping that
   yields a value wins; the slot is set even to its current value (Rasa emits the SlotSet
   anyway), and to None only when it had a value.

`custom` mappings fill nothing here: `custom_mapping_actions` names the actions to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

from bot import events
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.dialogue.slots import Slot
    from bot.tracker import State

MAPPING_TYPES = ("from_entity", "from_text", "from_intent", "from_trigger_intent", "custom")
_REQUIRED_KEYS = {"from_entity": ("entity",), "from_intent": ("value",), "from_trigger_intent": ("value",)}
_CONDITION_KEYS = frozenset({"active_loop", "requested_slot"})
REQUESTED_SLOT = "requested_slot"
# Rasa's own slots, which action_extract_slots never fills (even when the domain lists them)
DEFAULT_SLOT_NAMES = frozenset(
    {
        REQUESTED_SLOT,
        "session_started_metadata",
        "knowledge_base_listed_objects",
        "knowledge_base_last_object",
        "knowledge_base_last_object_type",
    }
)
_MIGRATE = "a Rasa 2 domain: run `switchboard data migrate`"


@dataclass(frozen=True)
class MappingCondition:
    """One entry of a mapping's `conditions:`; `active_loop` None is YAML's `null`."""

    active_loop: str | None = None
    requested_slot: str | None = None


@dataclass(frozen=True)
class SlotMapping:
    """One entry of a slot's `mappings:`, validated as Rasa 3 validates it."""

    type: str
    entity: str | None = None
    role: str | None = None
    group: str | None = None
    intent: tuple[Any, ...] = ()
    not_intent: tuple[Any, ...] = ()
    value: Any = None
    action: str | None = None
    conditions: tuple[MappingCondition, ...] = ()
    # the mapping as written, as sorted JSON: two mappings are "the same" (for the form's
    # unique-entity rule) exactly when Rasa's json.dumps(..., sort_keys=True) of them agree
    source: str = field(default="{}", repr=False)

    @classmethod
    def parse(cls, slot: str, raw: Any) -> "SlotMapping":
        if not isinstance(raw, dict):
            raise ConfigError(f"slot {slot!r}: each entry of `mappings` must be a mapping such as `- type: from_text`")
        kind = raw.get("type")
        if kind not in MAPPING_TYPES:
            raise ConfigError(f"slot {slot!r}: unknown slot mapping type {kind!r}; known: {', '.join(MAPPING_TYPES)}")
        for key in _REQUIRED_KEYS.get(kind, ()):
            if raw.get(key) is None:
                raise ConfigError(f"slot {slot!r}: a mapping of type {kind!r} needs a value for {key!r}")
        for key in ("entity", "role", "group", "action"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise ConfigError(f"slot {slot!r}: the mapping's {key!r} must be a string")
        return cls(
            type=kind,
            entity=raw.get("entity"),
            role=raw.get("role"),
            group=raw.get("group"),
            intent=_as_tuple(raw.get("intent")),
            not_intent=_as_tuple(raw.get("not_intent")),
            value=raw.get("value"),
            action=raw.get("action"),
            conditions=_conditions(slot, raw.get("conditions")),
            source=json.dumps(raw, sort_keys=True, default=str),
        )

    def matches(self, entity: dict[str, Any]) -> bool:
        """An extracted entity of this mapping's type, role and group (None matching none)."""
        return (
            entity.get("entity") == self.entity
            and entity.get("role") == self.role
            and entity.get("group") == self.group
        )

    def as_dict(self) -> dict[str, Any]:
        """The mapping as the domain wrote it (for GET /domain and the action server)."""
        return json.loads(self.source)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """Rasa's `to_list`: None -> (), a single name -> (name,)."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _conditions(slot: str, raw: Any) -> tuple[MappingCondition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"slot {slot!r}: a mapping's `conditions` must be a list such as `- active_loop: my_form`")
    out: list[MappingCondition] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ConfigError(f"slot {slot!r}: each mapping condition must be a mapping with `active_loop`")
        unknown = set(item) - _CONDITION_KEYS
        if unknown:
            raise ConfigError(
                f"slot {slot!r}: unknown key(s) {', '.join(sorted(map(str, unknown)))} in a mapping condition "
                "(known: active_loop, requested_slot)"
            )
        loop, requested = item.get("active_loop"), item.get("requested_slot")
        if loop is not None and not isinstance(loop, str):
            raise ConfigError(f"slot {slot!r}: a condition's `active_loop` must be a form name or null")
        if requested is not None and not isinstance(requested, str):
            raise ConfigError(f"slot {slot!r}: a condition's `requested_slot` must be a slot name")
        out.append(MappingCondition(loop, requested))
    return tuple(out)


@dataclass(frozen=True)
class FormSpec:
    """A Rasa 3 `forms:` entry: the slots it asks for in order and the intents it ignores."""

    name: str
    required_slots: tuple[str, ...] = ()
    ignored_intents: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, name: str, spec: Any) -> "FormSpec":
        if spec is None:  # `my_form:` with nothing under it: a form without slots, as in Rasa
            return cls(name)
        if not isinstance(spec, dict):
            raise ConfigError(f"form {name!r} must be a mapping with `required_slots`")
        unknown = set(spec) - {"required_slots", "ignored_intents"}
        if unknown:
            raise ConfigError(
                f"form {name!r} has slot mappings under it ({', '.join(sorted(map(str, unknown)))}): {_MIGRATE}; "
                "Rasa 3 forms list `required_slots` and the slots carry their own `mappings`"
            )
        if "ignored_intents" in spec and "required_slots" not in spec:
            raise ConfigError(f"form {name!r} uses `ignored_intents`, so it needs `required_slots` too")
        required = spec.get("required_slots")
        if isinstance(required, dict):
            raise ConfigError(f"form {name!r}: `required_slots` holds slot mappings: {_MIGRATE}")
        if required is None:
            required = []
        if not isinstance(required, list) or not all(isinstance(s, str) for s in required):
            raise ConfigError(f"form {name!r}: `required_slots` must be a list of slot names")
        return cls(name, tuple(required), _as_tuple(spec.get("ignored_intents")))


def parse_forms(raw: Any) -> dict[str, FormSpec]:
    """A domain's whole `forms:` section (None or {} -> no forms)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("`forms` must be a mapping of form names to their `required_slots`")
    return {str(name): FormSpec.parse(str(name), spec) for name, spec in raw.items()}


@dataclass(frozen=True)
class SlotFill:
    """A slot set by a mapping: `event` is the slot event to append (bot/events.py's shape).

    `mapping_index` is the position of the mapping in the slot's `mappings`; `changed` is
    False when the slot already held this value (Rasa appends the event all the same)."""

    slot: str
    value: Any
    mapping_type: str
    mapping_index: int
    changed: bool
    event: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class _Turn:
    """What the mappings look at: the new user message and the conversation before it."""

    intent: Any
    text: Any
    entities: tuple[dict[str, Any], ...]
    active_loop: str | None
    requested_slot: Any
    rejected: bool
    values: Mapping[str, Any]
    slots: Mapping[str, "Slot"]


def extract_slots(
    slots: Mapping[str, "Slot"],
    state_before: "State",
    user_event: dict[str, Any],
    *,
    forms: Mapping[str, FormSpec],
    store_entities_as_slots: bool = True,
    activating: str | None = None,
    loop_rejected: bool = False,
    domain_entities: Collection[str] | None = None,
    domain_intents: Collection[str] | None = None,
) -> list[SlotFill]:
    """The slots the mappings fill from `user_event`, in domain order (see the module doc).

    `state_before` is the conversation before `user_event` (its slots, unset ones taking
    their `initial_value`; its active loop; `requested_slot`). `activating` names a form that
    activates now: Rasa's FormAction runs this extraction again as if that form were already
    active, the only moment a `from_trigger_intent` mapping fills without an active form;
    pass the state after the first extraction's events. `loop_rejected`: the active form
    rejected itself (ActionExecutionRejected) and has not run since.
    `store_entities_as_slots` is accepted for the domain's `config:` and changes nothing:
    Rasa 3.6 reads it only when it turns stories into trackers (`slots_for_entities`)."""
    del store_entities_as_slots  # Rasa 3.6's action_extract_slots does not read it either
    fills, _ = _run(slots, state_before, user_event, forms, activating, loop_rejected, domain_entities, domain_intents)
    return fills


def custom_mapping_actions(
    slots: Mapping[str, "Slot"],
    state_before: "State",
    user_event: dict[str, Any],
    *,
    forms: Mapping[str, FormSpec],
    activating: str | None = None,
    loop_rejected: bool = False,
    domain_entities: Collection[str] | None = None,
    domain_intents: Collection[str] | None = None,
) -> list[str]:
    """The actions of the `custom` mappings whose intent and conditions hold, each once, in
    the order Rasa runs them (a custom mapping after a mapping that filled its slot is not
    reached). Rasa places their slot events among the others in domain order."""
    _, actions = _run(slots, state_before, user_event, forms, activating, loop_rejected, domain_entities, domain_intents)
    return actions


def _run(
    slots: Mapping[str, "Slot"],
    state: "State",
    user_event: dict[str, Any],
    forms: Mapping[str, FormSpec],
    activating: str | None,
    loop_rejected: bool,
    domain_entities: Collection[str] | None,
    domain_intents: Collection[str] | None,
) -> tuple[list[SlotFill], list[str]]:
    if user_event.get("event") != "user":
        raise ValueError(f"extract_slots needs a user event, got {user_event.get('event')!r}")
    parse_data = user_event.get("parse_data") or {}
    active_loop = activating or state.active_loop
    turn = _Turn(
        intent=(parse_data.get("intent") or {}).get("name"),
        text=user_event.get("text"),
        entities=tuple(e for e in parse_data.get("entities") or [] if isinstance(e, dict)),
        active_loop=active_loop,
        requested_slot=state.slots.get(REQUESTED_SLOT),
        rejected=bool(loop_rejected and active_loop and not activating),
        values=state.slots,
        slots=slots,
    )
    fills: list[SlotFill] = []
    actions: list[str] = []
    for name, slot in slots.items():
        if name in DEFAULT_SLOT_NAMES:
            continue
        before = turn.values[name] if name in turn.values else slot.initial_value
        for index, mapping in enumerate(slot.mappings):
            if not _applies(name, mapping, turn, forms, domain_entities, domain_intents):
                continue
            found = _values(mapping, turn)
            if found:
                value: Any = list(found) if slot.type == "list" else found[-1]
                if value is not None or before is not None:
                    changed = stored_value(slot.type, value) != stored_value(slot.type, before)
                    fills.append(SlotFill(name, value, mapping.type, index, changed, events.slot(name, value)))
                    break
            if mapping.type == "custom" and mapping.action and mapping.action not in actions:
                actions.append(mapping.action)
    return fills, actions


def stored_value(slot_type: str, value: Any) -> Any:
    """The value a slot of `slot_type` holds once an event sets it to `value`: Rasa's list
    slot wraps a truthy non-list value in a list; every other type keeps it as it came."""
    if slot_type == "list" and value and not isinstance(value, list):
        return [value]
    return value


def _applies(
    slot: str,
    mapping: SlotMapping,
    turn: _Turn,
    forms: Mapping[str, FormSpec],
    domain_entities: Collection[str] | None,
    domain_intents: Collection[str] | None,
) -> bool:
    if mapping.type == "from_entity" and domain_entities is not None and mapping.entity not in domain_entities:
        return False
    if mapping.type == "from_intent" and domain_intents is not None:
        if any(i and i not in domain_intents for i in mapping.intent):
            return False
    if not _intent_wanted(mapping, turn, forms):
        return False
    if mapping.conditions and mapping.type != "from_trigger_intent" and not _conditions_hold(slot, mapping, turn):
        return False
    return not _shared_entity_mapping(slot, mapping, turn, forms)


def _intent_wanted(mapping: SlotMapping, turn: _Turn, forms: Mapping[str, FormSpec]) -> bool:
    if mapping.intent:
        return turn.intent in mapping.intent
    blocked = list(mapping.not_intent)
    if turn.active_loop:
        form_named = not mapping.conditions or any(c.active_loop == turn.active_loop for c in mapping.conditions)
        form = forms.get(turn.active_loop)
        if form_named and form is not None:
            blocked.extend(form.ignored_intents)
    return turn.intent not in blocked


def _conditions_hold(slot: str, mapping: SlotMapping, turn: _Turn) -> bool:
    if turn.rejected and turn.requested_slot == slot:
        return False
    for condition in mapping.conditions:
        if condition.active_loop and condition.active_loop == turn.active_loop:
            if not condition.requested_slot or condition.requested_slot == turn.requested_slot:
                return True
        if condition.active_loop is None and turn.active_loop is None:
            return True
    return False


def _shared_entity_mapping(slot: str, mapping: SlotMapping, turn: _Turn, forms: Mapping[str, FormSpec]) -> bool:
    """While a form runs, an entity mapping that another of its required slots shares
    fills only the requested slot (Rasa's unique-entity-mapping check)."""
    if mapping.type != "from_entity" or not turn.active_loop or turn.requested_slot == slot:
        return False
    form = forms.get(turn.active_loop)
    if form is None or slot not in form.required_slots:
        return False
    same = 0
    for name in form.required_slots:  # a slot listed twice counts twice, as in Rasa
        required = turn.slots.get(name)
        for other in required.mappings if required is not None else ():
            same += other.type == "from_entity" and other.source == mapping.source
    return same != 1


def _values(mapping: SlotMapping, turn: _Turn) -> Sequence[Any]:
    if mapping.type == "from_entity":
        return [e.get("value") for e in turn.entities if mapping.matches(e)]
    if mapping.type == "from_intent":
        return [mapping.value]
    if mapping.type == "from_trigger_intent":
        if turn.active_loop is None:
            return []
        loops = [c.active_loop for c in mapping.conditions]
        return [mapping.value] if not loops or turn.active_loop in loops else []
    if mapping.type == "from_text":
        return [turn.text]
    return []  # custom: an action fills it
