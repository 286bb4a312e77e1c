"""Entity families and the conversation's say on a turn's entity types (bot/nlu/entity_context.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.nlu.entity_context import EntityFamilies, context_intents
from bot.nlu.tagging import decode, label_of, tag_names

CHECK_IN, LEAVING, CITY = label_of("check_in_date"), label_of("leaving_date"), label_of("city")
BY_INTENT = {
    "hotel.search": [CHECK_IN, CITY],
    "hotel.reserve": [CHECK_IN],
    "bus.find": [LEAVING],
    "bus.buy": [LEAVING],
    "greet": [],
}


def test_intents_sharing_a_label_form_one_family() -> None:
    families = EntityFamilies.build(BY_INTENT)
    assert families.active and len(families.labels) == 2
    assert families.family_of["hotel.search"] == families.family_of["hotel.reserve"]
    assert families.family_of["bus.find"] == families.family_of["bus.buy"] != families.family_of["hotel.search"]
    assert families.labels[families.family_of["hotel.reserve"]] == {CHECK_IN, CITY}  # what its family annotates
    assert "greet" not in families.family_of  # an intent without entities belongs to none
    # a label shared across them (a bot's `inform` with every entity) makes one family: nothing to choose
    joined = EntityFamilies.build({**BY_INTENT, "inform": [CITY, LEAVING]})
    assert len(joined.labels) == 1 and not joined.active
    assert joined.bias([("bus.find", 0.9)], ("hotel.search",)) is None
    assert EntityFamilies.build({}).bias([("greet", 1.0)]) is None


def favoured(bias: dict[str, float] | None) -> set[str]:
    assert bias is not None
    return {label for label, weight in bias.items() if weight == 0.0}


def test_the_turn_and_its_conversation_weigh_the_families() -> None:
    families = EntityFamilies.build(BY_INTENT)
    hotels, buses = {CHECK_IN, CITY}, {LEAVING}
    unsure = [("bus.find", 0.4), ("hotel.search", 0.25), ("hotel.reserve", 0.05), ("greet", 0.3)]
    alone = families.bias(unsure)
    assert favoured(alone) == buses  # alone: the turn's own intents, summed per family
    assert alone is not None and alone[CHECK_IN] == pytest.approx(math.log(0.3 / 0.4))
    in_hotels = families.bias(unsure, ("greet", "hotel.search", "greet"))  # the conversation's last family
    assert favoured(in_hotels) == hotels
    assert in_hotels is not None and in_hotels[LEAVING] == pytest.approx(math.log(0.4 * 0.1 / (0.3 * 0.9)))
    assert favoured(families.bias(unsure, ("hotel.search",), stay=0.5)) == buses  # an even prior: the turn decides
    sure = [("bus.buy", 0.97), ("hotel.search", 0.03)]
    switched = families.bias(sure, ("hotel.search",))
    assert favoured(switched) == buses  # a clear change of topic wins over the prior
    assert switched is not None and switched[CITY] == pytest.approx(math.log(0.03 * 0.9 / (0.97 * 0.1)))
    alone = families.bias(sure)
    assert alone is not None and alone[CITY] == pytest.approx(math.log(0.05))  # the floor: a sure span keeps its type
    hard = families.bias(sure, floor=0.0)
    assert hard is not None and hard[CITY] == -math.inf  # floor 0: a hard mask
    # a turn whose intents carry no entities ("yes, the 5th"): the conversation's family, else no bias
    assert favoured(families.bias([("greet", 1.0)], ("bus.find",))) == buses
    assert families.bias([("greet", 1.0)]) is None


def two_word_span(text: str, leaving: float, check_in: float, rest: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Pieces and tag scores of a three-word `text` whose last two words the head tags as one
    span: B then L, with `leaving` and `check_in` on the two labels' tags and `rest` on every other
    tag (O elsewhere)."""
    a, b = text.index(" "), text.rindex(" ")
    pieces = [(0, 0), (0, a), (a + 1, b), (b + 1, len(text)), (0, 0)]
    tags = tag_names([CHECK_IN, LEAVING])
    rows = np.full((5, len(tags)), rest)
    rows[:, 0] = 1.0 - rest * (len(tags) - 1)
    for row, prefix in ((2, "B"), (3, "L")):
        rows[row] = rest
        rows[row, tags.index(f"{prefix}-{LEAVING}")] = leaving
        rows[row, tags.index(f"{prefix}-{CHECK_IN}")] = check_in
    return pieces, np.log(rows)


def test_decoding_weighs_labels_by_their_bias() -> None:
    text = "on March 3rd"
    tags = tag_names([CHECK_IN, LEAVING])
    pieces, scores = two_word_span(text, leaving=0.6, check_in=0.3, rest=0.01)
    (alone,) = decode(text, pieces, scores, tags)
    assert (alone["entity"], alone["value"]) == ("leaving_date", "March 3rd")
    (typed,) = decode(text, pieces, scores, tags, label_bias={LEAVING: math.log(0.3), CHECK_IN: 0.0})
    assert (typed["entity"], typed["value"]) == ("check_in_date", "March 3rd")
    (kept,) = decode(text, pieces, scores, tags, label_bias={LEAVING: math.log(0.8), CHECK_IN: 0.0})
    assert kept["entity"] == "leaving_date"  # a bias smaller than the head's margin changes nothing
    masked = {LEAVING: -math.inf, CHECK_IN: -math.inf}
    assert decode(text, pieces, scores, tags, label_bias=masked) == []  # every label masked: nothing
    (moved,) = decode(text, pieces, scores, tags, label_bias={LEAVING: -math.inf, CHECK_IN: 0.0})
    assert moved["entity"] == "check_in_date"  # a hard mask: half the head's belief is plausible enough


def test_a_hard_mask_drops_a_span_no_allowed_label_fits() -> None:
    text = "at 7 pm"
    tags = tag_names([CHECK_IN, LEAVING])
    # check-in is under PLAUSIBLE (0.1) of the head's own label
    pieces, scores = two_word_span(text, leaving=0.95, check_in=0.04, rest=0.001)
    hotels_only = {LEAVING: -math.inf, CHECK_IN: 0.0}  # strict: the conversation is about hotels
    assert decode(text, pieces, scores, tags, label_bias=hotels_only) == []  # no hotel label fits "7 pm"
    (soft,) = decode(text, pieces, scores, tags, label_bias={LEAVING: math.log(0.05), CHECK_IN: 0.0})
    assert soft["entity"] == "leaving_date"  # soft (floor 0.05): the head's sure type stands


LISTEN = {"event": "action", "name": "action_listen"}


def _user(intent: str) -> dict[str, object]:
    return {"event": "user", "text": intent, "parse_data": {"intent": {"name": intent}}}


@pytest.mark.parametrize("events, expected", [
    ([_user("a"), {"event": "action", "name": "x"}, _user("b")], ("a", "b")),
    ([_user("a"), {"event": "session_started"}, _user("b")], ("b",)),  # a new session starts afresh
    ([_user("a"), {"event": "restart"}], ()),
    ([LISTEN, _user("a"), LISTEN, _user("b"), {"event": "rewind"}], ("a",)),  # a rewound message is not context
    ([_user(str(i)) for i in range(8)], ("3", "4", "5", "6", "7")),  # the last five
    ([{"event": "user", "text": "hi"}], ()),  # stored without a parse
])
def test_context_intents_come_from_the_sessions_user_messages(events: list[dict[str, object]],
                                                              expected: tuple[str, ...]) -> None:
    assert context_intents(events) == expected
