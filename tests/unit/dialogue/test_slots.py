"""Slots, featurisation and slot filling. Every expected number and every expected fill
below was produced by Rasa 3.6.21 itself (Slot.as_feature, Domain._get_slots_sub_state,
ActionExtractSlots.run, FormAction.activate, interpolate_text) on the same input."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.dialogue.slots import (
    OTHER,
    SHOULD_NOT_BE_SET,
    FormSpec,
    MappingCondition,
    Slot,
    coerce,
    custom_mapping_actions,
    extract_slots,
    interpolate_text,
    parse_forms,
    parse_slots,
    render_value,
    slot_features,
    slots_for_entities,
)
from bot.errors import ConfigError
from bot.tracker import State

# ---------------------------------------------------------------- parsing


def test_each_type_parses_with_rasas_defaults() -> None:
    slots = parse_slots(
        yaml.safe_load(
            """
            t: {type: text, mappings: []}
            b: {type: bool, mappings: [{type: from_text}]}
            c: {type: categorical, values: [Low, HIGH, 1, true, null, low], mappings: []}
            f: {type: float, mappings: []}
            l: {type: list, initial_value: [], mappings: []}
            a: {type: any, mappings: []}
            """
        )
    )
    assert [s.type for s in slots.values()] == ["text", "bool", "categorical", "float", "list", "any"]
    assert [s.influence_conversation for s in slots.values()] == [True, True, True, True, True, False]
    # lower-cased strings, null dropped, duplicates kept, __other__ added last
    assert slots["c"].values == ("low", "high", "1", "true", "low", OTHER)
    assert (slots["f"].min_value, slots["f"].max_value) == (0.0, 1.0)
    assert slots["l"].initial_value == []
    assert slots["b"].mappings[0].type == "from_text"
    assert [s.feature_dimensionality for s in slots.values()] == [1, 2, 6, 2, 1, 0]


def test_listed_other_is_not_added_twice_and_rasa_class_paths_are_the_builtin_types() -> None:
    slot = Slot.parse("c", {"type": "rasa.shared.core.slots.CategoricalSlot", "values": ["__other__", "x"], "mappings": []})
    assert slot.type == "categorical" and slot.values == (OTHER, "x")
    assert Slot.parse("t", {"type": "rasa.shared.core.slots.TextSlot", "mappings": []}).type == "text"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "my_module.FancySlot", "mappings": []}, "does not load custom slot classes"),
        ({"type": "string", "mappings": []}, "unknown type 'string'"),
        ({"mappings": []}, "needs a `type`"),
        ({"type": "text"}, "Rasa 3 requires `mappings`; a Rasa 2 domain: run `switchboard data migrate`"),
        ({"type": "text", "auto_fill": False, "mappings": []}, "switchboard data migrate"),
        ({"type": "any", "influence_conversation": True, "mappings": []}, "cannot influence"),
        ({"type": "text", "values": ["a"], "mappings": []}, "does not take values"),
        ({"type": "bool", "min_value": 0, "mappings": []}, "does not take min_value"),
        ({"type": "float", "min_value": 5, "max_value": 5, "mappings": []}, "must be below"),
        ({"type": "float", "max_value": "ten", "mappings": []}, "`max_value` must be a number"),
        ({"type": "categorical", "values": "a", "mappings": []}, "`values` must be a list"),
        ({"type": "text", "influence_conversation": "yes", "mappings": []}, "true or false"),
        ({"type": "text", "mappings": {"type": "from_text"}}, "must be a list"),
        ({"type": "text", "mappings": ["from_text"]}, "each entry of `mappings`"),
        ({"type": "text", "mappings": [{"type": "from_fancy"}]}, "unknown slot mapping type 'from_fancy'"),
        ({"type": "text", "mappings": [{}]}, "unknown slot mapping type None"),
        ({"type": "text", "mappings": [{"type": "from_entity"}]}, "needs a value for 'entity'"),
        ({"type": "text", "mappings": [{"type": "from_intent", "value": None}]}, "needs a value for 'value'"),
        ({"type": "text", "mappings": [{"type": "from_trigger_intent", "intent": "x"}]}, "needs a value for 'value'"),
        ({"type": "text", "mappings": [{"type": "from_entity", "entity": "e", "role": 1}]}, "'role' must be a string"),
        ({"type": "text", "mappings": [{"type": "from_text", "conditions": {"active_loop": "f"}}]}, "must be a list"),
        ({"type": "text", "mappings": [{"type": "from_text", "conditions": [{"form": "f"}]}]}, "unknown key(s) form"),
        ({"type": "text", "mappings": [{"type": "from_text", "conditions": [{"active_loop": 3}]}]}, "form name or null"),
        (None, "must be a mapping"),
    ],
)
def test_invalid_slots_raise_config_error_naming_the_slot(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Slot.parse("my_slot", spec)
    assert "'my_slot'" in str(error.value)
    assert message in str(error.value)


def test_mapping_fields_conditions_and_unknown_keys() -> None:
    slot = Slot.parse(
        "s",
        {
            "type": "text",
            "mappings": [
                {"type": "from_entity", "entity": "city", "role": "to", "intent": "inform", "not_intent": ["a", "b"]},
                {"type": "from_text", "conditions": [{"active_loop": None}, {"active_loop": "f", "requested_slot": "s"}]},
                {"type": "custom", "action": "action_fill", "comment": "kept, as Rasa keeps it"},
            ],
        },
    )
    entity, text, custom = slot.mappings
    assert (entity.entity, entity.role, entity.group, entity.intent, entity.not_intent) == ("city", "to", None, ("inform",), ("a", "b"))
    assert text.conditions == (MappingCondition(None, None), MappingCondition("f", "s"))
    assert custom.action == "action_fill" and custom.as_dict()["comment"] == "kept, as Rasa keeps it"


def test_forms() -> None:
    forms = parse_forms({"f": {"required_slots": ["a", "b"], "ignored_intents": "chitchat"}, "g": None})
    assert forms["f"] == FormSpec("f", ("a", "b"), ("chitchat",))
    assert forms["g"] == FormSpec("g")
    with pytest.raises(ConfigError, match=r"form 'f'.*switchboard data migrate"):
        FormSpec.parse("f", {"a": [{"type": "from_text"}]})  # Rasa 2.x: mappings under the form
    with pytest.raises(ConfigError, match=r"form 'f'.*switchboard data migrate"):
        FormSpec.parse("f", {"required_slots": {"a": [{"type": "from_text"}]}})  # Rasa 2.6+
    with pytest.raises(ConfigError, match="needs `required_slots`"):
        FormSpec.parse("f", {"ignored_intents": ["x"]})
    with pytest.raises(ConfigError, match="list of slot names"):
        FormSpec.parse("f", {"required_slots": "a"})


# ---------------------------------------------------------------- featurisation


def _slot(spec: str) -> Slot:
    return Slot.parse("s", yaml.safe_load(spec) | {"mappings": []})


@pytest.mark.parametrize(
    ("value", "feature"),
    [(None, (0.0,)), ("", (1.0,)), ("x", (1.0,)), (0, (1.0,)), (False, (1.0,)), ([], (1.0,))],
)
def test_text_features(value: Any, feature: tuple[float, ...]) -> None:
    assert _slot("type: text").as_feature(value) == feature


@pytest.mark.parametrize(
    ("value", "feature"),
    [
        (None, (0.0, 0.0)), (True, (1.0, 1.0)), (False, (1.0, 0.0)), (1, (1.0, 1.0)), (0, (1.0, 0.0)),
        (1.0, (1.0, 1.0)), (0.5, (1.0, 0.0)), (2, (1.0, 0.0)), ("1", (1.0, 1.0)), ("0", (1.0, 0.0)),
        ("2", (1.0, 0.0)), ("true", (1.0, 1.0)), (" TRUE ", (1.0, 1.0)), ("false", (1.0, 0.0)),
        ("yes", (0.0, 0.0)), ("", (0.0, 0.0)), ([], (0.0, 0.0)), ("½", (0.0, 0.0)), ("1.0", (0.0, 0.0)),
    ],
)
def test_bool_features(value: Any, feature: tuple[float, ...]) -> None:
    assert _slot("type: bool").as_feature(value) == feature


@pytest.mark.parametrize(
    ("value", "feature"),
    [
        (None, (0.0, 0.0)), (3, (1.0, 0.5)), ("3", (1.0, 0.5)), (-5, (1.0, 0.0)), (100, (1.0, 1.0)),
        ("abc", (0.0, 0.0)), (True, (1.0, 0.3)), ("nan", (1.0, 1.0)), ("inf", (1.0, 1.0)),
        (8, (1.0, 1.0)), (-2, (1.0, 0.0)), ([1], (0.0, 0.0)), (" 4 ", (1.0, 0.6)),
    ],
)
def test_float_features_clamp_to_min_and_max(value: Any, feature: tuple[float, ...]) -> None:
    assert _slot("{type: float, min_value: -2, max_value: 8}").as_feature(value) == feature


def test_float_default_range() -> None:
    slot = _slot("type: float")
    assert [slot.as_feature(v) for v in (0.25, 2, -1)] == [(1.0, 0.25), (1.0, 1.0), (1.0, 0.0)]


@pytest.mark.parametrize(
    ("value", "feature"),
    [
        (None, (0.0,)), ([], (0.0,)), (["a"], (1.0,)), ("a", (1.0,)), ("", (0.0,)), (0, (0.0,)),
        (5, (1.0,)), ({"a": 1}, (1.0,)), ({}, (0.0,)),
    ],
)
def test_list_features_of_event_values(value: Any, feature: tuple[float, ...]) -> None:
    slot = _slot("type: list")
    assert slot.as_feature(coerce(slot, value)) == feature


@pytest.mark.parametrize(
    ("value", "hot"),
    [
        ("low", 0), ("LOW", 0), ("high", 1), (1, 2), ("1", 2), (True, 3), ("true", 3),
        (1.0, 5), ("other", 5), ("__other__", 5), ("", 5), (0, 5),
    ],
)
def test_categorical_one_hot_with_other(value: Any, hot: int) -> None:
    slot = _slot("{type: categorical, values: [Low, HIGH, 1, true, null, low]}")
    expected = [0.0] * 6
    expected[hot] = 1.0
    assert slot.as_feature(value) == tuple(expected)
    assert slot.as_feature(None) == (0.0,) * 6


def test_slots_that_do_not_influence_give_no_features() -> None:
    assert _slot("{type: categorical, values: [a], influence_conversation: false}").as_feature("a") == ()
    assert _slot("{type: text, influence_conversation: false}").as_feature("a") == ()
    assert _slot("type: any").as_feature("a") == ()


def test_coerce_wraps_list_values_only() -> None:
    assert coerce(_slot("type: list"), "x") == ["x"]
    assert coerce(_slot("type: list"), ["x"]) == ["x"]
    assert coerce(_slot("type: list"), "") == ""
    assert coerce(_slot("type: float"), "3") == "3"  # kept as the string; featurised as 3.0
    assert _slot("{type: float, max_value: 10}").as_feature(coerce(_slot("type: float"), "3")) == (1.0, 0.3)


SUB_STATE_DOMAIN = """
t: {type: text, mappings: []}
b: {type: bool, mappings: []}
f: {type: float, min_value: -2, max_value: 8, mappings: []}
l: {type: list, mappings: []}
c: {type: categorical, values: [Low, HIGH, 1, true, null, low], mappings: []}
tn: {type: text, influence_conversation: false, mappings: []}
ti: {type: text, initial_value: hi, mappings: []}
a: {type: any, mappings: []}
"""


def test_slot_features_is_rasas_slots_sub_state() -> None:
    slots = parse_slots(yaml.safe_load(SUB_STATE_DOMAIN))
    values = {"t": "x", "b": False, "l": 5, "c": "zzz", "tn": "q", "a": 1, "f": None}
    assert slot_features(slots, values) == {
        "t": (1.0,), "b": (1.0, 0.0), "l": (1.0,), "c": (0.0, 0.0, 0.0, 0.0, 0.0, 1.0), "ti": (1.0,),
    }
    # rule training: slots never set by an event (ti keeps its initial value) are left out
    assert "ti" not in slot_features(slots, values, omit_unset=True)
    assert hash(tuple(sorted(slot_features(slots, values).items())))


def test_should_not_be_set_replaces_the_features() -> None:
    slots = parse_slots(yaml.safe_load(SUB_STATE_DOMAIN))
    values = {name: SHOULD_NOT_BE_SET for name in ("t", "b", "c", "l", "tn")} | {"f": -2}
    assert slot_features(slots, values) == {
        "t": SHOULD_NOT_BE_SET, "b": SHOULD_NOT_BE_SET, "c": SHOULD_NOT_BE_SET,
        "l": (1.0,),  # a list slot wraps it: ["should_not_be_set"]
        "f": (1.0, 0.0), "ti": (1.0,),
    }


# ---------------------------------------------------------------- slot filling

FLIGHTS = """
departure:
  type: text
  mappings:
  - {type: from_entity, entity: city, role: from}
  - {type: from_entity, entity: city}
arrival:
  type: text
  mappings:
  - {type: from_entity, entity: city, role: to}
  - {type: from_entity, entity: city}
toppings:
  type: list
  mappings: [{type: from_entity, entity: topping}]
last_topping:
  type: text
  mappings: [{type: from_entity, entity: topping}]
confirmed:
  type: bool
  mappings:
  - {type: from_intent, intent: affirm, value: true}
  - {type: from_intent, intent: deny, value: false}
note:
  type: text
  mappings:
  - type: from_text
    conditions: [{active_loop: booking_form, requested_slot: note}]
anytext:
  type: any
  mappings: [{type: from_text, not_intent: [chitchat]}]
outside:
  type: text
  mappings:
  - type: from_text
    conditions: [{active_loop: null}]
booked:
  type: bool
  mappings: [{type: from_trigger_intent, intent: book, value: true}]
trig_cond:
  type: text
  mappings:
  - type: from_trigger_intent
    value: yes_cond
    conditions: [{active_loop: other_form}]
date:
  type: text
  mappings: [{type: from_entity, entity: date, intent: [inform, book]}]
n:
  type: float
  max_value: 10
  mappings: [{type: from_entity, entity: number}]
ghost:
  type: text
  mappings: [{type: from_entity, entity: not_in_domain}]
requested_slot:
  type: text
  influence_conversation: false
  mappings: [{type: from_text}]
cust:
  type: text
  mappings: [{type: custom}]
"""
FLIGHT_FORMS = parse_forms(
    {
        "booking_form": {"ignored_intents": ["chitchat"], "required_slots": ["departure", "arrival", "date", "note"]},
        "other_form": {"required_slots": ["trig_cond"]},
    }
)
FLIGHT_SLOTS = parse_slots(yaml.safe_load(FLIGHTS))
ENTITIES = ["city", "date", "topping", "number"]
INTENTS = ["greet", "inform", "book", "deny", "affirm", "chitchat", "stop"]


def _ent(entity: str, value: Any, role: str | None = None, group: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"entity": entity, "value": value, "start": 0, "end": 1}
    if role:
        out["role"] = role
    if group:
        out["group"] = group
    return out


def _user(text: str | None, intent: str | None, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    parse = {"intent": {"name": intent, "confidence": 1.0} if intent else {}, "entities": entities or []}
    return {"event": "user", "text": text, "parse_data": parse}


def _fill(
    message: dict[str, Any],
    slots: dict[str, Any] | None = None,
    loop: str | None = None,
    **kwargs: Any,
) -> list[tuple[str, Any]]:
    state = State(slots=dict(slots or {}), active_loop=loop)
    fills = extract_slots(
        FLIGHT_SLOTS, state, message, forms=FLIGHT_FORMS, domain_entities=ENTITIES, domain_intents=INTENTS, **kwargs
    )
    return [(f.slot, f.value) for f in fills]


def test_roles_pick_their_slot_and_plain_entities_match_only_plain_mappings() -> None:
    message = _user("from Berlin to Paris", "inform", [_ent("city", "Berlin", "from"), _ent("city", "Paris", "to")])
    assert _fill(message) == [
        ("departure", "Berlin"), ("arrival", "Paris"),
        ("anytext", "from Berlin to Paris"), ("outside", "from Berlin to Paris"),
    ]


def test_a_non_list_slot_takes_the_last_matching_entity() -> None:
    message = _user("Berlin Paris", "inform", [_ent("city", "Berlin"), _ent("city", "Paris")])
    assert _fill(message)[:2] == [("departure", "Paris"), ("arrival", "Paris")]
    numbers = _user("42", "inform", [_ent("number", "42"), _ent("number", 3)])
    assert ("n", 3) in _fill(numbers)


def test_a_list_slot_takes_every_match_and_groups_must_agree() -> None:
    message = _user("x", "inform", [_ent("topping", "ham"), _ent("topping", "olive"), _ent("topping", "ham", group="g")])
    assert _fill(message)[:2] == [("toppings", ["ham", "olive"]), ("last_topping", "olive")]


def test_unchanged_values_are_set_again_and_flagged() -> None:
    state = State(slots={"last_topping": "ham", "toppings": "ham"})
    fills = extract_slots(FLIGHT_SLOTS, state, _user("x", "inform", [_ent("topping", "ham")]), forms=FLIGHT_FORMS)
    by_slot = {f.slot: f for f in fills}
    assert by_slot["last_topping"].value == "ham" and by_slot["last_topping"].changed is False
    assert by_slot["toppings"].changed is False  # "ham" stored by a list slot is ["ham"]
    assert by_slot["anytext"].changed is True
    assert by_slot["last_topping"].event["event"] == "slot"
    assert (by_slot["last_topping"].event["name"], by_slot["last_topping"].event["value"]) == ("last_topping", "ham")
    assert (by_slot["last_topping"].mapping_type, by_slot["last_topping"].mapping_index) == ("from_entity", 0)


def test_none_is_set_only_over_a_value() -> None:
    assert _fill(_user(None, "inform"), {"outside": "was"}) == [("outside", None)]
    message = _user("x", "inform", [_ent("topping", None)])
    assert _fill(message, {"last_topping": "ham"})[:2] == [("toppings", [None]), ("last_topping", None)]


def test_from_intent_and_intent_filters() -> None:
    assert _fill(_user("yes", "affirm"), {"confirmed": True})[0] == ("confirmed", True)
    assert ("confirmed", False) in _fill(_user("no", "deny"))
    assert _fill(_user("monday", "greet", [_ent("date", "monday")])) == [("anytext", "monday"), ("outside", "monday")]
    assert ("date", "monday") in _fill(_user("monday", "inform", [_ent("date", "monday")]))
    # not_intent blocks anytext; no intent at all blocks nothing
    assert [s for s, _ in _fill(_user("haha", "chitchat", [_ent("topping", "ham")]))] == ["toppings", "last_topping", "outside"]
    assert _fill(_user("??", None)) == [("anytext", "??"), ("outside", "??")]


def test_an_entity_outside_the_domain_fills_nothing() -> None:
    assert _fill(_user("boo", "inform", [_ent("not_in_domain", "boo")])) == [("anytext", "boo"), ("outside", "boo")]


def test_an_active_form_fills_a_shared_entity_mapping_only_for_the_requested_slot() -> None:
    message = _user("Berlin", "inform", [_ent("city", "Berlin")])
    assert _fill(message, {"requested_slot": "departure"}, "booking_form") == [("departure", "Berlin"), ("anytext", "Berlin")]
    # a role mapping is unique to its slot, so it fills outside the requested slot
    message = _user("to Paris", "inform", [_ent("city", "Paris", "to"), _ent("city", "Rome")])
    assert _fill(message, {"requested_slot": "date"}, "booking_form") == [("arrival", "Paris"), ("anytext", "to Paris")]


def test_conditions_on_the_requested_slot_and_rejection() -> None:
    message = _user("window seat", "inform")
    state = {"requested_slot": "note"}
    assert _fill(message, state, "booking_form") == [("note", "window seat"), ("anytext", "window seat")]
    assert _fill(message, state, "booking_form", loop_rejected=True) == [("anytext", "window seat")]
    assert _fill(message, {"requested_slot": "date"}, "booking_form") == [("anytext", "window seat")]


def test_ignored_intents_of_the_active_form_block_every_unconditioned_mapping() -> None:
    message = _user("haha", "chitchat", [_ent("city", "Rome"), _ent("topping", "ham"), _ent("date", "today")])
    assert _fill(message, {"requested_slot": "note"}, "booking_form") == []


def test_from_trigger_intent_fills_when_the_form_activates() -> None:
    message = _user("book a flight on monday", "book", [_ent("date", "monday")])
    first = _fill(message)
    assert first == [("anytext", "book a flight on monday"), ("outside", "book a flight on monday"), ("date", "monday")]
    after = dict(first)
    assert _fill(message, after, activating="booking_form") == [
        ("anytext", "book a flight on monday"), ("booked", True), ("date", "monday"),
    ]


def test_from_trigger_intent_fills_while_any_form_is_active_within_its_conditions() -> None:
    assert _fill(_user("book it", "book"), {"requested_slot": "note"}, "booking_form") == [
        ("note", "book it"), ("anytext", "book it"), ("booked", True),
    ]
    assert _fill(_user("book it", "book"), {"requested_slot": "trig_cond"}, "other_form") == [
        ("anytext", "book it"), ("booked", True), ("trig_cond", "yes_cond"),
    ]


EDGE = parse_slots(
    yaml.safe_load(
        """
        city: {type: text, mappings: [{type: from_entity, entity: city, intent: chitchat}]}
        color: {type: text, mappings: [{type: from_entity, entity: color}]}
        free: {type: text, mappings: [{type: from_text, conditions: [{active_loop: f}]}]}
        trig:
          type: text
          mappings: [{type: from_trigger_intent, value: T, conditions: [{active_loop: f, requested_slot: other}]}]
        multi:
          type: text
          mappings:
          - {type: from_intent, value: A, intent: [inform, not_an_intent]}
          - {type: from_intent, value: B, intent: inform}
        either:
          type: text
          mappings: [{type: from_text, conditions: [{active_loop: g}, {active_loop: f, requested_slot: free}]}]
        grp:
          type: list
          mappings: [{type: from_entity, entity: color, group: "1"}, {type: from_text}]
        cust1: {type: text, mappings: [{type: custom, action: action_a}, {type: from_text}]}
        cust2: {type: text, mappings: [{type: from_text}, {type: custom, action: action_b}]}
        cust3: {type: text, mappings: [{type: custom, action: action_a}, {type: custom, action: action_c, intent: x}]}
        """
    )
)
EDGE_FORMS = parse_forms({"f": {"ignored_intents": "chitchat", "required_slots": ["city", "color", "free"]},
                          "g": {"required_slots": ["either"]}})


def _edge(message: dict[str, Any], slots: dict[str, Any] | None = None, loop: str | None = None, **kw: Any) -> list[tuple[str, Any]]:
    state = State(slots=dict(slots or {}), active_loop=loop)
    fills = extract_slots(EDGE, state, message, forms=EDGE_FORMS, domain_entities=["city", "color"],
                          domain_intents=["inform", "chitchat", "book"], **kw)
    return [(f.slot, f.value) for f in fills if not f.slot.startswith("cust")]


def test_a_mapping_intent_fills_even_an_ignored_intent() -> None:
    message = _user("Rome lol", "chitchat", [_ent("city", "Rome"), _ent("color", "red")])
    assert _edge(message, {"requested_slot": "free"}, "f") == [("city", "Rome")]


def test_store_entities_as_slots_does_not_change_runtime_filling() -> None:
    message = _user("red", "inform", [_ent("color", "red"), _ent("color", "blue", group="1")])
    expected = [("color", "red"), ("multi", "B"), ("grp", ["blue"])]
    assert _edge(message) == expected
    assert _edge(message, store_entities_as_slots=False) == expected


def test_conditions_without_requested_slot_any_condition_and_trigger_ignoring_requested_slot() -> None:
    assert _edge(_user("hello", "inform"), {"requested_slot": "city"}, "f") == [
        ("free", "hello"), ("trig", "T"), ("multi", "B"), ("grp", ["hello"]),
    ]
    assert _edge(_user("hello", "book"), {"requested_slot": "free"}, "f") == [
        ("free", "hello"), ("trig", "T"), ("either", "hello"), ("grp", ["hello"]),
    ]
    assert _edge(_user("hi", "book")) == [("grp", ["hi"])]


def test_custom_mappings_name_their_actions_once_in_order() -> None:
    state = State()
    message = _user("hi", "inform")
    assert custom_mapping_actions(EDGE, state, message, forms=EDGE_FORMS) == ["action_a"]
    assert custom_mapping_actions(EDGE, state, _user("hi", "x"), forms=EDGE_FORMS) == ["action_a", "action_c"]
    fills = extract_slots(EDGE, state, message, forms=EDGE_FORMS)
    assert {f.slot: f.mapping_index for f in fills if f.slot.startswith("cust")} == {"cust1": 1, "cust2": 0}


def test_extract_slots_needs_a_user_event() -> None:
    with pytest.raises(ValueError, match="user event"):
        extract_slots(EDGE, State(), {"event": "bot", "text": "hi"}, forms={})


def test_slots_for_entities_in_stories() -> None:
    slots = parse_slots(
        yaml.safe_load(
            """
            a: {type: text, mappings: [{type: from_entity, entity: city}, {type: from_entity, entity: city, role: r}]}
            l: {type: list, mappings: [{type: from_entity, entity: city}, {type: from_entity, entity: city}]}
            c: {type: text, mappings: [{type: from_entity, entity: city, conditions: [{active_loop: f}]}]}
            c2: {type: text, mappings: [{type: from_entity, entity: city, conditions: [{active_loop: null}, {active_loop: f}]}]}
            """
        )
    )
    entities = [{"entity": "city", "value": "A"}, {"entity": "city", "value": "B", "role": "r"}, {"entity": "city", "value": "C"}]
    assert [(e["name"], e["value"]) for e in slots_for_entities(slots, entities)] == [
        ("a", "B"), ("l", ["A", "C", "A", "C"]), ("c2", "C"),
    ]
    assert slots_for_entities(slots, entities, store_entities_as_slots=False) == []


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "None"), (3.0, "3.0"), (["a", 1], "['a', 1]"), (True, "True"), ({"k": 1}, "{'k': 1}"),
     (7, "7"), (1e20, "1e+20"), ("", ""), ((1, 2), "(1, 2)")],
)
def test_render_value(value: Any, text: str) -> None:
    assert render_value(value) == text
    assert interpolate_text("{s}", {"s": value}) == text


VALUES = {"name": "Ann", "n": None, "a.b": "dot"}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("Hi {name}", "Hi Ann"), ("{n}", "None"), ("{a.b}", "dot"), ("{name}{name}", "AnnAnn"),
        ("Hi {name} {missing}", "Hi {name} {missing}"),  # one missing key: nothing is filled
        ("{{name}}", "{name}"), ("{{name}} {name}", "{{name}} {name}"), ("{{{name}}}", "{Ann}"),
        ("{price:.2f}", "{price:.2f}"), ("{ name }", "{ name }"), ("{name!r}", "{name!r}"),
        ("0[1] {name}", "0[1] {name}"), ("{0}", "{0}"), ("{\nname}", "{\nname}"),
        # Rasa raises on these and writes every slot's value for `{}`: Switchboard keeps the text
        ("smile :}", "smile :}"), ("a { b", "a { b"), ("{}", "{}"),
    ],
)
def test_interpolate_text_as_rasa(template: str, text: str) -> None:
    assert interpolate_text(template, VALUES) == text
